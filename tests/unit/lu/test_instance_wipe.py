"""`--prealloc-wipe-disks` in the LUs: create, `modify --disk add` and grow-disk zero the new space
on the primary node (in Ganeti's chunks), and a failed wipe fails the job with nothing left
behind (a new disk removed, a grow's recorded size unchanged). Off, nothing is wiped."""

from __future__ import annotations

import pytest

from gnt.cluster import pending
from gnt.cluster.logic import LUClusterSetParams
from gnt.errors import OpExecError, StorageError
from gnt.instance import wipe
from gnt.instance.create import LUInstanceCreate
from gnt.instance.disks import LUInstanceGrowDisk, LUInstanceRecreateDisks
from gnt.instance.lifecycle import LUInstanceSetParams
from gnt.opcodes import OpClusterSetParams, OpInstanceGrowDisk, OpInstanceRecreateDisks, OpInstanceSetParams
from tests.unit.lu.conftest import FakeNode, Harness
from tests.unit.lu.test_instance_adopt import adopt  # noqa: F401 - fixture
from tests.unit.lu.test_instance_adopt import create as adopt_create
from tests.unit.lu.test_instance_create import create
from tests.unit.lu.test_instance_disks import disks, lose, two_disk_instance  # noqa: F401 - fixture


def wiped(node: FakeNode) -> list[tuple[str, int, int]]:
    """(disk uuid, offset, size) of every blockdev_wipe call the node got."""
    return [(a.disk.uuid, a.offset, a.size) for n, a in node.calls if n == "blockdev_wipe"]


def covered(calls: list[tuple[str, int, int]], uuid: str) -> list[tuple[int, int]]:
    return [(offset, size) for u, offset, size in calls if u == uuid]


def turn_on(h: Harness) -> None:
    h.run(OpClusterSetParams(prealloc_wipe_disks=True), LUClusterSetParams)
    assert h.cfg.cluster.prealloc_wipe_disks is True


@pytest.mark.parametrize(
    ("offset", "end", "expected"),
    [
        (0, 100, [(i * 10, 10) for i in range(10)]),
        (0, 5, [(i, 1) for i in range(5)]),  # a tenth of 5 MiB rounds to nothing: 1 MiB each
        (128, 192, [(128, 6), *((128 + 6 * i, 6) for i in range(1, 10)), (188, 4)]),
        (0, 20480, [(i * 1024, 1024) for i in range(20)]),  # at most 1 GiB per call
    ],
)
def test_chunks_cover_the_range_exactly(offset: int, end: int, expected: list[tuple[int, int]]) -> None:
    pieces = wipe.chunks(offset, end)
    assert pieces == expected
    assert sum(size for _, size in pieces) == end - offset


def test_create_without_the_setting_wipes_nothing(harness: Harness) -> None:
    harness.run(create(), LUInstanceCreate)
    assert wiped(harness.nodes["node1"]) == []


def test_create_wipes_every_new_disk_before_the_os_install(harness: Harness) -> None:
    turn_on(harness)
    harness.run(create(), LUInstanceCreate)
    node = harness.nodes["node1"]
    inst = harness.cfg.instance("inst1")
    for disk in inst.disks:
        pieces = covered(wiped(node), disk.uuid)
        assert pieces == wipe.chunks(0, disk.size)
    names = node.names()
    assert names.index("blockdev_create") < names.index("blockdev_wipe") < names.index("instance_os_add")
    assert any("* wiping instance disks..." in line for line in harness.log)
    assert any("* Wiping disk 1" in line for line in harness.log)


def test_a_failed_wipe_fails_the_create_and_leaves_nothing(harness: Harness) -> None:
    turn_on(harness)
    node = harness.nodes["node1"]
    node.fail["blockdev_wipe"] = StorageError("Cannot wipe /x: No space left on device")
    with pytest.raises(OpExecError, match="Could not wipe the new disks of instance inst1: Could not wipe disk 0"):
        harness.run(create(), LUInstanceCreate)
    assert harness.cfg.find_instance("inst1") is None
    assert node.disks == {} and node.running == {}
    assert "instance_os_add" not in node.names()
    assert pending.entries() == []


