"""`gnt-cluster modify --prealloc-wipe-disks` on a real virtual cluster: new file disks, added
disks and grown space are written with zeros (so a file disk is fully allocated, not sparse) before
the OS or the guest sees them; off, nothing is written. The failure paths (a wipe the node
refuses) are in tests/unit/lu/test_instance_wipe.py and tests/unit/agent/test_wipe.py: nothing on
a virtual node makes a write to its own disk file fail."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.vcluster import ADD_INSTANCE, VCluster

MIB = 1024 * 1024


@pytest.fixture
def wiping(cluster: VCluster) -> Iterator[VCluster]:
    cluster.ok("gnt-cluster", "modify", "--prealloc-wipe-disks", "yes")
    try:
        yield cluster
    finally:
        cluster.ok("gnt-cluster", "modify", "--prealloc-wipe-disks", "no")


def disk_files(cluster: VCluster, node: str, instance: str) -> list[Path]:
    """The instance's disk files on a node, in disk order (by the disk's index in the name)."""
    found = [p for p in (cluster.dir / node).rglob(f"*/{instance}/*") if p.is_file()]
    return sorted(found, key=lambda p: p.name.rsplit("disk", 1)[-1])


def allocated_mib(path: Path) -> int:
    return os.stat(path).st_blocks * 512 // MIB


def test_without_the_setting_a_new_file_disk_stays_sparse(cluster: VCluster) -> None:
    assert "preallocation wipe disks: False" in cluster.ok("gnt-cluster", "info")
    out = cluster.ok(*ADD_INSTANCE, "-t", "file", "--disk", "0:size=16M", "--no-start", "-n", "node1", "wipe-off")
    assert "Wiping" not in out
    (disk,) = disk_files(cluster, "node1", "wipe-off")
    assert allocated_mib(disk) < 8
    cluster.ok("gnt-instance", "remove", "-f", "wipe-off")


def test_new_added_and_grown_disks_are_zeroed_before_use(wiping: VCluster) -> None:
    cluster = wiping
    assert "preallocation wipe disks: True" in cluster.ok("gnt-cluster", "info")
    out = cluster.ok(*ADD_INSTANCE, "-t", "file", "--disk", "0:size=16M", "--no-start", "-n", "node1", "wipe-a")
    assert "* wiping instance disks..." in out and "* Wiping disk 0" in out and "done: 100.0%" in out
    (disk0,) = disk_files(cluster, "node1", "wipe-a")
    assert allocated_mib(disk0) == 16
    assert disk0.read_bytes()[:8] == b"gnt-noop"  # the OS create script ran after the wipe

    out = cluster.ok("gnt-instance", "modify", "--disk", "add:size=8M", "wipe-a")
    assert "* Wiping disk 1" in out
    disk1 = disk_files(cluster, "node1", "wipe-a")[1]
    assert allocated_mib(disk1) == 8 and disk1.read_bytes() == bytes(8 * MIB)

    with disk0.open("r+b") as handle:  # data the guest wrote stays; only the new space is zeroed
        handle.write(b"\xab" * MIB)
    out = cluster.ok("gnt-instance", "grow-disk", "wipe-a", "0", "8M")
    assert "* Wiping disk 0 (from 16M to 24M)" in out
    data = disk0.read_bytes()
    assert len(data) == 24 * MIB and data[:MIB] == b"\xab" * MIB and data[16 * MIB :] == bytes(8 * MIB)
    assert allocated_mib(disk0) == 24
    assert cluster.instance_field("wipe-a", "disk.sizes") == "24,8"
    cluster.ok("gnt-instance", "remove", "-f", "wipe-a")
