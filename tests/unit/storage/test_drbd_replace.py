"""The drbd driver's replace-disks steps against the in-memory DRBD 8.4 and LVM of
test_drbd_driver: one side's LVs swapped under a live link (`replace_local`, undone on failure)
and a minor relinked to a new peer (`relink`)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gnt.errors import StorageError
from storage.drbd.commands import plan_relink
from storage.drbd.run import describe
from storage.drbd.status import MinorStatus, ShowFacts
from tests.unit.storage.test_drbd_driver import FakeDrbd, device, disk
from tests.unit.storage.test_lvm_driver import FakeLvm


class DetachingDrbd(FakeDrbd):
    """FakeDrbd with `drbdsetup detach` (the backing LVs go, the network stays)."""

    def _detach(self, argv: list[str]) -> str:
        m = self._minor(argv)
        m["disk"] = "Diskless"
        m.pop("data", None)
        m.pop("meta", None)
        return ""


def connected(lvm: FakeLvm | None = None) -> tuple[Any, DetachingDrbd, FakeLvm]:
    dev, drbd, lvm = device(DetachingDrbd(peer_up=True), lvm)
    asyncio.run(dev.create(disk(primary=False), "inst1"))
    drbd.minors[0]["disk"] = "UpToDate"
    drbd.calls.clear()
    lvm.calls.clear()
    return dev, drbd, lvm


def test_replace_local_swaps_the_lvs_under_the_live_link(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("storage.drbd._driver.time.time", lambda: 1700000000)
    dev, drbd, lvm = connected()
    lvm.lvs[("xenvg", "d1.disk0_data")]["marker"] = "old"
    aside = asyncio.run(dev.replace_local(disk(primary=False), "inst1"))
    assert aside == [["xenvg", "d1.disk0_data_replaced-1700000000"], ["xenvg", "d1.disk0_meta_replaced-1700000000"]]
    assert [describe(c) for c in drbd.changes()] == [
        "drbdsetup detach", "drbdmeta create-md", "drbdmeta apply-al", "drbdsetup attach"
    ]  # fmt: skip
    assert lvm.lvs[("xenvg", "d1.disk0_data_replaced-1700000000")].get("marker") == "old"
    assert "marker" not in lvm.lvs[("xenvg", "d1.disk0_data")]  # the new LV under the disk's name
    assert drbd.minors[0]["data"] == "/dev/xenvg/d1.disk0_data" and drbd.minors[0]["cs"] == "Connected"
    assert not any(c[0] == "drbdsetup" and c[1] in ("disconnect", "down") for c in drbd.calls)


def test_replace_local_without_room_changes_nothing() -> None:
    lvm = FakeLvm()
    dev, drbd, lvm = connected(lvm)
    lvm.vgs["xenvg"][1] = 100
    with pytest.raises(StorageError, match="Not enough free space"):
        asyncio.run(dev.replace_local(disk(primary=False), "inst1"))
    assert drbd.changes() == [] and lvm.changes() == []


def test_a_failed_attach_puts_the_old_lvs_back() -> None:
    dev, drbd, lvm = connected()
    lvm.lvs[("xenvg", "d1.disk0_data")]["marker"] = "old"
    real = drbd._attach
    attempts = []

    def attach(argv: list[str]) -> str:
        attempts.append(argv)
        if len(attempts) == 1:
            raise drbd._fail("Failure: (114) Lower device is already claimed")
        return real(argv)

    drbd._attach = attach  # type: ignore[method-assign]
    with pytest.raises(StorageError, match="already claimed"):
        asyncio.run(dev.replace_local(disk(primary=False), "inst1"))
    assert sorted(lv for _, lv in lvm.lvs) == ["d1.disk0_data", "d1.disk0_meta"]
    assert lvm.lvs[("xenvg", "d1.disk0_data")].get("marker") == "old"
    assert drbd.minors[0]["data"] == "/dev/xenvg/d1.disk0_data"  # attached again


def test_replace_local_needs_the_minor_up() -> None:
    dev, _, _ = device(DetachingDrbd())
    with pytest.raises(StorageError, match="not set up on this node; activate the disks first"):
        asyncio.run(dev.replace_local(disk(primary=False), "inst1"))


def test_relink_drops_the_old_peer_and_connects_the_new_one() -> None:
    dev, drbd, _ = connected()
    asyncio.run(dev.relink(disk(primary=False, remote_ip="192.168.77.3")))
    assert drbd.changes()[0] == ["drbdsetup", "disconnect", "ipv4:192.168.77.1:11000", "ipv4:192.168.77.2:11000"]
    assert describe(drbd.changes()[1]) == "drbdsetup connect" and drbd.minors[0]["remote"] == "192.168.77.3:11000"
    drbd.calls.clear()
    asyncio.run(dev.relink(disk(primary=False, remote_ip="192.168.77.3")))
    assert drbd.changes() == []  # already linked there


def test_relink_hands_the_new_peer_the_clusters_current_resync_rate() -> None:
    """DRBD 8.4 peers swap sync parameters on connecting: a primary still at the rate it attached
    with (before `-D drbd:resync-rate` changed it) would impose that rate on the new secondary."""
    dev, drbd, _ = connected()
    assert drbd.minors[0]["rate"] == 61440
    asyncio.run(dev.relink(disk(primary=False, remote_ip="192.168.77.3", resync_rate=1024)))
    assert [describe(c) for c in drbd.changes()] == [
        "drbdsetup disconnect",
        "drbdsetup disk-options",
        "drbdsetup connect",
    ]
    assert drbd.changes()[1] == ["drbdsetup", "disk-options", "0", "--c-plan-ahead", "0", "--resync-rate", "1024"]
    assert drbd.minors[0]["rate"] == 1024


def test_relink_at_the_rate_already_set_changes_no_option() -> None:
    dev, drbd, _ = connected()
    asyncio.run(dev.relink(disk(primary=False, remote_ip="192.168.77.3")))
    assert "drbdsetup disk-options" not in [describe(c) for c in drbd.changes()]


def test_a_standalone_minor_reconnected_by_assemble_gets_the_current_rate() -> None:
    dev, drbd, _ = connected()
    drbd.minors[0]["cs"] = "StandAlone"
    drbd.minors[0].pop("remote")
    asyncio.run(dev.assemble(disk(primary=False, resync_rate=2048), "inst1"))
    assert [describe(c) for c in drbd.changes()] == ["drbdsetup disk-options", "drbdsetup connect"]
    assert drbd.minors[0]["rate"] == 2048


def test_relink_of_a_standalone_minor_just_connects() -> None:
    from gnt.drbd import DrbdView
    from tests.unit.storage.test_drbd_driver import view

    found = DrbdView.parse({"drbd": view()}, "d")
    status = MinorStatus(0, "StandAlone", disk="UpToDate")
    assert [
        describe(a) for a in plan_relink(found, status, ShowFacts(disk="/dev/xenvg/d1.disk0_data", resync_rate=61440))
    ] == ["drbdsetup connect"]
    with pytest.raises(StorageError, match="in use by another disk"):
        plan_relink(found, status, ShowFacts(disk="/dev/xenvg/other"))


def test_the_status_of_many_disks_is_one_read_of_proc_drbd() -> None:
    dev, drbd, _ = connected()
    reads = []
    real = drbd.read_proc

    async def counted() -> str | None:
        reads.append(1)
        return await real()

    dev.read_proc = counted
    found = asyncio.run(dev.statuses([disk(primary=False), disk(primary=False, minor=7)] * 50))
    assert len(reads) == 1
    assert found[0] is not None and found[0].cstate == "Connected" and found[1] is None
