"""Runs one job's opcodes through their logical units, holding the locks they declare.

Per opcode: check the arguments, take the locks level by level (a level's names may be computed
from the config once the levels above are held, and are re-checked after acquisition), then take
a running slot and only then check prerequisites and execute. Waiting for locks or a slot holds
no slot; running holds no lock request open. Every status change goes through the tables in
`gnt.jobs.job`.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gnt import opcodes
from gnt.errors import GntError, LockError, OpCanceledError, OpExecError, OpPrereqError
from gnt.hooks.master import exec_with_hooks
from gnt.jobs.job import Job, JobStatus, OpStatus, encode_error, timestamp
from gnt.jobs.locking import HeldLocks, Level, LockRequest
from gnt.jobs.lu import Context, LogicalUnit
from gnt.jobs.slots import SlotGate
from gnt.os import secrets as os_secrets

Notify = Callable[[Job, bool], None]

#: how often a level whose names changed while we waited for it is re-acquired before giving up
STALE_LOCK_RETRIES = 3


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


async def run_job(
    job: Job,
    ctx: Context,
    registry: Mapping[str, type[LogicalUnit]],
    slots: SlotGate,
    notify: Notify,
    control: JobControl | None = None,
) -> None:
    """Execute every opcode of `job` in order; records results, statuses and logs in the job.

    `notify(job, durable)` is called after every change; `durable` asks the queue to persist now.
    """
    control = control or JobControl()
    job.start_ts = job.start_ts or timestamp()
    for index, op_data in enumerate(job.ops):
        try:
            result = await _run_op(job, index, op_data, ctx, registry, slots, notify, control)
        except OpFailed:
            canceled = job.opstatus[index] == OpStatus.CANCELED
            if canceled:
                job.end_ops(OpStatus.CANCELED, ["OpExecError", ["Job canceled by request"]], index + 1)
            else:
                job.end_ops(OpStatus.ERROR, ["OpExecError", ["Preceding opcode failed"]], index + 1)
            if canceled and job.status != JobStatus.CANCELING:
                job.set_status(JobStatus.CANCELING)
            job.set_status(JobStatus.CANCELED if canceled else JobStatus.ERROR)
            break
        job.set_op_status(index, OpStatus.SUCCESS, result)
        job.op_end_ts[index] = timestamp()
    else:
        job.set_status(JobStatus.SUCCESS)
    job.end_ts = timestamp()
    job.secrets = []  # the job is over: its secret OS parameters are needed no more
    invalidate = getattr(ctx.services, "invalidate_live", None)
    if invalidate is not None:
        invalidate()  # what the job did to nodes must show in the next list


async def _run_op(
    job: Job,
    index: int,
    op_data: dict[str, Any],
    ctx: Context,
    registry: Mapping[str, type[LogicalUnit]],
    slots: SlotGate,
    notify: Notify,
    control: JobControl,
) -> Any:
    job.op_start_ts[index] = timestamp()
    job.set_op_status(index, OpStatus.WAITING)
    if job.status == JobStatus.RUNNING:
        job.set_status(JobStatus.WAITING)  # the previous opcode ran; this one waits for locks and a slot
        notify(job, False)
    held: HeldLocks | None = None
    try:
        if job.status == JobStatus.CANCELING:  # asked to stop while the previous opcode ran
            raise OpCanceledError("Job canceled by request")
        secrets = job.secrets[index] if index < len(job.secrets) else None
        if secrets:
            op_data = os_secrets.restore_secrets(op_data, secrets)
        elif os_secrets.has_lost_secrets(op_data):  # accepted by a master that stopped since
            raise OpExecError(os_secrets.lost_secrets_message(job.id))
        op = opcodes.from_dict(op_data)
        lu_cls = registry.get(op.OP_ID)
        if lu_cls is None:
            raise OpPrereqError(f"Opcode {op.OP_ID} is not implemented")
        lu_cls.check_opcode(op)

        def feedback(message: str, log_type: str) -> None:
            job.add_log(index, message, log_type)
            notify(job, False)

        lu: LogicalUnit = lu_cls(op, ctx, feedback)
        lu.cancel = control.cancel
        lu.job_id = job.id  # type: ignore[attr-defined]  # GANETI_JOB_ID of the global hooks
        lu.check_arguments()
        held = lu.held = HeldLocks(owner=f"job/{job.id}")
        await acquire_locks(lu, held)
        async with slots.slot(job.priority, key=job.id):
            control.lu = lu
            job.set_status(JobStatus.RUNNING)
            job.set_op_status(index, OpStatus.RUNNING)
            job.op_exec_ts[index] = timestamp()
            notify(job, True)
            try:
                prereq = lu.check_prereq()
                if inspect.isawaitable(prereq):
                    await prereq
                # pre hooks, exec, post hooks (an LU with a hook path); a dry run stops after the pre hooks
                return await exec_with_hooks(lu, dry_run=op.dry_run)
            finally:
                control.lu = None
    except asyncio.CancelledError:
        raise
    except OpCanceledError as err:
        _record_end(job, index, OpStatus.CANCELED, err)
        raise OpFailed() from err
    except GntError as err:
        _record_end(job, index, OpStatus.ERROR, err)
        raise OpFailed() from err
    except Exception as err:  # noqa: BLE001 - a bug in an LU must not kill the queue
        _record_end(job, index, OpStatus.ERROR, OpExecError(f"Unexpected error: {type(err).__name__}: {err}"))
        raise OpFailed() from err
    finally:
        if held is not None:
            ctx.locks.release(held)


async def acquire_locks(lu: LogicalUnit, held: HeldLocks) -> None:
    """Take `lu`'s locks level by level; a level whose names changed while we waited is taken again.

    The names of a level may be read from the config under the locks above it (an instance's
    nodes, once the instance is locked). Asking again after the level is held catches the case
    where something moved the object while we waited: release that level, retry with the new
    names, and give up with a clear error if it keeps moving.
    """
    locks = lu.ctx.locks
    for level in Level:
        request = lu.locks_at(level)
        for _attempt in range(STALE_LOCK_RETRIES + 1):
            if request is None:
                break
            await locks.acquire_level(held, level, request)
            again = lu.locks_at(level)
            if _same(request, again):
                break
            locks.release(held, level)
            request = again
        else:
            raise LockError(
                f"The {level.name.lower()} locks of {lu.op.OP_ID} kept changing while they were acquired"
                f" (last wanted: {request.names if request else None}); try again"
            )


def _same(a: LockRequest, b: LockRequest | None) -> bool:
    if b is None or a.shared != b.shared:
        return False
    if isinstance(a.names, str) or isinstance(b.names, str):
        return a.names == b.names
    return set(a.names) == set(b.names)


def _record_end(job: Job, index: int, status: OpStatus, err: GntError) -> None:
    job.set_op_status(index, status, encode_error(err))
    job.op_end_ts[index] = timestamp()
