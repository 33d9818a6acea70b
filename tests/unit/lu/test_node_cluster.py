"""Node add/remove/modify and cluster modify LUs on the in-process transport."""

from __future__ import annotations

from pathlib import Path

import pytest

from gnt import paths
from gnt.cluster.logic import LUClusterSetParams
from gnt.errors import ECODE_EXISTS, ECODE_INVAL, ECODE_STATE, OpExecError, OpPrereqError
from gnt.node.logic import LUNodeAdd, LUNodeRemove, LUNodeSetParams
from gnt.opcodes import OpClusterSetParams, OpNodeAdd, OpNodeRemove, OpNodeSetParams
from tests.unit.lu.conftest import FILE_DIR, SHARED_DIR, Harness


@pytest.fixture
def joinable(harness: Harness) -> Harness:
    """node3 has a running daemon and the master has a certificate to hand it."""
    Path(paths.cluster_cert()).parent.mkdir(parents=True, exist_ok=True)
    Path(paths.cluster_cert()).write_bytes(b"PEM\n")
    harness.ctx.rpc.transport.nodes["node3"] = harness.nodes["node3"].dispatcher().answer  # type: ignore[attr-defined]
    return harness


def test_node_add_installs_cert_and_storage_roots_then_commits_and_pushes_ssconf(joinable: Harness) -> None:
    harness = joinable
    harness.run(OpNodeAdd(node_name="node3", primary_ip="192.0.2.3"), LUNodeAdd)
    node = harness.cfg.node("node3")
    assert node.primary_ip == "192.0.2.3" and not node.offline
    root = Path(paths.node_root("node3"))
    assert (root / "var/lib/gnt/server.pem").read_bytes() == b"PEM\n"
    roots = (root / "var/lib/gnt/file-storage-paths").read_text().splitlines()
    assert FILE_DIR in roots and SHARED_DIR in roots
    for name in ("node1", "node2", "node3"):
        assert "node3" in harness.nodes[name].ssconf["node_list"].split("\n")


def test_node_add_refuses_a_known_node(harness: Harness) -> None:
    with pytest.raises(OpPrereqError, match="already in the configuration") as err:
        harness.run(OpNodeAdd(node_name="node2", primary_ip="192.0.2.2"), LUNodeAdd)
    assert err.value.code == ECODE_EXISTS


def test_node_readd_refuses_an_unknown_node(harness: Harness) -> None:
    with pytest.raises(OpPrereqError, match="not in the configuration"):
        harness.run(OpNodeAdd(node_name="node3", primary_ip="192.0.2.3", readd=True), LUNodeAdd)


def test_node_add_refuses_an_address_another_node_has(harness: Harness) -> None:
    with pytest.raises(OpPrereqError, match="conflict with existing node node2"):
        harness.run(OpNodeAdd(node_name="node3", primary_ip="192.0.2.2"), LUNodeAdd)


def test_node_add_commits_nothing_when_the_daemon_is_another_node(joinable: Harness) -> None:
    joinable.nodes["node3"].reported_name = "impostor"
    with pytest.raises(OpExecError, match="says it is node 'impostor', not 'node3'"):
        joinable.run(OpNodeAdd(node_name="node3", primary_ip="192.0.2.3"), LUNodeAdd)
    assert joinable.cfg.find_node("node3") is None


def test_node_remove_forgets_the_node_and_tells_it_to_leave(harness: Harness) -> None:
    harness.run(OpNodeRemove(node_name="node2"), LUNodeRemove)
    assert harness.cfg.find_node("node2") is None
    assert harness.nodes["node2"].names() == ["node_leave"]
    assert harness.nodes["node1"].ssconf["node_list"] == "node1"


def test_node_remove_refuses_the_master(harness: Harness) -> None:
    with pytest.raises(OpPrereqError, match="is the master node") as err:
        harness.run(OpNodeRemove(node_name="node1"), LUNodeRemove)
    assert err.value.code == ECODE_INVAL


