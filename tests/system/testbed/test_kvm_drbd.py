"""A real QEMU guest on a drbd disk, live-migrated between two test-bed hosts (issue 8).

The hosts are QEMU/TCG guests themselves, so the instance's QEMU runs emulation inside emulation:
the smallest guest that is still a real QEMU process is used, no kernel at all (SeaBIOS finds no
bootable disk and idles), 64 MiB of RAM, no NIC. The hosts have no /dev/kvm, so the kvm driver's
acceleration probe has to pick TCG by itself (checked on the QEMU command line).

One test, on the session's gnt cluster (restored from its snapshot): `gnt-instance add -t drbd`
with the kvm hypervisor on node1:node2, data written through the primary's DRBD device, `gnt-instance
migrate` (QEMU's own migration, during DRBD's dual-primary window), then the QEMU process is on
node2 (started as a migration target, running) and gone from node1, DRBD is back to one primary
(node2) without two primaries allowed, the data reads back the same on node2; `remove` leaves no
QEMU, LV, DRBD minor or runtime directory on either host. Everything is checked with the hosts'
own tools (pgrep, /proc, QMP over socat, /proc/drbd, drbdsetup, lvs).
"""

from __future__ import annotations

import json
import shlex
from typing import Any

import pytest

from tools.testbed.gntcluster import GntCluster

from .test_drbd_cluster import enable_drbd, lvs, minors

pytestmark = pytest.mark.timeout(1200)

QEMU = "/usr/bin/qemu-system-x86_64"  # gnt's kvm_path default, from Debian's qemu-system-x86
RUN_ROOT = "/var/run/gnt/instances/kvm"  # gnt.paths.instance_run_dir("kvm") on the hosts
DATA_MIB = 16
#: written past the first MiB, so SeaBIOS never finds a boot sector in it
DATA_SEEK_MIB = 1
ADD_KVM = (
    "gnt-instance add -t drbd -o noop --no-install --no-nics -B memory=64M -H kvm --disk 0:size=64M -n node1:node2 kvm1"
)


def qemu_pids(host: Any, name: str) -> list[int]:
    """PIDs of the QEMU processes of instance `name` on `host` (its -name comes first in the argv)."""
    pattern = shlex.quote(f"^{QEMU} -name {name},")
    return [int(pid) for pid in host.run(f"pgrep -f {pattern} || true").stdout.split()]


def argv_of(host: Any, pid: int) -> list[str]:
    return host.run(f"tr '\\0' '\\n' < /proc/{pid}/cmdline").stdout.splitlines()


def qmp_status(host: Any, argv: list[str]) -> str:
    """The guest's run state, asked over the QEMU process's own control socket (QMP)."""
    qmp = next(a for a in argv if a.startswith("socket,id=qmp,path="))
    path = qmp.split("path=", 1)[1].split(",", 1)[0]
    query = '{"execute":"qmp_capabilities"}\n{"execute":"query-status"}\n'
    out = host.run(f"socat -t2 - UNIX-CONNECT:{shlex.quote(path)}", stdin=query).stdout
    replies = [json.loads(line) for line in out.splitlines() if line.strip()]
    return str(next(r["return"]["status"] for r in replies if isinstance(r.get("return"), dict) and r["return"]))


def device_of(cluster: GntCluster, name: str) -> tuple[str, str]:
    """(node, DRBD device) of disk 0 on the primary, from activate-disks (node:disk/0:device)."""
    node, iv_name, device = cluster.gnt(f"gnt-instance activate-disks {name}").stdout.split()[0].split(":")
    assert iv_name == "disk/0", iv_name
    return node, device


def md5(host: Any, device: str) -> str:
    cmd = f"dd if={device} bs=1M skip={DATA_SEEK_MIB} count={DATA_MIB} iflag=direct status=none | md5sum"
    return str(host.run(cmd).stdout.split()[0])


def test_a_kvm_guest_on_drbd_live_migrates_to_the_other_host_with_its_data(gnt_cluster: GntCluster, timed) -> None:
    cluster = gnt_cluster
    node1, node2 = cluster.bed["node1"], cluster.bed["node2"]
    enable_drbd(cluster)
    cluster.gnt("gnt-cluster modify --enabled-hypervisors fake,kvm")

    with timed("gnt-instance add -t drbd, kvm (64M disk, 64M guest, nested TCG)"):
        cluster.gnt(ADD_KVM)
    assert cluster.gnt("gnt-instance list --no-headers -o pnode,status kvm1").stdout.split() == ["node1", "running"]
    (source_pid,) = qemu_pids(node1, "kvm1")
    assert qemu_pids(node2, "kvm1") == []
    source_argv = argv_of(node1, source_pid)
    assert "pc,accel=tcg" in source_argv, source_argv  # no /dev/kvm in the hosts: the probe chose TCG
    node, device = device_of(cluster, "kvm1")
    assert node == "node1" and any(device in arg for arg in source_argv), (device, source_argv)
    node1.run(f"dd if=/dev/urandom of={device} bs=1M seek={DATA_SEEK_MIB} count={DATA_MIB} oflag=direct status=none")
    written = md5(node1, device)

    with timed("gnt-instance migrate (kvm on drbd, nested TCG)"):
        migrated = cluster.gnt("gnt-instance migrate -f kvm1")
    assert "allowing two primaries" in migrated.stdout + migrated.stderr
    assert cluster.gnt("gnt-instance list --no-headers -o pnode,status kvm1").stdout.split() == ["node2", "running"]

    # the QEMU process moved: none left on node1; on node2 one started as a migration target, running
    assert qemu_pids(node1, "kvm1") == []
    (target_pid,) = qemu_pids(node2, "kvm1")
    target_argv = argv_of(node2, target_pid)
    assert "-incoming" in target_argv and "pc,accel=tcg" in target_argv, target_argv
    assert qmp_status(node2, target_argv) == "running"

    # DRBD: one primary again (node2), the window closed, the data the same on the new primary
    node, device = device_of(cluster, "kvm1")
    assert node == "node2" and any(device in arg for arg in target_argv), (device, target_argv)
    ((minor, line),) = minors(node2).items()
    assert "ro:Primary/Secondary ds:UpToDate/UpToDate" in line, line
    assert "ro:Secondary/Primary" in next(iter(minors(node1).values()))
    for host in (node1, node2):
        assert "allow-two-primaries" not in host.run("drbdsetup show").stdout, host.name
    assert md5(node2, f"/dev/drbd{minor}") == written

    # no OS answers the ACPI power button: without --shutdown-timeout 0 the remove sits out 120 s
    with timed("gnt-instance remove (kvm on drbd)"):
        cluster.gnt("gnt-instance remove -f --shutdown-timeout 0 kvm1")
    for host in (node1, node2):
        assert qemu_pids(host, "kvm1") == [], host.name
        assert lvs(host) == [], host.name
        assert minors(host) == {}, host.name
        assert host.run("drbdsetup show").stdout.strip() == "", host.name
        assert host.run(f"ls -A {RUN_ROOT} 2>/dev/null || true").stdout.strip() == "", host.name
    assert cluster.gnt("gnt-instance list --no-headers").stdout.strip() == ""
