"""Migrate and failover LUs, and the shared move step, on the in-process transport."""

from __future__ import annotations

from typing import Any

import pytest

from gnt.errors import ECODE_INVAL, ECODE_STATE, OpCanceledError, OpExecError, OpPrereqError
from gnt.instance.migrate import LUInstanceFailover, LUInstanceMigrate, LUNodeEvacuate
from gnt.opcodes import OpInstanceFailover, OpInstanceMigrate, OpNodeEvacuate
from tests.unit.lu.conftest import Harness


def migrate(**kw: object) -> OpInstanceMigrate:
    return OpInstanceMigrate(instance_name="inst1", target_node="node2", **kw)  # type: ignore[arg-type]


def test_migrate_runs_the_steps_on_each_side_and_moves_the_primary(harness: Harness) -> None:
    harness.add_instance("inst1", "node1", template="sharedfile")
    src, dst = harness.nodes["node1"], harness.nodes["node2"]
    result = harness.run(migrate(), LUInstanceMigrate)
    assert harness.cfg.instance("inst1").primary_node == harness.cfg.node("node2").uuid
    assert result["downtime_ms"] == 5
    assert [n for n in src.names()] == [
        "instance_info",
        "migrate_instance",
        "migration_status",
        "finalize_migration_src",
    ]
    assert [n for n in dst.names() if n != "node_info"] == ["accept_instance", "finalize_migration_dst"]
    assert "inst1" in dst.running and "inst1" not in src.running
    assert src.disks  # shared disks stay where they are


@pytest.mark.parametrize(("op", "mode", "live"), [({}, "live", True), ({"mode": "non-live"}, "non-live", False)])
def test_the_target_learns_the_moves_mode_at_accept(harness: Harness, op: dict, mode: str, live: bool) -> None:
    """--non-live overrides the hvparam, and the target hears it before it chooses how to listen
    (Xen: a socat for xl migrate, or gnt's own listener for xl restore)."""
    harness.add_instance("inst1", "node1", template="sharedfile")
    harness.run(migrate(**op), LUInstanceMigrate)
    (accept,) = [args for name, args in harness.nodes["node2"].calls if name == "accept_instance"]
    (start,) = [args for name, args in harness.nodes["node1"].calls if name == "migrate_instance"]
    assert accept.instance.hvparams["migration_mode"] == mode and start.live is live
    assert start.instance.hvparams["migration_mode"] == mode


def test_migrating_local_disks_is_refused_where_the_hypervisor_cannot_copy_them(harness: Harness) -> None:
    harness.add_instance("inst1", "node1", template="file")  # the fake hypervisor does not mirror disks
    with pytest.raises(OpPrereqError, match="disk layout 'file' does not allow migrations") as err:
        harness.run(migrate(), LUInstanceMigrate)
    assert err.value.code == ECODE_STATE


def test_migrating_a_stopped_instance_is_refused(harness: Harness) -> None:
    harness.add_instance("inst1", "node1", up=False)
    with pytest.raises(OpPrereqError, match="is not running on node1, cannot migrate; use failover"):
        harness.run(migrate(), LUInstanceMigrate)


def test_migrating_to_the_node_it_is_on_is_refused(harness: Harness) -> None:
    harness.add_instance("inst1", "node2")
    with pytest.raises(OpPrereqError, match="already on node node2") as err:
        harness.run(migrate(), LUInstanceMigrate)
    assert err.value.code == ECODE_INVAL


def test_migrating_to_an_offline_node_is_refused(harness: Harness) -> None:
    harness.add_instance("inst1", "node1")
    harness.cfg.node("node2").offline = True
    with pytest.raises(OpPrereqError, match="Can't use offline node node2"):
        harness.run(migrate(), LUInstanceMigrate)


def test_a_failed_transfer_aborts_and_the_source_keeps_the_instance(harness: Harness) -> None:
    harness.add_instance("inst1", "node1")
    src = harness.nodes["node1"]
    src.migration = {"phase": "failed", "message": "connection reset"}
    with pytest.raises(OpExecError, match="Could not migrate instance inst1: connection reset"):
        harness.run(migrate(), LUInstanceMigrate)
    assert harness.cfg.instance("inst1").primary_node == harness.cfg.node("node1").uuid
    assert "abort_migration" in src.names()
    finals = [a for n, a in harness.nodes["node2"].calls if n == "finalize_migration_dst"]
    assert [a.success for a in finals] == [False]
    assert "inst1" in src.running


def test_failover_stops_on_the_source_and_starts_on_the_target(harness: Harness) -> None:
    harness.add_instance("inst1", "node1", template="sharedfile")
    harness.run(OpInstanceFailover(instance_name="inst1", target_node="node2"), LUInstanceFailover)
    assert harness.cfg.instance("inst1").primary_node == harness.cfg.node("node2").uuid
    assert "inst1" not in harness.nodes["node1"].running and "inst1" in harness.nodes["node2"].running


def test_failover_of_local_disks_is_refused(harness: Harness) -> None:
    harness.add_instance("inst1", "node1", template="file")
    with pytest.raises(OpPrereqError, match="disk layout 'file' does not allow failovers"):
        harness.run(OpInstanceFailover(instance_name="inst1", target_node="node2"), LUInstanceFailover)


