"""Runs one job's opcodes through their logical units, holding the locks they declare."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gnt import opcodes
from gnt.errors import GntError, OpExecError, OpPrereqError
from gnt.jobs.job import Job, JobStatus, encode_error, timestamp
from gnt.jobs.lu import REGISTRY, Context, LogicalUnit

Notify = Callable[[Job, bool], None]


class OpFailed(Exception):
    """Internal: an opcode failed; its error is already recorded in the job."""


@dataclass
class JobControl:
    """What the queue can do to a running job: the LU now running, and its cancel request."""

    lu: LogicalUnit | None = None
    cancel: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def cancellable(self) -> bool:
        return self.lu is not None and self.lu.CANCELLABLE


async def run_job(job: Job, ctx: Context, notify: Notify, control: JobControl | None = None) -> None:
    """Execute every opcode of `job` in order; records results, statuses and logs in the job.

    `notify(job, durable)` is called after every change; `durable` asks the queue to persist now.
    """
    control = control or JobControl()
    job.start_ts = job.start_ts or timestamp()
    for index, op_data in enumerate(job.ops):
        try:
            result = await _run_op(job, index, op_data, ctx, notify, control)
        except OpFailed:
            canceled = job.opresult[index][0] == "OpCanceledError"
            for later in range(index + 1, len(job.ops)):
                job.opstatus[later] = "canceled" if canceled else "error"
                job.opresult[later] = ["OpExecError", ["Preceding opcode failed"]]
            if canceled:
                job.opstatus[index] = "canceled"
            job.set_status(JobStatus.CANCELED if canceled and job.status == JobStatus.CANCELING else JobStatus.ERROR)
            break
        job.opresult[index] = result
        job.opstatus[index] = "success"
        job.op_end_ts[index] = timestamp()
    else:
        job.set_status(JobStatus.SUCCESS)
    job.end_ts = timestamp()
    invalidate = getattr(ctx.services, "invalidate_live", None)
    if invalidate is not None:
        invalidate()  # what the job did to nodes must show in the next list


async def _run_op(
    job: Job, index: int, op_data: dict[str, Any], ctx: Context, notify: Notify, control: JobControl
) -> Any:
    job.op_start_ts[index] = timestamp()
    job.opstatus[index] = "waiting"
    try:
        op = opcodes.from_dict(op_data)
        lu_cls = REGISTRY.get(op.OP_ID)
        if lu_cls is None:
            raise OpPrereqError(f"Opcode {op.OP_ID} is not implemented")

        def feedback(message: str, log_type: str) -> None:
            job.add_log(index, message, log_type)
            notify(job, False)

        lu: LogicalUnit = lu_cls(op, ctx, feedback)
        lu.cancel = control.cancel
        control.lu = lu
        lu.check_arguments()
        lu.held = await ctx.locks.acquire(lu.all_locks())
        try:
            if job.status == JobStatus.WAITING:
                job.set_status(JobStatus.RUNNING)
            job.opstatus[index] = "running"
            job.op_exec_ts[index] = timestamp()
            notify(job, True)
            prereq = lu.check_prereq()
            if inspect.isawaitable(prereq):
                await prereq
            if op.dry_run:
                return lu.dry_run_result()
            return await lu.exec()
        finally:
            ctx.locks.release(lu.held)
    except asyncio.CancelledError:
        raise
    except GntError as err:
        _record_failure(job, index, err)
        raise OpFailed() from err
    except Exception as err:  # noqa: BLE001 - a bug in an LU must not kill the queue
        _record_failure(job, index, OpExecError(f"Unexpected error: {type(err).__name__}: {err}"))
        raise OpFailed() from err


def _record_failure(job: Job, index: int, err: GntError) -> None:
    job.opstatus[index] = "error"
    job.opresult[index] = encode_error(err)
    job.op_end_ts[index] = timestamp()
    if job.status == JobStatus.WAITING:
        job.set_status(JobStatus.RUNNING)
