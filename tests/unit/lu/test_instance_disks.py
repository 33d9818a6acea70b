"""activate-disks, deactivate-disks, grow-disk and recreate-disks through their LUs on the in-process
transport: the happy paths, every prerequisite refusal, and failures that leave nothing behind.

Each node double gets block-device handlers (`with_blockdevs`) that act on its `disks`: assemble
marks a disk active, grow changes its size, grow_check refuses what does not fit in `room`.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gnt.errors import ECODE_EXISTS, ECODE_INVAL, ECODE_NORES, ECODE_STATE, OpExecError, OpPrereqError, StorageError
from gnt.instance import blockdevs
from gnt.instance.disks import (
    LUInstanceActivateDisks,
    LUInstanceDeactivateDisks,
    LUInstanceGrowDisk,
    LUInstanceRecreateDisks,
)
from gnt.objects import Disk, Instance, new_uuid
from gnt.opcodes import OpInstanceActivateDisks, OpInstanceDeactivateDisks, OpInstanceGrowDisk, OpInstanceRecreateDisks
from gnt.runtime import DiskSpec
from tests.unit.lu.conftest import FILE_DIR, FakeNode, Harness


def with_blockdevs(node: FakeNode, room: int = 10_000) -> None:
    node.active = set()  # type: ignore[attr-defined]
    node.room = room  # type: ignore[attr-defined]
    node.unsynced = 0  # type: ignore[attr-defined]

    def existing(disk: DiskSpec) -> DiskSpec:
        if disk.uuid not in node.disks:
            raise StorageError(f"Disk {disk.uuid} does not exist on {node.name}")
        return node.disks[disk.uuid]

    def assemble(args: Any) -> str:
        existing(args.disk)
        node.active.add(args.disk.uuid)  # type: ignore[attr-defined]
        node.assembled_sizes = [*getattr(node, "assembled_sizes", []), args.disk.size]  # type: ignore[attr-defined]
        return f"/dev/{node.name}/{args.disk.uuid}"

    def shutdown(args: Any) -> None:
        node.active.discard(args.disk.uuid)  # type: ignore[attr-defined]

    def grow_check(args: Any) -> None:
        existing(args.disk)
        if args.amount > node.room:  # type: ignore[attr-defined]
            raise StorageError(f"Not enough free space: needed {args.amount} MiB, free {node.room} MiB")  # type: ignore[attr-defined]

    def grow(args: Any) -> None:
        grow_check(args)
        node.disks[args.disk.uuid].size = args.disk.size + args.amount
        node.room -= args.amount  # type: ignore[attr-defined]

    def info(args: Any) -> list[dict[str, Any]]:
        result = []
        for disk in args.disks:
            found = node.disks.get(disk.uuid)
            synced = node.unsynced <= 0  # type: ignore[attr-defined]
            result.append(
                {"exists": found is not None, "path": None, "size": found.size if found else None, "in_sync": synced}
                | ({} if synced else {"sync_percent": getattr(node, "percent", 50.0)})
            )
        node.unsynced -= 1  # type: ignore[attr-defined]
        return result

    node.do_blockdev_assemble = assemble  # type: ignore[attr-defined]
    node.do_blockdev_shutdown = shutdown  # type: ignore[attr-defined]
    node.do_blockdev_grow_check = grow_check  # type: ignore[attr-defined]
    node.do_blockdev_grow = grow  # type: ignore[attr-defined]
    node.do_blockdev_info = info  # type: ignore[attr-defined]


@pytest.fixture
def disks(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> Harness:
    for node in harness.nodes.values():
        with_blockdevs(node)
    monkeypatch.setattr(blockdevs, "SYNC_POLL", 0.0)
    return harness


def two_disk_instance(h: Harness, name: str = "inst1", up: bool = False, node: str = "node1") -> Instance:
    inst = h.add_instance(name, node, template="file", up=up)
    extra = Disk(uuid=new_uuid(), size=128, dev_type="file", logical_id=["loop", f"{FILE_DIR}/{name}/disk1"])
    inst.disks.append(extra)
    h.nodes[node].disks[extra.uuid] = DiskSpec(extra.uuid, 1, extra.size, "file", list(extra.logical_id))
    asyncio.run(h.cfg.commit([inst]))
    return inst


def active(h: Harness, node: str = "node1") -> set[str]:
    return h.nodes[node].active  # type: ignore[attr-defined,no-any-return]


def set_offline(h: Harness, node: str) -> None:
    obj = h.cfg.node(node)
    obj.offline = True
    asyncio.run(h.cfg.commit([obj]))


# -- activate-disks -----------------------------------------------------------------------------


def test_activate_prints_node_disk_device_and_marks_the_disks_active(disks: Harness) -> None:
    inst = two_disk_instance(disks)
    result = disks.run(OpInstanceActivateDisks(instance_name="inst1"), LUInstanceActivateDisks)
    assert result == [["node1", f"disk/{i}", f"/dev/node1/{d.uuid}"] for i, d in enumerate(inst.disks)]
    assert active(disks) == {d.uuid for d in inst.disks}
    assert disks.cfg.instance("inst1").disks_active


def test_activate_with_ignore_size_lets_the_node_use_the_size_it_finds(disks: Harness) -> None:
    two_disk_instance(disks)
    disks.run(OpInstanceActivateDisks(instance_name="inst1", ignore_size=True), LUInstanceActivateDisks)
    assert disks.nodes["node1"].assembled_sizes == [0, 0]  # type: ignore[attr-defined]


def test_activate_refuses_an_offline_primary(disks: Harness) -> None:
    two_disk_instance(disks)
    set_offline(disks, "node1")
    with pytest.raises(OpPrereqError, match="Can't use offline primary node node1") as err:
        disks.run(OpInstanceActivateDisks(instance_name="inst1"), LUInstanceActivateDisks)
    assert err.value.code == ECODE_STATE and "blockdev_assemble" not in disks.nodes["node1"].names()


def test_activate_refuses_a_diskless_instance(disks: Harness) -> None:
    disks.add_instance("inst1", "node1", up=False)
    with pytest.raises(OpPrereqError, match="Instance 'inst1' has no disks"):
        disks.run(OpInstanceActivateDisks(instance_name="inst1"), LUInstanceActivateDisks)


def test_activate_refuses_an_unknown_instance(disks: Harness) -> None:
    with pytest.raises(OpPrereqError, match="nosuch"):
        disks.run(OpInstanceActivateDisks(instance_name="nosuch"), LUInstanceActivateDisks)


def test_failed_activation_shuts_down_what_it_brought_up(disks: Harness) -> None:
    two_disk_instance(disks)
    node = disks.nodes["node1"]
    node.fail["blockdev_assemble"] = StorageError("device busy")
    node.fail_on["blockdev_assemble"] = 2
    with pytest.raises(OpExecError, match="Cannot activate block device disk/1 on node node1: device busy"):
        disks.run(OpInstanceActivateDisks(instance_name="inst1"), LUInstanceActivateDisks)
    assert active(disks) == set() and node.names().count("blockdev_shutdown") == 2
    assert not disks.cfg.instance("inst1").disks_active


def test_failed_activation_never_shuts_down_a_running_instances_disks(disks: Harness) -> None:
    two_disk_instance(disks, up=True)
    node = disks.nodes["node1"]
    node.fail["blockdev_assemble"] = StorageError("device busy")
    node.fail_on["blockdev_assemble"] = 2
    with pytest.raises(OpExecError):
        disks.run(OpInstanceActivateDisks(instance_name="inst1"), LUInstanceActivateDisks)
    assert "blockdev_shutdown" not in node.names()


def test_activate_waits_for_sync_when_asked(disks: Harness) -> None:
    two_disk_instance(disks)
    disks.nodes["node1"].unsynced = 2  # type: ignore[attr-defined]
    disks.run(OpInstanceActivateDisks(instance_name="inst1", wait_for_sync=True), LUInstanceActivateDisks)
    assert disks.nodes["node1"].names().count("blockdev_info") == 3
    assert any("- device disk/0: 50.00% done" in line for line in disks.log)


def test_mirrored_disks_are_brought_up_on_the_secondary_first() -> None:
    class Cfg:
        nodes = {"p": "primary", "s": "secondary"}

    class Lu:
        cfg = Cfg()

    inst = Instance(name="i", primary_node="p", secondary_nodes=["s"])
    assert blockdevs.disk_nodes(Lu(), inst, "drbd") == ["secondary", "primary"]  # type: ignore[arg-type]
    assert blockdevs.disk_nodes(Lu(), inst, "plain") == ["primary"]  # type: ignore[arg-type]
    assert blockdevs.disk_nodes(Lu(), inst, "sharedfile") == ["primary"]  # type: ignore[arg-type]


# -- deactivate-disks ---------------------------------------------------------------------------


def test_deactivate_shuts_the_disks_down(disks: Harness) -> None:
    two_disk_instance(disks)
    disks.run(OpInstanceActivateDisks(instance_name="inst1"), LUInstanceActivateDisks)
    disks.run(OpInstanceDeactivateDisks(instance_name="inst1"), LUInstanceDeactivateDisks)
    assert active(disks) == set() and not disks.cfg.instance("inst1").disks_active


def test_deactivate_refuses_an_instance_marked_up(disks: Harness) -> None:
    two_disk_instance(disks, up=True)
    with pytest.raises(OpPrereqError, match="Instance 'inst1' is marked to be up, cannot shutdown disks") as err:
        disks.run(OpInstanceDeactivateDisks(instance_name="inst1"), LUInstanceDeactivateDisks)
    assert err.value.code == ECODE_STATE and "blockdev_shutdown" not in disks.nodes["node1"].names()


def test_deactivate_refuses_an_instance_that_still_runs(disks: Harness) -> None:
    inst = two_disk_instance(disks, up=True)
    inst.admin_state = "down"
    asyncio.run(disks.cfg.commit([inst]))
    with pytest.raises(OpPrereqError, match="Instance inst1 is running, cannot shutdown disks"):
        disks.run(OpInstanceDeactivateDisks(instance_name="inst1"), LUInstanceDeactivateDisks)


def test_deactivate_with_force_shuts_down_a_running_instances_disks(disks: Harness) -> None:
    two_disk_instance(disks, up=True)
    disks.run(OpInstanceDeactivateDisks(instance_name="inst1", force=True), LUInstanceDeactivateDisks)
    assert disks.nodes["node1"].names().count("blockdev_shutdown") == 2


def test_deactivate_reports_a_node_that_cannot_shut_a_disk_down(disks: Harness) -> None:
    two_disk_instance(disks)
    disks.nodes["node1"].fail["blockdev_shutdown"] = StorageError("LV in use")
    with pytest.raises(OpExecError, match="Could not shut down block device disk/0 on node node1: LV in use"):
        disks.run(OpInstanceDeactivateDisks(instance_name="inst1"), LUInstanceDeactivateDisks)


# -- grow-disk ----------------------------------------------------------------------------------


def grow(**kw: Any) -> OpInstanceGrowDisk:
    return OpInstanceGrowDisk(**{"instance_name": "inst1", "disk": 1, "amount": 64, **kw})


def test_grow_a_stopped_instances_disk(disks: Harness) -> None:
    inst = two_disk_instance(disks)
    disks.run(grow(), LUInstanceGrowDisk)
    assert disks.cfg.instance("inst1").disks[1].size == 192
    assert disks.nodes["node1"].disks[inst.disks[1].uuid].size == 192
    # brought up for the grow (a mirrored device grows only while up), then down again
    assert active(disks) == set() and "blockdev_assemble" in disks.nodes["node1"].names()
    assert "instance_disk_resize" not in disks.nodes["node1"].names()
    assert any("Growing disk 1 of instance 'inst1' by 64M to 192M" in line for line in disks.log)


def test_grow_to_an_absolute_size(disks: Harness) -> None:
    two_disk_instance(disks)
    disks.run(grow(amount=1024, absolute=True), LUInstanceGrowDisk)
    assert disks.cfg.instance("inst1").disks[1].size == 1024


def test_grow_to_an_absolute_size_below_the_current_one_is_refused(disks: Harness) -> None:
    two_disk_instance(disks)
    with pytest.raises(OpPrereqError, match=r"Requested size \(100M\) is smaller than current disk size \(128M\)"):
        disks.run(grow(amount=100, absolute=True), LUInstanceGrowDisk)


@pytest.mark.parametrize("index", [2, -1])
def test_grow_of_a_disk_the_instance_does_not_have_is_refused(disks: Harness, index: int) -> None:
    two_disk_instance(disks)
    with pytest.raises(OpPrereqError, match=f"Invalid disk index: '{index}'") as err:
        disks.run(grow(disk=index), LUInstanceGrowDisk)
    assert err.value.code == ECODE_INVAL


def test_grow_beyond_the_free_space_is_refused_before_anything_changes(disks: Harness) -> None:
    two_disk_instance(disks)
    disks.nodes["node1"].room = 32  # type: ignore[attr-defined]
    message = "Cannot grow disk 1 of instance inst1 by 64M on node node1: .*free 32"
    with pytest.raises(OpPrereqError, match=message) as err:
        disks.run(grow(), LUInstanceGrowDisk)
    assert err.value.code == ECODE_NORES
    assert disks.cfg.instance("inst1").disks[1].size == 128
    assert not {"blockdev_grow", "blockdev_assemble"} & set(disks.nodes["node1"].names())


def test_grow_on_an_offline_node_is_refused(disks: Harness) -> None:
    two_disk_instance(disks)
    set_offline(disks, "node1")
    with pytest.raises(OpPrereqError, match="offline node node1"):
        disks.run(grow(), LUInstanceGrowDisk)


def test_failed_grow_keeps_the_recorded_size_and_shuts_the_disk_down(disks: Harness) -> None:
    two_disk_instance(disks)
    disks.nodes["node1"].fail["blockdev_grow"] = StorageError("lvextend failed")
    with pytest.raises(OpExecError, match="Grow request failed to node node1: lvextend failed"):
        disks.run(grow(), LUInstanceGrowDisk)
    assert disks.cfg.instance("inst1").disks[1].size == 128 and active(disks) == set()


def test_grow_of_a_running_instance_tells_its_hypervisor(disks: Harness) -> None:
    two_disk_instance(disks, up=True)
    disks.run(grow(), LUInstanceGrowDisk)
    node = disks.nodes["node1"]
    (args,) = [a for n, a in node.calls if n == "instance_disk_resize"]
    assert (args.index, args.size, args.instance.name) == (1, 192, "inst1")
    assert "blockdev_assemble" not in node.names() and "blockdev_shutdown" not in node.names()
    assert disks.cfg.instance("inst1").disks[1].size == 192


def test_grow_of_a_running_instance_on_a_hypervisor_without_online_resize_is_refused(disks: Harness) -> None:
    inst = two_disk_instance(disks, up=True)
    inst.hypervisor = "xen-pvm"
    asyncio.run(disks.cfg.commit([inst]))
    with pytest.raises(OpPrereqError, match="hypervisor xen-pvm cannot grow a disk of a running guest; shut") as err:
        disks.run(grow(), LUInstanceGrowDisk)
    assert err.value.code == ECODE_STATE and "blockdev_grow" not in disks.nodes["node1"].names()


def test_grow_whose_guest_is_not_told_still_records_the_new_size(disks: Harness) -> None:
    two_disk_instance(disks, up=True)
    disks.nodes["node1"].fail["instance_disk_resize"] = OpExecError("QMP timeout")
    disks.run(grow(), LUInstanceGrowDisk)
    assert disks.cfg.instance("inst1").disks[1].size == 192
    assert any("sees the new size after its next restart" in line for line in disks.log)


def test_grow_amount_must_not_be_negative() -> None:
    from gnt import opcodes

    with pytest.raises(OpPrereqError, match="amount' fails validation: -1 is out of range"):
        opcodes.from_dict({"OP_ID": "OP_INSTANCE_GROW_DISK", "instance_name": "i", "disk": 0, "amount": -1})


# -- recreate-disks -----------------------------------------------------------------------------


def lose(h: Harness, inst: Instance, index: int, node: str = "node1") -> None:
    del h.nodes[node].disks[inst.disks[index].uuid]


def test_recreate_makes_the_missing_disks_again(disks: Harness) -> None:
    inst = two_disk_instance(disks)
    lose(disks, inst, 1)
    disks.run(OpInstanceRecreateDisks(instance_name="inst1", disks=[[1, {"size": 256}]]), LUInstanceRecreateDisks)
    node = disks.nodes["node1"]
    (created,) = [a.disk for n, a in node.calls if n == "blockdev_create"]
    assert (created.uuid, created.size) == (inst.disks[1].uuid, 256)
    assert disks.cfg.instance("inst1").disks[1].size == 256


def test_recreate_refuses_a_disk_that_still_exists(disks: Harness) -> None:
    inst = two_disk_instance(disks)
    lose(disks, inst, 1)
    with pytest.raises(OpPrereqError, match="Disk 0 of instance inst1 still exists on node node1") as err:
        disks.run(OpInstanceRecreateDisks(instance_name="inst1"), LUInstanceRecreateDisks)
    assert err.value.code == ECODE_EXISTS and "blockdev_create" not in disks.nodes["node1"].names()


def test_recreate_refuses_a_running_instance(disks: Harness) -> None:
    two_disk_instance(disks, up=True)
    with pytest.raises(OpPrereqError, match="Instance 'inst1' is marked to be up, cannot recreate disks"):
        disks.run(OpInstanceRecreateDisks(instance_name="inst1"), LUInstanceRecreateDisks)


def test_recreate_on_a_new_node_moves_the_instance_there(disks: Harness) -> None:
    inst = two_disk_instance(disks)
    set_offline(disks, "node1")  # its node is gone: the disks are made on node2
    disks.run(OpInstanceRecreateDisks(instance_name="inst1", nodes=["node2"]), LUInstanceRecreateDisks)
    assert set(disks.nodes["node2"].disks) == {d.uuid for d in inst.disks}
    assert disks.cfg.instance("inst1").primary_node == disks.cfg.node("node2").uuid


def test_recreate_on_its_offline_node_is_refused(disks: Harness) -> None:
    two_disk_instance(disks)
    set_offline(disks, "node1")
    with pytest.raises(OpPrereqError, match="Node node1 of instance inst1 is offline; recreate the disks elsewhere"):
        disks.run(OpInstanceRecreateDisks(instance_name="inst1"), LUInstanceRecreateDisks)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"nodes": ["node1", "node2"]}, "currently has 1 nodes, but new node list has 2 nodes"),
        ({"nodes": ["node2"], "disks": [0]}, "Can't recreate disks partially and change the nodes at the same time"),
        ({"disks": [5]}, "Invalid disk index: '5'"),
        ({"disks": [0, 0]}, "Some disks have been specified more than once: 0"),
        ({"disks": [[0, {"vg": "x"}]]}, "unmodifiable parameter"),
        ({"disks": [[0, {"size": 0}]]}, "size must be positive"),
        ({"iallocator": "hail", "nodes": ["node2"]}, "Give either new nodes"),
    ],
)
def test_recreate_refuses_bad_requests(disks: Harness, fields: dict[str, Any], message: str) -> None:
    inst = two_disk_instance(disks)
    lose(disks, inst, 0)
    lose(disks, inst, 1)
    with pytest.raises(OpPrereqError, match=message):
        disks.run(OpInstanceRecreateDisks(instance_name="inst1", **fields), LUInstanceRecreateDisks)
    assert "blockdev_create" not in disks.nodes["node1"].names()


def test_failed_recreate_removes_what_it_made_and_keeps_the_config(disks: Harness) -> None:
    inst = two_disk_instance(disks)
    lose(disks, inst, 0)
    lose(disks, inst, 1)
    node = disks.nodes["node1"]
    node.fail["blockdev_create"] = StorageError("VG full")
    node.fail_on["blockdev_create"] = 2
    with pytest.raises(OpExecError, match="Can't create disk 1 of instance inst1 on node node1: VG full"):
        op = OpInstanceRecreateDisks(instance_name="inst1", disks=[[0, {"size": 999}], 1])
        disks.run(op, LUInstanceRecreateDisks)
    assert node.disks == {} and node.names().count("blockdev_remove") == 2
    assert disks.cfg.instance("inst1").disks[0].size == 64


def test_grow_of_a_stopped_instance_waits_for_sync_before_the_disk_goes_down(disks: Harness) -> None:
    two_disk_instance(disks)
    disks.nodes["node1"].unsynced = 1  # type: ignore[attr-defined]
    disks.run(grow(), LUInstanceGrowDisk)
    names = [n for n in disks.nodes["node1"].names() if n.startswith("blockdev_")]
    assert names[-3:] == ["blockdev_info", "blockdev_info", "blockdev_shutdown"]


def test_grow_whose_sync_goes_wrong_is_recorded_with_a_warning(disks: Harness) -> None:
    inst = two_disk_instance(disks)
    node = disks.nodes["node1"]
    real_info = node.do_blockdev_info  # type: ignore[attr-defined]
    node.do_blockdev_info = lambda args: [{**i, "exists": False} for i in real_info(args)]  # type: ignore[attr-defined]
    disks.run(grow(), LUInstanceGrowDisk)
    assert disks.cfg.instance("inst1").disks[1].size == 192 and inst.disks[1].uuid not in active(disks)
    assert any("Disk syncing has not returned a good status" in line for line in disks.log)


# -- a mirrored template plugs in without changes to the LUs --------------------------------------


class _MirrorDriver:
    """Stands in for the drbd node driver: the dispatcher only asks it for the disk's node paths."""

    def node_paths(self, disk: DiskSpec) -> list[str]:
        assert disk.params.get("view") in ("node1", "node2"), "a mirrored disk must reach a node in its own view"
        return []


