"""The drbd driver when a host dies (its QEMU killed: a power cut), in the test bed.

The secondary dies during the initial sync and comes back: the driver re-assembles its side and
the resync resumes until both sides hold the same data. The primary dies after writes: its
secondary is not promoted on its own (its peer's role is unknown), is promoted when forced (what
a failover with --ignore-consistency does) and holds every write.
Checks use the hosts' own tools (/proc/drbd, dd, md5sum).
"""

from __future__ import annotations

from typing import Any

import pytest

from .test_drbd_pair import SMALL, md5, minor_line, prepare, small, view, wait_for

pytestmark = pytest.mark.timeout(1200)

SECRET = "7a1c0e5a7b3d2468ace0f1357b9d2c4e6a8f0b1d"
SIZE = SMALL  # MiB: what the drivers' script makes for these tests


def test_the_secondary_dies_during_the_initial_sync_and_the_resync_resumes(testbed: Any) -> None:
    node1, node2 = testbed["node1"], testbed["node2"]
    for host in (node1, node2):
        prepare(host)
    primary = {**view("node1", "node2", 0, 11000, SECRET, True), "resync_rate": 1024}  # slow: room to pull the plug
    secondary = {**view("node2", "node1", 0, 11000, SECRET, False), "resync_rate": 1024}
    small(node2, "create", secondary)
    small(node1, "create", primary)
    wait_for(node1, 0, r"cs:SyncSource", limit=120)
    node2.power_off()
    # the peer's disk state stays the last one known (Inconsistent: it was being synced)
    wait_for(node1, 0, r"cs:WFConnection ro:Primary/Unknown ds:UpToDate/Inconsistent", limit=120)
    node1.run("dd if=/dev/urandom of=/dev/drbd0 bs=1M count=4 seek=8 oflag=direct status=none")  # while it is away
    node2.power_on()
    prepare_again = "modprobe dm_mod && modprobe drbd usermode_helper=/bin/true"
    node2.run(prepare_again)
    back = small(node2, "assemble", {**secondary, "resync_rate": 1024000})
    assert back["path"] == "/dev/drbd0" and back["status"]["role"] == "Secondary"
    wait_for(node1, 0, r"cs:Connected ro:Primary/Secondary ds:UpToDate/UpToDate", limit=600)
    # the secondary cannot open /dev/drbd0 (8.4: only a primary can); its data LV holds the same bytes
    assert md5(node2, "/dev/xenvg/d0.disk0_data") == md5(node1, "/dev/drbd0")


def test_the_primary_dies_and_its_secondary_takes_over_with_every_write(testbed: Any) -> None:
    node1, node2 = testbed["node1"], testbed["node2"]
    for host in (node1, node2):
        prepare(host)
    primary, secondary = view("node1", "node2", 0, 11000, SECRET, True), view("node2", "node1", 0, 11000, SECRET, False)
    small(node2, "create", secondary)
    small(node1, "create", primary)
    wait_for(node1, 0, r"cs:Connected ro:Primary/Secondary ds:UpToDate/UpToDate")
    node1.run("dd if=/dev/urandom of=/tmp/blob bs=1M count=8 status=none")
    node1.run("dd if=/tmp/blob of=/dev/drbd0 bs=1M oflag=direct status=none")  # protocol C: on node2 when dd returns
    written = node1.run("md5sum /tmp/blob").stdout.split()[0]
    node1.power_off()
    wait_for(node2, 0, r"cs:WFConnection ro:Secondary/Unknown ds:UpToDate/", limit=120)
    refused = small(node2, "primary", {**secondary, "primary": True})  # its peer could be primary
    assert "not connected to its peer 192.168.77.1" in refused["error"]
    promoted = small(node2, "primary-force", {**secondary, "primary": True})  # failover --ignore-consistency
    assert "error" not in promoted and promoted["status"]["role"] == "Primary"
    assert md5(node2, "/dev/drbd0", 8) == written
    assert "ro:Primary/Unknown ds:UpToDate/" in minor_line(node2, 0)
