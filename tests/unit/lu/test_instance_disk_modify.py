"""`gnt-instance modify --disk add|remove` through LUInstanceSetParams on the in-process transport."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gnt.cluster import pending
from gnt.errors import ECODE_INVAL, ECODE_NORES, ECODE_STATE, OpExecError, OpPrereqError, StorageError
from gnt.instance.lifecycle import LUInstanceSetParams
from gnt.opcodes import OpInstanceSetParams
from tests.unit.lu.conftest import FILE_DIR, Harness
from tests.unit.lu.test_instance_disks import disks, two_disk_instance  # noqa: F401 - fixture
from tests.unit.lu.test_instance_plain import with_vg


def modify(*changes: list[Any], name: str = "inst1") -> OpInstanceSetParams:
    return OpInstanceSetParams(instance_name=name, disks=list(changes))


def test_add_a_disk_to_a_stopped_instance(disks: Harness) -> None:  # noqa: F811
    first = two_disk_instance(disks).disks[0].uuid
    result = disks.run(modify(["add", -1, {"size": "256M"}]), LUInstanceSetParams)
    assert result == [["disk/2", "add:size=256,mode=rw"]]
    new = disks.cfg.instance("inst1").disks
    assert [d.size for d in new] == [64, 128, 256]
    assert new[2].logical_id == ["loop", f"{FILE_DIR}/inst1/{new[2].uuid}.file.disk2"]
    assert new[2].uuid in disks.nodes["node1"].disks and new[0].uuid == first


def test_add_a_disk_at_an_index(disks: Harness) -> None:  # noqa: F811
    two_disk_instance(disks)
    disks.run(modify(["add", 0, {"size": 32, "mode": "ro"}]), LUInstanceSetParams)
    assert [(d.size, d.mode) for d in disks.cfg.instance("inst1").disks] == [(32, "ro"), (64, "rw"), (128, "rw")]


def test_remove_a_disk_removes_its_storage(disks: Harness) -> None:  # noqa: F811
    uuids = [d.uuid for d in two_disk_instance(disks).disks]
    result = disks.run(modify(["remove", 0, {}]), LUInstanceSetParams)
    assert result == [["disk/0", "remove"]]
    assert [d.uuid for d in disks.cfg.instance("inst1").disks] == [uuids[1]]
    assert uuids[0] not in disks.nodes["node1"].disks
    names = disks.nodes["node1"].names()
    assert names.index("blockdev_shutdown") < names.index("blockdev_remove")


def test_a_removed_disk_the_node_cannot_delete_is_kept_for_verify_disks(disks: Harness) -> None:  # noqa: F811
    uuids = [d.uuid for d in two_disk_instance(disks).disks]
    disks.nodes["node1"].fail["blockdev_remove"] = StorageError("file busy")
    disks.run(modify(["remove", -1, {}]), LUInstanceSetParams)
    assert len(disks.cfg.instance("inst1").disks) == 1
    assert [e["disk"]["uuid"] for e in pending.entries()] == [uuids[1]]
    assert any("Could not remove disk 1 of instance inst1 on node node1: file busy" in line for line in disks.log)


def test_add_and_remove_in_one_call(disks: Harness) -> None:  # noqa: F811
    uuids = [d.uuid for d in two_disk_instance(disks).disks]
    disks.run(modify(["remove", 0, {}], ["add", -1, {"size": 16}]), LUInstanceSetParams)
    assert [d.size for d in disks.cfg.instance("inst1").disks] == [128, 16]
    assert uuids[0] not in disks.nodes["node1"].disks


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ([["remove", 5, {}]], "Invalid disk index: '5'"),
        ([["add", 9, {"size": 16}]], "Invalid disk index: '9' for a new disk"),
        ([["remove", 0, {}], ["remove", 0, {}]], "Cannot remove the last disk of instance inst1"),
        ([["add", -1, {}]], "Missing size for the new disk"),
        ([["add", -1, {"size": "lots"}]], "is not a valid size"),
        ([["add", -1, {"size": 16, "vg": "x"}]], "Unknown parameter"),
        ([["resize", 0, {"size": 9}]], "Disk modification 'resize' is not supported"),
        ([["modify", 0, {"size": 9}]], "Disk size change not possible, use grow-disk"),
        ([["modify", 0, {"vg": "x"}]], "Disk parameter\\(s\\) vg cannot be modified"),
        ([["modify", 0, {"mode": "rx"}]], "Invalid disk access mode 'rx'"),
        ([["modify", 0, {}]], "Nothing to change for the disk"),
        ([["modify", 1, {"name": "a"}], ["modify", 0, {"name": "a"}]], "Disk name 'a' used more than once"),
        ([["attach", -1, {"name": "a", "uuid": "b"}]], "Only one argument is permitted in attach op"),
        ([["attach", -1, {"size": 1}]], "Only one argument is permitted in attach op"),
        ([["detach", 0, {"x": 1}]], "No settings should be passed when removing or detaching a disk"),
        ([["detach", 0, {}], ["detach", 0, {}]], "Cannot detach the last disk of instance inst1"),
        ([["remove", 0, {"size": 1}]], "No settings should be passed when removing or detaching a disk"),
    ],
)
def test_bad_disk_changes_are_refused_and_change_nothing(
    disks: Harness,  # noqa: F811
    changes: list[Any],
    message: str,
) -> None:
    two_disk_instance(disks)
    with pytest.raises(OpPrereqError, match=message) as err:
        disks.run(modify(*changes), LUInstanceSetParams)
    assert err.value.code == ECODE_INVAL
    assert len(disks.cfg.instance("inst1").disks) == 2
    assert not {"blockdev_create", "blockdev_remove"} & set(disks.nodes["node1"].names())


def test_disk_changes_need_the_instance_stopped(disks: Harness) -> None:  # noqa: F811
    two_disk_instance(disks, up=True)
    with pytest.raises(OpPrereqError, match="cannot add or remove disks without hotplug") as err:
        disks.run(modify(["add", -1, {"size": 16}]), LUInstanceSetParams)
    assert err.value.code == ECODE_STATE


def test_disk_changes_on_a_diskless_instance_are_refused(disks: Harness) -> None:  # noqa: F811
    disks.add_instance("inst1", "node1", up=False)
    with pytest.raises(OpPrereqError, match="Disk operations not supported for diskless instances"):
        disks.run(modify(["add", -1, {"size": 16}]), LUInstanceSetParams)


def test_failed_add_removes_the_disks_it_made(disks: Harness) -> None:  # noqa: F811
    two_disk_instance(disks)
    node = disks.nodes["node1"]
    node.fail["blockdev_create"] = StorageError("no space left")
    node.fail_on["blockdev_create"] = 2
    with pytest.raises(OpExecError, match="Can't create new disk 3 on node node1: no space left"):
        disks.run(modify(["add", -1, {"size": 16}], ["add", -1, {"size": 32}]), LUInstanceSetParams)
    assert len(node.disks) == 2 and node.names().count("blockdev_remove") == 2
    assert len(disks.cfg.instance("inst1").disks) == 2


def test_adding_plain_disks_checks_the_volume_group_first(disks: Harness) -> None:  # noqa: F811
    disks.cfg.cluster.enabled_disk_templates = ["plain", "file"]
    with_vg(disks.nodes["node1"], free=100)
    inst = two_disk_instance(disks)
    for d in inst.disks:
        d.dev_type = "plain"
        d.logical_id = ["xenvg", f"{d.uuid}.disk0"]
    inst.disk_template = "plain"
    asyncio.run(disks.cfg.commit([inst]))
    with pytest.raises(OpPrereqError, match="Not enough disk space on target node node1 vg xenvg") as err:
        disks.run(modify(["add", -1, {"size": 512}]), LUInstanceSetParams)
    assert err.value.code == ECODE_NORES and "blockdev_create" not in disks.nodes["node1"].names()
    disks.run(modify(["add", -1, {"size": 64}]), LUInstanceSetParams)
    new = disks.cfg.instance("inst1").disks[2]
    assert new.logical_id == ["xenvg", f"{new.uuid}.disk2"] and new.dev_type == "plain"