@pytest.fixture
def mirrored(disks: Harness, monkeypatch: pytest.MonkeyPatch) -> Harness:
    """A 'drbd' instance on node1 (primary) and node2 (secondary); the master side's per-node view
    (gnt.instance.drbd.node_specs) is a stand-in that writes the node's name into params."""
    import sys
    import types

    import storage
    from gnt.objects import Instance as Inst

    real_get = storage.get
    monkeypatch.setattr(storage, "get", lambda t: _MirrorDriver() if t == "drbd" else real_get(t))
    module = types.ModuleType("gnt.instance.drbd")

    def node_specs(specs: list[DiskSpec], inst: Any, node: Any, nodes: Any) -> list[DiskSpec]:
        return [
            DiskSpec(d.uuid, d.index, d.size, d.dev_type, list(d.logical_id), params={"view": node.name}) for d in specs
        ]

    module.node_specs = node_specs  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "gnt.instance.drbd", module)
    n1, n2 = disks.cfg.node("node1"), disks.cfg.node("node2")
    disk = Disk(uuid=new_uuid(), size=256, dev_type="drbd", logical_id=[n1.uuid, n2.uuid, "11000", "0", "0"])
    inst = Inst(name="mir", primary_node=n1.uuid, secondary_nodes=[n2.uuid], hypervisor="fake", disk_template="drbd")
    inst.disks = [disk]
    asyncio.run(disks.cfg.commit([inst]))
    for node in ("node1", "node2"):
        disks.nodes[node].disks[disk.uuid] = DiskSpec(disk.uuid, 0, 256, "drbd", list(disk.logical_id))
    return disks


