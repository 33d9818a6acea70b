"""Jobs and their state machines.

A job is an ordered list of opcodes with one status; each opcode has its own status, result and
log. Both statuses change only through `transition` (via `Job.set_status` / `Job.set_op_status`),
which checks the tables `TRANSITIONS` (jobs) and `OP_TRANSITIONS` (opcodes); the tables are tested
exhaustively, so a new code path cannot invent a state change nobody reviewed.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from gnt.errors import GntError, JobQueueError

S = TypeVar("S", bound=enum.StrEnum)


class _Documented(enum.StrEnum):
    """A StrEnum whose members are declared as `NAME = "value", "what it means"` (the doc is kept)."""

    def __new__(cls, value: str, doc: str = "") -> _Documented:
        member = str.__new__(cls, value)
        member._value_ = value
        member.__doc__ = doc
        return member


class JobStatus(_Documented):
    """A job's status; each member carries its meaning as its docstring."""

    QUEUED = "queued", "Accepted and persisted; its task has not started on it yet."
    WAITING = "waiting", "Waiting for its dependencies, its locks or a running slot (it holds no slot)."
    RUNNING = "running", "An opcode is executing (and counts against max_running_jobs)."
    CANCELING = "canceling", "Cancel requested while waiting, or while a cancellable operation runs; it stops soon."
    SUCCESS = "success", "Every opcode succeeded."
    ERROR = "error", "An opcode failed (the later ones were not run)."
    CANCELED = "canceled", "Cancelled on request before or while it ran; what ran was stopped safely."


class OpStatus(_Documented):
    """An opcode's status within its job."""

    QUEUED = "queued", "Not started: an earlier opcode of the job is still going, or the job has not started."
    WAITING = "waiting", "Its logical unit is being set up and waits for locks or a running slot."
    RUNNING = "running", "Its logical unit checks prerequisites or executes."
    SUCCESS = "success", "Done; its result is in opresult."
    ERROR = "error", "Failed (or a preceding opcode failed, or the master died while it ran); the error is in opresult."
    CANCELED = "canceled", "Cancelled on request, or a preceding opcode was cancelled."


FINAL = frozenset({JobStatus.SUCCESS, JobStatus.ERROR, JobStatus.CANCELED})
OP_FINAL = frozenset({OpStatus.SUCCESS, OpStatus.ERROR, OpStatus.CANCELED})

#: job status -> the statuses it may move to; anything else is refused
TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    # ERROR: a dependency ended in a status the job does not accept, before the job started
    JobStatus.QUEUED: frozenset({JobStatus.WAITING, JobStatus.CANCELED, JobStatus.ERROR}),
    # QUEUED: put back after a master restart (it had only waited, nothing ran)
    JobStatus.WAITING: frozenset(
        {JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.CANCELING, JobStatus.CANCELED, JobStatus.ERROR}
    ),
    # WAITING: the next opcode waits for its locks or a slot; CANCELING: a cancellable LU was asked to stop
    JobStatus.RUNNING: frozenset({JobStatus.WAITING, JobStatus.SUCCESS, JobStatus.ERROR, JobStatus.CANCELING}),
    # SUCCESS / ERROR: the operation ended before it reached a point where it could stop
    JobStatus.CANCELING: frozenset({JobStatus.CANCELED, JobStatus.ERROR, JobStatus.SUCCESS}),
    JobStatus.SUCCESS: frozenset(),
    JobStatus.ERROR: frozenset(),
    JobStatus.CANCELED: frozenset(),
}

#: opcode status -> the statuses it may move to
OP_TRANSITIONS: dict[OpStatus, frozenset[OpStatus]] = {
    # ERROR / CANCELED: a preceding opcode or a dependency failed, or the job was cancelled before it started
    OpStatus.QUEUED: frozenset({OpStatus.WAITING, OpStatus.ERROR, OpStatus.CANCELED}),
    # QUEUED: put back after a master restart; ERROR: invalid arguments; CANCELED: cancelled while waiting
    OpStatus.WAITING: frozenset({OpStatus.QUEUED, OpStatus.RUNNING, OpStatus.ERROR, OpStatus.CANCELED}),
    # CANCELED: a cancellable logical unit stopped on request
    OpStatus.RUNNING: frozenset({OpStatus.SUCCESS, OpStatus.ERROR, OpStatus.CANCELED}),
    OpStatus.SUCCESS: frozenset(),
    OpStatus.ERROR: frozenset(),
    OpStatus.CANCELED: frozenset(),
}


def transition(table: Mapping[S, frozenset[S]], old: S, new: S, what: str) -> S:
    """The one place a status changes: returns `new` if the table allows old -> new, else raises.

    Setting the current status again is allowed (a no-op), so callers need not check first.
    """
    if new != old and new not in table[old]:
        raise JobQueueError(f"{what}: invalid transition {old} -> {new}")
    return new


