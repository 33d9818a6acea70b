"""OP_INSTANCE_MOVE, OP_BACKUP_* and OP_INSTANCE_CREATE in import mode on the in-process transport.

The node doubles answer the transfer procedures (disk_receive hands out a ticket, disk_send
"copies"); what is checked is the LU's order and its undo: a failed copy leaves the instance
where it was, with its disks, and nothing on the other node.
"""

from __future__ import annotations

from typing import Any

import pytest

from gnt.backup import exportcfg
from gnt.backup.export import LUBackupExport, LUBackupPrepare, LUBackupQuery, LUBackupRemove
from gnt.backup.move import LUInstanceMove
from gnt.backup.opcodes import OpBackupExport, OpBackupPrepare, OpBackupQuery, OpBackupRemove, OpInstanceMove
from gnt.errors import ECODE_INVAL, ECODE_STATE, OpExecError, OpPrereqError, StorageError
from gnt.instance.create import LUInstanceCreate
from gnt.opcodes import OpInstanceCreate
from tests.unit.lu.conftest import FakeNode, Harness


def _transfers(receiver: FakeNode, sender: FakeNode) -> None:
    """Give the two doubles the transfer procedures (one ticket per receive)."""
    tickets: list[str] = []

    def do_disk_receive(args: Any) -> dict[str, Any]:
        tickets.append(f"t{len(tickets)}")
        return {"transfer_id": tickets[-1], "port": 4000 + len(tickets)}

    def do_disk_send(args: Any) -> dict[str, Any]:
        assert args.transfer_id in tickets, "sent without the receiver's ticket"
        return {"bytes": 64 * 1048576, "sha256": "0" * 64}

    receiver.do_disk_receive = do_disk_receive  # type: ignore[attr-defined]
    receiver.do_transfer_status = lambda args: {"bytes": 0, "done": False, "error": None}  # type: ignore[attr-defined]
    sender.do_disk_send = do_disk_send  # type: ignore[attr-defined]


# -- move --------------------------------------------------------------------------------------


def test_move_copies_switches_the_primary_removes_the_old_disks_and_restarts(harness: Harness) -> None:
    src, dst = harness.nodes["node1"], harness.nodes["node2"]
    _transfers(dst, src)
    inst = harness.add_instance("inst1", "node1", template="file", up=True)
    assert harness.run(OpInstanceMove(instance_name="inst1", target_node="node2"), LUInstanceMove) == "node2"
    assert harness.cfg.instance("inst1").primary_node == harness.cfg.node("node2").uuid
    assert set(dst.disks) == {d.uuid for d in inst.disks} and src.disks == {}
    assert "inst1" in dst.running and "inst1" not in src.running
    names = src.names()
    assert names.index("instance_shutdown") < names.index("disk_send")
    (send,) = [a for n, a in src.calls if n == "disk_send"]
    assert send.disk.uuid == inst.disks[0].uuid and send.address == harness.cfg.node("node2").primary_ip


def test_a_failed_copy_keeps_the_instance_on_its_node_with_its_disks(harness: Harness) -> None:
    src, dst = harness.nodes["node1"], harness.nodes["node2"]
    _transfers(dst, src)
    src.fail["disk_send"] = StorageError("Disk transfer to 192.0.2.2 broke off after 1048576 bytes")
    inst = harness.add_instance("inst1", "node1", template="file", up=True)
    with pytest.raises(OpExecError, match="Errors during disk copy: .*broke off"):
        harness.run(OpInstanceMove(instance_name="inst1", target_node="node2"), LUInstanceMove)
    assert harness.cfg.instance("inst1").primary_node == harness.cfg.node("node1").uuid
    assert set(src.disks) == {d.uuid for d in inst.disks}
    assert dst.disks == {}  # the new disk was removed again
    assert "transfer_abort" in dst.names()
    assert "inst1" in src.running  # started again where it was


def test_a_move_whose_shutdown_fails_touches_nothing(harness: Harness) -> None:
    src, dst = harness.nodes["node1"], harness.nodes["node2"]
    _transfers(dst, src)
    src.fail["instance_shutdown"] = OpExecError("hung")
    harness.add_instance("inst1", "node1", template="file", up=True)
    with pytest.raises(OpExecError, match="Could not shutdown instance inst1 on node node1"):
        harness.run(OpInstanceMove(instance_name="inst1", target_node="node2"), LUInstanceMove)
    assert dst.calls == [] or "blockdev_create" not in dst.names()
    assert harness.cfg.instance("inst1").primary_node == harness.cfg.node("node1").uuid


