"""gnt-network on a real cluster: add, connect, an instance taking a pool address (`ip=pool`), the
lease shown by `gnt-network info`, freed when the instance goes; refusals that leave nothing behind."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.vcluster import VCluster

ADD_NIC = [
    "gnt-instance",
    "add",
    "-o",
    "noop",
    "--no-name-check",
    "--no-ip-check",
    "-t",
    "diskless",
    "-B",
    "memory=32M",
]


def _networks(cluster: VCluster) -> list[str]:
    return cluster.ok("gnt-network", "list", "--no-headers", "-o", "name").split()


@pytest.fixture
def tnet(cluster: VCluster) -> Iterator[str]:
    """Network `tnet` (192.0.2.0/28, gateway .1) connected to `default`; gone afterwards with its instances."""
    cluster.ok("gnt-network", "add", "--network=192.0.2.0/28", "--gateway=192.0.2.1", "--add-reserved-ips=192.0.2.2",
               "--tags=lab", "tnet")  # fmt: skip
    cluster.ok("gnt-network", "connect", "-N", "mode=bridged,link=br-test", "tnet", "default")
    try:
        yield "tnet"
    finally:
        for name in ("net-a", "net-b", "net-c"):
            cluster.run("gnt-instance", "remove", "-f", name)
        cluster.run("gnt-network", "disconnect", "tnet", "default")
        cluster.run("gnt-network", "remove", "tnet")


def test_a_pool_address_is_leased_shown_and_freed(cluster: VCluster, tnet: str) -> None:
    lines = cluster.ok("gnt-network", "list").splitlines()
    assert lines[0].split() == ["Network", "Subnet", "Gateway", "MacPrefix", "GroupList", "Tags"]
    assert "default (bridged, br-test, )" in lines[1] and "192.0.2.0/28" in lines[1]
    cluster.ok(*ADD_NIC, "--net", "0:network=tnet,ip=pool", "-n", "node1", "net-a")
    row = cluster.ok("gnt-instance", "list", "--no-headers", "--separator=|", "-o", "nic.ips,nic.modes,nic.links,"
                     "nic.networks.names", "net-a")  # fmt: skip
    assert row.strip() == "192.0.2.3|bridged|br-test|tnet"
    info = cluster.ok("gnt-network", "info", "tnet")
    assert "Network name: tnet" in info and "  Subnet: 192.0.2.0/28" in info and "  Gateway: 192.0.2.1" in info
    assert "  Free: 11 (68.75%)" in info
    assert "XXXX............X" not in info and "XXXX...........X" in info  # .0 .1 .2 and the lease .3, broadcast
    assert "192.0.2.0, 192.0.2.1, 192.0.2.2, 192.0.2.15" in info
    assert "    default (mode:bridged link:br-test vlan:)" in info
    assert "  used by 1 instances:" in info and "    net-a: 0:192.0.2.3" in info
    counts = cluster.ok("gnt-network", "list", "--no-headers", "--separator=|", "-o", "free_count,reserved_count")
    assert counts.strip() == "11|5"
    cluster.ok("gnt-instance", "remove", "-f", "net-a")
    info = cluster.ok("gnt-network", "info", "tnet")
    assert "  Free: 12 (75.00%)" in info and "  not used by any instances" in info
    cluster.ok(*ADD_NIC, "--net", "0:network=tnet,ip=pool", "-n", "node1", "net-b")
    assert cluster.ok("gnt-instance", "list", "--no-headers", "-o", "nic.ips", "net-b").strip() == "192.0.2.3"


def test_address_conflicts_and_refusals_are_one_line_errors(cluster: VCluster, tnet: str) -> None:
    cluster.ok(*ADD_NIC, "--net", "0:network=tnet,ip=192.0.2.5", "-n", "node1", "net-a")
    taken = cluster.run(*ADD_NIC, "--net", "0:network=tnet,ip=192.0.2.5", "-n", "node1", "net-b")
    assert taken.rc == 1 and "IP address 192.0.2.5 already in use or reserved in network tnet" in taken.text
    assert "Traceback" not in taken.text
    outside = cluster.run(*ADD_NIC, "--net", "0:ip=192.0.2.6", "-n", "node1", "net-b")
    assert outside.rc == 1 and "belongs to network tnet, but the target NIC 0 does not" in outside.text
    cluster.ok(*ADD_NIC, "--no-conflicts-check", "--net", "0:ip=192.0.2.6", "-n", "node1", "net-c")
    assert "net-b" not in cluster.ok("gnt-instance", "list", "--no-headers", "-o", "name").split()
    busy = cluster.run("gnt-network", "disconnect", "tnet", "default")
    assert busy.rc == 1 and "still used in node group 'default' by net-a: nic0/192.0.2.5" in busy.text
    connected = cluster.run("gnt-network", "remove", "tnet")
    assert connected.rc == 1 and "still connected to node group(s) default" in connected.text
    assert "tnet" in _networks(cluster)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["add", "--network=192.0.2.0/8", "bad"], "is not an IPv4 network"),
        (["add", "--network=10.0.0.0/8", "bad"], "at most a /16"),
        (["add", "--network=10.0.0.0/24", "--gateway=10.0.1.1", "bad"], "Gateway 10.0.1.1 is not in network"),
        (["add", "--network=10.0.0.0/24", "--add-reserved-ips=10.0.0.300", "bad"], "is not an IPv4 address"),
        (["connect", "-N", "mode=tunnel,link=x", "nosuchnet", "default"], "Invalid NIC mode"),
        (["connect", "-N", "mode=bridged,link=x", "nosuchnet", "default"], "Network 'nosuchnet' not found"),
        (["modify", "nosuchnet"], "Please give at least one of the parameters"),
        (["remove", "nosuchnet"], "Network 'nosuchnet' not found"),
    ],
)
def test_bad_network_commands_fail_cleanly(cluster: VCluster, argv: list[str], message: str) -> None:
    result = cluster.run("gnt-network", *argv)
    assert result.rc == 1, result.text
    assert message in result.text and "Traceback" not in result.text
    assert "bad" not in _networks(cluster)


def test_tags_and_list_fields(cluster: VCluster, tnet: str) -> None:
    cluster.ok("gnt-network", "add-tags", "tnet", "rack:1")
    assert cluster.ok("gnt-network", "list-tags", "tnet").split() == ["lab", "rack:1"]
    cluster.ok("gnt-network", "remove-tags", "tnet", "lab")
    assert cluster.ok("gnt-network", "list-tags", "tnet").split() == ["rack:1"]
    fields = cluster.ok("gnt-network", "list-fields", "--no-headers", "--separator=|").splitlines()
    assert "free_count|FreeCount|Number of available addresses" in fields
    assert cluster.ok("gnt-group", "list", "--no-headers", "-o", "networks", "default").strip() == "tnet"
