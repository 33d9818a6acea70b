"""The master IP from the master side: activate/deactivate-master-ip, rename and modify --master-netdev."""

from __future__ import annotations

import asyncio

import pytest

from gnt import opcodes
from gnt.cluster import master_ip_change
from gnt.cluster.logic import LUClusterSetParams
from gnt.cluster.master_ip import LUClusterActivateMasterIp, LUClusterDeactivateMasterIp
from gnt.cluster.master_ip_ops import OpClusterActivateMasterIp, OpClusterDeactivateMasterIp, OpClusterRename
from gnt.cluster.rename import LUClusterRename
from gnt.errors import OpExecError, OpPrereqError, RpcError
from gnt.opcodes import OpClusterSetParams
from tests.unit.lu.conftest import Harness


@pytest.fixture
def with_master_ip(harness: Harness) -> Harness:
    harness.cfg.cluster.master_ip = "192.0.2.100"
    harness.cfg.cluster.master_netdev = "eth0"
    asyncio.run(harness.cfg.commit([harness.cfg.cluster]))
    return harness


@pytest.mark.parametrize(
    ("op", "lu", "procedure"),
    [
        (OpClusterActivateMasterIp, LUClusterActivateMasterIp, "master_ip_activate"),
        (OpClusterDeactivateMasterIp, LUClusterDeactivateMasterIp, "master_ip_deactivate"),
    ],
)
def test_only_the_master_node_is_asked(with_master_ip: Harness, op, lu, procedure: str) -> None:
    with_master_ip.run(op(), lu)
    assert with_master_ip.nodes["node1"].names() == [procedure]
    assert with_master_ip.nodes["node2"].names() == []


def test_a_cluster_without_master_ip_refuses_with_the_reason(harness: Harness) -> None:
    with pytest.raises(OpPrereqError, match="no master IP .*--master-netdev"):
        harness.run(OpClusterActivateMasterIp(), LUClusterActivateMasterIp)
    assert harness.nodes["node1"].names() == []


def test_a_node_failure_fails_the_job(with_master_ip: Harness) -> None:
    with_master_ip.nodes["node1"].fail["master_ip_deactivate"] = RpcError("RTNETLINK answers: Operation not permitted")
    with pytest.raises(OpExecError, match="master ip deactivate on node1: .*not permitted"):
        with_master_ip.run(OpClusterDeactivateMasterIp(), LUClusterDeactivateMasterIp)


def test_ssconf_carries_the_master_ip_to_every_node(with_master_ip: Harness) -> None:
    values = with_master_ip.ctx.services.ssconf_values()
    assert (values["cluster_ip"], values["master_netdev"], values["master_ip_script"]) == ("192.0.2.100", "eth0", "0")


@pytest.fixture
def names(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """What names resolve to, as the master sees them."""
    table = {"cluster.example.com": "192.0.2.100", "cluster2.example.com": "192.0.2.200", "node1x": "192.0.2.1"}

    def resolve(name: str) -> str:
        if name not in table:
            raise OpPrereqError(
                f"Cannot resolve node name '{name}': [Errno -2] Name or service not known", "unknown_entity"
            )
        return table[name]

    monkeypatch.setattr(master_ip_change.netutil, "resolve", resolve)
    return table


def test_rename_moves_the_master_ip_to_the_new_names_address(with_master_ip: Harness, names: dict) -> None:
    assert with_master_ip.run(OpClusterRename(name="cluster2.example.com"), LUClusterRename) == "cluster2.example.com"
    cluster = with_master_ip.cfg.cluster
    assert (cluster.cluster_name, cluster.master_ip) == ("cluster2.example.com", "192.0.2.200")
    calls = with_master_ip.nodes["node1"].names()
    # the old address comes down while ssconf still names it; the new one goes up after the push
    assert calls.index("master_ip_deactivate") < calls.index("ssconf_write") < calls.index("master_ip_activate")
    assert with_master_ip.nodes["node2"].ssconf["cluster_name"] == "cluster2.example.com"
    assert with_master_ip.nodes["node2"].ssconf["cluster_ip"] == "192.0.2.200"


def test_rename_without_master_ip_changes_only_the_name(harness: Harness, names: dict) -> None:
    harness.run(OpClusterRename(name="unresolvable"), LUClusterRename)
    assert (harness.cfg.cluster.cluster_name, harness.cfg.cluster.master_ip) == ("unresolvable", "")
    assert "master_ip_activate" not in harness.nodes["node1"].names()


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("cluster.example.com", "Neither the name nor the IP address of the cluster has changed"),
        ("nowhere.example.com", "Cannot resolve cluster name 'nowhere.example.com'"),
        ("node1x", "node node1's own address"),
    ],
)
def test_rename_refusals_change_nothing(with_master_ip: Harness, names: dict, name: str, message: str) -> None:
    serial = with_master_ip.cfg.serial
    with pytest.raises(OpPrereqError, match=message):
        with_master_ip.run(OpClusterRename(name=name), LUClusterRename)
    assert with_master_ip.cfg.serial == serial and with_master_ip.nodes["node1"].names() == []


