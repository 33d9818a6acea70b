"""`gnt-instance modify --hotplug` and `-m` through the whole stack on a 2-node virtual cluster with
real QEMU guests: CLI -> job -> LUInstanceSetParams -> instance_hotplug RPC -> node -> QMP.

The guest's own view is read over its serial console; a NIC hotplug that the node cannot plumb
(its bridge does not exist) fails the job and leaves the config, the address pool, the host's
links and the guest as they were.
"""

from __future__ import annotations

import subprocess

from guest_console import GuestConsole
from kvmtest import run
from test_kvm_cluster import kvm_cluster, wait_counting  # noqa: F401 - the fixture

from backends.kvm.argv import RunPaths
from tests.integration.vcluster import ADD_INSTANCE, VCluster

ADD = [*ADD_INSTANCE, "-B", "minmem=64M,maxmem=128M"]


def _guest(vc: VCluster, node: str, name: str, command: str) -> str:
    sock = RunPaths(str(vc.dir / node / "var/run/gnt/instances/kvm" / name)).serial

    async def go() -> str:
        async with GuestConsole(sock) as console:
            return await console.check(command, timeout=60)

    return str(run(go()))


def _gnt_taps() -> set[str]:
    out = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    return {line.split(":")[1].strip() for line in out.splitlines() if ": gnt" in line}


def test_disk_hotplug_and_ballooning_of_a_running_guest(kvm_cluster: VCluster) -> None:  # noqa: F811
    vc = kvm_cluster
    name = "kvm-hp"
    vc.ok(*ADD, "-t", "sharedfile", "--disk", "0:size=16M", "-n", "node1", name)
    wait_counting(vc, "node1", name)
    out = vc.ok("gnt-instance", "modify", "--disk", "add:size=8M", "--hotplug", name)
    assert "hotplug: plugging in disk 1" in out and "disk/1 -> add:size=8,mode=rw" in out
    sectors = _guest(
        vc,
        "node1",
        name,
        "for i in $(seq 50); do [ -e /sys/block/vdb ] && break; sleep 0.2; done; cat /sys/block/vdb/size",
    )
    assert sectors.strip().endswith(str(8 * 2048))
    disk1 = vc.ok("gnt-instance", "list", "--no-headers", "-o", "disk.count", name).strip()
    assert disk1 == "2"

    vc.ok("gnt-instance", "modify", "--disk", "1:remove", "--hotplug", name)
    assert "vdb" not in _guest(vc, "node1", name, "sleep 1; ls /sys/block")
    assert vc.instance_field(name, "disk.count") == "1"
    assert len(list((vc.dir / "shared-file-storage" / name).glob("*"))) == 1  # the removed disk's file is gone

    vc.ok("gnt-instance", "modify", "-m", "96M", name)
    assert "Runtime memory: 96MiB" in vc.ok("gnt-instance", "info", name)
    bad = vc.run("gnt-instance", "modify", "-m", "32M", name)
    assert bad.rc == 1 and "must have memory between 64 and 128 MB of memory unless --force is given" in bad.err
    wait_counting(vc, "node1", name, above=wait_counting(vc, "node1", name))  # still running
    vc.ok("gnt-instance", "remove", "-f", "--shutdown-timeout=10", name)


def test_a_failed_nic_hotplug_changes_nothing_and_releases_the_address(kvm_cluster: VCluster) -> None:  # noqa: F811
    vc = kvm_cluster
    name = "kvm-nic"
    vc.ok("gnt-network", "add", "--network", "10.77.0.0/28", "--no-conflicts-check", "net1")
    vc.ok("gnt-network", "connect", "-N", "mode=bridged,link=gntnosuchbr", "net1", "default")
    free = vc.ok("gnt-network", "list", "--no-headers", "-o", "free_count", "net1").strip()
    vc.ok(*ADD, "-t", "diskless", "-n", "node1", name)
    before = wait_counting(vc, "node1", name)
    taps = _gnt_taps()
    result = vc.run("gnt-instance", "modify", "--net", "add:network=net1,ip=pool", "--hotplug", name)
    assert result.rc == 1 and "Could not hotplug (add) NIC of instance kvm-nic" in result.err, result.err
    assert vc.instance_field(name, "nic.count") == "0"
    assert vc.ok("gnt-network", "list", "--no-headers", "-o", "free_count", "net1").strip() == free
    assert _gnt_taps() == taps  # the tap made for it went again
    assert "eth0" not in _guest(vc, "node1", name, "ls /sys/class/net")
    assert wait_counting(vc, "node1", name, above=before) > before
    assert vc.instance_field(name, "status") == "running"

    # without --hotplug the NIC is the guest's at its next start, as in Ganeti; the address is taken
    out = vc.ok("gnt-instance", "modify", "--net", "add:network=net1,ip=pool", name)
    assert "nic.0 -> add:mac=" in out and "ip=10.77.0.1" in out
    assert int(vc.ok("gnt-network", "list", "--no-headers", "-o", "free_count", "net1").strip()) == int(free) - 1
    vc.ok("gnt-instance", "remove", "-f", "--shutdown-timeout=10", name)
    assert vc.ok("gnt-network", "list", "--no-headers", "-o", "free_count", "net1").strip() == free