@pytest.mark.parametrize(
    ("template", "target", "message"),
    [
        ("sharedfile", "node2", "Disk template sharedfile not suitable for copying"),
        ("diskless", "node2", "Disk template diskless not suitable for copying"),
        ("file", "node1", "Instance inst1 is already on the node node1"),
    ],
)
def test_move_refusals(harness: Harness, template: str, target: str, message: str) -> None:
    harness.add_instance("inst1", "node1", template=template, up=False)
    with pytest.raises(OpPrereqError, match=message) as err:
        harness.run(OpInstanceMove(instance_name="inst1", target_node=target), LUInstanceMove)
    assert err.value.code == ECODE_STATE
    assert harness.nodes["node2"].calls == []


def test_move_refuses_an_unknown_compression_at_validation() -> None:
    from gnt.opcodes import from_dict

    with pytest.raises(OpPrereqError, match="unknown compression tool 'lzma'"):
        from_dict({"OP_ID": "OP_INSTANCE_MOVE", "instance_name": "i", "target_node": "n", "compress": "lzma"})


# -- export ------------------------------------------------------------------------------------


def test_export_streams_each_disk_finalizes_and_restarts(harness: Harness) -> None:
    src, dst = harness.nodes["node1"], harness.nodes["node2"]
    _transfers(dst, src)
    harness.add_instance("inst1", "node1", template="file", up=True, os="noop")
    result = harness.run(OpBackupExport(instance_name="inst1", target_node="node2"), LUBackupExport)
    assert result == [True, [True]]
    (receive,) = [a for n, a in dst.calls if n == "disk_receive"]
    assert (receive.export_name, receive.export_file, receive.disk) == ("inst1", "disk0.dump", None)
    (final,) = [a for n, a in dst.calls if n == "export_finalize"]
    info = exportcfg.read_export(final.config)
    assert (info.name, info.os, info.disk_template, info.disks) == (
        "inst1",
        "noop",
        "file",
        [{"size": 64, "mode": "rw"}],
    )
    assert "inst1" in src.running
    names = dst.names()
    assert names.index("disk_receive") < names.index("export_finalize")


def test_a_failed_export_removes_the_staged_export_and_restarts_the_instance(harness: Harness) -> None:
    src, dst = harness.nodes["node1"], harness.nodes["node2"]
    _transfers(dst, src)
    src.fail["disk_send"] = StorageError("Cannot connect to the receiving node")
    harness.add_instance("inst1", "node1", template="file", up=True)
    with pytest.raises(OpExecError, match="disk/0 from node1 to node2 failed"):
        harness.run(OpBackupExport(instance_name="inst1", target_node="node2"), LUBackupExport)
    assert dst.names()[-1] == "export_remove" and "export_finalize" not in dst.names()
    assert "inst1" in src.running and harness.cfg.find_instance("inst1") is not None


def test_export_with_remove_instance_drops_it_after_the_export(harness: Harness) -> None:
    src, dst = harness.nodes["node1"], harness.nodes["node2"]
    _transfers(dst, src)
    harness.add_instance("inst1", "node1", template="file", up=True)
    harness.run(OpBackupExport(instance_name="inst1", target_node="node2", remove_instance=True), LUBackupExport)
    assert harness.cfg.find_instance("inst1") is None
    assert src.disks == {} and "inst1" not in src.running


def test_remote_mode_is_refused_at_submission_with_a_clear_message() -> None:
    for lu, op in (
        (LUBackupExport, OpBackupExport(instance_name="i", target_node="n", mode="remote")),
        (LUBackupPrepare, OpBackupPrepare(instance_name="i", mode="remote")),
    ):
        with pytest.raises(OpPrereqError, match="Remote .* exports are not supported") as err:
            lu.check_opcode(op)
        assert err.value.code == ECODE_INVAL
    with pytest.raises(OpPrereqError, match="Unknown export mode 'lcoal'; use one of local, remote"):
        LUBackupExport.check_opcode(OpBackupExport(instance_name="i", target_node="n", mode="lcoal"))


def test_remove_instance_without_shutdown_is_refused_at_validation() -> None:
    from gnt.opcodes import from_dict

    op = {"OP_ID": "OP_BACKUP_EXPORT", "instance_name": "i", "target_node": "n", "shutdown": False}
    with pytest.raises(OpPrereqError, match="Can not remove instance without shutting it down before"):
        from_dict({**op, "remove_instance": True})


