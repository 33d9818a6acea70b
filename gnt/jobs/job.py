"""Jobs and their state machine.

A job is an ordered list of opcodes with one status; each opcode has its own status, result and
log. Transitions live in `TRANSITIONS` and nowhere else, and are tested as a table.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field
from typing import Any

from gnt.errors import GntError, JobQueueError


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    """Accepted and persisted, waiting for a worker."""
    WAITING = "waiting"
    """Picked up; waiting for its dependencies or its locks."""
    RUNNING = "running"
    """An opcode is executing."""
    CANCELING = "canceling"
    """Cancel requested while waiting (or while running a cancellable operation)."""
    SUCCESS = "success"
    """Every opcode succeeded."""
    ERROR = "error"
    """An opcode failed (the later ones were not run)."""
    CANCELED = "canceled"
    """Cancelled before it ran."""


FINAL = frozenset({JobStatus.SUCCESS, JobStatus.ERROR, JobStatus.CANCELED})

TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.QUEUED: frozenset({JobStatus.WAITING, JobStatus.CANCELED, JobStatus.ERROR}),
    JobStatus.WAITING: frozenset({JobStatus.RUNNING, JobStatus.CANCELING, JobStatus.CANCELED, JobStatus.ERROR}),
    JobStatus.RUNNING: frozenset({JobStatus.SUCCESS, JobStatus.ERROR, JobStatus.CANCELING}),
    # a running job is only cancelled by LUs that can stop safely (migrations); it may still finish
    JobStatus.CANCELING: frozenset({JobStatus.CANCELED, JobStatus.ERROR, JobStatus.SUCCESS}),
    JobStatus.SUCCESS: frozenset(),
    JobStatus.ERROR: frozenset(),
    JobStatus.CANCELED: frozenset(),
}


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
    opstatus: list[str] = field(default_factory=list)
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

    def __post_init__(self) -> None:
        n = len(self.ops)
        for name in ("opstatus", "opresult", "oplog", "op_start_ts", "op_exec_ts", "op_end_ts"):
            if not getattr(self, name):
                setattr(self, name, [[] if name == "oplog" else ("queued" if name == "opstatus" else None)] * n)
        self.oplog = [list(x) for x in self.oplog]

    @property
    def finalized(self) -> bool:
        return self.status in FINAL

    def set_status(self, new: JobStatus) -> None:
        if new != self.status and new not in TRANSITIONS[self.status]:
            raise JobQueueError(f"Job {self.id}: invalid transition {self.status} -> {new}")
        self.status = new

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
            opstatus=data.get("opstatus", []),
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
