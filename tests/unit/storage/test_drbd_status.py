"""The DRBD parsers on output recorded from DRBD 8.4.11 in test-bed hosts (tests/golden/drbd/recorded)."""

from __future__ import annotations

import os

import pytest

from gnt.errors import StorageError
from storage.drbd.status import check_supported, error_line, parse_proc_drbd, parse_show

RECORDED = os.path.join(os.path.dirname(__file__), "..", "..", "golden", "drbd", "recorded")


def recorded(name: str) -> str:
    with open(os.path.join(RECORDED, name)) as handle:
        return handle.read()


def minor0(name: str):  # type: ignore[no-untyped-def]
    return parse_proc_drbd(recorded(name)).minors[0]


def test_version_line_gives_the_module_version() -> None:
    proc = parse_proc_drbd(recorded("proc-drbd-empty.txt"))
    assert (proc.version, proc.api, proc.proto, proc.minors) == ((8, 4, 11), 1, "86-101", {})
    check_supported(proc)


def test_an_allocated_minor_without_disk_or_network_is_unconfigured() -> None:
    m = minor0("proc-drbd-diskless.txt")
    assert m.unconfigured and not m.attached and not m.has_network


def test_attached_standalone_and_waiting_states() -> None:
    standalone, waiting = minor0("proc-drbd-standalone.txt"), minor0("proc-drbd-wfconnection.txt")
    assert standalone.attached and not standalone.has_network and standalone.disk == "Inconsistent"
    assert waiting.attached and waiting.has_network and not waiting.connected
    assert waiting.out_of_sync == 65280


def test_a_peer_with_the_wrong_secret_leaves_both_sides_standalone() -> None:
    m = minor0("proc-drbd-wrong-secret.txt")
    assert m.cstate == "StandAlone" and not m.has_network and m.peer_role == "Unknown"


def test_resync_progress_speed_and_eta() -> None:
    source, target = minor0("proc-drbd-syncsource.txt"), minor0("proc-drbd-synctarget.txt")
    assert (source.role, source.peer_role, source.disk, source.peer_disk) == (
        "Primary", "Secondary", "UpToDate", "Inconsistent")  # fmt: skip
    assert (source.sync_percent, source.sync_eta) == (5.9, 163)
    assert (target.sync_percent, target.sync_speed, target.sync_eta) == (70.6, 14336, 1)
    assert target.connected and target.degraded and not target.in_sync


def test_connected_and_up_to_date_is_in_sync() -> None:
    m = minor0("proc-drbd-connected-uptodate.txt")
    assert m.in_sync and m.is_primary and m.sync_percent is None and m.out_of_sync == 0
    both_new = minor0("proc-drbd-connected-inconsistent.txt")
    assert both_new.connected and not both_new.in_sync


def test_a_vanished_peer_degrades_the_survivor() -> None:
    m = minor0("proc-drbd-peer-gone.txt")
    assert m.cstate == "WFConnection" and m.disk == "UpToDate" and m.degraded


def test_every_minor_is_read_in_one_pass() -> None:
    proc = parse_proc_drbd(recorded("proc-drbd-three-minors.txt"))
    assert sorted(proc.minors) == [0, 1, 5]
    assert proc.minors[0].unconfigured and proc.minors[5].unconfigured
    assert proc.minors[1].cstate == "WFConnection" and proc.minors[1].out_of_sync == 7936
    assert parse_proc_drbd(recorded("proc-drbd-after-down.txt")).minors == {}


def test_show_names_devices_and_addresses_but_keeps_no_secret() -> None:
    facts = parse_show(recorded("show-connected.txt"))
    assert (facts.disk, facts.meta_disk) == ("/dev/xenvg/d0_data", "/dev/xenvg/d0_meta")
    assert (facts.local_address, facts.remote_address) == ("192.168.77.1:11000", "192.168.77.2:11000")
    assert "s3cretAAA" in recorded("show-connected.txt") and "s3cretAAA" not in repr(facts)
    assert parse_show(recorded("show-diskless.txt")) == type(facts)()


@pytest.mark.parametrize(
    ("text", "version"),
    [
        ("version: 9.2.8 (api:2/proto:86-122)\nGIT-hash: 0 build by x\nTransports (api:20): tcp (9.2.8)\n", "9.2.8"),
        ("version: 8.3.16 (api:88/proto:86-97)\n", "8.3.16"),
    ],
)
def test_only_drbd_84_modules_are_driven(text: str, version: str) -> None:
    with pytest.raises(StorageError) as err:
        check_supported(parse_proc_drbd(text))
    assert str(err.value).startswith(f"DRBD kernel module {version} is not supported")
    assert "\n" not in str(err.value)


def test_an_unreadable_proc_drbd_is_a_clear_error() -> None:
    with pytest.raises(StorageError, match="/proc/drbd has no version line"):
        parse_proc_drbd("garbage\n")


@pytest.mark.parametrize(
    ("name", "line"),
    [
        ("dump-md-none.stderr", "No valid meta data found"),
        ("dump-md-attached.stderr", 'Found meta data is "unclean", please apply-al first'),
        ("attach-unclean.stderr", "Failure: (165) Unclean meta-data found."),
        ("show-unallocated.stderr", "Failure: (127) Device minor not allocated"),
        ("secondary-unconfigured.stderr", "Failure: (127) Device minor not allocated"),
        ("disconnect-standalone.stderr", "Failure: (162) Invalid configuration request"),
        ("primary-refused.stderr", "State change failed: (-2) Need access to UpToDate data"),
        ("apply-al-attached.stderr", "Device '/dev/drbd0' is configured!"),
    ],
)
def test_error_line_is_the_tools_reason(name: str, line: str) -> None:
    stderr = recorded(name).rsplit("rc=", 1)[0]
    assert error_line(stderr) == line


def test_show_tells_whether_the_link_allows_two_primaries() -> None:
    assert parse_show(recorded("show-dual-primary.txt")).two_primaries is True
    assert parse_show(recorded("show-connected.txt")).two_primaries is False
    both = minor0("proc-drbd-dual-primary.txt")
    assert (both.role, both.peer_role, both.in_sync) == ("Primary", "Primary", True)


def test_a_split_brain_leaves_a_primary_standalone() -> None:
    m = minor0("proc-drbd-split-brain.txt")
    assert (m.cstate, m.role, m.connected, m.has_network) == ("StandAlone", "Primary", False, False)
    secondaries = minor0("proc-drbd-connected-secondaries.txt")
    assert secondaries.connected and secondaries.in_sync and not secondaries.is_primary


def test_show_reads_the_resync_rate_in_kib() -> None:
    assert parse_show(recorded("show-connected.txt")).resync_rate == 61440
    shown = recorded("show-connected.txt").replace("61440k;", "2M;")
    assert parse_show(shown).resync_rate == 2048
    assert parse_show(recorded("show-diskless.txt")).resync_rate is None  # left out: DRBD's own default