def test_adopted_disks_are_never_wiped(adopt: Harness) -> None:  # noqa: F811
    turn_on(adopt)
    adopt.run(adopt_create([{"adopt": "olddata"}], os_type="noop"), LUInstanceCreate)
    assert adopt.cfg.instance("inst1").disks[0].size == 300
    assert wiped(adopt.nodes["node1"]) == []


def modify_add(size: int = 32) -> OpInstanceSetParams:
    return OpInstanceSetParams(instance_name="inst1", disks=[["add", -1, {"size": size}]])


def test_disk_add_wipes_the_new_disk_only(disks: Harness) -> None:  # noqa: F811
    old = {d.uuid for d in two_disk_instance(disks).disks}
    turn_on(disks)
    disks.run(modify_add(), LUInstanceSetParams)
    new = disks.cfg.instance("inst1").disks[2]
    calls = wiped(disks.nodes["node1"])
    assert covered(calls, new.uuid) == wipe.chunks(0, 32)
    assert not {u for u, _, _ in calls} & old


def test_a_failed_wipe_fails_the_disk_add_and_removes_the_disk(disks: Harness) -> None:  # noqa: F811
    two_disk_instance(disks)
    turn_on(disks)
    node = disks.nodes["node1"]
    node.fail["blockdev_wipe"] = StorageError("I/O error")
    node.fail_on["blockdev_wipe"] = 3  # a chunk in the middle
    before = set(node.disks)
    with pytest.raises(OpExecError, match="Could not wipe disk 2 at offset 6 for size 3 on node node1: I/O error"):
        disks.run(modify_add(), LUInstanceSetParams)
    assert len(disks.cfg.instance("inst1").disks) == 2
    assert set(node.disks) == before


def test_grow_wipes_only_the_new_space_before_recording_it(disks: Harness) -> None:  # noqa: F811
    inst = two_disk_instance(disks)
    turn_on(disks)
    disks.run(OpInstanceGrowDisk(instance_name="inst1", disk=1, amount=64), LUInstanceGrowDisk)
    node = disks.nodes["node1"]
    assert covered(wiped(node), inst.disks[1].uuid) == wipe.chunks(128, 192)
    names = node.names()
    assert names.index("blockdev_grow") < names.index("blockdev_wipe")
    assert disks.cfg.instance("inst1").disks[1].size == 192


def test_a_failed_wipe_of_grown_space_keeps_the_recorded_size(disks: Harness) -> None:  # noqa: F811
    two_disk_instance(disks, up=True)
    turn_on(disks)
    node = disks.nodes["node1"]
    node.fail["blockdev_wipe"] = StorageError("I/O error")
    with pytest.raises(OpExecError, match="Could not wipe disk 1 at offset 128.*recorded size is unchanged"):
        disks.run(OpInstanceGrowDisk(instance_name="inst1", disk=1, amount=64), LUInstanceGrowDisk)
    assert disks.cfg.instance("inst1").disks[1].size == 128
    assert "instance_disk_resize" not in node.names()  # the guest never sees the unwiped space


def test_recreated_disks_are_wiped_and_a_failed_wipe_removes_them(disks: Harness) -> None:  # noqa: F811
    inst = two_disk_instance(disks)
    lose(disks, inst, 1)
    turn_on(disks)
    op = OpInstanceRecreateDisks(instance_name="inst1", disks=[1])
    disks.run(op, LUInstanceRecreateDisks)
    node = disks.nodes["node1"]
    assert covered(wiped(node), inst.disks[1].uuid) == wipe.chunks(0, 128)
    assert covered(wiped(node), inst.disks[0].uuid) == []  # the disk that was there is left alone
    lose(disks, inst, 1)
    node.fail["blockdev_wipe"] = StorageError("I/O error")
    with pytest.raises(OpExecError, match="Could not wipe disk 1 at offset 0"):
        disks.run(op, LUInstanceRecreateDisks)
    assert inst.disks[1].uuid not in node.disks
