"""`gnt-instance modify --disk ID:modify|ID:detach|attach:name=X` (Ganeti 3.0) through
LUInstanceSetParams on the in-process transport: what the config, the cluster's detached disks and
the node's files look like after each, and that a failure leaves all three as they were."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gnt.errors import (
    ECODE_INVAL,
    ECODE_NOENT,
    ECODE_STATE,
    ConfigurationError,
    OpExecError,
    OpPrereqError,
    StorageError,
)
from gnt.instance.lifecycle import LUInstanceSetParams
from gnt.opcodes import OpInstanceSetParams
from tests.unit.lu.conftest import FILE_DIR, Harness
from tests.unit.lu.test_instance_disks import disks, two_disk_instance  # noqa: F401 - fixture
from tests.unit.lu.test_instance_rename_reinstall import _renames_disks


def modify(*changes: list[Any], name: str = "inst1", **kw: Any) -> OpInstanceSetParams:
    return OpInstanceSetParams(instance_name=name, disks=list(changes), **kw)


def _paths(h: Harness, node: str = "node1") -> set[str]:
    return {d.logical_id[1] for d in h.nodes[node].disks.values()}


@pytest.fixture
def renaming(disks: Harness) -> Harness:  # noqa: F811
    for node in disks.nodes.values():
        _renames_disks(node)
    return disks


def test_modify_changes_name_and_mode_even_of_a_running_instance(disks: Harness) -> None:  # noqa: F811
    two_disk_instance(disks, up=True)
    result = disks.run(modify(["modify", 1, {"mode": "ro", "name": "data"}]), LUInstanceSetParams)
    assert result == [["disk.mode/1", "ro"], ["disk.name/1", "data"]]
    assert [(d.mode, d.name) for d in disks.cfg.instance("inst1").disks] == [("rw", None), ("ro", "data")]
    disks.run(modify(["modify", "data", {"name": "none"}]), LUInstanceSetParams)  # by name; 'none' unsets
    assert disks.cfg.instance("inst1").disks[1].name is None
    assert not {"blockdev_create", "blockdev_remove", "blockdev_rename"} & set(disks.nodes["node1"].names())


def test_detach_keeps_the_storage_outside_the_instance_directory(renaming: Harness) -> None:
    inst = two_disk_instance(renaming)
    gone = inst.disks[1]
    result = renaming.run(modify(["modify", 1, {"name": "data"}], ["detach", "data", {}]), LUInstanceSetParams)
    assert result == [["disk.name/1", "data"], ["disk/1", "detach"]]
    assert [d.uuid for d in renaming.cfg.instance("inst1").disks] == [inst.disks[0].uuid]
    (record,) = renaming.cfg.cluster.detached_disks
    assert (record.disk.uuid, record.disk.name, record.nodes) == (gone.uuid, "data", [renaming.cfg.node("node1").uuid])
    assert record.disk.logical_id == ["loop", f"{FILE_DIR}/disk1"]
    assert f"{FILE_DIR}/disk1" in _paths(renaming) and f"{FILE_DIR}/inst1/disk1" not in _paths(renaming)
    names = renaming.nodes["node1"].names()
    assert "blockdev_remove" not in names and names.index("blockdev_shutdown") < names.index("blockdev_rename")


def test_attach_moves_a_detached_disk_into_another_instance(renaming: Harness) -> None:
    two_disk_instance(renaming)
    two_disk_instance(renaming, name="inst2")
    renaming.run(modify(["modify", 1, {"name": "data"}], ["detach", 1, {}]), LUInstanceSetParams)
    uuid = renaming.cfg.cluster.detached_disks[0].disk.uuid
    result = renaming.run(modify(["attach", 0, {"name": "data"}], name="inst2"), LUInstanceSetParams)
    assert result == [["disk/0", "attach:size=128,mode=rw"]]
    attached = renaming.cfg.instance("inst2").disks
    assert [d.uuid for d in attached][0] == uuid and len(attached) == 3
    assert attached[0].logical_id == ["loop", f"{FILE_DIR}/inst2/disk1"]
    assert renaming.cfg.cluster.detached_disks == []
    assert f"{FILE_DIR}/inst2/disk1" in _paths(renaming)


def test_attach_by_uuid_to_the_end(renaming: Harness) -> None:
    two_disk_instance(renaming)
    renaming.run(modify(["detach", -1, {}]), LUInstanceSetParams)
    uuid = renaming.cfg.cluster.detached_disks[0].disk.uuid
    renaming.run(modify(["attach", -1, {"uuid": uuid}]), LUInstanceSetParams)
    disks_now = renaming.cfg.instance("inst1").disks
    assert disks_now[-1].uuid == uuid and disks_now[-1].logical_id == ["loop", f"{FILE_DIR}/inst1/disk1"]


@pytest.mark.parametrize(
    ("setup", "change", "message", "code"),
    [
        (None, {"name": "nosuch"}, "No disk was found with this name: nosuch", ECODE_NOENT),
        (None, {"uuid": "0000"}, "No disk was found with this UUID: 0000", ECODE_NOENT),
        (
            "inst3-node2",
            {"name": "data"},
            "Disk nodes are ['node1'] while the instance's nodes are ['node2']",
            ECODE_INVAL,
        ),
        (
            "sharedfile",
            {"name": "data"},
            "Instance has 'sharedfile' template while disk has 'file' template",
            ECODE_INVAL,
        ),
        (
            "named-in-use",
            {"name": "root"},
            "Disk root is attached to instance inst1; detach it there first",
            ECODE_INVAL,
        ),
    ],
)
def test_attach_refusals_change_nothing(
    renaming: Harness, setup: str | None, change: dict[str, str], message: str, code: str
) -> None:
    two_disk_instance(renaming)
    renaming.run(modify(["modify", 0, {"name": "root"}], ["modify", 1, {"name": "data"}], ["detach", 1, {}]),
                 LUInstanceSetParams)  # fmt: skip
    target = "inst1"
    if setup == "inst3-node2":
        two_disk_instance(renaming, name="inst3", node="node2")
        target = "inst3"
    elif setup == "sharedfile":
        target = renaming.add_instance("inst4", "node1", template="sharedfile", up=False).name
    renaming.nodes["node1"].calls.clear()
    before = [r.disk.uuid for r in renaming.cfg.cluster.detached_disks]
    with pytest.raises(OpPrereqError, match=message.replace("[", r"\[").replace("]", r"\]")) as err:
        renaming.run(modify(["attach", -1, change], name=target), LUInstanceSetParams)
    assert err.value.code == code
    assert [r.disk.uuid for r in renaming.cfg.cluster.detached_disks] == before
    assert "blockdev_rename" not in renaming.nodes["node1"].names()


def test_detach_and_attach_need_the_instance_stopped_without_hotplug(renaming: Harness) -> None:
    two_disk_instance(renaming, up=True)
    with pytest.raises(OpPrereqError, match="cannot add or remove disks without hotplug") as err:
        renaming.run(modify(["detach", 1, {}]), LUInstanceSetParams)
    assert err.value.code == ECODE_STATE
    assert renaming.cfg.cluster.detached_disks == []


def test_hotplug_detach_takes_the_disk_out_of_the_guest_first(renaming: Harness) -> None:
    two_disk_instance(renaming, up=True)
    renaming.run(modify(["detach", 1, {}], hotplug=True), LUInstanceSetParams)
    names = renaming.nodes["node1"].names()
    assert names.index("instance_hotplug") < names.index("blockdev_rename")
    (call,) = [a for n, a in renaming.nodes["node1"].calls if n == "instance_hotplug"]
    assert call.action == "remove" and call.disk.logical_id == ["loop", f"{FILE_DIR}/inst1/disk1"]
    assert len(renaming.cfg.cluster.detached_disks) == 1


def test_a_failed_move_on_the_node_leaves_everything_as_it_was(renaming: Harness) -> None:
    two_disk_instance(renaming)
    renaming.run(modify(["detach", 1, {}]), LUInstanceSetParams)
    uuid = renaming.cfg.cluster.detached_disks[0].disk.uuid
    renaming.nodes["node1"].fail["blockdev_rename"] = StorageError("target exists")
    with pytest.raises(Exception, match="target exists"):
        renaming.run(modify(["attach", -1, {"uuid": uuid}]), LUInstanceSetParams)
    assert [r.disk.uuid for r in renaming.cfg.cluster.detached_disks] == [uuid]
    assert len(renaming.cfg.instance("inst1").disks) == 1


def test_a_failed_commit_moves_the_file_back_and_keeps_the_detached_list(
    renaming: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    inst = two_disk_instance(renaming)
    original = renaming.cfg.commit

    async def broken(*args: Any, **kw: Any) -> int:
        raise ConfigurationError("disk full")

    monkeypatch.setattr(renaming.cfg, "commit", broken)
    with pytest.raises(ConfigurationError, match="disk full"):
        renaming.run(modify(["detach", 1, {}]), LUInstanceSetParams)
    monkeypatch.setattr(renaming.cfg, "commit", original)
    assert renaming.cfg.cluster.detached_disks == []
    assert [d.uuid for d in renaming.cfg.instance("inst1").disks] == [d.uuid for d in inst.disks]
    assert f"{FILE_DIR}/inst1/disk1" in _paths(renaming) and f"{FILE_DIR}/disk1" not in _paths(renaming)
    asyncio.run(renaming.cfg.commit([renaming.cfg.cluster]))  # the harness' config still commits


def test_a_lookup_by_an_unknown_name_is_unknown_entity(disks: Harness) -> None:  # noqa: F811
    two_disk_instance(disks)
    with pytest.raises(OpPrereqError, match="Lookup of disk 'nosuch' failed") as err:
        disks.run(modify(["remove", "nosuch", {}]), LUInstanceSetParams)
    assert err.value.code == ECODE_NOENT


def test_verify_knows_a_detached_disk_file_is_no_orphan(renaming: Harness) -> None:
    from gnt import PROTOCOL_VERSION
    from gnt.cluster.logic import LUClusterVerify
    from gnt.opcodes import OpClusterVerify

    two_disk_instance(renaming)
    renaming.run(modify(["detach", 1, {}]), LUInstanceSetParams)
    files = [f"{FILE_DIR}/inst1/disk0", f"{FILE_DIR}/disk1", f"{FILE_DIR}/stray"]
    base = {"version": PROTOCOL_VERSION, "hypervisors": {}, "ssconf": {}}
    for node in renaming.nodes.values():
        node.do_node_verify = lambda args, n=node: {**base, "disk_files": files if n.name == "node1" else []}  # type: ignore[attr-defined]
    renaming.run(OpClusterVerify(), LUClusterVerify)
    unknown = [line.strip() for line in renaming.log if "is unknown" in line]
    assert unknown == [f"- ERROR: node node1: volume {FILE_DIR}/stray is unknown"]


def test_a_disk_another_job_attached_meanwhile_fails_the_job_and_is_moved_back(
    renaming: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gnt.instance import disk_modify

    two_disk_instance(renaming)
    renaming.run(modify(["detach", 1, {}]), LUInstanceSetParams)
    uuid = renaming.cfg.cluster.detached_disks[0].disk.uuid
    original = disk_modify.apply

    async def racing(*args: Any, **kw: Any) -> Any:
        result = await original(*args, **kw)
        renaming.cfg.cluster.detached_disks = []  # another job's commit took it
        return result

    monkeypatch.setattr(disk_modify, "apply", racing)
    with pytest.raises(OpExecError, match=f"Disk {uuid} was attached by another job meanwhile"):
        renaming.run(modify(["attach", -1, {"uuid": uuid}]), LUInstanceSetParams)
    assert len(renaming.cfg.instance("inst1").disks) == 1
    assert f"{FILE_DIR}/disk1" in _paths(renaming)  # moved back out of the instance directory
