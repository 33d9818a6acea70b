"""gnt-instance move (OP_INSTANCE_MOVE): disks copied node to node, checked by checksum, on a virtual cluster."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from tests.integration.vcluster import ADD_INSTANCE, VCluster

ADD_FILE = [*ADD_INSTANCE, "-t", "file", "-B", "memory=32M"]


def _disk_files(cluster: VCluster, node: str, instance: str) -> list[Path]:
    directory = cluster.dir / node / "srv/gnt/file-storage" / instance
    files = list(directory.iterdir()) if directory.exists() else []
    return sorted(files, key=lambda p: int(p.name.rsplit("disk", 1)[-1]))  # in disk order (names hold uuids)


def _fill(path: Path) -> str:
    """Random data over the whole disk (so a copy that drops or reorders a block shows); its sha256."""
    size = path.stat().st_size
    data = os.urandom(size)
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_move_copies_every_disk_and_restarts_the_instance_on_the_target(cluster: VCluster) -> None:
    cluster.ok(*ADD_FILE, "--disk", "0:size=3M", "--disk", "1:size=2M", "-n", "node2", "mv-a", "--no-start")
    sums = [_fill(p) for p in _disk_files(cluster, "node2", "mv-a")]
    cluster.ok("gnt-instance", "startup", "mv-a")
    out = cluster.ok("gnt-instance", "move", "-f", "-n", "node3", "--compress", "gzip", "mv-a")
    assert "Shutting down instance mv-a on source node node2" in out
    assert "Copying data for disk 1" in out
    assert cluster.instance_field("mv-a", "pnode") == "node3"
    assert cluster.instance_field("mv-a", "status") == "running"
    assert [_sha(p) for p in _disk_files(cluster, "node3", "mv-a")] == sums
    assert _disk_files(cluster, "node2", "mv-a") == []
    cluster.ok("gnt-instance", "remove", "-f", "mv-a")


def test_move_of_a_stopped_instance_keeps_it_stopped(cluster: VCluster) -> None:
    cluster.ok(*ADD_FILE, "--disk", "0:size=2M", "-n", "node1", "mv-b", "--no-start")
    (disk,) = _disk_files(cluster, "node1", "mv-b")
    digest = _fill(disk)
    cluster.ok("gnt-instance", "move", "-f", "-n", "node2", "mv-b")
    assert cluster.instance_field("mv-b", "pnode") == "node2"
    assert cluster.instance_field("mv-b", "status") == "ADMIN_down"
    assert [_sha(p) for p in _disk_files(cluster, "node2", "mv-b")] == [digest]
    cluster.ok("gnt-instance", "remove", "-f", "mv-b")


def test_move_refusals_change_nothing(cluster: VCluster) -> None:
    cluster.ok(*ADD_FILE, "--disk", "0:size=2M", "-n", "node1", "mv-c", "--no-start")
    same = cluster.run("gnt-instance", "move", "-f", "-n", "node1", "mv-c")
    assert same.rc == 1 and "Instance mv-c is already on the node node1" in same.err
    unknown = cluster.run("gnt-instance", "move", "-f", "-n", "node9", "mv-c")
    assert unknown.rc == 1 and "node9" in unknown.err
    bad = cluster.run("gnt-instance", "move", "-f", "-n", "node2", "--compress", "lzma", "mv-c")
    assert bad.rc == 2
    cluster.ok(*ADD_INSTANCE, "-t", "diskless", "-B", "memory=32M", "-n", "node1", "mv-d", "--no-start")
    diskless = cluster.run("gnt-instance", "move", "-f", "-n", "node2", "mv-d")
    assert diskless.rc == 1 and "Disk template diskless not suitable for copying" in diskless.err
    assert cluster.instance_field("mv-c", "pnode") == "node1"
    assert _disk_files(cluster, "node2", "mv-c") == []
    cluster.ok("gnt-instance", "remove", "-f", "mv-c")
    cluster.ok("gnt-instance", "remove", "-f", "mv-d")
