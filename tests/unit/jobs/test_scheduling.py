"""A job layer that cannot jam: slots only for running jobs, live limits, cancellation of running work.

Each test would hang (and time out) on the old queue, whose `max_running` workers stayed busy while
their jobs waited for dependencies or locks, and whose running OP_TEST_DELAY could not be cancelled.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest

import gnt.cluster.logic
import gnt.debug.logic
from gnt import opcodes
from gnt.config.manager import ConfigManager
from gnt.db import SqliteWriter
from gnt.errors import JobLost, OpPrereqError
from gnt.jobs import lu
from gnt.jobs.job import Job, JobStatus
from gnt.jobs.locking import BGL, Level, LockManager, LockRequest
from gnt.jobs.queue import SCHEMA, JobQueue
from gnt.jobs.slots import SlotGate

TIMEOUT = 10.0

#: per test: name -> event an OP_TEST_UNIT_HOLD job waits for (made inside the test's event loop)
RELEASE: dict[str, asyncio.Event] = {}


@dataclass(kw_only=True)
class OpTestHold(opcodes.OpCode):
    OP_ID: ClassVar[str] = "OP_TEST_UNIT_HOLD"
    key: str = "hold"
    nodes: list[str] = opcodes._f([], "Node locks to hold, exclusively")


@lu.register
class LUTestHold(lu.LogicalUnit):
    """Runs until the test sets RELEASE[key]; holds the node locks it names meanwhile."""

    OPCODE = OpTestHold
    op: OpTestHold

    def declare_locks(self, level: Level) -> LockRequest | None:
        return LockRequest(list(self.op.nodes)) if level == Level.NODE and self.op.nodes else None

    async def exec(self) -> str:
        await RELEASE.setdefault(self.op.key, asyncio.Event()).wait()
        return self.op.key


@dataclass(kw_only=True)
class OpTestHoldCancellable(OpTestHold):
    OP_ID: ClassVar[str] = "OP_TEST_UNIT_HOLD_CANCELLABLE"


@lu.register
class LUTestHoldCancellable(LUTestHold):
    """Cancellable, but reaches no cancellable point before it ends: a cancel takes effect after it."""

    OPCODE = OpTestHoldCancellable
    CANCELLABLE = True


opcodes.register(OpTestHold)
opcodes.register(OpTestHoldCancellable)


class FakeRpc:
    """A node that never answers test_delay: only a cancel ends the call."""

    def __init__(self) -> None:
        self.calls = 0
        self.abandoned = 0

    async def call_many(
        self, targets: Any, procedure: Any, args: Any, *, timeout: float | None = None
    ) -> dict[str, Any]:
        if procedure.name == "hooks_runner":  # hooks (cluster-modify) find no scripts
            from gnt.rpc.transport import RpcResult

            return {target: RpcResult(target, payload=[]) for target in targets}
        self.calls += 1
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.abandoned += 1
            raise
        raise AssertionError("unreachable")


class Services:
    def __init__(self) -> None:
        self.queue: JobQueue | None = None
        self.ssconf_pushes = 0

    def invalidate_live(self) -> None:
        pass

    def targets(self, nodes: list[Any]) -> list[str]:
        return [n.name for n in nodes]

    async def push_ssconf(self) -> None:
        self.ssconf_pushes += 1


REGISTRY = lu.Registry.from_modules([gnt.debug.logic, gnt.cluster.logic, sys.modules[__name__]])


@pytest.fixture
def queue_factory(cfg: ConfigManager, tmp_path: Path) -> Iterator[Any]:
    writers: list[SqliteWriter] = []

    def make(max_running: int = 20) -> JobQueue:
        writer = SqliteWriter(str(tmp_path / "queue.db"), SCHEMA)
        writers.append(writer)
        services = Services()
        ctx = lu.Context(cfg=cfg, rpc=FakeRpc(), locks=LockManager(), services=services)  # type: ignore[arg-type]
        queue = JobQueue(writer, ctx, str(tmp_path / "drain"), max_running=max_running, registry=REGISTRY)
        services.queue = queue
        queue.load()
        queue.start()
        return queue

    yield make
    for writer in writers:
        writer.close()


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    RELEASE.clear()
    return asyncio.run(asyncio.wait_for(coro, TIMEOUT * 2))


def release(key: str) -> None:
    RELEASE.setdefault(key, asyncio.Event()).set()


def hold(key: str, *nodes: str, **extra: Any) -> dict[str, Any]:
    return {"OP_ID": "OP_TEST_UNIT_HOLD", "key": key, "nodes": list(nodes), **extra}


def delay(duration: float = 0.0, **extra: Any) -> dict[str, Any]:
    return {"OP_ID": "OP_TEST_DELAY", "duration": duration, **extra}


async def wait_final(queue: JobQueue, job_id: int) -> Job:
    async def follow() -> Job:
        while True:
            job = queue.get(job_id)
            if job.finalized:
                return job
            await queue.wait_for_change(job_id, str(job.status), job.log_serial, 1.0)

    return await asyncio.wait_for(follow(), TIMEOUT)


async def wait_status(queue: JobQueue, job_id: int, status: JobStatus) -> Job:
    async def follow() -> Job:
        while (job := queue.get(job_id)).status != status:
            assert not job.finalized, f"job {job_id} ended {job.status}, expected {status}"
            await queue.wait_for_change(job_id, str(job.status), job.log_serial, 1.0)
        return job

    return await asyncio.wait_for(follow(), TIMEOUT)


async def settle() -> None:
    """Let every ready task run until nothing more changes (no wall-clock wait)."""
    for _ in range(50):
        await asyncio.sleep(0)


async def shutdown(queue: JobQueue) -> None:
    for key in list(RELEASE):
        release(key)
    await queue.stop()
    await queue._writer.run(lambda conn: None)


# -- slots are for running jobs only -------------------------------------------------------------------
def test_job_depending_on_a_lower_priority_job_does_not_take_its_only_slot(queue_factory: Any) -> None:
    async def main() -> None:
        queue = queue_factory(max_running=1)
        results = await queue.submit_many(
            [[delay(0, priority=10)], [delay(0, priority=0, depends=[[-1, ["success"]]])]]
        )
        first, second = (job_id for _, job_id in results)
        assert (await wait_final(queue, first)).status == JobStatus.SUCCESS
        assert (await wait_final(queue, second)).status == JobStatus.SUCCESS
        await shutdown(queue)

    run(main())


def test_twenty_lock_waiters_do_not_stop_an_unrelated_job(queue_factory: Any) -> None:
    async def main() -> None:
        queue = queue_factory(max_running=20)
        holder = await queue.submit([hold("n1-holder", "node1")])
        await wait_status(queue, holder, JobStatus.RUNNING)
        waiters = [await queue.submit([hold("n1-waiters", "node1")]) for _ in range(25)]
        await settle()
        assert all(queue.get(j).status == JobStatus.WAITING for j in waiters)
        assert queue.slots.running == 1  # only the holder runs; the 25 waiters hold no slot
        unrelated = await queue.submit([delay(0)])
        assert (await wait_final(queue, unrelated)).status == JobStatus.SUCCESS
        release("n1-waiters")
        release("n1-holder")
        for job_id in [holder, *waiters]:
            assert (await wait_final(queue, job_id)).status == JobStatus.SUCCESS
        assert queue.ctx.locks.owned_count() == 0
        await shutdown(queue)

    run(main())


def test_endless_job_and_33_waiting_jobs_leave_other_objects_runnable(queue_factory: Any) -> None:
    async def main() -> None:
        queue = queue_factory(max_running=20)
        endless = await queue.submit([hold("never", "node1")])
        await wait_status(queue, endless, JobStatus.RUNNING)
        stuck = [await queue.submit([hold("later", "node1")]) for _ in range(33)]
        others = [await queue.submit([hold("now", f"other{i}")]) for i in range(5)]
        release("now")
        for job_id in others:
            assert (await wait_final(queue, job_id)).status == JobStatus.SUCCESS
        assert all(queue.get(j).status == JobStatus.WAITING for j in stuck)
        # and the endless one can be stopped: the 33 then run
        release("later")
        release("never")
        for job_id in stuck:
            assert (await wait_final(queue, job_id)).status == JobStatus.SUCCESS
        await shutdown(queue)

    run(main())


def test_waiting_for_a_slot_is_cancellable_and_frees_the_locks(queue_factory: Any) -> None:
    async def main() -> None:
        queue = queue_factory(max_running=1)
        busy = await queue.submit([hold("busy")])
        await wait_status(queue, busy, JobStatus.RUNNING)
        waiting = await queue.submit([hold("w", "node2")])
        await settle()
        assert queue.get(waiting).status == JobStatus.WAITING  # has node2's lock, waits for the slot
        assert await queue.cancel(waiting) == (True, f"Job {waiting} will be canceled")
        job = await wait_final(queue, waiting)
        assert job.status == JobStatus.CANCELED and job.opstatus == ["canceled"]
        held = await asyncio.wait_for(queue.ctx.locks.acquire({Level.NODE: LockRequest(["node2"])}), 1)
        queue.ctx.locks.release(held)
        release("busy")
        assert (await wait_final(queue, busy)).status == JobStatus.SUCCESS
        assert queue.slots.running == 0
        await shutdown(queue)

    run(main())


# -- max_running_jobs applies live -------------------------------------------------------------------------
def test_raising_max_running_starts_waiting_jobs_at_once(queue_factory: Any) -> None:
    async def main() -> None:
        queue = queue_factory(max_running=1)
        first = await queue.submit([hold("a")])
        await wait_status(queue, first, JobStatus.RUNNING)
        second = await queue.submit([hold("b")])
        await settle()
        assert queue.get(second).status == JobStatus.WAITING
        queue.set_max_running(2)
        await wait_status(queue, second, JobStatus.RUNNING)
        assert queue.slots.running == 2
        await shutdown(queue)

    run(main())


def test_lowering_max_running_lets_running_jobs_finish(queue_factory: Any) -> None:
    async def main() -> None:
        queue = queue_factory(max_running=2)
        a, b = await queue.submit([hold("a")]), await queue.submit([hold("b")])
        await wait_status(queue, a, JobStatus.RUNNING)
        await wait_status(queue, b, JobStatus.RUNNING)
        queue.set_max_running(1)
        third = await queue.submit([delay(0)])
        await settle()
        assert queue.get(a).status == queue.get(b).status == JobStatus.RUNNING  # nothing was killed
        assert queue.get(third).status == JobStatus.WAITING
        release("a")
        assert (await wait_final(queue, a)).status == JobStatus.SUCCESS
        await settle()
        assert queue.get(third).status == JobStatus.WAITING  # b still runs: 1 running is the new limit
        release("b")
        assert (await wait_final(queue, third)).status == JobStatus.SUCCESS
        await shutdown(queue)

    run(main())


def test_cluster_modify_applies_max_running_jobs_when_it_commits(queue_factory: Any, cfg: ConfigManager) -> None:
    async def main() -> None:
        queue = queue_factory(max_running=20)
        job_id = await queue.submit([{"OP_ID": "OP_CLUSTER_SET_PARAMS", "max_running_jobs": 3}])
        assert (await wait_final(queue, job_id)).status == JobStatus.SUCCESS
        assert cfg.cluster.max_running_jobs == 3
        assert queue.max_running == 3
        job_id = await queue.submit([{"OP_ID": "OP_CLUSTER_SET_PARAMS", "max_running_jobs": 30}])
        assert (await wait_final(queue, job_id)).status == JobStatus.SUCCESS
        assert queue.max_running == 30
        await shutdown(queue)

    run(main())


def test_slot_gate_grants_by_priority_then_arrival() -> None:
    async def main() -> None:
        gate = SlotGate(1)
        await gate.acquire(0)
        order: list[str] = []

        async def take(name: str, priority: int) -> None:
            await gate.acquire(priority)
            order.append(name)
            gate.release()

        tasks = [asyncio.ensure_future(take(n, p)) for n, p in (("low", 10), ("high", -5), ("mid", 0), ("mid2", 0))]
        await settle()
        assert order == []
        gate.release()
        await asyncio.gather(*tasks)
        assert order == ["high", "mid", "mid2", "low"]
        assert gate.running == 0

    run(main())


# -- cancelling a running OP_TEST_DELAY ----------------------------------------------------------------
@pytest.mark.parametrize("duration", ["inf", "nan", "-inf", 1e308, 86401, -1])
def test_absurd_delays_are_refused_at_submission(queue_factory: Any, duration: Any) -> None:
    async def main() -> None:
        queue = queue_factory()
        with pytest.raises(OpPrereqError, match="[Dd]uration|exceeds") as err:
            await queue.submit([delay(float(duration))])
        assert err.value.code == "wrong_input"
        assert queue.jobs == {}
        await shutdown(queue)

    run(main())


def test_endless_repeat_is_refused_at_submission(queue_factory: Any) -> None:
    async def main() -> None:
        queue = queue_factory()
        with pytest.raises(OpPrereqError, match=r"(?i)repeat"):
            await queue.submit([delay(0, repeat=10**12)])
        with pytest.raises(OpPrereqError, match="exceeds the maximum"):
            await queue.submit([delay(10, repeat=10000)])
        await shutdown(queue)

    run(main())


def test_running_delay_is_cancelled_promptly_and_frees_its_locks(queue_factory: Any) -> None:
    async def main() -> None:
        queue = queue_factory(max_running=1)
        job_id = await queue.submit([delay(86400), delay(0)])
        await wait_status(queue, job_id, JobStatus.RUNNING)
        ok, message = await queue.cancel(job_id)
        assert ok and "will be canceled" in message
        job = await wait_final(queue, job_id)
        assert job.status == JobStatus.CANCELED
        assert job.opstatus == ["canceled", "canceled"]
        assert job.opresult[0] == ["OpCanceledError", ["OP_TEST_DELAY canceled by request"]]
        assert queue.ctx.locks.owned_count() == 0
        assert queue.slots.running == 0
        bgl = await asyncio.wait_for(queue.ctx.locks.acquire({Level.CLUSTER: LockRequest([BGL])}), 1)
        queue.ctx.locks.release(bgl)
        assert (await wait_final(queue, await queue.submit([delay(0)]))).status == JobStatus.SUCCESS
        await shutdown(queue)

    run(main())


def test_running_delay_on_nodes_is_cancelled_and_frees_the_node_locks(queue_factory: Any) -> None:
    async def main() -> None:
        queue = queue_factory()
        job_id = await queue.submit([delay(3600, on_master=False, on_nodes=["node2"], no_locks=False)])
        await wait_status(queue, job_id, JobStatus.RUNNING)
        rpc = queue.ctx.rpc
        while rpc.calls == 0:
            await asyncio.sleep(0)
        assert (await queue.cancel(job_id))[0]
        job = await wait_final(queue, job_id)
        assert job.status == JobStatus.CANCELED
        assert rpc.abandoned == 1
        held = await asyncio.wait_for(queue.ctx.locks.acquire({Level.NODE: LockRequest(["node2"])}), 1)
        queue.ctx.locks.release(held)
        await shutdown(queue)

    run(main())


def test_cancel_between_opcodes_stops_the_job(queue_factory: Any) -> None:
    async def main() -> None:
        queue = queue_factory()
        job_id = await queue.submit([{**hold("first"), "OP_ID": "OP_TEST_UNIT_HOLD_CANCELLABLE"}, hold("second")])
        await wait_status(queue, job_id, JobStatus.RUNNING)
        assert (await queue.cancel(job_id))[0]
        assert queue.get(job_id).status == JobStatus.CANCELING
        release("first")  # the first opcode ends normally: it had no point where it could stop
        job = await wait_final(queue, job_id)
        assert job.status == JobStatus.CANCELED
        assert job.opstatus == ["success", "canceled"]
        assert job.opresult[1] == ["OpCanceledError", ["Job canceled by request"]]
        assert "second" not in RELEASE  # the second opcode never executed
        await shutdown(queue)

    run(main())


def test_cancel_of_a_multi_opcode_job_cancels_the_rest(queue_factory: Any) -> None:
    async def main() -> None:
        queue = queue_factory()
        job_id = await queue.submit([delay(86400), hold("second")])
        await wait_status(queue, job_id, JobStatus.RUNNING)
        await queue.cancel(job_id)
        job = await wait_final(queue, job_id)
        assert job.status == JobStatus.CANCELED
        assert job.opstatus == ["canceled", "canceled"]
        assert "second" not in RELEASE  # the second opcode never executed
        await shutdown(queue)

    run(main())


def test_second_opcode_waiting_for_locks_makes_the_job_waiting_and_cancellable(queue_factory: Any) -> None:
    async def main() -> None:
        queue = queue_factory()
        blocker = await queue.submit([hold("blocker", "node2")])
        await wait_status(queue, blocker, JobStatus.RUNNING)
        job_id = await queue.submit([delay(0), hold("second", "node2")])
        await settle()
        job = queue.get(job_id)
        assert job.status == JobStatus.WAITING and job.opstatus == ["success", "waiting"]
        assert queue.slots.running == 1
        assert (await queue.cancel(job_id))[0]
        job = await wait_final(queue, job_id)
        assert job.status == JobStatus.CANCELED and job.opstatus == ["success", "canceled"]
        await shutdown(queue)

    run(main())


# -- change-priority and kill (gnt-job change-priority, cancel --kill) ----------------------------------
def test_slot_gate_change_priority_moves_a_waiter_in_the_line() -> None:
    async def main() -> None:
        gate = SlotGate(1)
        await gate.acquire(0)
        order: list[str] = []

        async def take(name: str) -> None:
            await gate.acquire(0, key=name)
            order.append(name)
            gate.release()

        tasks = [asyncio.ensure_future(take(n)) for n in ("first", "second")]
        await settle()
        assert gate.change_priority("second", -10) is True
        assert gate.change_priority("nobody", -10) is False
        gate.release()
        await asyncio.gather(*tasks)
        assert order == ["second", "first"]

    run(main())


def test_change_priority_lets_a_job_waiting_for_a_slot_run_first(queue_factory: Any) -> None:
    async def main() -> None:
        queue = queue_factory(max_running=1)
        busy = await queue.submit([hold("busy")])
        await wait_status(queue, busy, JobStatus.RUNNING)
        first = await queue.submit([hold("first")])
        second = await queue.submit([hold("second")])
        await settle()
        ok, message = await queue.change_priority(second, -10)
        assert ok and message == f"Priorities of pending opcodes for job {second} have been changed to -10"
        assert queue.get(second).priority == -10 and queue.get(second).ops[0]["priority"] == -10
        release("busy")
        await wait_status(queue, second, JobStatus.RUNNING)
        assert queue.get(first).status == JobStatus.WAITING
        await shutdown(queue)

    run(main())


def test_change_priority_of_a_running_job_changes_only_its_pending_opcodes(queue_factory: Any) -> None:
    async def main() -> None:
        queue = queue_factory()
        job_id = await queue.submit([hold("r"), delay(0)])
        await wait_status(queue, job_id, JobStatus.RUNNING)
        assert (await queue.change_priority(job_id, 5))[0] is True
        job = queue.get(job_id)
        assert [op["priority"] for op in job.ops] == [0, 5]
        release("r")
        assert (await wait_final(queue, job_id)).status == JobStatus.SUCCESS
        await shutdown(queue)

    run(main())


def test_change_priority_of_a_finished_or_unknown_job_is_refused(queue_factory: Any) -> None:
    async def main() -> None:
        queue = queue_factory()
        job_id = await queue.submit([delay(0)])
        await wait_final(queue, job_id)
        assert await queue.change_priority(job_id, -10) == (False, f"Job {job_id} is finished")
        assert queue.get(job_id).priority == 0
        with pytest.raises(JobLost):
            await queue.change_priority(999, -10)
        with pytest.raises(OpPrereqError, match="out of range"):
            await queue.change_priority(job_id, 20)
        await shutdown(queue)

    run(main())


def test_kill_stops_a_running_job_that_cannot_cancel_and_frees_locks_and_slot(queue_factory: Any) -> None:
    async def main() -> None:
        queue = queue_factory(max_running=1)
        job_id = await queue.submit([hold("never", "node1"), delay(0)])
        await wait_status(queue, job_id, JobStatus.RUNNING)
        assert (await queue.cancel(job_id))[0] is False
        assert await queue.cancel(job_id, kill=True) == (True, f"Job {job_id} will be killed")
        job = await wait_final(queue, job_id)
        assert job.status == JobStatus.CANCELED and job.opstatus == ["canceled", "canceled"]
        assert queue.slots.running == 0
        held = await asyncio.wait_for(queue.ctx.locks.acquire({Level.NODE: LockRequest(["node1"])}), 1)
        queue.ctx.locks.release(held)
        after = await queue.submit([delay(0)])
        assert (await wait_final(queue, after)).status == JobStatus.SUCCESS
        await shutdown(queue)

    run(main())


def test_select_filters_by_status_and_reads_the_archive_on_request(queue_factory: Any) -> None:
    async def main() -> None:
        queue = queue_factory()
        done = await queue.submit([delay(0)])
        await wait_final(queue, done)
        archived = await queue.submit([delay(0)])
        await wait_final(queue, archived)
        assert await queue.archive([archived]) == 1
        running = await queue.submit([hold("s")])
        await wait_status(queue, running, JobStatus.RUNNING)
        assert [j.id for j in queue.select(["running"])] == [running]
        assert [j.id for j in queue.select(["success"])] == [done]
        assert [j.id for j in queue.select(["success"], archived=True)] == [done, archived]
        assert [j.id for j in queue.select(None, archived=True)] == [done, archived, running]
        await shutdown(queue)

    run(main())
