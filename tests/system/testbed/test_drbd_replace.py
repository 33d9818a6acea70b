"""replace-disks' node steps for real (the drbd driver on two test-bed hosts, DRBD 8.4.11 and LVM):
one side's LVs swapped under its live link (-s on the secondary, -p on the primary while it stays
primary), the replaced side resynced from the other with every byte, the old LVs kept aside for the
master to remove; and a StandAlone side linked to its peer again (verify-disks' reconnect).
Checks use the hosts' own tools (/proc/drbd, lvs, dd, md5sum)."""

from __future__ import annotations

from typing import Any

import pytest

from .test_drbd_pair import SMALL, md5, minor_line, prepare, small, view, wait_for

pytestmark = pytest.mark.timeout(1200)

SECRET = "3c9d1e0f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d"
SIZE = SMALL  # MiB: what the drivers' script makes for these tests


def lvs(host: Any) -> list[str]:
    return sorted(host.run("lvs --noheadings -o lv_name xenvg").stdout.split())


def test_replace_on_the_secondary_and_then_the_primary_keeps_every_byte(testbed: Any) -> None:
    node1, node2 = testbed["node1"], testbed["node2"]
    for host in (node1, node2):
        prepare(host)
    primary, secondary = view("node1", "node2", 0, 11000, SECRET, True), view("node2", "node1", 0, 11000, SECRET, False)
    small(node2, "create", secondary)
    small(node1, "create", primary)
    wait_for(node1, 0, r"cs:Connected ro:Primary/Secondary ds:UpToDate/UpToDate")
    node1.run(f"dd if=/dev/urandom of=/dev/drbd0 bs=1M count={SIZE} oflag=direct status=none")
    written = md5(node1, "/dev/drbd0")

    # -s: the secondary gets new LVs; the primary keeps serving and resyncs it
    replaced = small(node2, "replace-local", secondary)
    assert "error" not in replaced, replaced
    aside = [lv for _, lv in replaced["aside"]]
    assert [lv.rsplit("_replaced-", 1)[0] for lv in aside] == ["d0.disk0_data", "d0.disk0_meta"]
    assert lvs(node2) == sorted(["d0.disk0_data", "d0.disk0_meta", *aside])
    assert "ro:Primary/" in minor_line(node1, 0)
    wait_for(node1, 0, r"cs:Connected ro:Primary/Secondary ds:UpToDate/UpToDate")
    assert md5(node2, "/dev/xenvg/d0.disk0_data") == written  # the new LV holds the resynced data
    assert md5(node2, f"/dev/xenvg/{aside[0]}") == written  # the old one is intact, aside
    node2.run(f"lvremove -f xenvg/{aside[0]} xenvg/{aside[1]}")  # what the master asks once in sync

    # -p: the primary's LVs replaced while it stays primary (reading and writing through its peer)
    replaced = small(node1, "replace-local", primary)
    assert "error" not in replaced, replaced
    assert "ro:Primary/Secondary" in minor_line(node1, 0)
    wait_for(node1, 0, r"cs:Connected ro:Primary/Secondary ds:UpToDate/UpToDate")
    assert md5(node1, "/dev/drbd0") == written
    assert md5(node1, "/dev/xenvg/d0.disk0_data") == written


def test_a_standalone_side_is_linked_to_its_peer_again(testbed: Any) -> None:
    node1, node2 = testbed["node1"], testbed["node2"]
    for host in (node1, node2):
        prepare(host)
    primary, secondary = view("node1", "node2", 1, 11001, SECRET, True), view("node2", "node1", 1, 11001, SECRET, False)
    small(node2, "create", secondary)
    small(node1, "create", primary)
    wait_for(node1, 1, r"cs:Connected ro:Primary/Secondary ds:UpToDate/UpToDate")
    small(node2, "disconnect", secondary)
    wait_for(node2, 1, r"cs:StandAlone")
    relinked = small(node2, "relink", secondary)
    assert "error" not in relinked, relinked
    wait_for(node1, 1, r"cs:Connected ro:Primary/Secondary ds:UpToDate/UpToDate", limit=120)
    assert small(node2, "relink", secondary)["status"]["cstate"] == "Connected"  # already linked: nothing done


def test_a_plain_lv_with_data_becomes_the_primary_side_of_a_drbd_disk(testbed: Any) -> None:
    """modify -t drbd's node steps: the primary's existing LV is the drbd data volume (external
    metadata leaves its bytes alone), the secondary syncs every byte from it."""
    node1, node2 = testbed["node1"], testbed["node2"]
    for host in (node1, node2):
        prepare(host)
    node1.run(f"lvcreate -q -y -L {SIZE}M -n d2.disk0_data xenvg")
    node1.run(f"dd if=/dev/urandom of=/dev/xenvg/d2.disk0_data bs=1M count={SIZE} oflag=direct status=none")
    written = md5(node1, "/dev/xenvg/d2.disk0_data")
    primary, secondary = view("node1", "node2", 2, 11002, SECRET, True), view("node2", "node1", 2, 11002, SECRET, False)
    assert "error" not in small(node2, "create", secondary)
    made = small(node1, "create", primary)
    assert "error" not in made, made
    wait_for(node1, 2, r"cs:Connected ro:Primary/Secondary ds:UpToDate/UpToDate")
    assert md5(node1, "/dev/drbd2") == written
    assert md5(node2, "/dev/xenvg/d2.disk0_data") == written
    # and back to plain: both sides down, the primary's LV still holds the data
    for host, side in ((node1, primary), (node2, secondary)):
        assert "error" not in small(host, "shutdown", side)
    assert md5(node1, "/dev/xenvg/d2.disk0_data") == written
