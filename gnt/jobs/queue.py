"""The job queue: persists jobs before acknowledging them, schedules and tracks them.

Jobs live in SQLite (`queue.db`) as one row each. A job is written before its id is returned, on
every status change, and (lazily, coalesced per event-loop pass) on every log line; the writer
thread commits them in groups. Every write is also handed to `replicator` (the master candidates'
copies, `gnt.jobs.replication`) and awaited: a job id is returned, and a job is reported finished
by `wait_for_change`, only once its row is on the candidates too. After a crash or a failover, jobs
that were queued run again and jobs that were running end in error: nothing stays "running" forever.

The database is read here through the writer's per-thread read connection (`SqliteWriter.conn`)
and written only through the writer thread.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from gnt import opcodes
from gnt.db import SqliteWriter
from gnt.errors import ECODE_INVAL, JobLost, JobQueueError, OpPrereqError
from gnt.filters.gate import FilterGate
from gnt.jobs.job import FINAL, Job, JobStatus, OpStatus, timestamp
from gnt.jobs.lu import Context, LogicalUnit, Registry
from gnt.jobs.processor import JobControl, run_job
from gnt.jobs.slots import SlotGate
from gnt.os import secrets as os_secrets
from gnt.queue_rows import SCHEMA, Row, upsert

__all__ = ["CRASH_MESSAGE", "SCHEMA", "JobQueue"]

log = logging.getLogger("gnt-masterd")

#: ships written rows to the master candidates; returns once every reachable candidate has them
Replicator = Callable[[list[Row]], Awaitable[None]]

CRASH_MESSAGE = "Unclean master daemon shutdown while the job was running"


def _row(job: Job) -> Row:
    end = job.end_ts[0] + job.end_ts[1] / 1e6 if job.end_ts else None
    return (job.id, str(job.status), int(job.archived), end, json.dumps(job.to_dict(), separators=(",", ":")))


class JobQueue:
    """Every job is an asyncio task of its own, from submission to its end.

    The task waits for the job's dependencies, then per opcode for its locks, and only then for a
    running slot (`SlotGate`, priority first): waiting never occupies one of the
    `max_running_jobs` slots, so no number of waiting jobs can stop a runnable one.
    """

    def __init__(
        self,
        writer: SqliteWriter,
        ctx: Context,
        drain_file: str,
        max_running: int = 20,
        registry: Mapping[str, type[LogicalUnit]] | None = None,
    ) -> None:
        self._writer = writer
        self.ctx = ctx
        self.registry: Mapping[str, type[LogicalUnit]] = registry if registry is not None else Registry()
        self._drain_file = drain_file
        self.jobs: dict[int, Job] = {}
        self._next_id = 1
        self._backlog: list[Job] = []  # queued before start()
        self._changed: dict[int, asyncio.Event] = {}
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._controls: dict[int, JobControl] = {}
        self.slots = SlotGate(max_running)
        #: the job filter rules (gnt-filter): a queued job passes them before it starts
        self.filters = FilterGate(self._dependencies_ended)
        self._started = False
        self._stopping = False
        self.replicator: Replicator | None = None
        #: the status last written (locally and to the candidates) of each unarchived job
        self._stored: dict[int, JobStatus] = {}
        self._dirty: dict[int, Job] = {}
        self._flush_task: asyncio.Future[None] | None = None

    @property
    def last_job_id(self) -> int:
        """The highest job id given out so far (a filter rule's watermark)."""
        return self._next_id - 1

    @property
    def max_running(self) -> int:
        return self.slots.limit

    def set_max_running(self, limit: int) -> None:
        """Apply the cluster's max_running_jobs now; lowering it never stops a running job."""
        self.slots.set_limit(limit)

    # -- start-up ----------------------------------------------------------------------------
    def load(self) -> None:
        """Read unarchived jobs; fail the ones a crash interrupted mid-run, requeue those that had not started."""
        conn = self._writer.conn
        row = conn.execute("SELECT MAX(id) FROM jobs").fetchone()
        self._next_id = (row[0] or 0) + 1
        interrupted = []
        for (data,) in conn.execute("SELECT data FROM jobs WHERE archived=0 ORDER BY id"):
            job = Job.from_dict(json.loads(data))
            self.jobs[job.id] = job
            self._stored[job.id] = job.status
            ran = any(s in (OpStatus.RUNNING, OpStatus.SUCCESS) for s in job.opstatus)
            if job.status == JobStatus.WAITING and not ran:
                # it only waited for locks or dependencies: nothing ran, so it can simply run again
                job.set_status(JobStatus.QUEUED)
                for i, status in enumerate(job.opstatus):
                    if status == OpStatus.WAITING:
                        job.set_op_status(i, OpStatus.QUEUED)
                interrupted.append(job)
                self._backlog.append(job)
            elif job.status in (JobStatus.WAITING, JobStatus.RUNNING, JobStatus.CANCELING):
                self._fail_interrupted(job)
                interrupted.append(job)
            elif job.status == JobStatus.QUEUED:
                self._backlog.append(job)
        if interrupted:
            rows = [_row(j) for j in interrupted]
            self._writer.run_sync(lambda c: upsert(c, rows))
            for job in interrupted:
                self._stored[job.id] = job.status
        # the candidates get these rows with the full copy the master sends them at start-up

    @staticmethod
    def _fail_interrupted(job: Job) -> None:
        job.end_ops(OpStatus.ERROR, ["OpExecError", [CRASH_MESSAGE]])
        job.set_status(JobStatus.ERROR)
        job.end_ts = timestamp()

    def start(self) -> None:
        self._started = True
        backlog, self._backlog = self._backlog, []
        for job in backlog:
            self._spawn(job)

    async def stop(self) -> None:
        """Stop every job task where it is (as a crash would: the next start fails what was running)."""
        self._stopping = True
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- submission ----------------------------------------------------------------------------
    @property
    def drained(self) -> bool:
        return os.path.exists(self._drain_file)

    def set_drained(self, drained: bool) -> None:
        if drained:
            open(self._drain_file, "w").close()
        elif os.path.exists(self._drain_file):
            os.unlink(self._drain_file)

    def _make_job(self, ops: list[dict[str, Any]], batch_ids: list[int]) -> Job:
        if self.drained:
            raise JobQueueError("Job queue is drained, refusing job")
        if not isinstance(ops, list) or not ops:
            raise OpPrereqError("A job needs at least one opcode", ECODE_INVAL)
        parsed = [opcodes.from_dict(op) for op in ops]
        for op in parsed:
            lu_cls = self.registry.get(op.OP_ID)
            if lu_cls is None:
                raise OpPrereqError(f"Opcode {op.OP_ID} is not implemented", ECODE_INVAL)
            lu_cls.check_opcode(op)  # bad input is refused here, before it becomes a job
        job_id = self._next_id
        for op, data in zip(parsed, ops, strict=True):
            if op.depends:
                data["depends"] = op.depends = _resolve_depends(op.depends, job_id, batch_ids)
        # secret OS parameters stay in memory: what is stored (and replicated) holds <redacted>
        stored, secrets = zip(*(os_secrets.split_secrets(op.to_dict()) for op in parsed), strict=True)
        self._next_id += 1
        job = Job(id=job_id, ops=list(stored), priority=min(op.priority for op in parsed))
        if any(secrets):
            job.secrets = list(secrets)
        job.summary = [op.summary() for op in parsed]
        job.received_ts = timestamp()
        return job

    async def submit_many(self, jobs: list[list[dict[str, Any]]]) -> list[tuple[bool, Any]]:
        """Persist and enqueue several jobs; per job (True, id) or (False, error message)."""
        results: list[tuple[bool, Any]] = []
        accepted: list[Job] = []
        ids: list[int] = []
        for ops in jobs:
            try:
                job = self._make_job(ops, ids)
            except (OpPrereqError, JobQueueError) as err:
                results.append((False, err.message))
                continue
            ids.append(job.id)
            accepted.append(job)
            results.append((True, job.id))
        if accepted:
            await self._write(accepted)
            for job in accepted:
                self.jobs[job.id] = job
                if self._started:
                    self._spawn(job)
                else:
                    self._backlog.append(job)
        return results

    async def submit(self, ops: list[dict[str, Any]]) -> int:
        ((ok, value),) = await self.submit_many([ops])
        if not ok:
            raise JobQueueError(value) if "drained" in str(value) else OpPrereqError(value, ECODE_INVAL)
        return int(value)

    # -- execution -----------------------------------------------------------------------------
    def _spawn(self, job: Job) -> None:
        task = asyncio.create_task(self._job_task(job), name=f"job-{job.id}")
        self._tasks[job.id] = task
        task.add_done_callback(lambda _: self._tasks.pop(job.id, None))

    async def _job_task(self, job: Job) -> None:
        if job.status != JobStatus.QUEUED:
            return  # cancelled before it started
        rejected = await self.filters.admit(job)  # paused or rate-limited jobs wait here, still queued
        try:
            if job.status != JobStatus.QUEUED:
                return  # cancelled while a filter rule held it
            if rejected is not None:
                await self._reject(job, rejected.uuid)
                return
            await self._run_admitted(job)
        finally:
            self.filters.finished(job)

    async def _reject(self, job: Job, rule_uuid: str) -> None:
        message = f"Job {job.id} rejected by job filter rule {rule_uuid}"
        job.end_ops(OpStatus.CANCELED, ["OpExecError", [message]])
        job.set_status(JobStatus.CANCELED)
        job.end_ts = timestamp()
        self._notify(job, False)
        await self._persist(job)

    def _dependencies_ended(self, job: Job) -> bool:
        for op in job.ops:
            for dep_id, _ in op.get("depends") or []:
                dep = self.jobs.get(int(dep_id))
                if dep is not None and not dep.finalized:
                    return False
        return True

    async def _run_admitted(self, job: Job) -> None:
        try:
            await self._execute(job)
        except asyncio.CancelledError:
            if self._stopping or job.status != JobStatus.CANCELING:
                raise
            task = asyncio.current_task()
            assert task is not None
            task.uncancel()
            job.end_ops(OpStatus.CANCELED, ["OpExecError", ["Job canceled by request"]])
            job.set_status(JobStatus.CANCELED)
            job.end_ts = timestamp()
            self._notify(job, False)
            await self._persist(job)

    async def _execute(self, job: Job) -> None:
        job.set_status(JobStatus.WAITING)
        # not persisted: after a crash a job that only waited runs again, exactly like a queued one
        self._notify(job, False)
        if not await self._wait_dependencies(job):
            await self._persist(job)
            return
        control = self._controls[job.id] = JobControl()
        try:
            await run_job(job, self.ctx, self.registry, self.slots, self._notify, control)
        finally:
            self._controls.pop(job.id, None)
        await self._persist(job)

    async def _wait_dependencies(self, job: Job) -> bool:
        deps = [dep for op in job.ops for dep in (op.get("depends") or [])]
        for dep_id, allowed in deps:
            dep = self.jobs.get(int(dep_id)) or self.load_archived(int(dep_id))
            while dep is not None and not dep.finalized:
                await self._event(dep.id).wait()
            if dep is None:
                continue  # archived long ago: it finished
            if allowed and str(dep.status) not in allowed:
                self._fail_job(job, f"Dependency job {dep_id} finished with status '{dep.status}'")
                return False
        return True

    def _fail_job(self, job: Job, message: str) -> None:
        job.end_ops(OpStatus.ERROR, ["OpExecError", [message]])
        job.set_status(JobStatus.ERROR)
        job.end_ts = timestamp()
        self._notify(job, False)

    def _event(self, job_id: int) -> asyncio.Event:
        event = self._changed.get(job_id)
        if event is None:
            event = self._changed[job_id] = asyncio.Event()
        return event

    def _notify(self, job: Job, durable: bool) -> None:
        """Wake waiters; persist at once (`durable`, a final status) or with the next coalesced flush (log lines)."""
        event = self._changed.pop(job.id, None)
        if event is not None:
            event.set()
        if durable or job.finalized:
            asyncio.ensure_future(self._persist(job))
        else:
            self._dirty[job.id] = job
            if self._flush_task is None or self._flush_task.done():
                self._flush_task = asyncio.ensure_future(self._flush())

    async def _flush(self) -> None:
        """Write every job changed since the last flush (log lines, waiting): one write for many lines."""
        await asyncio.sleep(0)
        dirty, self._dirty = list(self._dirty.values()), {}
        if dirty:
            await self._write(dirty)

    async def _write(self, jobs: list[Job]) -> None:
        """Store whole jobs locally, then on the candidates; record what is now stored everywhere."""
        rows = [_row(j) for j in jobs]
        await self._writer.run(lambda c: upsert(c, rows))
        if self.replicator is not None:
            await self.replicator(rows)
        for job, row in zip(jobs, rows, strict=True):
            if not job.archived:
                self._stored[job.id] = JobStatus(row[1])

    async def _persist(self, job: Job) -> None:
        try:
            await self._write([job])
        except Exception:  # noqa: BLE001 - a waiting client must hear of the end, stored or not
            log.exception("job %d: could not store its state", job.id)
            if not job.archived:
                self._stored[job.id] = job.status
        if job.finalized:
            event = self._changed.pop(job.id, None)
            if event is not None:
                event.set()

    def _final_stored(self, job: Job) -> bool:
        """The job ended and its end is stored locally and on the candidates (what a client may be told)."""
        return job.finalized and self._stored.get(job.id, job.status) == job.status

    # -- queries and control -------------------------------------------------------------------
    def get(self, job_id: int) -> Job:
        job = self.jobs.get(job_id) or self.load_archived(job_id)
        if job is None:
            raise JobLost(f"Job {job_id} not found")
        return job

    def load_archived(self, job_id: int) -> Job | None:
        row = self._writer.conn.execute("SELECT data FROM jobs WHERE id=?", (job_id,)).fetchone()
        return Job.from_dict(json.loads(row[0])) if row else None

    async def cancel(self, job_id: int, kill: bool = False) -> tuple[bool, str]:
        """Cancel a queued or waiting job (it holds no slot, and its locks are freed), or a running
        job whose logical unit is CANCELLABLE (it stops at its next cancellable point).

        `kill` (Ganeti's `gnt-job cancel --kill --yes-do-it`) also stops a running job whose
        operation cannot stop safely: its task is cancelled where it is, its locks and slot are
        released and it ends canceled; what the operation had half done stays as it is.
        """
        job = self.get(job_id)
        if kill and job.status in (JobStatus.RUNNING, JobStatus.CANCELING):
            task = self._tasks.get(job_id)
            if task is None:
                return False, f"Job {job_id} is not running in this master daemon"
            if job.status == JobStatus.RUNNING:
                job.set_status(JobStatus.CANCELING)
            self._notify(job, True)
            task.cancel()
            return True, f"Job {job_id} will be killed"
        if job.status == JobStatus.QUEUED:  # its task has not looked at it yet (or start() not called)
            job.end_ops(OpStatus.CANCELED, ["OpExecError", ["Job canceled by request"]])
            job.set_status(JobStatus.CANCELED)
            job.end_ts = timestamp()
            self._notify(job, False)
            self.filters.drop(job_id)
            await self._persist(job)
            return True, f"Job {job_id} canceled"
        if job.status == JobStatus.WAITING:
            job.set_status(JobStatus.CANCELING)
            self._notify(job, False)
            task = self._tasks.get(job_id)
            if task is not None:
                task.cancel()
            return True, f"Job {job_id} will be canceled"
        control = self._controls.get(job_id)
        if job.status == JobStatus.RUNNING and control is not None and control.cancellable:
            job.set_status(JobStatus.CANCELING)
            control.cancel.set()
            self._notify(job, True)
            return True, f"Job {job_id} will be canceled; its operation is being stopped"
        if job.status == JobStatus.CANCELING:
            return True, f"Job {job_id} is already being canceled"
        if job.finalized:
            return False, f"Job {job_id} is already finished ({job.status})"
        return False, f"Job {job_id} is running and cannot be canceled"

    async def change_priority(self, job_id: int, priority: int) -> tuple[bool, str]:
        """Give a job's opcodes that have not started a new priority (Ganeti's ChangeJobPriority);
        a job waiting for a running slot moves in the line at once."""
        if not -20 <= priority <= 19:
            raise OpPrereqError(f"Priority {priority} out of range (-20..19)", ECODE_INVAL)
        job = self.get(job_id)
        if job.finalized:
            return False, f"Job {job_id} is finished"
        if job.status == JobStatus.CANCELING:
            return False, f"Job {job_id} is cancelling"
        pending = [i for i, s in enumerate(job.opstatus) if s in (OpStatus.QUEUED, OpStatus.WAITING)]
        if not pending:
            return False, f"Job {job_id} had no pending opcodes"
        for index in pending:
            job.ops[index]["priority"] = priority
        job.priority = priority
        self.slots.change_priority(job_id, priority)
        self.filters.poke()
        self._notify(job, True)
        return True, f"Priorities of pending opcodes for job {job_id} have been changed to {priority}"

    def select(self, statuses: list[str] | None = None, archived: bool = False) -> list[Job]:
        """Jobs by id, those in `statuses` only (all when None); `archived` adds the archive (read
        from the database: slow on a big archive, as in Ganeti)."""
        jobs = dict(self.jobs)
        if archived:
            rows = self._writer.conn.execute("SELECT data FROM jobs WHERE archived=1 ORDER BY id").fetchall()
            for (data,) in rows:
                job = Job.from_dict(json.loads(data))
                jobs.setdefault(job.id, job)
        wanted = set(statuses) if statuses is not None else None
        return [jobs[i] for i in sorted(jobs) if wanted is None or str(jobs[i].status) in wanted]

    async def archive(self, job_ids: list[int] | None = None, age: float | None = None) -> int:
        """Archive finished jobs (given ids, or all finished longer than `age` seconds ago)."""
        now = time.time()
        chosen = []
        for job in list(self.jobs.values()):
            if not job.finalized:
                continue
            if job_ids is not None and job.id not in job_ids:
                continue
            if age is not None and job.end_ts and now - job.end_ts[0] < age:
                continue
            chosen.append(job)
        for job in chosen:
            job.archived = True
            del self.jobs[job.id]
            self._stored.pop(job.id, None)
        if chosen:
            await self._write(chosen)
        return len(chosen)

    async def wait_for_change(
        self, job_id: int, prev_status: str | None, prev_log_serial: int, timeout: float
    ) -> Job | None:
        """Return the job once its status or log moved past what the caller saw, or None on timeout.

        A job that ended is returned only once its end is stored on the master and the candidates,
        so a client told "finished" can fail the master over and find the same result.
        """
        job = self.get(job_id)
        deadline = asyncio.get_running_loop().time() + timeout
        while not self._final_stored(job) and (
            job.finalized or (str(job.status) == prev_status and job.log_serial <= prev_log_serial)
        ):
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return None
            try:
                await asyncio.wait_for(self._event(job_id).wait(), remaining)
            except TimeoutError:
                return None
            job = self.get(job_id)
        return job


def _resolve_depends(depends: list[Any], job_id: int, batch_ids: list[int]) -> list[Any]:
    """Relative dependencies (negative ids) point at jobs submitted earlier in the same batch."""
    resolved = []
    for entry in depends:
        if not isinstance(entry, list) or len(entry) != 2 or not isinstance(entry[0], int):
            raise OpPrereqError(f"Invalid dependency {entry!r}: expected [job_id, [statuses]]", ECODE_INVAL)
        dep, statuses = entry
        if dep < 0:
            if -dep > len(batch_ids):
                raise OpPrereqError(f"Relative dependency {dep} goes beyond the submitted jobs", ECODE_INVAL)
            dep = batch_ids[dep]
        if dep >= job_id:
            raise OpPrereqError(f"Job {job_id} cannot depend on a later job ({dep})", ECODE_INVAL)
        bad = [s for s in statuses if s not in FINAL]
        if bad:
            raise OpPrereqError(f"Invalid dependency status(es) {bad}", ECODE_INVAL)
        resolved.append([dep, statuses])
    return resolved
