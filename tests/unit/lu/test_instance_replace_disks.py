"""replace-disks on drbd instances through the LU on the in-process transport: -p/-s replace one
side's LVs under the live link and remove the old ones after the resync; -n/-I move the secondary
to a new node and keep the old one until the new one is in sync; --auto replaces the faulty side;
Ganeti's refusals."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gnt.errors import ECODE_INVAL, ECODE_STATE, OpExecError, OpPrereqError, StorageError
from gnt.instance import blockdevs
from gnt.instance.create import LUInstanceCreate
from gnt.instance.drbd import logical
from gnt.instance.replace_disks import LUInstanceReplaceDisks
from gnt.objects import Node
from gnt.opcodes import OpInstanceReplaceDisks, from_dict
from tests.unit.lu.conftest import Harness
from tests.unit.lu.test_instance_drbd import create
from tests.unit.lu.test_instance_plain import with_vg


def in_sync(args: Any) -> list[dict[str, Any]]:
    return [{"cstate": "Connected", "disk": "UpToDate", "peer_disk": "UpToDate", "in_sync": True} for _ in args.disks]


def infos(args: Any) -> list[dict[str, Any]]:
    return [{"exists": True, "path": "/dev/drbd0", "size": d.size, "in_sync": True} for d in args.disks]


@pytest.fixture
def pair(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> Harness:
    """A drbd instance inst1 on node1 (primary) and node2; node3 online and reachable."""
    harness.cfg.cluster.enabled_disk_templates = ["drbd", "plain"]
    node3 = Node(name="node3", primary_ip="192.0.2.3", group=harness.cfg.node("node1").group)
    asyncio.run(harness.cfg.commit([node3]))
    harness.ctx.rpc.transport.nodes["node3"] = harness.nodes["node3"].dispatcher().answer  # type: ignore[attr-defined]
    for name in ("node1", "node2", "node3"):
        node = harness.nodes[name]
        with_vg(node)
        node.do_drbd_status = in_sync  # type: ignore[attr-defined]
        node.do_blockdev_info = infos  # type: ignore[attr-defined]
        node.do_drbd_replace_local = lambda args: [  # type: ignore[attr-defined]
            [v[0], f"{v[1]}_replaced-1"] for v in (args.disk.params["drbd"]["data"], args.disk.params["drbd"]["meta"])
        ]
    harness.run(create(), LUInstanceCreate)
    for node in harness.nodes.values():
        node.calls.clear()
    monkeypatch.setattr(blockdevs, "SYNC_POLL", 0)
    return harness


def replace(mode: str, **kw: Any) -> OpInstanceReplaceDisks:
    return OpInstanceReplaceDisks(instance_name="inst1", mode=mode, **kw)


def calls(h: Harness, node: str, name: str) -> list[Any]:
    return [a for n, a in h.nodes[node].calls if n == name]


@pytest.mark.parametrize(
    ("mode", "node", "other"), [("replace_on_secondary", "node2", "node1"), ("replace_on_primary", "node1", "node2")]
)
def test_one_side_gets_new_lvs_and_the_old_ones_go_after_the_sync(
    pair: Harness, mode: str, node: str, other: str
) -> None:
    pair.run(replace(mode), LUInstanceReplaceDisks)
    replaced = calls(pair, node, "drbd_replace_local")
    assert [a.disk.index for a in replaced] == [0, 1]
    assert all(a.disk.params["drbd"]["primary"] is (node == "node1") for a in replaced)  # each with its own view
    assert calls(pair, other, "drbd_replace_local") == []
    removed = [a.disk for a in calls(pair, node, "blockdev_remove")]
    disk0 = pair.cfg.instance("inst1").disks[0]
    assert ["xenvg", f"{disk0.uuid}.disk0_data_replaced-1"] in [d.logical_id for d in removed]
    assert all(d.dev_type == "plain" for d in removed) and len(removed) == 4
    # the serving side checked (before and when starting), the sync followed on the primary (one poll)
    polls = {"node1": 1, "node2": 0}
    polls[other] += 2
    assert {n: pair.nodes[n].names().count("drbd_status") for n in polls} == polls
    # the running instance's disks stay up
    assert not calls(pair, node, "blockdev_shutdown") and not calls(pair, node, "blockdev_assemble")


def test_a_stopped_instances_disks_are_up_for_the_replacement_only(pair: Harness) -> None:
    pair.nodes["node1"].running.clear()
    inst = pair.cfg.instance("inst1")
    inst.admin_state = "down"
    asyncio.run(pair.cfg.commit([inst]))
    pair.run(replace("replace_on_secondary"), LUInstanceReplaceDisks)
    names = pair.nodes["node2"].names()
    assert names.index("blockdev_assemble") < names.index("drbd_replace_local") < names.index("blockdev_shutdown")


def test_only_the_named_disks_are_replaced(pair: Harness) -> None:
    pair.run(replace("replace_on_secondary", disks=[1]), LUInstanceReplaceDisks)
    assert [a.disk.index for a in calls(pair, "node2", "drbd_replace_local")] == [1]


def test_a_degraded_serving_side_refuses_the_replacement(pair: Harness) -> None:
    pair.cfg.instance("inst1").disks_active = True
    pair.nodes["node1"].do_drbd_status = lambda args: [  # type: ignore[attr-defined]
        {"cstate": "Connected", "disk": "Inconsistent", "in_sync": False} for _ in args.disks
    ]
    with pytest.raises(OpPrereqError, match="Node node1 has degraded storage .*unsafe to replace disks") as err:
        pair.run(replace("replace_on_secondary"), LUInstanceReplaceDisks)
    assert err.value.code == ECODE_STATE
    assert calls(pair, "node2", "drbd_replace_local") == []


def test_a_failed_replacement_keeps_going_for_no_other_disk(pair: Harness) -> None:
    pair.nodes["node2"].fail["drbd_replace_local"] = StorageError("Not enough free space in volume group xenvg")
    pair.nodes["node2"].fail_on["drbd_replace_local"] = 2
    with pytest.raises(OpExecError, match="Can't replace the storage of disk/1 of instance inst1 on node node2"):
        pair.run(replace("replace_on_secondary"), LUInstanceReplaceDisks)
    # disk 0 was replaced: it resynced and its old LVs were removed; nothing stays aside
    assert len(calls(pair, "node2", "blockdev_remove")) == 2


def test_old_lvs_are_kept_when_the_new_side_never_syncs(pair: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(blockdevs, "SYNC_STALL_POLLS", 2)
    pair.nodes["node1"].do_drbd_status = lambda args: [  # type: ignore[attr-defined]
        {"cstate": "SyncSource", "disk": "UpToDate", "in_sync": False, "sync_percent": 3.0} for _ in args.disks
    ]
    with pytest.raises(
        OpExecError, match=r"do not sync \(disk/0 SyncSource, disk/1 SyncSource\).*old volumes on node node2 are kept"
    ):
        pair.run(replace("replace_on_secondary"), LUInstanceReplaceDisks)
    assert calls(pair, "node2", "blockdev_remove") == []


def test_new_secondary_is_made_synced_and_then_the_old_one_removed(pair: Harness) -> None:
    before = [list(d.logical_id) for d in pair.cfg.instance("inst1").disks]
    pair.run(replace("replace_new_secondary", remote_node="node3"), LUInstanceReplaceDisks)
    inst = pair.cfg.instance("inst1")
    n1, n3 = pair.cfg.node("node1").uuid, pair.cfg.node("node3").uuid
    assert inst.secondary_nodes == [n3]
    assert [d.logical_id for d in inst.disks] == [[n1, n3, b[2], b[3], str(i)] for i, b in enumerate(before)]
    views = [a.disk.params["drbd"] for a in calls(pair, "node3", "blockdev_create")]
    assert [(v["local_ip"], v["remote_ip"], v["primary"]) for v in views] == [("192.0.2.3", "192.0.2.1", False)] * 2
    (relink,) = calls(pair, "node1", "drbd_relink")
    assert [d.params["drbd"]["remote_ip"] for d in relink.disks] == ["192.0.2.3"] * 2
    assert len(pair.nodes["node3"].disks) == 2 and pair.nodes["node2"].disks == {}
    order = [n for n in pair.nodes["node2"].names() if n in ("blockdev_shutdown", "blockdev_remove")]
    assert order[:2] == ["blockdev_shutdown", "blockdev_shutdown"] and order.count("blockdev_remove") == 2
    assert logical(inst.disks[0]).port == int(before[0][2])  # the link keeps its port


def test_a_new_secondary_that_never_syncs_leaves_the_old_one_in_place(
    pair: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(blockdevs, "SYNC_STALL_POLLS", 2)
    pair.nodes["node1"].do_drbd_status = lambda args: [  # type: ignore[attr-defined]
        {"cstate": "WFConnection", "disk": "UpToDate", "in_sync": False, "sync_percent": None} for _ in args.disks
    ]
    before = [list(d.logical_id) for d in pair.cfg.instance("inst1").disks]
    with pytest.raises(OpExecError, match=r"do not sync \(disk/0 WFConnection, disk/1 WFConnection\)"):
        pair.run(replace("replace_new_secondary", remote_node="node3"), LUInstanceReplaceDisks)
    inst = pair.cfg.instance("inst1")
    assert inst.secondary_nodes == [pair.cfg.node("node2").uuid]
    assert [d.logical_id for d in inst.disks] == before
    assert pair.nodes["node3"].disks == {} and len(pair.nodes["node2"].disks) == 2
    relinks = calls(pair, "node1", "drbd_relink")
    assert [relinks[-1].disks[0].params["drbd"]["remote_ip"]] == ["192.0.2.2"]  # linked back to the old one
    assert calls(pair, "node2", "blockdev_assemble")[-2:]  # brought up again


def test_a_create_failing_on_the_new_node_removes_what_it_made(pair: Harness) -> None:
    pair.nodes["node3"].fail["blockdev_create"] = StorageError("Not enough free space")
    pair.nodes["node3"].fail_on["blockdev_create"] = 2
    with pytest.raises(OpExecError, match="Can't create disk/1 on node node3"):
        pair.run(replace("replace_new_secondary", remote_node="node3"), LUInstanceReplaceDisks)
    assert pair.nodes["node3"].disks == {}
    assert calls(pair, "node1", "drbd_relink") == []  # the primary never left the old secondary
    assert pair.cfg.instance("inst1").secondary_nodes == [pair.cfg.node("node2").uuid]


def test_the_allocator_picks_the_new_secondary(pair: Harness) -> None:
    from gnt import constants

    pair.cfg.cluster.ipolicy = dict(constants.IPOLICY_DEFAULTS)
    pair.run(replace("replace_new_secondary", iallocator="hail"), LUInstanceReplaceDisks)
    assert pair.cfg.instance("inst1").secondary_nodes == [pair.cfg.node("node3").uuid]
    assert any("Selected new secondary for instance 'inst1' via iallocator hail: node3" in m for m in pair.log)


def test_auto_replaces_the_faulty_side(pair: Harness) -> None:
    pair.cfg.instance("inst1").disks_active = True
    pair.nodes["node2"].do_drbd_status = lambda args: [  # type: ignore[attr-defined]
        {"cstate": "Connected", "disk": "UpToDate"},
        {"cstate": "Connected", "disk": "Failed"},
    ]
    pair.nodes["node1"].do_drbd_status = in_sync  # type: ignore[attr-defined]
    pair.run(replace("replace_auto"), LUInstanceReplaceDisks)
    assert [a.disk.index for a in calls(pair, "node2", "drbd_replace_local")] == [1]
    assert calls(pair, "node1", "drbd_replace_local") == []


def test_auto_with_nothing_faulty_does_nothing(pair: Harness) -> None:
    pair.cfg.instance("inst1").disks_active = True
    for name in ("node1", "node2"):
        pair.nodes[name].do_drbd_status = lambda args: [{"disk": "UpToDate"} for _ in args.disks]  # type: ignore[attr-defined]
    pair.run(replace("replace_auto"), LUInstanceReplaceDisks)
    assert any("No disks need replacement for instance 'inst1'" in m for m in pair.log)
    assert not calls(pair, "node1", "drbd_replace_local") and not calls(pair, "node2", "drbd_replace_local")


def test_auto_refuses_faults_on_both_sides(pair: Harness) -> None:
    pair.cfg.instance("inst1").disks_active = True
    for name in ("node1", "node2"):
        pair.nodes[name].do_drbd_status = lambda args: [None for _ in args.disks]  # type: ignore[attr-defined]
    with pytest.raises(OpPrereqError, match="faulty disks on more than one node; can't use automatic mode"):
        pair.run(replace("replace_auto"), LUInstanceReplaceDisks)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"mode": "replace_new_secondary"}, "either an iallocator script must be used or the new node given"),
        ({"mode": "replace_new_secondary", "remote_node": "node3", "iallocator": "hail"}, "not both"),
        ({"mode": "replace_on_primary", "remote_node": "node3"}, "can only be used when changing the secondary"),
        ({"mode": "replace_new_secondary", "remote_node": "node3", "disks": [0]}, "Cannot specify disks"),
        ({"mode": "replace_new_secondary", "remote_node": "node1"}, "is the primary node of the instance"),
        ({"mode": "replace_new_secondary", "remote_node": "node2"}, "already the secondary node of the instance"),
        ({"mode": "replace_on_secondary", "disks": [5]}, "Invalid disk index: '5'"),
    ],
)
def test_ganetis_refusals(pair: Harness, fields: dict[str, Any], message: str) -> None:
    with pytest.raises(OpPrereqError, match=message) as err:
        pair.run(OpInstanceReplaceDisks(instance_name="inst1", **fields), LUInstanceReplaceDisks)
    assert err.value.code == ECODE_INVAL
    assert not pair.nodes["node3"].disks


def test_an_offline_new_secondary_is_refused(pair: Harness) -> None:
    node3 = pair.cfg.node("node3")
    node3.offline = True
    asyncio.run(pair.cfg.commit([node3]))
    with pytest.raises(OpPrereqError, match="Can't use offline node node3"):
        pair.run(replace("replace_new_secondary", remote_node="node3"), LUInstanceReplaceDisks)


def test_a_non_mirrored_instance_is_refused(pair: Harness) -> None:
    pair.add_instance("file1", "node1", template="file")
    with pytest.raises(OpPrereqError, match="Can only run replace disks for DRBD8-based instances"):
        pair.run(OpInstanceReplaceDisks(instance_name="file1", mode="replace_on_secondary"), LUInstanceReplaceDisks)


def test_an_unknown_mode_never_becomes_an_opcode() -> None:
    with pytest.raises(OpPrereqError, match="Replace disks mode must be one of"):
        from_dict({"OP_ID": "OP_INSTANCE_REPLACE_DISKS", "instance_name": "inst1", "mode": "sideways"})


def run_submitted(h: Harness) -> None:
    """Run the jobs an LU submitted (replace-disks only) through the replace-disks LU."""
    for job in h.queue.jobs:
        for data in job:
            assert data["OP_ID"] == "OP_INSTANCE_REPLACE_DISKS"
            h.run(from_dict(data), LUInstanceReplaceDisks)  # type: ignore[arg-type]


def test_evacuating_a_secondary_to_a_named_node_runs_replace_disks(pair: Harness) -> None:
    from gnt.instance.migrate import LUNodeEvacuate
    from gnt.opcodes import OpNodeEvacuate

    pair.run(OpNodeEvacuate(node_name="node2", mode="secondary-only", remote_node="node3"), LUNodeEvacuate)
    assert pair.queue.jobs == [
        [
            {
                "OP_ID": "OP_INSTANCE_REPLACE_DISKS",
                "instance_name": "inst1",
                "mode": "replace_new_secondary",
                "remote_node": "node3",
                "early_release": False,
            }
        ]
    ]
    run_submitted(pair)
    assert pair.cfg.instance("inst1").secondary_nodes == [pair.cfg.node("node3").uuid]


def test_evacuating_a_secondary_through_the_allocator_runs_replace_disks(pair: Harness) -> None:
    from gnt import constants
    from gnt.instance.migrate import LUNodeEvacuate
    from gnt.opcodes import OpNodeEvacuate

    pair.cfg.cluster.ipolicy = dict(constants.IPOLICY_DEFAULTS)
    pair.run(OpNodeEvacuate(node_name="node2", mode="secondary-only", iallocator="hail"), LUNodeEvacuate)
    run_submitted(pair)
    assert pair.cfg.instance("inst1").secondary_nodes == [pair.cfg.node("node3").uuid]
    assert pair.nodes["node2"].disks == {}


def test_the_balancers_replace_disks_move_runs(pair: Harness) -> None:
    from types import SimpleNamespace

    from gnt.cluster.htools import move_ops

    move = SimpleNamespace(instance="inst1", actions=lambda: ["r:node3"])
    (data,) = move_ops(move, running=True)
    pair.run(from_dict(data), LUInstanceReplaceDisks)  # type: ignore[arg-type]
    assert pair.cfg.instance("inst1").secondary_nodes == [pair.cfg.node("node3").uuid]


def test_early_release_removes_the_old_lvs_before_the_sync(pair: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(blockdevs, "SYNC_STALL_POLLS", 2)
    pair.nodes["node1"].do_drbd_status = lambda args: [  # type: ignore[attr-defined]
        {"cstate": "SyncSource", "disk": "UpToDate", "in_sync": False, "sync_percent": 3.0} for _ in args.disks
    ]
    pair.run(replace("replace_on_secondary", early_release=True), LUInstanceReplaceDisks)
    assert len(calls(pair, "node2", "blockdev_remove")) == 4
    assert any("The new storage on node2 is not in sync yet" in m for m in pair.log)


def test_a_new_secondary_without_room_is_refused_before_anything_is_made(pair: Harness) -> None:
    from gnt.errors import ECODE_NORES

    with_vg(pair.nodes["node3"], free=800)  # the disks need 512 + 256 + 2 x 128 MiB
    with pytest.raises(
        OpPrereqError, match="Not enough disk space on target node node3 vg xenvg: required 1024"
    ) as err:
        pair.run(replace("replace_new_secondary", remote_node="node3"), LUInstanceReplaceDisks)
    assert err.value.code == ECODE_NORES
    assert calls(pair, "node3", "blockdev_create") == [] and calls(pair, "node1", "drbd_relink") == []


def test_evacuate_early_release_reaches_the_allocators_replace_disks_jobs(pair: Harness) -> None:
    """`gnt-node evacuate --early-release -I hail`: the allocator's plan carries the admin's choice."""
    from gnt import constants
    from gnt.instance.migrate import LUNodeEvacuate
    from gnt.opcodes import OpNodeEvacuate

    pair.cfg.cluster.ipolicy = dict(constants.IPOLICY_DEFAULTS)
    op = OpNodeEvacuate(node_name="node2", mode="secondary-only", iallocator="hail", early_release=True)
    pair.run(op, LUNodeEvacuate)
    steps = [step for job in pair.queue.jobs for step in job]
    assert steps and all(s["OP_ID"] == "OP_INSTANCE_REPLACE_DISKS" and s["early_release"] is True for s in steps)
    run_submitted(pair)
    assert pair.cfg.instance("inst1").secondary_nodes == [pair.cfg.node("node3").uuid]
