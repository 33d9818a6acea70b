"""`gnt-instance modify` on a real virtual cluster (fake hypervisor): --net add/modify/remove with
pool addresses, --hotplug into a running guest (the fake records the device as QEMU would),
-m ballooning, --new-primary of a stopped sharedfile instance, and the same NIC changes over RAPI."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.integration.test_rapi import ADMIN, Rapi, rapi  # noqa: F401 - the fixture
from tests.integration.vcluster import ADD_INSTANCE, VCluster, wait_for

ADD = [*ADD_INSTANCE, "-B", "minmem=32M,maxmem=64M"]


@pytest.fixture
def mnet(cluster: VCluster) -> Iterator[str]:
    """Network `mnet` (198.51.100.0/28) connected to `default`; its instances and itself gone afterwards."""
    cluster.ok("gnt-network", "add", "--network=198.51.100.0/28", "--no-conflicts-check", "mnet")
    cluster.ok("gnt-network", "connect", "-N", "mode=bridged,link=br-mod", "mnet", "default")
    try:
        yield "mnet"
    finally:
        for name in ("mod-a", "mod-b", "mod-c", "mod-d"):
            cluster.run("gnt-instance", "remove", "-f", "--shutdown-timeout=5", name)
        cluster.run("gnt-network", "disconnect", "mnet", "default")
        cluster.run("gnt-network", "remove", "mnet")


def _free(vc: VCluster) -> int:
    return int(vc.ok("gnt-network", "list", "--no-headers", "-o", "free_count", "mnet").strip())


def _row(vc: VCluster, name: str, fields: str) -> str:
    return vc.ok("gnt-instance", "list", "--no-headers", "--separator=|", "-o", fields, name).strip()


def _guest_spec(vc: VCluster, node: str, name: str) -> dict[str, object]:
    return json.loads((vc.dir / node / "var/run/gnt/instances/fake" / name / "spec.json").read_text())


def test_nics_added_changed_and_removed_on_a_stopped_instance(cluster: VCluster, mnet: str) -> None:
    vc = cluster
    vc.ok(*ADD, "-t", "diskless", "--no-start", "-n", "node1", "mod-a")
    free = _free(vc)
    out = vc.ok("gnt-instance", "modify", "--net", "add:network=mnet,ip=pool,name=eth0", "mod-a")
    assert "Modified instance mod-a" in out and " - nic.0 -> add:mac=" in out and "ip=198.51.100.1" in out
    assert _row(vc, "mod-a", "nic.ips,nic.names,nic.links") == "198.51.100.1|eth0|br-mod"
    assert _free(vc) == free - 1
    vc.ok("gnt-instance", "modify", "--net", "eth0:modify,ip=198.51.100.9", "mod-a")
    assert _row(vc, "mod-a", "nic.ips") == "198.51.100.9" and _free(vc) == free - 1
    taken = vc.run("gnt-instance", "modify", "--net", "add:network=mnet,ip=198.51.100.9", "mod-a")
    assert taken.rc == 1 and "IP 198.51.100.9 not available in network mnet" in taken.err
    mac = _row(vc, "mod-a", "nic.macs")
    vc.ok(*ADD, "-t", "diskless", "--no-start", "-n", "node1", "mod-b")
    dup = vc.run("gnt-instance", "modify", "--net", f"add:mac={mac}", "mod-b")
    assert dup.rc == 1 and f"MAC address '{mac}' already in use in cluster" in dup.err
    unknown = vc.run("gnt-instance", "modify", "--net", "eth7:remove", "mod-a")
    assert unknown.rc == 1 and "Cannot find NIC with identifier eth7" in unknown.err
    vc.ok("gnt-instance", "modify", "--net", "eth0:remove", "mod-a")
    assert _row(vc, "mod-a", "nic.count") == "0" and _free(vc) == free


def test_hotplug_into_a_running_guest_and_ballooning(cluster: VCluster, mnet: str) -> None:
    vc = cluster
    vc.ok(*ADD, "-t", "diskless", "-n", "node2", "mod-c")
    out = vc.ok("gnt-instance", "modify", "--net", "add:network=mnet,ip=pool", "--hotplug", "mod-c")
    assert "* hotplug: plugging in NIC" in out
    mac = _row(vc, "mod-c", "nic.macs")
    assert [n["mac"] for n in _guest_spec(vc, "node2", "mod-c")["nics"]] == [mac]  # type: ignore[index]
    vc.ok("gnt-instance", "modify", "--net", "0:remove", "--hotplug", "mod-c")
    assert _guest_spec(vc, "node2", "mod-c")["nics"] == []
    vc.ok("gnt-instance", "modify", "-m", "48M", "mod-c")
    assert _row(vc, "mod-c", "oper_ram") == "48"
    assert "Runtime memory: 48MiB" in vc.ok("gnt-instance", "info", "mod-c")
    too_big = vc.run("gnt-instance", "modify", "-m", "1G", "mod-c")
    assert too_big.rc == 1 and "must have memory between 32 and 64 MB of memory unless --force" in too_big.err
    vc.ok("gnt-instance", "shutdown", "--timeout=5", "mod-c")
    refused = vc.run("gnt-instance", "modify", "--net", "add", "--hotplug", "mod-c")
    assert refused.rc == 1 and "Hotplug is not possible: instance mod-c is not running" in refused.err
    later = vc.ok("gnt-instance", "modify", "--net", "add", "--hotplug-if-possible", "mod-c")
    assert "Modification will take place without hotplugging." in later
    assert _row(vc, "mod-c", "nic.count") == "1"


def test_new_primary_of_a_stopped_sharedfile_instance(cluster: VCluster, mnet: str) -> None:
    vc = cluster
    vc.ok(*ADD, "-t", "sharedfile", "--disk", "0:size=8M", "-n", "node1", "mod-d")
    unknown = vc.run("gnt-instance", "modify", "--new-primary", "node9", "mod-d")
    assert unknown.rc == 1 and "node9" in unknown.err and "Traceback" not in unknown.err
    running = vc.run("gnt-instance", "modify", "--new-primary", "node3", "mod-d")
    assert running.rc == 1 and "Instance is still running on node1" in running.err
    vc.ok("gnt-instance", "shutdown", "--timeout=5", "mod-d")
    vc.ok("gnt-instance", "modify", "--new-primary", "node3", "mod-d")
    assert vc.instance_field("mod-d", "pnode") == "node3"
    vc.ok("gnt-instance", "startup", "mod-d")
    wait_for(lambda: vc.instance_field("mod-d", "status") == "running", 20)


def test_nic_changes_over_rapi(cluster: VCluster, mnet: str, rapi: Rapi) -> None:  # noqa: F811
    vc = cluster
    vc.ok(*ADD, "-t", "diskless", "--no-start", "-n", "node1", "mod-b")
    body = {"nics": [["add", -1, {"network": "mnet", "ip": "pool", "name": "web"}]]}
    status, job_id = rapi.call("PUT", "/2/instances/mod-b/modify", body, user=ADMIN)
    assert status == 200, job_id
    wait_for(lambda: rapi.call("GET", f"/2/jobs/{job_id}", user=ADMIN)[1]["status"] == "success", 20)
    assert _row(vc, "mod-b", "nic.names,nic.ips") == "web|198.51.100.1"
    status, body = rapi.call("PUT", "/2/instances/mod-b/modify", {"nics": [["remove", 0, {"ip": "x"}]]}, user=ADMIN)
    assert status == 400 and "No settings should be passed when removing a NIC" in body["explain"]
