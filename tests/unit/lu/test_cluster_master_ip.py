"""OP_CLUSTER_ACTIVATE_MASTER_IP / OP_CLUSTER_DEACTIVATE_MASTER_IP: the master's node daemon is asked."""

from __future__ import annotations

import asyncio

import pytest

from gnt.cluster.master_ip import LUClusterActivateMasterIp, LUClusterDeactivateMasterIp
from gnt.cluster.master_ip_ops import OpClusterActivateMasterIp, OpClusterDeactivateMasterIp
from gnt.errors import OpExecError, OpPrereqError, RpcError
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
