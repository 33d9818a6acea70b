"""The drbd template through the whole gnt stack on hosts with a real kernel: gnt-masterd on node1,
gnt-noded on both, DRBD 8.4 and LVM in Debian's kernel, the fake hypervisor (the storage flows are
what is under test here, not a guest).

One instance goes through its life in one test (each test costs a snapshot restore and tens of
seconds of emulated hosts): add -t drbd, data written through the primary's DRBD device, failover,
live migration (the real dual-primary window), replace-disks -s and -p, verify-disks repairing a
side taken down behind the cluster's back, remove. After every move the data is read back on the
new primary (md5), and at the end neither host keeps an LV, a DRBD minor or a DRBD resource.
Every check uses the hosts' own tools (/proc/drbd, drbdsetup, lvs, dd, md5sum).
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tools.testbed.gntcluster import GntCluster

pytestmark = pytest.mark.timeout(1200)

DATA_MIB = 32  # written through the primary's device; the disk is twice that
ADD_DRBD = "gnt-instance add -t drbd -o noop --no-install --disk 0:size=64M"


def enable_drbd(cluster: GntCluster) -> None:
    """What an admin does before the first drbd instance: the module loaded on every node (with
    the helper Ganeti's install guide names) and the template enabled in the cluster."""
    for host in cluster.nodes:
        host.run("modprobe drbd usermode_helper=/bin/true")
    cluster.gnt("gnt-cluster modify --drbd-usermode-helper /bin/true --enabled-disk-templates plain,file,drbd")


def minors(host: Any) -> dict[int, str]:
    """minor -> its /proc/drbd state line, as the host's kernel reports it."""
    found = re.findall(r"^\s*(\d+): (cs:.*)$", host.run("cat /proc/drbd").stdout, re.M)
    return {int(minor): line for minor, line in found}


def lvs(host: Any) -> list[str]:
    return sorted(host.run("lvs --noheadings -o lv_name xenvg").stdout.split())


def primary_of(cluster: GntCluster, name: str) -> str:
    return cluster.gnt(f"gnt-instance list --no-headers -o pnode {name}").stdout.strip()


def device_on_primary(cluster: GntCluster, name: str) -> tuple[Any, str]:
    """The primary host and its DRBD device of disk 0, from activate-disks (node:disk/0:device)."""
    lines = cluster.gnt(f"gnt-instance activate-disks {name}").stdout.split()
    node, iv_name, device = lines[0].split(":")
    assert iv_name == "disk/0" and node == primary_of(cluster, name), lines
    host = cluster.bed[node]
    minor = int(device.removeprefix("/dev/drbd"))
    assert "ro:Primary/Secondary ds:UpToDate/UpToDate" in minors(host)[minor], minors(host)
    return host, device


def wait_in_sync(primary: Any, limit_s: int) -> None:
    """Until the primary's /proc/drbd shows its pair connected and UpToDate on both sides (polled in
    the host; `limit_s` bounds the wait, it is not a timing target)."""
    synced = primary.run(
        f"for i in $(seq {limit_s * 2}); do grep -q 'cs:Connected ro:Primary/Secondary ds:UpToDate/UpToDate'"
        " /proc/drbd && break; sleep 0.5; done; cat /proc/drbd"
    ).stdout
    assert "cs:Connected ro:Primary/Secondary ds:UpToDate/UpToDate" in synced, synced


def md5(host: Any, device: str) -> str:
    cmd = f"dd if={device} bs=1M count={DATA_MIB} iflag=direct status=none | md5sum"
    return str(host.run(cmd).stdout.split()[0])


def test_a_drbd_instance_moves_and_is_repaired_with_its_data_and_leaves_nothing_behind(
    gnt_cluster: GntCluster, timed
) -> None:
    cluster = gnt_cluster
    node1, node2 = cluster.bed["node1"], cluster.bed["node2"]
    enable_drbd(cluster)

    with timed("gnt-instance add -t drbd (64M, node1:node2, waits for sync)"):
        cluster.gnt(f"{ADD_DRBD} -n node1:node2 inst1")
    assert primary_of(cluster, "inst1") == "node1"
    assert cluster.gnt("gnt-instance list --no-headers -o status inst1").stdout.strip() == "running"
    for host in (node1, node2):
        assert [lv.rsplit(".", 1)[1] for lv in lvs(host)] == ["disk0_data", "disk0_meta"], lvs(host)
    host, device = device_on_primary(cluster, "inst1")
    assert host is node1
    host.run(f"dd if=/dev/urandom of={device} bs=1M count={DATA_MIB} oflag=direct status=none")
    written = md5(host, device)

    with timed("gnt-instance failover (drbd)"):
        cluster.gnt("gnt-instance failover -f inst1")
    assert primary_of(cluster, "inst1") == "node2"
    assert cluster.gnt("gnt-instance list --no-headers -o status inst1").stdout.strip() == "running"
    host, device = device_on_primary(cluster, "inst1")
    assert host is node2 and md5(node2, device) == written

    with timed("gnt-instance migrate (drbd, dual-primary window)"):
        migrated = cluster.gnt("gnt-instance migrate -f inst1")
    assert "allowing two primaries" in migrated.stdout + migrated.stderr
    assert primary_of(cluster, "inst1") == "node1"
    host, device = device_on_primary(cluster, "inst1")
    assert host is node1 and md5(node1, device) == written
    # the window is closed: node2 went back to secondary and two primaries are no longer allowed
    assert "ro:Secondary/Primary" in next(iter(minors(node2).values()))
    assert "allow-two-primaries" not in node1.run("drbdsetup show").stdout

    before = {host.name: lvs(host) for host in (node1, node2)}
    for flag, side in (("-s", node2), ("-p", node1)):
        with timed(f"gnt-instance replace-disks {flag} (drbd, 64M)"):
            cluster.gnt(f"gnt-instance replace-disks {flag} inst1")
        # same names (the config never changes), no old LVs kept aside once in sync
        assert lvs(side) == before[side.name]
        host, device = device_on_primary(cluster, "inst1")
        assert host is node1 and md5(node1, device) == written, flag

    # a side taken down behind the cluster's back: verify-disks reports it and brings it back
    secondary_minor = next(iter(minors(node2)))
    node2.run(f"drbdsetup down resource{secondary_minor}")
    assert minors(node2) == {}
    with timed("gnt-cluster verify-disks (one side down)"):
        cluster.gnt("gnt-cluster verify-disks")
    wait_in_sync(node1, limit_s=60)
    assert "ro:Secondary/Primary ds:UpToDate/UpToDate" in minors(node2)[secondary_minor]
    quiet = cluster.gnt("gnt-cluster verify-disks")
    assert "degraded" not in quiet.stdout.lower() + quiet.stderr.lower(), quiet.stdout + quiet.stderr
    verify = cluster.gnt("gnt-cluster verify", check=False)
    assert verify.rc == 0 and "ERROR" not in verify.stdout, verify.stdout

    with timed("gnt-instance remove (drbd)"):
        cluster.gnt("gnt-instance remove -f inst1")
    for host in (node1, node2):
        assert lvs(host) == [], host.name
        assert minors(host) == {}, host.name
        assert host.run("drbdsetup show").stdout.strip() == "", host.name
    assert cluster.gnt("gnt-instance list --no-headers").stdout.strip() == ""


def test_a_stopped_drbd_instance_whose_secondary_is_dead_starts_degraded_only_with_force(
    gnt_cluster: GntCluster, timed
) -> None:
    """node2 loses power while inst2 is stopped with its disks down: a plain startup stops before
    touching node1, naming the secondary and --force; startup --force runs it degraded on node1
    with its data; once node2 is back, verify-disks reconnects the pair and it resyncs."""
    from tools.testbed.gntcluster import start_noded

    cluster = gnt_cluster
    node1, node2 = cluster.bed["node1"], cluster.bed["node2"]
    enable_drbd(cluster)
    cluster.gnt(f"{ADD_DRBD} -n node1:node2 inst2")
    host, device = device_on_primary(cluster, "inst2")
    host.run(f"dd if=/dev/urandom of={device} bs=1M count={DATA_MIB} oflag=direct status=none")
    written = md5(node1, device)
    cluster.gnt("gnt-instance shutdown inst2")
    cluster.gnt("gnt-instance deactivate-disks inst2")
    assert minors(node1) == {} and minors(node2) == {}
    node2.power_off()

    refused = cluster.gnt("gnt-instance startup inst2", check=False)
    assert refused.rc == 1 and "Traceback" not in refused.stdout + refused.stderr
    assert "cannot activate disk/0 on secondary node node2" in refused.stderr, refused.stderr
    assert "gnt-instance startup --force inst2" in refused.stderr
    assert minors(node1) == {}  # the primary was not touched

    with timed("gnt-instance startup --force (secondary dead)"):
        started = cluster.gnt("gnt-instance startup --force inst2")
    assert "starting degraded" in started.stdout + started.stderr
    assert cluster.gnt("gnt-instance list --no-headers -o status inst2").stdout.strip() == "running"
    ((minor, line),) = minors(node1).items()
    assert "ro:Primary/Unknown" in line and "ds:UpToDate/DUnknown" in line, line
    assert md5(node1, f"/dev/drbd{minor}") == written

    node2.power_on()
    node2.run("modprobe dm_mod && modprobe drbd usermode_helper=/bin/true")  # what its boot would load
    start_noded(node2)
    with timed("gnt-cluster verify-disks (secondary back after a power cut)"):
        cluster.gnt("gnt-cluster verify-disks")
    wait_in_sync(node1, limit_s=120)


def test_the_primary_host_dies_and_failover_ignoring_consistency_runs_it_on_the_secondary_with_its_data(
    gnt_cluster: GntCluster, timed
) -> None:
    """inst3 runs on node2 (node1, the master, holds its secondary); node2 loses power. A plain
    failover refuses (the dead side cannot hand over), `failover --ignore-consistency` promotes
    node1's side and runs the instance there with every byte written before the power cut; once
    node2 is back, verify-disks links its side again as the secondary and the pair resyncs."""
    from tools.testbed.gntcluster import start_noded

    cluster = gnt_cluster
    node1, node2 = cluster.bed["node1"], cluster.bed["node2"]
    enable_drbd(cluster)
    cluster.gnt(f"{ADD_DRBD} -n node2:node1 inst3")
    host, device = device_on_primary(cluster, "inst3")
    assert host is node2
    node2.run(f"dd if=/dev/urandom of={device} bs=1M count={DATA_MIB} oflag=direct status=none")
    written = md5(node2, device)
    node2.power_off()

    refused = cluster.gnt("gnt-instance failover -f inst3", check=False)
    assert refused.rc != 0 and "Traceback" not in refused.stdout + refused.stderr
    assert "--ignore-consistency" in refused.stderr, refused.stderr
    assert primary_of(cluster, "inst3") == "node2"

    with timed("gnt-instance failover --ignore-consistency (drbd, primary host dead)"):
        cluster.gnt("gnt-instance failover -f --ignore-consistency inst3")
    assert primary_of(cluster, "inst3") == "node1"
    assert cluster.gnt("gnt-instance list --no-headers -o status inst3").stdout.strip() == "running"
    ((minor, line),) = minors(node1).items()
    assert "ro:Primary/Unknown" in line, line
    assert md5(node1, f"/dev/drbd{minor}") == written

    node2.power_on()
    node2.run("modprobe dm_mod && modprobe drbd usermode_helper=/bin/true")  # what its boot would load
    start_noded(node2)
    cluster.gnt("gnt-cluster verify-disks")
    wait_in_sync(node1, limit_s=120)
    assert md5(node1, f"/dev/drbd{minor}") == written

    # a second disk for the stopped instance: made on both hosts, synced, down again like the first
    cluster.gnt("gnt-instance shutdown inst3")
    cluster.gnt("gnt-instance deactivate-disks inst3")
    with timed("gnt-instance modify --disk add (drbd, 32M, waits for sync)"):
        cluster.gnt("gnt-instance modify --disk add:size=32M inst3")
    for host in (node1, node2):
        # LV names start with the disk's random UUID: compare the suffixes, not the listing order
        assert sorted(lv.rsplit(".", 1)[1] for lv in lvs(host)) == [
            "disk0_data", "disk0_meta", "disk1_data", "disk1_meta"
        ], lvs(host)  # fmt: skip
        assert minors(host) == {}, host.name  # the instance is stopped: its disks are down
    cluster.gnt("gnt-instance remove -f inst3")
    for host in (node1, node2):
        assert lvs(host) == [] and minors(host) == {}, host.name