def test_failover_keeps_the_primary_when_the_source_cannot_stop_it(harness: Harness) -> None:
    harness.add_instance("inst1", "node1")
    harness.nodes["node1"].fail["instance_shutdown"] = OpExecError("stuck")
    with pytest.raises(OpExecError, match="Could not shutdown instance inst1 on node node1: stuck"):
        harness.run(OpInstanceFailover(instance_name="inst1", target_node="node2"), LUInstanceFailover)
    assert harness.cfg.instance("inst1").primary_node == harness.cfg.node("node1").uuid
    assert harness.nodes["node2"].calls[-1][0] == "node_info"  # only the memory check reached the target


def test_evacuate_submits_one_move_per_instance_choosing_migrate_or_failover(harness: Harness) -> None:
    harness.add_instance("up1", "node1")
    harness.add_instance("down1", "node1", up=False)
    harness.run(OpNodeEvacuate(node_name="node1", remote_node="node2"), LUNodeEvacuate)
    assert sorted((j[0]["OP_ID"], j[0]["instance_name"]) for j in harness.queue.jobs) == [
        ("OP_INSTANCE_FAILOVER", "down1"),
        ("OP_INSTANCE_MIGRATE", "up1"),
    ]


def test_evacuate_to_the_same_node_is_refused(harness: Harness) -> None:
    with pytest.raises(OpPrereqError, match="Can't evacuate a node to itself"):
        harness.run(OpNodeEvacuate(node_name="node1", remote_node="node1"), LUNodeEvacuate)


def test_the_target_gets_the_device_layout_the_source_runs_with(harness: Harness) -> None:
    """After a hotplug (kvm) the guest's device ids and PCI slots are not what the config's command
    line gives; the source reports them and the target's accept must receive them."""
    harness.add_instance("inst1", "node1", template="sharedfile")
    src = harness.nodes["node1"]
    layout = {"nics": {"n1": {"netdev": "hnic1", "device": "hnic1-dev", "slot": 5}}, "disks": {}, "balloon": 4}
    plain_info = src.do_instance_info

    def info_with_layout(args: object) -> dict | None:
        info = plain_info(args)
        return None if info is None else {**info, "extra": {"device_layout": layout}}

    src.do_instance_info = info_with_layout  # type: ignore[method-assign]
    harness.run(migrate(), LUInstanceMigrate)
    (accept,) = [args for name, args in harness.nodes["node2"].calls if name == "accept_instance"]
    assert accept.instance.hvparams["device_layout"] == layout
    assert src.names().count("instance_info") == 1  # the check's answer is used, no second call


def test_a_guest_without_a_changed_layout_sends_none(harness: Harness) -> None:
    harness.add_instance("inst1", "node1", template="sharedfile")
    harness.run(migrate(), LUInstanceMigrate)
    (accept,) = [args for name, args in harness.nodes["node2"].calls if name == "accept_instance"]
    assert "device_layout" not in accept.instance.hvparams


def _cancelled_migration(harness: Harness, after_abort: str) -> tuple[Any, list[str]]:
    """A migration whose job is cancelled while it runs; the source's status after the abort is
    `after_abort` (a hypervisor past its point of no return completes anyway)."""
    import asyncio

    harness.add_instance("inst1", "node1", template="sharedfile")
    src = harness.nodes["node1"]
    src.migration = {"phase": "active"}
    src.do_abort_migration = lambda args: src.migration.update(phase=after_abort)  # type: ignore[attr-defined]
    log: list[str] = []
    lu = LUInstanceMigrate(migrate(), harness.ctx, lambda message, kind: log.append(message))
    lu.cancel.set()

    async def phases() -> Any:
        lu.check_arguments()
        await lu.check_prereq()
        return await lu.exec()

    try:
        return asyncio.run(phases()), log
    except OpCanceledError as err:
        return err, log


def test_a_cancelled_migration_stays_on_the_source(harness: Harness) -> None:
    result, _ = _cancelled_migration(harness, "cancelled")
    assert isinstance(result, OpCanceledError) and "keeps running on node node1" in str(result)
    assert harness.cfg.instance("inst1").primary_node == harness.cfg.node("node1").uuid
    finals = [a.success for n, a in harness.nodes["node2"].calls if n == "finalize_migration_dst"]
    assert finals == [False] and harness.nodes["node1"].names().count("abort_migration") == 1


def test_a_cancel_after_the_point_of_no_return_completes_the_move(harness: Harness) -> None:
    """xl past the target's acknowledgement finishes the move: finalizing it as failed would destroy
    the only running copy on the target, so the move completes and says the cancel came too late."""
    result, log = _cancelled_migration(harness, "completed")
    assert not isinstance(result, OpCanceledError)
    assert harness.cfg.instance("inst1").primary_node == harness.cfg.node("node2").uuid
    finals = [a.success for n, a in harness.nodes["node2"].calls if n == "finalize_migration_dst"]
    assert finals == [True] and "inst1" in harness.nodes["node2"].running
    assert any("The cancel came too late" in line for line in log)