def test_rename_refuses_a_bad_name_before_any_job() -> None:
    with pytest.raises(OpPrereqError, match="not a valid host name"):
        opcodes.from_dict({"OP_ID": "OP_CLUSTER_RENAME", "name": "bad name!"})
    with pytest.raises(OpPrereqError, match="name"):
        opcodes.from_dict({"OP_ID": "OP_CLUSTER_RENAME"})


def test_modify_master_netdev_moves_the_address(with_master_ip: Harness, names: dict) -> None:
    with_master_ip.run(OpClusterSetParams(master_netdev="eth1", master_netmask=24), LUClusterSetParams)
    cluster = with_master_ip.cfg.cluster
    assert (cluster.master_netdev, cluster.master_netmask, cluster.master_ip) == ("eth1", 24, "192.0.2.100")
    calls = with_master_ip.nodes["node1"].names()
    assert calls.index("master_ip_deactivate") < calls.index("ssconf_write") < calls.index("master_ip_activate")
    assert with_master_ip.nodes["node2"].ssconf["master_netdev"] == "eth1"


def test_modify_master_netdev_turns_the_master_ip_on(harness: Harness, names: dict) -> None:
    harness.run(OpClusterSetParams(master_netdev="eth0"), LUClusterSetParams)
    assert (harness.cfg.cluster.master_ip, harness.cfg.cluster.master_netmask) == ("192.0.2.100", 32)
    assert "master_ip_deactivate" not in harness.nodes["node1"].names()
    assert harness.nodes["node1"].names()[-1] == "master_ip_activate"


@pytest.mark.parametrize(
    ("op", "message"),
    [
        (OpClusterSetParams(master_netmask=24), "has no master IP"),
        (OpClusterSetParams(use_external_mip_script=True), "has no master IP"),
        (OpClusterSetParams(master_netdev="eth0 x"), "Invalid master netdev"),
    ],
)
def test_modify_refusals(harness: Harness, names: dict, op: OpClusterSetParams, message: str) -> None:
    with pytest.raises(OpPrereqError, match=message):
        harness.run(op, LUClusterSetParams)
    assert harness.cfg.cluster.master_ip == ""


def test_modify_netmask_beyond_ipv4_is_refused(with_master_ip: Harness, names: dict) -> None:
    with pytest.raises(OpPrereqError, match="Invalid master netmask 64 for an IPv4 address"):
        with_master_ip.run(OpClusterSetParams(master_netmask=64), LUClusterSetParams)


def test_a_failed_activation_after_modify_is_a_warning(with_master_ip: Harness, names: dict) -> None:
    with_master_ip.nodes["node1"].fail["master_ip_activate"] = RpcError("Cannot find device eth9")
    with_master_ip.run(OpClusterSetParams(master_netdev="eth9"), LUClusterSetParams)
    assert with_master_ip.cfg.cluster.master_netdev == "eth9"
    assert any("could not add the master IP on node1" in line for line in with_master_ip.log)


def test_destroy_takes_the_master_ip_down(with_master_ip: Harness) -> None:
    from gnt.cluster.logic import LUClusterDestroy
    from gnt.opcodes import OpClusterDestroy

    with_master_ip.ctx.services.request_shutdown = lambda destroy=False: None  # type: ignore[attr-defined]
    del with_master_ip.cfg.nodes[with_master_ip.cfg.node("node2").uuid]
    with_master_ip.run(OpClusterDestroy(), LUClusterDestroy)
    assert [n for n in with_master_ip.nodes["node1"].names() if n != "hooks_runner"] == ["master_ip_deactivate"]
