"""Which certificates a virtual cluster lists: nodes set up by hand, demoted candidates, lost lists, impostors."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from gnt import certs, node_certs
from tests.integration.conftest import make_cluster
from tests.integration.vcluster import VCluster, wait_for


def _gnt(vc: VCluster, node: str) -> Path:
    return vc.dir / node / "var/lib/gnt"


@pytest.fixture
def spare_cluster(tmp_path: Path) -> Iterator[VCluster]:
    """Three nodes in the cluster and a fourth one whose daemon waits for a certificate."""
    vc = make_cluster(tmp_path / "vc", 4)
    vc.start()
    try:
        vc.init(nodes=3)
        yield vc
    finally:
        vc.stop()


def _set_up_by_hand(vc: VCluster, pem_name: str = "node4", with_list: bool = True) -> str:
    """What the admin does for `gnt-node add --no-node-setup`: a CA-issued key pair (made on the master) and the
    master's list of node certificates, into node4's files. Returns the certificate's digest."""
    issued = vc.dir / "node4-server.pem"
    issued.unlink(missing_ok=True)
    vc.ok("gnt-node", "issue-certificate", pem_name, str(issued))
    allowed = (_gnt(vc, "node2") / "file-storage-paths").read_text().replace("/node2/", "/node4/")
    (_gnt(vc, "node4") / "file-storage-paths").write_text(allowed)
    if with_list:
        shutil.copy(_gnt(vc, "node1") / "ssconf_node_certs", _gnt(vc, "node4") / "ssconf_node_certs")
    certs.write_pem(str(_gnt(vc, "node4") / "server.pem"), issued.read_bytes())
    wait_for(lambda: vc.run("gnt-debug", "delay", "0").rc == 0)
    return node_certs.digest(issued.read_bytes())


def test_a_node_added_without_setup_has_its_certificate_learnt_and_listed(spare_cluster: VCluster) -> None:
    vc = spare_cluster
    digest = _set_up_by_hand(vc)
    out = vc.ok("gnt-node", "add", "--no-node-setup", "node4")
    assert f"SHA-256 {digest[:16]}" in out
    wait_for(lambda: digest in (_gnt(vc, "node2") / "ssconf_node_certs").read_text())
    assert f"{digest} candidate" in (_gnt(vc, "node2") / "ssconf_node_certs").read_text()
    vc.ok("gnt-cluster", "verify")
    vc.ok("gnt-debug", "delay", "-n", "node4", "0")
    # node4's certificate is now the one the master expects of it: another CA-signed one is refused
    certs.write_pem(
        str(_gnt(vc, "node4") / "server.pem"),
        node_certs.issue((_gnt(vc, "node1") / "cluster-ca.pem").read_bytes(), "node4"),
    )
    vc.kill_daemon("node4", "gnt-noded")  # the master's pooled connections to it end with it
    vc.start_noded("node4")
    refused = vc.run("gnt-debug", "delay", "-n", "node4", "0")
    assert refused.rc != 0 and "presents a certificate the cluster does not list for it" in refused.text


def test_a_hand_set_up_node_with_a_wrong_certificate_or_no_list_is_refused_and_nothing_changes(
    spare_cluster: VCluster,
) -> None:
    vc = spare_cluster
    _set_up_by_hand(vc, pem_name="node2")  # issued to another node: a copied or mixed-up key pair
    wrong = vc.run("gnt-node", "add", "--no-node-setup", "node4")
    assert wrong.rc != 0 and "presents a certificate issued to 'node2'" in wrong.text
    assert "node4" not in vc.ok("gnt-node", "list", "--no-headers", "-o", "name")
    (_gnt(vc, "node4") / "ssconf_node_certs").unlink()
    _set_up_by_hand(vc, with_list=False)
    unlisted = vc.run("gnt-node", "add", "--no-node-setup", "node4")
    assert unlisted.rc != 0 and "does not serve this master" in unlisted.text and "ssconf_node_certs" in unlisted.text
    assert "node4" not in vc.ok("gnt-node", "list", "--no-headers", "-o", "name")
    shutil.copy(_gnt(vc, "node1") / "ssconf_node_certs", _gnt(vc, "node4") / "ssconf_node_certs")
    vc.ok("gnt-node", "add", "--no-node-setup", "node4")


