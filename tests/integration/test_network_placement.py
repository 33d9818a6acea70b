"""`gnt-instance add -I` on a real cluster with two node groups: an instance whose NIC is on a network
(`network=NAME,ip=pool`) lands in the group that network is connected to, and takes its address from
that network's pool; a network connected nowhere is a one-line error that leaves nothing behind."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.vcluster import VCluster

ADD = ["gnt-instance", "add", "-o", "noop", "--no-name-check", "--no-ip-check", "-t", "diskless", "-B", "memory=32M",
       "-I", "hail"]  # fmt: skip
INSTANCES = ("np-a", "np-b", "np-c", "np-lost")


@pytest.fixture
def far_group(cluster: VCluster) -> Iterator[str]:
    """Group `far` holding node3 (the allocator's favourite: a group of one); network `homenet`
    (198.51.100.0/29) connected to `default` only, `lonely` to no group; all gone afterwards."""
    cluster.ok("gnt-group", "add", "far")
    cluster.ok("gnt-group", "assign-nodes", "far", "node3")
    cluster.ok("gnt-network", "add", "--network=198.51.100.0/29", "homenet")
    cluster.ok("gnt-network", "add", "--network=198.51.100.8/29", "lonely")
    cluster.ok("gnt-network", "connect", "-N", "mode=routed,link=100", "homenet", "default")
    try:
        yield "far"
    finally:
        for name in INSTANCES:
            cluster.run("gnt-instance", "remove", "-f", name)
        cluster.run("gnt-network", "disconnect", "homenet", "default")
        for net in ("homenet", "lonely"):
            cluster.run("gnt-network", "remove", net)
        cluster.ok("gnt-group", "assign-nodes", "default", "node3")
        cluster.ok("gnt-group", "remove", "far")


def test_add_with_an_allocator_follows_the_nics_network(cluster: VCluster, far_group: str) -> None:
    cluster.ok(*ADD, "--no-nics", "np-c")  # the control: without a network the allocator picks `far`
    assert cluster.instance_field("np-c", "pnode") == "node3"
    for name in ("np-a", "np-b"):
        out = cluster.ok(*ADD, "--net", "0:network=homenet,ip=pool", name)
        assert f"Selected nodes for instance {name} via iallocator hail: node" in out
    rows = cluster.ok("gnt-instance", "list", "--no-headers", "--separator=|", "-o", "name,pnode,nic.ips,nic.modes",
                      "np-a", "np-b")  # fmt: skip
    found = [row.split("|") for row in rows.split()]
    assert [(r[0], r[2], r[3]) for r in found] == [
        ("np-a", "198.51.100.1", "routed"),
        ("np-b", "198.51.100.2", "routed"),
    ]
    assert {r[1] for r in found} <= {"node1", "node2"}


def test_a_network_connected_nowhere_is_refused_and_leaves_nothing(cluster: VCluster, far_group: str) -> None:
    result = cluster.run(*ADD, "--net", "0:network=lonely,ip=pool", "np-lost")
    assert result.rc == 1 and "network lonely is connected to no node group" in result.text
    assert "Traceback" not in result.text
    assert "np-lost" not in cluster.ok("gnt-instance", "list", "--no-headers", "-o", "name").split()
    assert "Free: 6 (75.00%)" in cluster.ok("gnt-network", "info", "lonely")