def test_mirrored_disks_activate_on_both_nodes_and_print_the_primary(mirrored: Harness) -> None:
    result = mirrored.run(OpInstanceActivateDisks(instance_name="mir"), LUInstanceActivateDisks)
    uuid = mirrored.cfg.instance("mir").disks[0].uuid
    assert result == [["node1", "disk/0", f"/dev/node1/{uuid}"]]
    assert uuid in active(mirrored, "node1") and uuid in active(mirrored, "node2")


def test_mirrored_disks_grow_on_the_secondary_first_each_in_its_own_view(mirrored: Harness) -> None:
    seen: list[str] = []
    for name in ("node1", "node2"):
        node = mirrored.nodes[name]
        real = node.do_blockdev_grow  # type: ignore[attr-defined]
        node.do_blockdev_grow = lambda args, real=real: (seen.append(args.disk.params["view"]), real(args))[1]  # type: ignore[attr-defined]
    mirrored.run(grow(instance_name="mir", disk=0, amount=128), LUInstanceGrowDisk)
    assert seen == ["node2", "node1"]
    assert {
        a.disk.params["view"]
        for n in ("node1", "node2")
        for c, a in mirrored.nodes[n].calls
        if c == "blockdev_grow_check"
    } == {"node1", "node2"}
    assert mirrored.cfg.instance("mir").disks[0].size == 384