def timestamp() -> list[int]:
    """Ganeti's (seconds, microseconds) pair."""
    now = time.time()
    return [int(now), int((now % 1) * 1_000_000)]


def encode_error(err: BaseException) -> list[Any]:
    """Ganeti's opresult form for a failure: [class name, [message, *args]]."""
    if isinstance(err, GntError):
        return [type(err).__name__, [err.message, *err.args[1:]]]
    return ["OpExecError", [f"{type(err).__name__}: {err}"]]


def decode_error(value: Any) -> GntError:
    cls_name, args = value[0], list(value[1]) if len(value) > 1 else [""]
    return GntError.from_dict({"class": cls_name, "message": args[0] if args else "", "args": args[1:]})


@dataclass
class Job:
    id: int
    ops: list[dict[str, Any]]
    priority: int = 0
    status: JobStatus = JobStatus.QUEUED
    summary: list[str] = field(default_factory=list)
    opstatus: list[OpStatus] = field(default_factory=list)
    opresult: list[Any] = field(default_factory=list)
    oplog: list[list[list[Any]]] = field(default_factory=list)
    op_start_ts: list[list[int] | None] = field(default_factory=list)
    op_exec_ts: list[list[int] | None] = field(default_factory=list)
    op_end_ts: list[list[int] | None] = field(default_factory=list)
    received_ts: list[int] | None = None
    start_ts: list[int] | None = None
    end_ts: list[int] | None = None
    archived: bool = False
    log_serial: int = 0
    #: per opcode, the secret OS parameter values (gnt.os.secrets): in this master's memory only,
    #: never in `to_dict` (the store, the candidates' replicas, any view)
    secrets: list[dict[str, Any]] = field(default_factory=list, repr=False, compare=False)

    def __post_init__(self) -> None:
        n = len(self.ops)
        for name in ("opstatus", "opresult", "oplog", "op_start_ts", "op_exec_ts", "op_end_ts"):
            if not getattr(self, name):
                setattr(self, name, [[] if name == "oplog" else (OpStatus.QUEUED if name == "opstatus" else None)] * n)
        self.oplog = [list(x) for x in self.oplog]

    @property
    def finalized(self) -> bool:
        return self.status in FINAL

    def set_status(self, new: JobStatus) -> None:
        self.status = transition(TRANSITIONS, self.status, new, f"Job {self.id}")

    def set_op_status(self, index: int, new: OpStatus, result: Any = None) -> None:
        """Move opcode `index` to `new`; a final status may carry the opcode's result or error."""
        old = OpStatus(self.opstatus[index])
        self.opstatus[index] = transition(OP_TRANSITIONS, old, new, f"Job {self.id} opcode {index}")
        if new in OP_FINAL:
            self.opresult[index] = result

    def end_ops(self, status: OpStatus, result: Any, start: int = 0) -> None:
        """Give every opcode from `start` on that has not ended `status` and `result` (failure, cancel, crash)."""
        for index in range(start, len(self.ops)):
            if OpStatus(self.opstatus[index]) not in OP_FINAL:
                self.set_op_status(index, status, result)

    def add_log(self, op_index: int, message: str, log_type: str = "message") -> list[Any]:
        self.log_serial += 1
        entry = [self.log_serial, timestamp(), log_type, message]
        self.oplog[op_index].append(entry)
        return entry

    def all_log(self) -> list[list[Any]]:
        return [entry for op_log in self.oplog for entry in op_log]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "ops": self.ops,
            "status": str(self.status),
            "summary": self.summary,
            "opstatus": self.opstatus,
            "opresult": self.opresult,
            "oplog": self.oplog,
            "start_ts": self.start_ts,
            "end_ts": self.end_ts,
            "received_ts": self.received_ts,
            "priority": self.priority,
            "opstart_ts": self.op_start_ts,
            "opexec_ts": self.op_exec_ts,
            "opend_ts": self.op_end_ts,
            "archived": self.archived,
            "log_serial": self.log_serial,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Job:
        return cls(
            id=data["id"],
            ops=data["ops"],
            priority=data.get("priority", 0),
            status=JobStatus(data["status"]),
            summary=data.get("summary", []),
            opstatus=[OpStatus(s) for s in data.get("opstatus", [])],
            opresult=data.get("opresult", []),
            oplog=data.get("oplog", []),
            op_start_ts=data.get("opstart_ts", []),
            op_exec_ts=data.get("opexec_ts", []),
            op_end_ts=data.get("opend_ts", []),
            received_ts=data.get("received_ts"),
            start_ts=data.get("start_ts"),
            end_ts=data.get("end_ts"),
            archived=data.get("archived", False),
            log_serial=data.get("log_serial", 0),
        )