def test_query_lists_each_node_and_remove_finds_the_holders(harness: Harness) -> None:
    harness.nodes["node2"].do_export_list = lambda args: ["inst1"]  # type: ignore[attr-defined]
    harness.nodes["node1"].fail["export_list"] = StorageError("disk full")
    assert harness.run(OpBackupQuery(), LUBackupQuery) == {"node1": False, "node2": ["inst1"]}
    harness.run(OpBackupRemove(instance_name="inst1"), LUBackupRemove)
    assert "export_remove" in harness.nodes["node2"].names() and "export_remove" not in harness.nodes["node1"].names()
    with pytest.raises(OpPrereqError, match="No export of instance other found on any node"):
        harness.run(OpBackupRemove(instance_name="other"), LUBackupRemove)


# -- import ------------------------------------------------------------------------------------


def _exported(harness: Harness, name: str) -> str:
    from gnt.objects import Disk, Instance, new_uuid

    inst = Instance(name=name, os="noop", hypervisor="fake", disk_template="file", beparams={"maxmem": 64})
    inst.disks = [Disk(uuid=new_uuid(), size=32, dev_type="file"), Disk(uuid=new_uuid(), size=16, dev_type="file")]
    inst.tags = ["a", "b"]
    return exportcfg.export_config(inst, "node2", "none", now=0)


def _import(name: str = "imp", **kw: Any) -> OpInstanceCreate:
    fields: dict[str, Any] = {"pnode": "node1", **kw}
    return OpInstanceCreate(instance_name=name, mode="import", name_check=False, ip_check=False, start=False, **fields)


def test_import_creates_the_exported_disks_and_streams_each_dump_in(harness: Harness) -> None:
    pnode, holder = harness.nodes["node1"], harness.nodes["node2"]
    _transfers(pnode, holder)
    holder.do_export_list = lambda args: ["imp"]  # type: ignore[attr-defined]
    holder.do_export_info = lambda args: _exported(harness, "imp")  # type: ignore[attr-defined]
    harness.run(_import(), LUInstanceCreate)
    inst = harness.cfg.instance("imp")
    assert (inst.os, inst.disk_template, [d.size for d in inst.disks], inst.tags) == (
        "noop",
        "file",
        [32, 16],
        ["a", "b"],
    )
    sends = [a for n, a in holder.calls if n == "disk_send"]
    assert [(s.export_name, s.export_file) for s in sends] == [("imp", "disk0.dump"), ("imp", "disk1.dump")]
    receives = [a for n, a in pnode.calls if n == "disk_receive"]
    assert [r.disk.uuid for r in receives] == [d.uuid for d in inst.disks]
    assert "instance_os_add" not in pnode.names()  # the data comes from the export, not the OS


def test_a_failed_import_leaves_no_instance_and_no_disks(harness: Harness) -> None:
    pnode, holder = harness.nodes["node1"], harness.nodes["node2"]
    _transfers(pnode, holder)
    holder.do_export_info = lambda args: _exported(harness, "imp")  # type: ignore[attr-defined]
    holder.fail["disk_send"] = StorageError("broke off")
    with pytest.raises(OpExecError, match="broke off"):
        harness.run(_import(src_node="node2"), LUInstanceCreate)
    assert harness.cfg.find_instance("imp") is None
    assert pnode.disks == {}


@pytest.mark.parametrize(
    ("src_path", "message"),
    [
        ("/etc", "is not inside /srv/gnt/export"),
        ("../x", "Invalid export name"),
        ("/srv/gnt/export/../x", "not inside"),
    ],
)
def test_import_refuses_export_paths_outside_the_export_dir(harness: Harness, src_path: str, message: str) -> None:
    with pytest.raises(OpPrereqError, match=message):
        harness.run(_import(src_node="node2", src_path=src_path), LUInstanceCreate)
    assert harness.nodes["node2"].calls == []


def test_import_refuses_disks_smaller_than_the_exported_ones(harness: Harness) -> None:
    holder = harness.nodes["node2"]
    holder.do_export_info = lambda args: _exported(harness, "imp")  # type: ignore[attr-defined]
    with pytest.raises(OpPrereqError, match=r"Disk 0 \(8 MiB\) is smaller than the exported disk \(32 MiB\)"):
        harness.run(_import(src_node="node2", disks=[{"size": 8}, {"size": 16}]), LUInstanceCreate)
    assert harness.cfg.find_instance("imp") is None


def test_import_of_a_malformed_config_is_a_clear_error(harness: Harness) -> None:
    harness.nodes["node2"].do_export_info = lambda args: "[export]\nversion = 0\n"  # type: ignore[attr-defined]
    with pytest.raises(OpPrereqError, match=r"Invalid export configuration: no \[instance\] section"):
        harness.run(_import(src_node="node2"), LUInstanceCreate)