def test_a_hand_set_up_node_is_renewed_over_rpc_and_a_hand_made_certificate_is_pinned_by_readd(
    spare_cluster: VCluster,
) -> None:
    """The admin guide's renewal paths for a --no-node-setup node (doc/admin-guide.md): the master renews its
    certificate over the node RPC like any node's, and a certificate its admin replaced by hand is refused until
    `gnt-node add --readd --no-node-setup` pins it."""
    vc = spare_cluster
    first = _set_up_by_hand(vc)
    vc.ok("gnt-node", "add", "--no-node-setup", "node4")
    vc.ok("gnt-cluster", "renew-crypto", "--new-node-certificates", "-n", "node4", "-f")
    renewed = node_certs.digest((_gnt(vc, "node4") / "server.pem").read_bytes())
    assert renewed != first
    listed = (_gnt(vc, "node2") / "ssconf_node_certs").read_text()
    assert renewed in listed and first not in listed
    vc.ok("gnt-debug", "delay", "-n", "node4", "0")
    by_hand = _set_up_by_hand(vc)  # the admin installs a newly issued key pair and restarts the daemon
    vc.kill_daemon("node4", "gnt-noded")
    vc.start_noded("node4")
    refused = vc.run("gnt-debug", "delay", "-n", "node4", "0")
    assert refused.rc != 0 and "does not list" in refused.text
    out = vc.ok("gnt-node", "add", "--readd", "--no-node-setup", "node4")
    assert f"SHA-256 {by_hand[:16]}" in out
    vc.ok("gnt-debug", "delay", "-n", "node4", "0")
    vc.ok("gnt-cluster", "verify")


def test_a_demoted_candidate_keeps_no_ca_key_and_gets_it_back_when_promoted(fresh_cluster: VCluster) -> None:
    vc = fresh_cluster
    ca = _gnt(vc, "node3") / "cluster-ca.pem"
    assert ca.read_bytes() == (_gnt(vc, "node1") / "cluster-ca.pem").read_bytes()
    assert (_gnt(vc, "node3") / "rapi.pem").exists()
    vc.ok("gnt-node", "modify", "-C", "no", "node3")
    for name in ("cluster-ca.pem", "rapi.pem", "ssh/id_ed25519"):
        assert not (_gnt(vc, "node3") / name).exists(), name
    assert (_gnt(vc, "node3") / "server.pem").exists()  # still a node: its own identity stays
    vc.ok("gnt-node", "modify", "-C", "yes", "node3")
    assert ca.read_bytes() == (_gnt(vc, "node1") / "cluster-ca.pem").read_bytes()


def test_a_node_that_lost_its_list_serves_no_master_procedure_until_re_added(fresh_cluster: VCluster) -> None:
    vc = fresh_cluster
    (_gnt(vc, "node3") / "ssconf_node_certs").unlink()
    result = vc.run("gnt-cluster", "verify")
    assert result.rc == 1 and "holds no list of the cluster's node certificates" in result.text
    vc.ok("gnt-node", "add", "--readd", "node3")
    vc.ok("gnt-cluster", "verify")


def _make_pre_ca(vc: VCluster) -> bytes:
    """Turn the running cluster into one made before per-node certificates: one shared self-signed certificate on
    every node, no CA, no list, no digests in the config. Returns the shared certificate."""
    import json
    import sqlite3

    shared = certs.generate_pem("cluster")
    vc.kill_daemon("node1", "gnt-masterd")
    with sqlite3.connect(_gnt(vc, "node1") / "config.db") as db:
        for uuid, data in db.execute("SELECT uuid, data FROM objects WHERE kind='node'").fetchall():
            node = json.loads(data)
            node["cert_digests"] = []
            db.execute("UPDATE objects SET data=? WHERE kind='node' AND uuid=?", (json.dumps(node), uuid))
    for node in ("node1", "node2", "node3"):
        vc.kill_daemon(node, "gnt-noded")
        for name in ("cluster-ca.pem", "ssconf_node_certs"):
            (_gnt(vc, node) / name).unlink(missing_ok=True)
        certs.write_pem(str(_gnt(vc, node) / "server.pem"), shared)
        vc.start_noded(node)
    vc.start_masterd()
    return shared


def test_a_cluster_made_before_the_ca_is_reported_and_upgraded_by_a_certificate_roll(fresh_cluster: VCluster) -> None:
    vc = fresh_cluster
    shared = _make_pre_ca(vc)
    vc.ok("gnt-debug", "delay", "-n", "node2", "-n", "node3", "0")  # it works as such a cluster did
    before = vc.run("gnt-cluster", "verify", "--error-codes")
    assert before.rc == 1 and "ERROR:ECLUSTERCERT" in before.out and "no cluster CA" in before.out
    vc.ok("gnt-cluster", "renew-crypto", "--new-cluster-certificate", "-f")
    own = {n: (_gnt(vc, n) / "server.pem").read_bytes() for n in ("node1", "node2", "node3")}
    assert len({node_certs.digest(pem) for pem in own.values()}) == 3  # each node a certificate of its own
    assert all(
        certs.trusted_part(pem) == certs.public_part((_gnt(vc, "node1") / "cluster-ca.pem").read_bytes())
        for pem in own.values()
    )
    listed = (_gnt(vc, "node2") / "ssconf_node_certs").read_text()
    assert node_certs.digest(shared) not in listed and all(node_certs.digest(p) in listed for p in own.values())
    vc.ok("gnt-cluster", "verify")
    vc.ok("gnt-debug", "delay", "-n", "node2", "-n", "node3", "0")