def test_deactivate_with_an_offline_primary_changes_the_config_and_says_so(disks: Harness) -> None:
    two_disk_instance(disks)
    disks.run(OpInstanceActivateDisks(instance_name="inst1"), LUInstanceActivateDisks)
    set_offline(disks, "node1")
    disks.run(OpInstanceDeactivateDisks(instance_name="inst1"), LUInstanceDeactivateDisks)
    assert not disks.cfg.instance("inst1").disks_active
    assert any("Node node1 is offline: disk/0 of inst1 is not shut down there" in line for line in disks.log)


def test_a_sync_whose_reported_progress_stands_still_is_given_up(
    disks: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(blockdevs, "SYNC_STALL_POLLS", 3)
    two_disk_instance(disks)
    disks.nodes["node1"].unsynced = 100  # type: ignore[attr-defined]
    with pytest.raises(OpExecError, match="make no sync progress"):
        disks.run(OpInstanceActivateDisks(instance_name="inst1", wait_for_sync=True), LUInstanceActivateDisks)
    assert disks.nodes["node1"].names().count("blockdev_info") == 4


def test_a_sync_without_reported_progress_is_waited_for(disks: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(blockdevs, "SYNC_STALL_POLLS", 3)
    two_disk_instance(disks)
    node = disks.nodes["node1"]
    node.unsynced, node.percent = 8, None  # type: ignore[attr-defined]
    disks.run(OpInstanceActivateDisks(instance_name="inst1", wait_for_sync=True), LUInstanceActivateDisks)
    assert node.names().count("blockdev_info") == 9
    assert any("- device disk/0: syncing" in line for line in disks.log)


def test_a_mirror_that_never_connects_ends_the_wait_with_one_line_and_the_disks_stay_as_asked(
    disks: Harness,
) -> None:
    """Out of sync with no resync running (a drbd side in WFConnection: its peer is gone): Ganeti
    gives up after its degraded retries; the wait used to poll for ever."""
    two_disk_instance(disks)
    node = disks.nodes["node1"]
    node.unsynced, node.percent = 10**6, None  # type: ignore[attr-defined]
    with pytest.raises(OpExecError) as failed:
        disks.run(OpInstanceActivateDisks(instance_name="inst1", wait_for_sync=True), LUInstanceActivateDisks)
    message = str(failed.value)
    assert "\n" not in message
    assert message.startswith("Disks of instance inst1 are degraded (disk/0, disk/1: out of sync and not resyncing")
    assert "see gnt-cluster verify-disks" in message
    assert node.names().count("blockdev_info") == blockdevs.DEGRADED_POLLS
    # brought up by this job only: taken down again and recorded so
    assert active(disks) == set() and not disks.cfg.instance("inst1").disks_active


def test_disks_active_before_a_degraded_wait_stay_active(disks: Harness) -> None:
    two_disk_instance(disks)
    disks.run(OpInstanceActivateDisks(instance_name="inst1"), LUInstanceActivateDisks)
    node = disks.nodes["node1"]
    node.unsynced, node.percent = 10**6, None  # type: ignore[attr-defined]
    with pytest.raises(OpExecError, match="are degraded"):
        disks.run(OpInstanceActivateDisks(instance_name="inst1", wait_for_sync=True), LUInstanceActivateDisks)
    assert len(active(disks)) == 2 and disks.cfg.instance("inst1").disks_active


def test_a_resync_that_starts_after_a_few_degraded_polls_is_waited_for(disks: Harness) -> None:
    two_disk_instance(disks)
    node = disks.nodes["node1"]
    node.unsynced, node.percent = blockdevs.DEGRADED_POLLS + 20, None  # type: ignore[attr-defined]
    polls = {"n": 0}
    answer = node.do_blockdev_info  # type: ignore[attr-defined]

    def info(args: Any) -> list[dict[str, Any]]:
        polls["n"] += 1
        node.percent = float(polls["n"]) if polls["n"] >= blockdevs.DEGRADED_POLLS - 1 else None  # type: ignore[attr-defined]
        return answer(args)  # type: ignore[no-any-return]

    node.do_blockdev_info = info  # type: ignore[attr-defined]
    disks.run(OpInstanceActivateDisks(instance_name="inst1", wait_for_sync=True), LUInstanceActivateDisks)
    assert polls["n"] == blockdevs.DEGRADED_POLLS + 21


def test_grow_of_a_disk_whose_mirror_never_connects_warns_and_takes_the_disk_down(disks: Harness) -> None:
    inst = two_disk_instance(disks)
    node = disks.nodes["node1"]
    node.unsynced, node.percent = 10**6, None  # type: ignore[attr-defined]
    disks.run(grow(), LUInstanceGrowDisk)
    assert disks.cfg.instance("inst1").disks[1].size == 192 == node.disks[inst.disks[1].uuid].size
    assert any("Disk syncing has not returned a good status" in line and "degraded" in line for line in disks.log)
    assert active(disks) == set()


def test_waiting_for_sync_stops_when_the_job_is_cancelled(disks: Harness) -> None:
    from gnt.errors import OpCanceledError

    two_disk_instance(disks)
    node = disks.nodes["node1"]
    node.unsynced, node.percent = 10**6, None  # type: ignore[attr-defined]
    lu = LUInstanceActivateDisks(OpInstanceActivateDisks(instance_name="inst1"), disks.ctx, lambda m, k: None)
    inst = disks.cfg.instance("inst1")
    lu.cancel.set()
    with pytest.raises(OpCanceledError):
        asyncio.run(blockdevs.wait_for_sync(lu, inst))
    assert node.names().count("blockdev_info") == 1