def test_create_mode_still_requires_a_disk_template() -> None:
    from gnt.opcodes import from_dict

    with pytest.raises(OpPrereqError, match="Required parameter 'OP_INSTANCE_CREATE.disk_template' missing"):
        from_dict({"OP_ID": "OP_INSTANCE_CREATE", "instance_name": "i"})


def test_move_hooks_run_on_master_source_and_target_with_ganetis_variables(harness: Harness) -> None:
    from tests.unit.lu.test_hooks import answer, hook_calls, hooked

    src, dst = harness.nodes["node1"], harness.nodes["node2"]
    _transfers(dst, src)
    for node in ("node1", "node2"):
        answer(harness, node, {})
    harness.add_instance("inst1", "node1", template="file", up=False)
    hooked(harness, OpInstanceMove(instance_name="inst1", target_node="node2"), LUInstanceMove)
    pre, post = hook_calls(harness, "node2")
    assert (pre.hpath, pre.phase, post.phase) == ("instance-move", "pre", "post")
    assert pre.env["GANETI_TARGET_NODE"] == "node2" and pre.env["GANETI_INSTANCE_PRIMARY"] == "node1"
    assert post.env["GANETI_POST_INSTANCE_PRIMARY"] == "node2"
    assert [c.phase for c in hook_calls(harness, "node1")] == ["pre", "post"]


@pytest.mark.parametrize("identify", [False, True])
def test_import_identify_defaults_leaves_out_what_equals_the_clusters_defaults(
    harness: Harness, identify: bool
) -> None:
    """An export from a cluster with other defaults may spell out values equal to this cluster's
    defaults; --identify-defaults drops those (the instance then follows the defaults)."""
    from gnt.instance.common import filled_beparams
    from gnt.objects import Disk, Instance, new_uuid

    vcpus = filled_beparams(harness.cfg.cluster, Instance(hypervisor="fake"))["vcpus"]
    source = Instance(name="imp", os="noop", hypervisor="fake", disk_template="file")
    source.beparams = {"maxmem": 64, "vcpus": vcpus}
    source.disks = [Disk(uuid=new_uuid(), size=32, dev_type="file")]
    pnode, holder = harness.nodes["node1"], harness.nodes["node2"]
    _transfers(pnode, holder)
    holder.do_export_list = lambda args: ["imp"]  # type: ignore[attr-defined]
    holder.do_export_info = lambda args: exportcfg.export_config(source, "node2", "none", now=0)  # type: ignore[attr-defined]
    harness.run(_import(identify_defaults=identify), LUInstanceCreate)
    inst = harness.cfg.instance("imp")
    assert inst.beparams == ({"maxmem": 64} if identify else {"maxmem": 64, "vcpus": vcpus})
    assert filled_beparams(harness.cfg.cluster, inst)["vcpus"] == vcpus


def test_import_with_node_group_is_placed_in_that_group(harness: Harness) -> None:
    """`gnt-backup import -g` is add's -g: the allocator chooses within the group, -n must be in it."""
    from gnt.group.logic import LUGroupAdd, LUGroupAssignNodes
    from gnt.group.opcodes import OpGroupAdd, OpGroupAssignNodes
    from tests.unit.lu.test_instance_multi_alloc import _full_node_info

    harness.run(OpGroupAdd(group_name="rack2"), LUGroupAdd)
    harness.run(OpGroupAssignNodes(group_name="rack2", nodes=["node2"]), LUGroupAssignNodes)
    _full_node_info(harness)
    holder = harness.nodes["node1"]
    holder.do_export_list = lambda args: ["imp", "free"]  # type: ignore[attr-defined]
    holder.do_export_info = lambda args: _exported(harness, args.name)  # type: ignore[attr-defined]
    _transfers(harness.nodes["node1"], holder)
    with pytest.raises(OpPrereqError, match=r"^Node node1 is not in node group rack2 \(-g/--node-group\)$") as err:
        harness.run(_import(src_node="node1", group_name="rack2"), LUInstanceCreate)
    assert err.value.code == ECODE_INVAL and harness.cfg.find_instance("imp") is None
    fits = {"src_node": "node1", "pnode": None, "iallocator": "hail", "disks": [{"size": 1024}] * 2}  # the ipolicy's
    fits["beparams"] = {"maxmem": 128, "minmem": 128}
    harness.run(_import("free", **fits), LUInstanceCreate)
    assert harness.cfg.node(harness.cfg.instance("free").primary_node).name == "node1"
    _transfers(harness.nodes["node2"], holder)
    harness.run(_import(**fits, group_name="rack2"), LUInstanceCreate)
    assert harness.cfg.node(harness.cfg.instance("imp").primary_node).name == "node2"