def test_node_remove_refuses_a_node_with_instances(harness: Harness) -> None:
    harness.add_instance("inst1", "node2")
    with pytest.raises(OpPrereqError, match="Instance inst1 is still running on the node"):
        harness.run(OpNodeRemove(node_name="node2"), LUNodeRemove)


def test_node_remove_only_warns_when_the_node_cannot_be_told(harness: Harness) -> None:
    harness.nodes["node2"].fail["node_leave"] = OpExecError("gone")
    harness.run(OpNodeRemove(node_name="node2"), LUNodeRemove)
    assert harness.cfg.find_node("node2") is None
    assert any("Could not clean up node node2" in line for line in harness.log)


def test_node_modify_offline_demotes_a_candidate_and_drops_its_config_copy(harness: Harness) -> None:
    node2 = harness.cfg.node("node2")
    node2.master_candidate = True
    changes = harness.run(OpNodeSetParams(node_name="node2", drained=True), LUNodeSetParams)
    assert node2.drained and not node2.master_candidate
    assert ["drained", "True"] in changes
    assert "config_drop" in harness.nodes["node2"].names()


def test_a_candidate_demoted_while_offline_drops_its_copies_when_back_online(harness: Harness) -> None:
    node2 = harness.cfg.node("node2")
    node2.master_candidate = True
    harness.cfg.cluster.candidate_pool_size = 1  # no room to promote it again when it is back
    harness.run(OpNodeSetParams(node_name="node2", offline=True, force=True), LUNodeSetParams)
    assert not node2.master_candidate and "config_drop" not in harness.nodes["node2"].names()  # unreachable
    harness.run(OpNodeSetParams(node_name="node2", offline=False), LUNodeSetParams)
    assert not node2.master_candidate
    assert "config_drop" in harness.nodes["node2"].names()  # the CA key and config copy it kept go now


def test_node_modify_without_changes_is_refused(harness: Harness) -> None:
    with pytest.raises(OpPrereqError, match="at least one modification"):
        harness.run(OpNodeSetParams(node_name="node2"), LUNodeSetParams)


def test_node_modify_refuses_to_offline_the_master(harness: Harness) -> None:
    with pytest.raises(OpPrereqError, match="master node node1 cannot be offline"):
        harness.run(OpNodeSetParams(node_name="node1", offline=True), LUNodeSetParams)


def test_node_modify_refuses_to_offline_a_node_with_running_instances(harness: Harness) -> None:
    harness.add_instance("inst1", "node2")
    with pytest.raises(OpPrereqError, match="has running primary instances") as err:
        harness.run(OpNodeSetParams(node_name="node2", offline=True), LUNodeSetParams)
    assert err.value.code == ECODE_STATE
    assert not harness.cfg.node("node2").offline


def test_cluster_modify_commits_and_pushes_ssconf(harness: Harness) -> None:
    harness.run(OpClusterSetParams(candidate_pool_size=3, mac_prefix="aa:bb:cc"), LUClusterSetParams)
    assert harness.cfg.cluster.candidate_pool_size == 3 and harness.cfg.cluster.mac_prefix == "aa:bb:cc"
    assert harness.nodes["node1"].names() == ["ssconf_write"] == harness.nodes["node2"].names()


def test_cluster_modify_refuses_unknown_hypervisors(harness: Harness) -> None:
    with pytest.raises(OpPrereqError, match="Invalid hypervisor"):
        harness.run(OpClusterSetParams(enabled_hypervisors=["vmware"]), LUClusterSetParams)


def test_cluster_modify_refuses_to_disable_a_template_in_use(harness: Harness) -> None:
    harness.add_instance("inst1", "node1", template="file")
    with pytest.raises(OpPrereqError, match="Disk template\\(s\\) file still used") as err:
        harness.run(OpClusterSetParams(enabled_disk_templates=["diskless"]), LUClusterSetParams)
    assert err.value.code == ECODE_STATE
    assert harness.nodes["node1"].names() == []


