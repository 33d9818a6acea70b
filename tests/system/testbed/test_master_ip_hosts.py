"""The floating master IP on hosts that are separate machines: it follows `master-failover`.

The cluster (tests/system/testbed/conftest.py `gnt_cluster`) was made without a master IP; the
test names the cluster's address in each host's /etc/hosts and turns it on with
`gnt-cluster modify --master-netdev priv0`, as an admin would on an existing cluster. The hosts
have no arping, so the gratuitous ARP is gnt-noded's own (agent.master_ip.send_gratuitous_arp).
"""

from __future__ import annotations

import time

import pytest

from tools.testbed.gntcluster import GntCluster

pytestmark = pytest.mark.timeout(1200)

CLUSTER_IP = "192.168.77.100"


def _has_ip(host) -> bool:  # type: ignore[no-untyped-def]
    return f"inet {CLUSTER_IP}/24" in host.run("ip -o -4 address show dev priv0").stdout


def _wait(predicate, timeout: float = 120.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {predicate}")
        time.sleep(1)


def _reaches(host) -> bool:  # type: ignore[no-untyped-def]
    return host.run(f"ping -c 1 -W 3 {CLUSTER_IP}", check=False).rc == 0


def test_master_failover_moves_the_master_ip(gnt_cluster: GntCluster, timed) -> None:
    cluster = gnt_cluster
    node1, node2 = cluster.bed["node1"], cluster.bed["node2"]
    for host in (node1, node2):
        host.run(f"echo '{CLUSTER_IP} {cluster.spec.name}' >> /etc/hosts")
    assert not _reaches(node2)  # nobody has the address yet

    cluster.gnt("gnt-cluster modify --master-netdev priv0 --master-netmask 24")
    assert _has_ip(node1) and not _has_ip(node2)
    assert _reaches(node2)
    # node2 learnt node1's MAC for the address from the announcement (or the ping above)
    assert CLUSTER_IP in node2.run("ip neigh show dev priv0").stdout

    with timed("master-failover until the master IP answers on the new master"):
        node2.run("gnt-cluster master-failover", timeout=600)
        _wait(lambda: _has_ip(node2))
    assert not _has_ip(node1)  # the old master dropped it during the failover
    mac2 = node2.run("cat /sys/class/net/priv0/address").stdout.strip()
    _wait(lambda: _reaches(node1))
    entry = node1.run(f"ip neigh show {CLUSTER_IP} dev priv0").stdout
    assert mac2 in entry, entry  # and clients on the segment now reach the new master's interface

    node2.run("gnt-cluster deactivate-master-ip --yes")
    assert not _has_ip(node2)
    node2.run("gnt-cluster activate-master-ip")
    assert _has_ip(node2) and not _has_ip(node1)
