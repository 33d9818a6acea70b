"""The LVM report parsers on output recorded from lvm2 2.03.16 in a test-bed host (tests/golden/lvm/recorded)."""

from __future__ import annotations

import os

import pytest

from gnt.errors import StorageError
from storage.lvm.report import error_line, mib, parse_lvs, parse_pvs, parse_vgs, parse_volumes

RECORDED = os.path.join(os.path.dirname(__file__), "..", "..", "golden", "lvm", "recorded")
UUID = "4f0c2a6e-8d1b-4c33-9a5e-0b7d2f61c9aa"


def recorded(name: str) -> str:
    with open(os.path.join(RECORDED, name)) as handle:
        return handle.read()


def test_vgs_gives_size_free_and_extent_size_in_mib() -> None:
    (vg,) = parse_vgs(recorded("vgs.txt"))
    assert (vg.name, vg.size, vg.free, vg.extent_size, vg.lv_count, vg.pv_count) == ("xenvg", 2044, 1340, 4, 3, 1)


def test_lvs_gives_sizes_states_and_snapshot_origins() -> None:
    lvs = {lv.name: lv for lv in parse_lvs(recorded("lvs.txt"))}
    disk0, snap, disk1 = lvs[f"{UUID}.disk0"], lvs[f"{UUID}.disk0.snap"], lvs[f"{UUID}.disk1"]
    assert (disk0.size, disk0.active, disk0.is_snapshot, disk0.origin) == (512, True, False, "")
    assert (snap.size, snap.active, snap.is_snapshot, snap.origin) == (128, True, True, f"{UUID}.disk0")
    assert (disk1.size, disk1.active) == (64, False)  # asked for 63 MiB: LVM rounds up to whole extents
    assert {lv.vg for lv in lvs.values()} == {"xenvg"}


def test_volumes_merge_segments_and_drop_extent_ranges() -> None:
    one = parse_volumes(recorded("lvs-devices.txt"))
    assert [(v.name, v.size, v.devices) for v in one][0] == (f"{UUID}.disk0", 512, ["/dev/vdb"])
    two = {v.name: v for v in parse_volumes(recorded("lvs-devices-segments.txt"))}
    assert len(two) == 2  # disk0 lies in two segments: lvs printed it twice
    assert (two[f"{UUID}.disk0"].size, two[f"{UUID}.disk0"].devices) == (576, ["/dev/vdb"])


def test_pvs_gives_free_space_and_allocatable_flag() -> None:
    (pv,) = parse_pvs(recorded("pvs.txt"))
    assert (pv.name, pv.vg, pv.size, pv.free, pv.allocatable) == ("/dev/vdb", "xenvg", 2044, 1340, True)


def test_empty_report_is_no_rows() -> None:
    assert parse_lvs("") == [] and parse_vgs("\n") == []


def test_a_row_with_the_wrong_number_of_fields_is_a_clear_error() -> None:
    with pytest.raises(StorageError, match="lvs printed 3 fields where 5 were asked for"):
        parse_lvs("  xenvg|a|1.00\n")


@pytest.mark.parametrize("text", ["", "abc", "-1.00", "NaN", "inf"])
def test_unreadable_sizes_are_refused(text: str) -> None:
    with pytest.raises(StorageError, match="unreadable size"):
        mib(text)


def test_fractional_sizes_round_down() -> None:
    assert mib("1340.99") == 1340


@pytest.mark.parametrize(
    ("name", "line"),
    [
        ("lvcreate-vg-full.stderr", 'Volume group "xenvg" has insufficient free space (335 extents): 2000 required.'),
        ("lvremove-missing.stderr", 'Failed to find logical volume "xenvg/nosuch"'),
        ("vgs-missing-vg.stderr", "Cannot process volume group novg"),
    ],
)
def test_error_line_is_the_tools_reason(name: str, line: str) -> None:
    stderr = recorded(name).rsplit("rc=", 1)[0]
    assert error_line(stderr) == line


def test_error_line_skips_warnings() -> None:
    stderr = '  WARNING: Device /dev/vdc not initialized in udev database.\n  Volume group "x" not found\n'
    assert error_line(stderr) == 'Volume group "x" not found'
    assert error_line("  WARNING: only this\n") == "WARNING: only this"
