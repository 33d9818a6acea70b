"""Instance rename and reinstall LUs on the in-process transport."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gnt.errors import ECODE_ENVIRON, ECODE_EXISTS, ECODE_INVAL, ECODE_NOENT, ECODE_STATE, OpExecError, OpPrereqError
from gnt.instance.admin_opcodes import OpInstanceReinstall, OpInstanceRename
from gnt.instance.reinstall import LUInstanceReinstall
from gnt.instance.rename import LUInstanceRename
from gnt.objects import Disk, Instance, new_uuid
from gnt.opcodes import from_dict
from gnt.runtime import DiskSpec
from tests.unit.lu.conftest import FILE_DIR, FakeNode, Harness


def _renames_disks(node: FakeNode) -> None:
    """The node double moves its disks the way the file driver does (keyed by uuid, new logical_id)."""

    def do_blockdev_rename(args: Any) -> None:
        disk = node.disks[args.disk.uuid]
        assert list(disk.logical_id) == list(args.disk.logical_id), "renamed from where it is not"
        node.disks[args.disk.uuid] = DiskSpec(disk.uuid, disk.index, disk.size, disk.dev_type, args.new_logical_id)

    node.do_blockdev_rename = do_blockdev_rename  # type: ignore[attr-defined]


def _two_disk_instance(harness: Harness, name: str) -> Instance:
    inst = Instance(name=name, primary_node=harness.cfg.node("node1").uuid, hypervisor="fake", disk_template="file")
    inst.admin_state = "down"
    for index in range(2):
        lid = ["loop", f"{FILE_DIR}/{name}/{new_uuid()}.file.disk{index}"]
        inst.disks.append(Disk(uuid=new_uuid(), size=64, dev_type="file", logical_id=lid))
        harness.nodes["node1"].disks[inst.disks[-1].uuid] = DiskSpec(inst.disks[-1].uuid, index, 64, "file", lid)
    asyncio.run(harness.cfg.commit([inst]))
    return inst


def _rename(name: str, new_name: str, **kw: Any) -> OpInstanceRename:
    return OpInstanceRename(instance_name=name, new_name=new_name, name_check=False, **kw)


def _disk_paths(node: FakeNode) -> list[str]:
    return sorted(d.logical_id[1] for d in node.disks.values())


# -- rename ------------------------------------------------------------------------------------


def test_rename_moves_file_disks_renames_in_config_and_runs_the_os_script(harness: Harness) -> None:
    node = harness.nodes["node1"]
    _renames_disks(node)
    inst = harness.add_instance("inst1", "node1", template="file", up=False, os="noop")
    result = harness.run(_rename("inst1", "web1"), LUInstanceRename)
    assert result == "web1"
    assert harness.cfg.find_instance("inst1") is None
    renamed = harness.cfg.instance("web1")
    assert renamed.uuid == inst.uuid
    assert renamed.disks[0].logical_id == ["loop", f"{FILE_DIR}/web1/disk0"]
    assert _disk_paths(node) == [f"{FILE_DIR}/web1/disk0"]
    script = [args for name, args in node.calls if name == "instance_run_rename"]
    assert len(script) == 1 and script[0].old_name == "inst1" and script[0].instance.name == "web1"
    assert script[0].instance.disks[0].logical_id == ["loop", f"{FILE_DIR}/web1/disk0"]


def test_rename_of_a_diskless_instance_touches_no_disk(harness: Harness) -> None:
    harness.add_instance("inst1", "node1", up=False, os="noop")
    harness.run(_rename("inst1", "web1"), LUInstanceRename)
    assert harness.cfg.find_instance("web1") is not None
    assert "blockdev_rename" not in harness.nodes["node1"].names()


def test_rename_refuses_an_instance_marked_up(harness: Harness) -> None:
    harness.add_instance("inst1", "node1", template="file")
    with pytest.raises(OpPrereqError, match="Instance 'inst1' is marked to be up, cannot rename") as err:
        harness.run(_rename("inst1", "web1"), LUInstanceRename)
    assert err.value.code == ECODE_STATE
    assert harness.cfg.find_instance("inst1") is not None


def test_rename_refuses_an_instance_that_runs_although_marked_down(harness: Harness) -> None:
    harness.add_instance("inst1", "node1", template="file")
    harness.cfg.instance("inst1").admin_state = "down"
    with pytest.raises(OpPrereqError, match="Instance 'inst1' is running, cannot rename") as err:
        harness.run(_rename("inst1", "web1"), LUInstanceRename)
    assert err.value.code == ECODE_STATE
    assert "blockdev_rename" not in harness.nodes["node1"].names()


def test_rename_refuses_a_name_in_use(harness: Harness) -> None:
    harness.add_instance("inst1", "node1", up=False)
    harness.add_instance("inst2", "node2", up=False)
    with pytest.raises(OpPrereqError, match="Instance 'inst2' is already in the cluster") as err:
        harness.run(_rename("inst1", "inst2"), LUInstanceRename)
    assert err.value.code == ECODE_EXISTS
    assert {i.name for i in harness.cfg.instances.values()} == {"inst1", "inst2"}


def test_rename_of_an_unknown_instance_is_unknown_entity(harness: Harness) -> None:
    with pytest.raises(OpPrereqError) as err:
        harness.run(_rename("nosuch", "web1"), LUInstanceRename)
    assert err.value.code == ECODE_NOENT


def test_rename_with_name_check_refuses_a_name_that_does_not_resolve(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gnt import netutil

    def unresolvable(name: str) -> str:
        raise OpPrereqError(f"Cannot resolve node name '{name}': not found", ECODE_NOENT)

    monkeypatch.setattr(netutil, "resolve", unresolvable)
    harness.add_instance("inst1", "node1", up=False)
    op = OpInstanceRename(instance_name="inst1", new_name="web1", name_check=True)
    with pytest.raises(OpPrereqError, match="Cannot resolve the new name 'web1'.*--no-name-check") as err:
        harness.run(op, LUInstanceRename)
    assert err.value.code == ECODE_ENVIRON


def test_rename_ip_check_needs_a_name_check() -> None:
    data = {"OP_ID": "OP_INSTANCE_RENAME", "instance_name": "a", "new_name": "b", "name_check": False, "ip_check": True}
    with pytest.raises(OpPrereqError, match="IP address check requires a name check") as err:
        from_dict(data)
    assert err.value.code == ECODE_INVAL


def test_rename_puts_moved_disks_back_when_a_later_disk_cannot_move(harness: Harness) -> None:
    node = harness.nodes["node1"]
    _renames_disks(node)
    inst = _two_disk_instance(harness, "inst1")
    before = _disk_paths(node)
    node.fail["blockdev_rename"] = OpExecError("disk busy")
    node.fail_on["blockdev_rename"] = 2
    with pytest.raises(OpExecError, match="Could not rename disk 1 of instance inst1 on node node1: disk busy"):
        harness.run(_rename("inst1", "web1"), LUInstanceRename)
    assert _disk_paths(node) == before
    assert harness.cfg.find_instance("web1") is None
    assert [d.logical_id for d in harness.cfg.instance("inst1").disks] == [d.logical_id for d in inst.disks]
    assert "instance_run_rename" not in node.names()


def test_rename_puts_the_disks_back_when_the_config_commit_fails(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    node = harness.nodes["node1"]
    _renames_disks(node)
    harness.add_instance("inst1", "node1", template="file", up=False)

    async def broken_commit(*args: Any, **kw: Any) -> int:
        raise OSError("database is locked")

    monkeypatch.setattr(harness.cfg, "commit", broken_commit)
    with pytest.raises(OSError):
        harness.run(_rename("inst1", "web1"), LUInstanceRename)
    assert _disk_paths(node) == [f"{FILE_DIR}/inst1/disk0"]
    inst = harness.cfg.find_instance("inst1")
    assert inst is not None and inst.name == "inst1"
    assert inst.disks[0].logical_id == ["loop", f"{FILE_DIR}/inst1/disk0"]


def test_rename_warns_when_the_os_rename_script_fails_but_stays_renamed(harness: Harness) -> None:
    node = harness.nodes["node1"]
    _renames_disks(node)
    harness.add_instance("inst1", "node1", template="file", up=False, os="noop")
    node.fail["instance_run_rename"] = OpExecError("OS rename script failed (exited with exit code 1)")
    assert harness.run(_rename("inst1", "web1"), LUInstanceRename) == "web1"
    assert harness.cfg.find_instance("web1") is not None
    assert any("WARNING: Could not run OS rename script for instance web1" in line for line in harness.log)


# -- reinstall ---------------------------------------------------------------------------------


def test_reinstall_runs_the_create_script_again_on_the_stopped_instance(harness: Harness) -> None:
    harness.add_instance("inst1", "node1", template="file", up=False, os="noop")
    harness.run(OpInstanceReinstall(instance_name="inst1"), LUInstanceReinstall)
    node = harness.nodes["node1"]
    (args,) = [a for n, a in node.calls if n == "instance_os_add"]
    assert args.reinstall is True and args.instance.os == "noop"
    assert node.names()[-1] == "instance_os_add"


def test_reinstall_with_a_new_os_and_parameters_records_them_once_installed(harness: Harness) -> None:
    harness.add_instance("inst1", "node1", template="file", up=False, os="noop", osparams={"a": "1"})
    op = OpInstanceReinstall(instance_name="inst1", os_type="debootstrap+default", osparams={"b": "2"})
    harness.run(op, LUInstanceReinstall)
    (args,) = [a for n, a in harness.nodes["node1"].calls if n == "instance_os_add"]
    assert args.instance.os == "debootstrap+default" and args.instance.osparams == {"a": "1", "b": "2"}
    inst = harness.cfg.instance("inst1")
    assert inst.os == "debootstrap+default" and inst.osparams == {"a": "1", "b": "2"}


def test_reinstall_failure_leaves_the_config_as_it_was(harness: Harness) -> None:
    harness.add_instance("inst1", "node1", template="file", up=False, os="noop")
    harness.nodes["node1"].fail["instance_os_add"] = OpExecError("OS create script failed")
    with pytest.raises(OpExecError, match="Could not install OS for instance inst1 on node node1"):
        op = OpInstanceReinstall(instance_name="inst1", os_type="other", osparams={"x": "1"})
        harness.run(op, LUInstanceReinstall)
    inst = harness.cfg.instance("inst1")
    assert inst.os == "noop" and inst.osparams == {}


def test_reinstall_refuses_an_instance_marked_up(harness: Harness) -> None:
    harness.add_instance("inst1", "node1", template="file", os="noop")
    with pytest.raises(OpPrereqError, match="Instance 'inst1' is marked to be up, cannot reinstall") as err:
        harness.run(OpInstanceReinstall(instance_name="inst1"), LUInstanceReinstall)
    assert err.value.code == ECODE_STATE
    assert "instance_os_add" not in harness.nodes["node1"].names()


def test_reinstall_refuses_an_offline_instance(harness: Harness) -> None:
    harness.add_instance("inst1", "node1", template="file", up=False, os="noop")
    harness.cfg.instance("inst1").admin_state = "offline"
    with pytest.raises(OpPrereqError, match="marked to be offline, cannot reinstall"):
        harness.run(OpInstanceReinstall(instance_name="inst1"), LUInstanceReinstall)


def test_reinstall_refuses_a_diskless_instance(harness: Harness) -> None:
    harness.add_instance("inst1", "node1", up=False, os="noop")
    with pytest.raises(OpPrereqError, match="Instance 'inst1' has no disks") as err:
        harness.run(OpInstanceReinstall(instance_name="inst1"), LUInstanceReinstall)
    assert err.value.code == ECODE_INVAL


def test_reinstall_refuses_an_os_the_node_does_not_have(harness: Harness) -> None:
    harness.add_instance("inst1", "node1", template="file", up=False, os="noop")
    harness.nodes["node1"].fail["os_validate"] = OpExecError("Directory for OS nosuch not found in search path")
    with pytest.raises(OpPrereqError, match="OS 'nosuch' not in supported OS list for node node1") as err:
        harness.run(OpInstanceReinstall(instance_name="inst1", os_type="nosuch"), LUInstanceReinstall)
    assert err.value.code == ECODE_INVAL
    assert "instance_os_add" not in harness.nodes["node1"].names()


def test_rename_refuses_a_name_instance_creation_would_refuse(harness: Harness) -> None:
    harness.add_instance("inst1", "node1", up=False, os="noop")
    with pytest.raises(OpPrereqError, match="Invalid instance name 'web_1'") as err:
        harness.run(_rename("inst1", "web_1"), LUInstanceRename)
    assert err.value.code == ECODE_INVAL
    assert harness.cfg.find_instance("inst1") is not None


def test_rename_of_an_instance_without_os_runs_no_script(harness: Harness) -> None:
    harness.add_instance("inst1", "node1", up=False)
    harness.run(_rename("inst1", "web1"), LUInstanceRename)
    assert "instance_run_rename" not in harness.nodes["node1"].names()
