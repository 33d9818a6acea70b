"""`gnt-instance add --opportunistic-locking`: the create takes, of all nodes, only those whose locks
are free at that moment (never waiting on the others), the allocator chooses among them only, and
when none of those fits the job fails with Ganeti's temporary error (temp_insufficient_resources)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gnt import opcodes
from gnt.errors import ECODE_INVAL, ECODE_TEMP_NORES, OpPrereqError
from gnt.instance.create import LUInstanceCreate
from gnt.jobs.locking import HeldLocks, Level, LockRequest
from gnt.jobs.processor import acquire_locks
from gnt.opcodes import OpInstanceCreate
from tests.unit.lu.conftest import Harness
from tests.unit.lu.test_instance_multi_alloc import _full_node_info


@pytest.fixture
def h(harness: Harness) -> Harness:
    _full_node_info(harness)
    return harness


def create(name: str = "inst1", **kw: Any) -> OpInstanceCreate:
    fields: dict[str, Any] = {
        "instance_name": name,
        "disk_template": "diskless",
        "os_type": "noop",
        "start": False,
        "iallocator": "hail",
        "opportunistic_locking": True,
    }
    return OpInstanceCreate(**{**fields, **kw})


def busy(h: Harness, *nodes: str) -> HeldLocks:
    """Another job holding these nodes' resource locks (as a running create or migrate does)."""
    return asyncio.run(h.ctx.locks.acquire({Level.NODE_RES: LockRequest(list(nodes))}))


def run_locked(h: Harness, op: OpInstanceCreate) -> tuple[Any, HeldLocks]:
    """The processor's phases with its real lock acquisition (the harness's `run` takes none)."""
    lu = LUInstanceCreate(op, h.ctx, lambda message, kind: h.log.append(message))

    async def phases() -> tuple[Any, HeldLocks]:
        lu.check_arguments()
        held = lu.held = HeldLocks(owner="job/9")
        try:
            # never waits on a busy node; the bound only keeps a regression from hanging the run
            await asyncio.wait_for(acquire_locks(lu, held), 60)
            await lu.check_prereq()
            return await lu.exec(), HeldLocks(list(held.held))
        finally:
            h.ctx.locks.release(held)

    return asyncio.run(phases())


def test_the_allocator_only_sees_the_nodes_that_were_free(h: Harness) -> None:
    other = busy(h, "node1")
    try:
        (result, held) = run_locked(h, create())
    finally:
        h.ctx.locks.release(other)
    assert result == ["node2"] and h.cfg.node(h.cfg.instance("inst1").primary_node).name == "node2"
    assert held.names(Level.NODE_RES) == ["node2"] and sorted(held.names(Level.NODE)) == ["node1", "node2"]


def test_with_every_node_busy_the_create_fails_with_a_temporary_error(h: Harness) -> None:
    other = busy(h, "node1", "node2")
    try:
        with pytest.raises(OpPrereqError, match="Can't compute nodes using iallocator 'hail'") as err:
            run_locked(h, create())
    finally:
        h.ctx.locks.release(other)
    assert err.value.code == ECODE_TEMP_NORES
    assert h.cfg.find_instance("inst1") is None
    assert any("failed on opportunistically acquired nodes" in line for line in h.log)


def test_without_it_the_create_waits_for_the_busy_nodes_and_goes_on_once_they_are_free(h: Harness) -> None:
    other = busy(h, "node1", "node2")
    lu = LUInstanceCreate(create(opportunistic_locking=False), h.ctx, lambda message, kind: None)

    async def scenario() -> list[str]:
        held = lu.held = HeldLocks(owner="job/9")
        task = asyncio.ensure_future(acquire_locks(lu, held))
        for _ in range(20):  # let it run as far as it can
            await asyncio.sleep(0)
        waited = not task.done()
        h.ctx.locks.release(other)
        await task
        got = held.names(Level.NODE_RES)
        h.ctx.locks.release(held)
        return [str(waited), *got]

    assert asyncio.run(scenario()) == ["True"]  # it waited; then took the whole level (ALL), no names
    assert h.ctx.locks.owned_count() == 0


def test_a_named_node_and_opportunistic_locking_are_refused_at_submission() -> None:
    fields = {"OP_ID": "OP_INSTANCE_CREATE", "instance_name": "inst1", "disk_template": "diskless", "os_type": "noop"}
    with pytest.raises(OpPrereqError, match="only available in combination with an instance allocator") as err:
        opcodes.from_dict({**fields, "pnode": "node1", "opportunistic_locking": True})
    assert err.value.code == ECODE_INVAL
