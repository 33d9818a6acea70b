"""The job queue in-process: persistence, execution, dependencies, cancel, drain, archive, crash recovery."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pytest

import gnt.debug.logic
from gnt import opcodes
from gnt.config.manager import ConfigManager
from gnt.db import SqliteWriter
from gnt.errors import JobLost, JobQueueError, OpPrereqError
from gnt.jobs import lu
from gnt.jobs.job import Job, JobStatus
from gnt.jobs.locking import BGL, Level, LockManager, LockRequest
from gnt.jobs.queue import CRASH_MESSAGE, SCHEMA, JobQueue, _row

TIMEOUT = 5.0


# -- a test-only opcode whose LU logs feedback lines -----------------------------------------------
@dataclass(kw_only=True)
class OpTestFeedback(opcodes.OpCode):
    OP_ID: ClassVar[str] = "OP_TEST_UNIT_FEEDBACK"
    messages: list[str] = field(default_factory=list)
    crash: bool = False
    invalid: bool = False


#: the `comment` of every OP_TEST_UNIT_FEEDBACK that executed, in order
EXECUTED: list[str | None] = []


@lu.register
class LUTestFeedback(lu.LogicalUnit):
    OPCODE = OpTestFeedback
    op: OpTestFeedback

    def check_arguments(self) -> None:
        if self.op.invalid:
            raise OpPrereqError("Invalid on purpose", "wrong_input")

    async def exec(self) -> list[str]:
        EXECUTED.append(self.op.comment)
        for message in self.op.messages:
            self.feedback(message)
            await asyncio.sleep(0.01)
        if self.op.crash:
            raise KeyError("oops")
        return self.op.messages


opcodes.register(OpTestFeedback)

#: what the daemon's wiring would hand the queue: here OP_TEST_DELAY and this file's test LUs
REGISTRY = lu.Registry.from_modules([gnt.debug.logic, sys.modules[__name__]])


# -- helpers ----------------------------------------------------------------------------------------
#: an opcode that is accepted but fails when it runs
FAILS = {"OP_ID": "OP_TEST_UNIT_FEEDBACK", "crash": True}


def delay(duration: float = 0.0, **extra: Any) -> dict[str, Any]:
    return {"OP_ID": "OP_TEST_DELAY", "duration": duration, **extra}


class Services:
    """The master services an LU might touch; only what the processor calls."""

    def __init__(self) -> None:
        self.invalidated = 0

    def invalidate_live(self) -> None:
        self.invalidated += 1


@pytest.fixture
def queue_db(tmp_path: Path) -> str:
    return str(tmp_path / "queue.db")


@pytest.fixture
def writers(queue_db: str) -> Iterator[list[SqliteWriter]]:
    opened: list[SqliteWriter] = []
    yield opened
    for writer in opened:
        writer.close()


def make_queue(queue_db: str, writers: list[SqliteWriter], cfg: ConfigManager, max_running: int = 4) -> JobQueue:
    writer = SqliteWriter(queue_db, SCHEMA)
    writers.append(writer)
    ctx = lu.Context(cfg=cfg, rpc=None, locks=LockManager(), services=Services())  # type: ignore[arg-type]
    queue = JobQueue(writer, ctx, drain_file=queue_db + ".drain", max_running=max_running, registry=REGISTRY)
    queue.load()
    return queue


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(asyncio.wait_for(coro, TIMEOUT * 2))


async def wait_final(queue: JobQueue, job_id: int) -> Job:
    async def follow() -> Job:
        while True:
            job = queue.get(job_id)
            if job.finalized:
                return job
            await queue.wait_for_change(job_id, str(job.status), job.log_serial, 1.0)

    return await asyncio.wait_for(follow(), TIMEOUT)


async def shutdown(queue: JobQueue) -> None:
    await queue.stop()
    await queue._writer.run(lambda conn: None)  # let pending writes land before the loop closes


def stored(queue_db: str, job_id: int) -> dict[str, Any] | None:
    conn = sqlite3.connect(queue_db)
    try:
        row = conn.execute("SELECT status, data FROM jobs WHERE id=?", (job_id,)).fetchone()
    finally:
        conn.close()
    if row is None:
        return None
    data = json.loads(row[1])
    assert data["status"] == row[0]
    return data


async def stored_status(queue_db: str, job_id: int, status: str) -> dict[str, Any]:
    """The persisted job once its row shows `status` (writes land shortly after in-memory changes)."""
    for _ in range(200):
        data = stored(queue_db, job_id)
        if data is not None and data["status"] == status:
            return data
        await asyncio.sleep(0.01)
    raise AssertionError(f"job {job_id} never stored as {status}: {stored(queue_db, job_id)}")


# -- submission -------------------------------------------------------------------------------------
def test_submit_persists_the_job_before_returning(cfg: ConfigManager, queue_db: str, writers: list) -> None:
    async def main() -> None:
        queue = make_queue(queue_db, writers, cfg)
        job_id = await queue.submit([delay(0.001)])
        data = stored(queue_db, job_id)
        assert data is not None
        assert data["status"] == "queued"
        assert data["summary"] == ["TEST_DELAY(1.0e-3)"]
        assert data["ops"][0]["OP_ID"] == "OP_TEST_DELAY"
        assert data["received_ts"] is not None
        await shutdown(queue)

    run(main())


def test_submit_rejects_invalid_opcodes_and_empty_jobs(cfg: ConfigManager, queue_db: str, writers: list) -> None:
    async def main() -> None:
        queue = make_queue(queue_db, writers, cfg)
        with pytest.raises(OpPrereqError, match="Unknown opcode"):
            await queue.submit([{"OP_ID": "OP_NOPE"}])
        with pytest.raises(OpPrereqError, match="at least one opcode"):
            await queue.submit([])
        results = await queue.submit_many([[delay()], [{"OP_ID": "OP_TEST_DELAY"}]])
        assert results[0] == (True, 1)
        assert results[1][0] is False and "Required parameter" in results[1][1]
        await shutdown(queue)

    run(main())


def test_drained_queue_refuses_new_jobs(cfg: ConfigManager, queue_db: str, writers: list) -> None:
    async def main() -> None:
        queue = make_queue(queue_db, writers, cfg)
        queue.set_drained(True)
        assert queue.drained
        with pytest.raises(JobQueueError, match="Job queue is drained, refusing job"):
            await queue.submit([delay()])
        assert queue.jobs == {}
        queue.set_drained(False)
        assert not queue.drained
        assert await queue.submit([delay()]) == 1
        await shutdown(queue)

    run(main())


# -- execution --------------------------------------------------------------------------------------
def test_jobs_run_to_success(cfg: ConfigManager, queue_db: str, writers: list) -> None:
    async def main() -> None:
        queue = make_queue(queue_db, writers, cfg)
        queue.start()
        ids = [await queue.submit([delay(0.01), delay(0)]) for _ in range(5)]
        for job_id in ids:
            job = await wait_final(queue, job_id)
            assert job.status == JobStatus.SUCCESS
            assert job.opstatus == ["success", "success"]
            assert job.opresult == [None, None]
            assert job.start_ts and job.end_ts and job.op_exec_ts[0]
            await stored_status(queue_db, job_id, "success")
        assert queue.ctx.services.invalidated == 5
        assert queue.ctx.locks.owned_count() == 0
        await shutdown(queue)

    run(main())


def test_failing_opcode_errors_the_job_and_skips_later_opcodes(
    cfg: ConfigManager, queue_db: str, writers: list
) -> None:
    async def main() -> None:
        queue = make_queue(queue_db, writers, cfg)
        queue.start()
        job_id = await queue.submit([delay(0), delay(0, on_nodes=["nosuch"]), delay(0)])
        job = await wait_final(queue, job_id)
        assert job.status == JobStatus.ERROR
        assert job.opstatus == ["success", "error", "error"]
        assert job.opresult[1] == ["OpPrereqError", ["Node 'nosuch' not known", "unknown_entity"]]
        assert job.opresult[2] == ["OpExecError", ["Preceding opcode failed"]]
        data = await stored_status(queue_db, job_id, "error")
        assert data["opresult"] == job.opresult
        await shutdown(queue)

    run(main())


def test_invalid_argument_fails_before_locks_are_taken(cfg: ConfigManager, queue_db: str, writers: list) -> None:
    async def main() -> None:
        queue = make_queue(queue_db, writers, cfg)
        queue.start()
        locks = queue.ctx.locks
        bgl = await locks.acquire({Level.CLUSTER: LockRequest([BGL], shared=False)})  # would block any lock
        job = await wait_final(queue, await queue.submit([{"OP_ID": "OP_TEST_UNIT_FEEDBACK", "invalid": True}]))
        assert job.status == JobStatus.ERROR
        assert job.opresult == [["OpPrereqError", ["Invalid on purpose", "wrong_input"]]]
        locks.release(bgl)
        await shutdown(queue)

    run(main())


def test_unexpected_exception_in_an_lu_fails_the_job_not_the_queue(
    cfg: ConfigManager, queue_db: str, writers: list
) -> None:
    async def main() -> None:
        queue = make_queue(queue_db, writers, cfg, max_running=1)
        queue.start()
        bad = await queue.submit([{"OP_ID": "OP_TEST_UNIT_FEEDBACK", "crash": True}])
        good = await queue.submit([delay()])
        job = await wait_final(queue, bad)
        assert job.status == JobStatus.ERROR
        assert job.opresult == [["OpExecError", ["Unexpected error: KeyError: 'oops'"]]]
        assert (await wait_final(queue, good)).status == JobStatus.SUCCESS
        await shutdown(queue)

    run(main())


def test_dry_run_checks_prerequisites_without_executing(cfg: ConfigManager, queue_db: str, writers: list) -> None:
    async def main() -> None:
        queue = make_queue(queue_db, writers, cfg)
        queue.start()
        # a real run would sleep 30s and call node2 over RPC (there is no RPC here)
        ok = await queue.submit([delay(30, on_nodes=["node2"], dry_run=True)])
        bad = await queue.submit([delay(30, on_nodes=["node9"], dry_run=True)])
        job = await wait_final(queue, ok)
        assert job.status == JobStatus.SUCCESS
        assert job.opresult == [None]
        failed = await wait_final(queue, bad)
        assert failed.status == JobStatus.ERROR
        assert failed.opresult[0] == ["OpPrereqError", ["Node 'node9' not known", "unknown_entity"]]
        await shutdown(queue)

    run(main())


def noted(comment: str, **extra: Any) -> dict[str, Any]:
    """An opcode that notes `comment` in EXECUTED when it executes."""
    return {"OP_ID": "OP_TEST_UNIT_FEEDBACK", "comment": comment, **extra}


def test_jobs_run_in_priority_order(cfg: ConfigManager, queue_db: str, writers: list) -> None:
    async def main() -> None:
        EXECUTED.clear()
        queue = make_queue(queue_db, writers, cfg, max_running=1)
        low = await queue.submit([noted("low", priority=10)])
        high = await queue.submit([noted("high", priority=-10)])
        normal = await queue.submit([noted("normal")])
        queue.start()
        for job_id in (low, high, normal):
            assert (await wait_final(queue, job_id)).status == JobStatus.SUCCESS
        assert EXECUTED == ["high", "normal", "low"]
        await shutdown(queue)

    run(main())


def test_feedback_lines_are_logged_in_order(cfg: ConfigManager, queue_db: str, writers: list) -> None:
    async def main() -> None:
        queue = make_queue(queue_db, writers, cfg)
        queue.start()
        job = await wait_final(queue, await queue.submit([{"OP_ID": "OP_TEST_UNIT_FEEDBACK", "messages": ["a", "b"]}]))
        assert job.status == JobStatus.SUCCESS
        assert job.opresult == [["a", "b"]]
        assert [(e[0], e[2], e[3]) for e in job.all_log()] == [(1, "message", "a"), (2, "message", "b")]
        data = await stored_status(queue_db, job.id, "success")
        assert data["log_serial"] == 2
        await shutdown(queue)

    run(main())


# -- dependencies -----------------------------------------------------------------------------------
def test_relative_dependency_waits_for_the_earlier_job(cfg: ConfigManager, queue_db: str, writers: list) -> None:
    async def main() -> None:
        queue = make_queue(queue_db, writers, cfg)
        queue.start()
        results = await queue.submit_many([[delay(0.1)], [delay(0, depends=[[-1, ["success"]]])]])
        (ok1, first), (ok2, second) = results
        assert ok1 and ok2
        assert queue.get(second).ops[0]["depends"] == [[first, ["success"]]]
        dep = await wait_final(queue, first)
        job = await wait_final(queue, second)
        assert job.status == JobStatus.SUCCESS
        assert tuple(job.op_start_ts[0]) >= tuple(dep.end_ts)
        await shutdown(queue)

    run(main())


def test_dependency_in_a_non_allowed_status_fails_the_job(cfg: ConfigManager, queue_db: str, writers: list) -> None:
    async def main() -> None:
        queue = make_queue(queue_db, writers, cfg)
        queue.start()
        results = await queue.submit_many([[FAILS], [delay(0, depends=[[-1, ["success"]]]), delay(0)]])
        first, second = (value for _, value in results)
        job = await wait_final(queue, second)
        assert job.status == JobStatus.ERROR
        message = f"Dependency job {first} finished with status 'error'"
        assert job.opresult == [["OpExecError", [message]]] * 2
        assert job.opstatus == ["error", "error"]
        await stored_status(queue_db, second, "error")
        await shutdown(queue)

    run(main())


def test_dependency_with_empty_status_list_accepts_any_end(cfg: ConfigManager, queue_db: str, writers: list) -> None:
    async def main() -> None:
        queue = make_queue(queue_db, writers, cfg)
        queue.start()
        results = await queue.submit_many([[FAILS], [delay(0, depends=[[-1, []]])]])
        assert (await wait_final(queue, results[1][1])).status == JobStatus.SUCCESS
        await shutdown(queue)

    run(main())


@pytest.mark.parametrize(
    ("depends", "message"),
    [
        ([[-1, ["success"]]], "goes beyond the submitted jobs"),
        ([[5, ["success"]]], "cannot depend on a later job"),
        ([[1, ["running"]]], "Invalid dependency status"),
        ([["1", ["success"]]], "Invalid dependency"),
    ],
)
def test_invalid_dependencies_are_refused(
    cfg: ConfigManager, queue_db: str, writers: list, depends: list[Any], message: str
) -> None:
    async def main() -> None:
        queue = make_queue(queue_db, writers, cfg)
        await queue.submit([delay()])  # job 1 exists
        with pytest.raises(OpPrereqError, match=message):
            await queue.submit([delay(0, depends=depends)])
        await shutdown(queue)

    run(main())


# -- cancel -----------------------------------------------------------------------------------------
def test_cancel_of_a_queued_job(cfg: ConfigManager, queue_db: str, writers: list) -> None:
    async def main() -> None:
        queue = make_queue(queue_db, writers, cfg)
        job_id = await queue.submit([delay(0), delay(0)])
        assert await queue.cancel(job_id) == (True, f"Job {job_id} canceled")
        job = queue.get(job_id)
        assert job.status == JobStatus.CANCELED
        assert job.opstatus == ["canceled", "canceled"]
        assert job.opresult[0] == ["OpExecError", ["Job canceled by request"]]
        assert stored(queue_db, job_id)["status"] == "canceled"  # type: ignore[index]
        queue.start()  # a worker must not run it anyway
        await asyncio.sleep(0.05)
        assert queue.get(job_id).status == JobStatus.CANCELED
        await shutdown(queue)

    run(main())


def test_cancel_of_a_job_waiting_for_a_lock(cfg: ConfigManager, queue_db: str, writers: list) -> None:
    async def main() -> None:
        queue = make_queue(queue_db, writers, cfg)
        locks = queue.ctx.locks
        bgl = await locks.acquire({Level.CLUSTER: LockRequest([BGL], shared=False)})
        queue.start()
        job_id = await queue.submit([delay(0)])
        while queue.get(job_id).status != JobStatus.WAITING:
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.02)
        assert queue.get(job_id).opstatus == ["waiting"]
        ok, message = await queue.cancel(job_id)
        assert ok, message
        job = await wait_final(queue, job_id)
        assert job.status == JobStatus.CANCELED
        assert job.opstatus == ["canceled"]
        await stored_status(queue_db, job_id, "canceled")
        locks.release(bgl)
        assert locks.owned_count() == 0  # the canceled job holds nothing
        # and the queue still works
        assert (await wait_final(queue, await queue.submit([delay(0)]))).status == JobStatus.SUCCESS
        await shutdown(queue)

    run(main())


def test_cancel_of_a_finished_job_is_refused(cfg: ConfigManager, queue_db: str, writers: list) -> None:
    async def main() -> None:
        queue = make_queue(queue_db, writers, cfg)
        queue.start()
        job_id = await queue.submit([delay(0)])
        await wait_final(queue, job_id)
        assert await queue.cancel(job_id) == (False, f"Job {job_id} is already finished (success)")
        assert queue.get(job_id).status == JobStatus.SUCCESS
        await shutdown(queue)

    run(main())


def test_cancel_of_a_running_job_is_refused(cfg: ConfigManager, queue_db: str, writers: list) -> None:
    async def main() -> None:
        queue = make_queue(queue_db, writers, cfg)
        queue.start()
        job_id = await queue.submit([{"OP_ID": "OP_TEST_UNIT_FEEDBACK", "messages": ["x"] * 20}])  # not cancellable
        while queue.get(job_id).status != JobStatus.RUNNING:
            await asyncio.sleep(0.005)
        assert await queue.cancel(job_id) == (False, f"Job {job_id} is running and cannot be canceled")
        assert (await wait_final(queue, job_id)).status == JobStatus.SUCCESS
        await shutdown(queue)

    run(main())


def test_unknown_job_is_lost(cfg: ConfigManager, queue_db: str, writers: list) -> None:
    async def main() -> None:
        queue = make_queue(queue_db, writers, cfg)
        with pytest.raises(JobLost, match="Job 42 not found"):
            queue.get(42)
        with pytest.raises(JobLost):
            await queue.cancel(42)
        await shutdown(queue)

    run(main())


# -- archive ----------------------------------------------------------------------------------------
def test_archive_removes_finished_jobs_from_memory_but_keeps_them_loadable(
    cfg: ConfigManager, queue_db: str, writers: list
) -> None:
    async def main() -> None:
        queue = make_queue(queue_db, writers, cfg)
        queue.start()
        done = await queue.submit([delay(0)])
        await wait_final(queue, done)
        await stored_status(queue_db, done, "success")
        pending = await queue.submit([delay(0.3)])
        assert await queue.archive() == 1  # the unfinished job stays
        assert done not in queue.jobs and pending in queue.jobs
        job = queue.get(done)
        assert job.archived and job.status == JobStatus.SUCCESS
        assert await queue.archive([done]) == 0
        await wait_final(queue, pending)
        assert await queue.archive(age=3600) == 0  # finished just now: too young
        assert await queue.archive([pending]) == 1
        await shutdown(queue)

    run(main())


def test_archived_jobs_are_not_reloaded_after_restart(cfg: ConfigManager, queue_db: str, writers: list) -> None:
    async def main() -> None:
        queue = make_queue(queue_db, writers, cfg)
        queue.start()
        job_id = await queue.submit([delay(0)])
        await wait_final(queue, job_id)
        await stored_status(queue_db, job_id, "success")
        await queue.archive([job_id])
        await shutdown(queue)
        fresh = make_queue(queue_db, writers, cfg)
        assert job_id not in fresh.jobs
        assert fresh.get(job_id).archived
        assert await fresh.submit([delay()]) == job_id + 1  # ids are never reused
        await shutdown(fresh)

    run(main())


# -- crash recovery ---------------------------------------------------------------------------------
def test_crash_fails_running_jobs_and_requeues_queued_ones(cfg: ConfigManager, queue_db: str, writers: list) -> None:
    async def main() -> None:
        queue = make_queue(queue_db, writers, cfg, max_running=1)
        queue.start()
        running = await queue.submit([delay(0), delay(30), delay(0)])
        queued = await queue.submit([delay(0)])
        await stored_status(queue_db, running, "running")
        # it waits for the only slot (holding none); its "waiting" is written lazily (queue._flush), so
        # the store may hold either, but never a status that says something of it ran
        assert stored(queue_db, queued)["status"] in ("queued", "waiting")  # type: ignore[index]
        await shutdown(queue)  # the "crash": workers die, nothing more is written

        restarted = make_queue(queue_db, writers, cfg, max_running=1)
        job = restarted.get(running)
        assert job.status == JobStatus.ERROR
        assert job.opstatus == ["success", "error", "error"]
        assert job.opresult[1:] == [["OpExecError", [CRASH_MESSAGE]]] * 2
        assert job.end_ts is not None
        assert stored(queue_db, running)["status"] == "error"  # type: ignore[index]
        assert restarted.get(queued).status == JobStatus.QUEUED
        restarted.start()
        assert (await wait_final(restarted, queued)).status == JobStatus.SUCCESS
        await stored_status(queue_db, queued, "success")
        await shutdown(restarted)

    run(main())


def insert_job(queue_db: str, writers: list[SqliteWriter], job: Job) -> None:
    writer = SqliteWriter(queue_db, SCHEMA)
    writers.append(writer)
    writer.run_sync(lambda c: c.execute("INSERT INTO jobs VALUES (?,?,?,?,?)", _row(job)))


@pytest.mark.parametrize(
    ("status", "opstatus"),
    [
        (JobStatus.RUNNING, ["success", "running"]),
        (JobStatus.RUNNING, ["running", "queued"]),
        (JobStatus.CANCELING, ["waiting", "queued"]),
        (JobStatus.WAITING, ["success", "waiting"]),  # its first opcode already changed things
    ],
)
def test_load_fails_jobs_a_crash_interrupted_mid_run(
    cfg: ConfigManager, queue_db: str, writers: list, status: JobStatus, opstatus: list[str]
) -> None:
    job = Job(id=7, ops=[delay(), delay()], status=status, opstatus=list(opstatus), opresult=[None, None])
    insert_job(queue_db, writers, job)
    queue = make_queue(queue_db, writers, cfg)
    loaded = queue.get(7)
    assert loaded.status == JobStatus.ERROR
    for i, before in enumerate(opstatus):
        if before == "success":
            assert loaded.opstatus[i] == "success"
        else:
            assert loaded.opstatus[i] == "error"
            assert loaded.opresult[i] == ["OpExecError", [CRASH_MESSAGE]]
    assert stored(queue_db, 7)["status"] == "error"  # type: ignore[index]


def test_load_requeues_a_job_that_only_waited(cfg: ConfigManager, queue_db: str, writers: list) -> None:
    job = Job(id=7, ops=[delay(), delay()], status=JobStatus.WAITING, opstatus=["waiting", "queued"])
    insert_job(queue_db, writers, job)

    async def main() -> None:
        queue = make_queue(queue_db, writers, cfg)
        loaded = queue.get(7)
        assert loaded.status == JobStatus.QUEUED
        assert loaded.opstatus == ["queued", "queued"]
        assert stored(queue_db, 7)["status"] == "queued"  # type: ignore[index]
        queue.start()
        assert (await wait_final(queue, 7)).status == JobStatus.SUCCESS
        await shutdown(queue)

    run(main())


# -- waiting for changes ----------------------------------------------------------------------------
def test_wait_for_change_times_out_with_none(cfg: ConfigManager, queue_db: str, writers: list) -> None:
    async def main() -> None:
        queue = make_queue(queue_db, writers, cfg)
        job_id = await queue.submit([delay()])
        assert await queue.wait_for_change(job_id, "queued", 0, 0.05) is None
        await shutdown(queue)

    run(main())


def test_wait_for_change_returns_at_once_when_already_changed(cfg: ConfigManager, queue_db: str, writers: list) -> None:
    async def main() -> None:
        queue = make_queue(queue_db, writers, cfg)
        job_id = await queue.submit([delay()])
        job = await asyncio.wait_for(queue.wait_for_change(job_id, "waiting", 0, 10), 1)
        assert job is not None and job.status == JobStatus.QUEUED
        await shutdown(queue)

    run(main())


def test_wait_for_change_returns_on_status_change(cfg: ConfigManager, queue_db: str, writers: list) -> None:
    async def main() -> None:
        queue = make_queue(queue_db, writers, cfg)
        job_id = await queue.submit([delay(0.2)])
        waiter = asyncio.ensure_future(queue.wait_for_change(job_id, "queued", 0, 5))
        await asyncio.sleep(0.02)
        assert not waiter.done()
        queue.start()
        job = await asyncio.wait_for(waiter, 1)
        assert job is not None and job.status != JobStatus.QUEUED
        await wait_final(queue, job_id)
        await shutdown(queue)

    run(main())


def test_wait_for_change_returns_on_new_log_line(cfg: ConfigManager, queue_db: str, writers: list) -> None:
    async def main() -> None:
        queue = make_queue(queue_db, writers, cfg)
        queue.start()
        job_id = await queue.submit([{"OP_ID": "OP_TEST_UNIT_FEEDBACK", "messages": ["one", "two", "three"]}])
        while queue.get(job_id).status != JobStatus.RUNNING:
            await asyncio.sleep(0.001)
        seen: list[str] = []
        serial = 0
        while True:
            job = await queue.wait_for_change(job_id, "running", serial, 2)
            assert job is not None
            new = [e for e in job.all_log() if e[0] > serial]
            seen += [e[3] for e in new]
            serial = job.log_serial
            if job.finalized:
                break
        assert seen == ["one", "two", "three"]
        await shutdown(queue)

    run(main())