def test_node_add_without_node_setup_sends_nothing_and_still_joins(joinable: Harness) -> None:
    harness = joinable
    harness.run(OpNodeAdd(node_name="node3", primary_ip="192.0.2.3", node_setup=False), LUNodeAdd)
    assert not harness.cfg.node("node3").offline
    root = Path(paths.node_root("node3"))
    assert not (root / "var/lib/gnt/server.pem").exists()
    assert not (root / "var/lib/gnt/file-storage-paths").exists()


def test_node_add_with_a_cluster_ca_gives_the_node_its_own_certificate_and_lists_it(joinable: Harness) -> None:
    from gnt import certs, node_certs

    ca = certs.generate_pem("cluster.example.com")
    certs.write_pem(paths.cluster_ca(), ca)
    joinable.cfg.node("node1").cert_digests = ["ab" * 32]  # the master's own
    joinable.run(OpNodeAdd(node_name="node3", primary_ip="192.0.2.3"), LUNodeAdd)
    root = Path(paths.node_root("node3"))
    pem = (root / "var/lib/gnt/server.pem").read_bytes()
    assert certs.trusted_part(pem) == certs.public_part(ca) and node_certs.inspect(pem).problems == []
    assert pem.count(b"BEGIN PRIVATE KEY") == 1 and b"PRIVATE KEY" not in certs.public_part(pem)
    node = joinable.cfg.node("node3")
    assert node.cert_digests == [node_certs.digest(pem)]
    listed = node_certs.parse_list(joinable.nodes["node1"].ssconf[node_certs.SSCONF_KEY])
    assert node_certs.digest(pem) in listed
    # the list reached the node with its certificate, before its daemon is called: it serves the master
    assert node_certs.parse_list((root / "var/lib/gnt/ssconf_node_certs").read_text())["ab" * 32] == "candidate"
    before = node.cert_digests
    joinable.run(OpNodeAdd(node_name="node3", primary_ip="192.0.2.3", readd=True), LUNodeAdd)
    assert joinable.cfg.node("node3").cert_digests != before  # a re-added node's old certificate is dropped


class _RecordingTransport:
    """Stands in for the SSH join transport: records who the master logged in to at removal."""

    def __init__(self, calls: list[str]) -> None:
        self.calls = calls

    async def leave(self, node: str, address: str, public_key: str) -> None:
        self.calls.append(node)

    def close(self) -> None:
        pass


@pytest.fixture
def real_nodes(harness: Harness, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    """Node removal as on real hosts (SSH clean-up), with the SSH login recorded instead of made."""
    import gnt.node.logic as node_logic

    calls: list[str] = []
    monkeypatch.setattr(node_logic.paths, "is_virtual", lambda: False)
    monkeypatch.setattr(node_logic, "default_transport", lambda port=22: _RecordingTransport(calls))
    monkeypatch.setattr(node_logic.paths, "ssh_known_hosts", lambda: str(tmp_path / "known_hosts"))
    monkeypatch.setenv("HOME", str(tmp_path))  # root's own known_hosts must not vouch for node2
    return calls


def test_removing_a_node_joined_without_ssh_set_up_logs_in_to_nothing(harness: Harness, real_nodes: list[str]) -> None:
    harness.run(OpNodeRemove(node_name="node2"), LUNodeRemove)
    assert harness.cfg.find_node("node2") is None and real_nodes == []
    assert not any("over SSH" in line for line in harness.log)
    assert any("joined without SSH set-up" in line for line in harness.log)


def test_removing_a_node_whose_host_key_gnt_recorded_cleans_it_over_ssh(
    harness: Harness, real_nodes: list[str]
) -> None:
    from gnt.node.join import remember_host_key

    address = harness.cfg.node("node2").primary_ip
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG4NGu5ZMT7ifLUb8rEVEaQ8T1xM8d1ZBZ9tZ7tZ7tZ7"
    remember_host_key("node2", address, 22, key)
    harness.run(OpNodeRemove(node_name="node2"), LUNodeRemove)
    assert real_nodes == ["node2"]
    assert not any("joined without SSH set-up" in line for line in harness.log)
