"""`gnt-job list` fields and the RAPI job body."""

from __future__ import annotations

from typing import Any

from gnt.jobs.job import Job
from gnt.os.secrets import public_op
from gnt.query import Field, evaluate, select


def _ts(value: list[int] | None) -> float | None:
    return value[0] + value[1] / 1e6 if value else None


def shown_ops(job: Job) -> list[dict[str, Any]]:
    """The job's opcodes as they may be shown: private and secret OS parameters `<redacted>`."""
    return [public_op(op) for op in job.ops]


def job_dict(job: Job) -> dict[str, Any]:
    """Ganeti's /2/jobs/ID body."""
    return {
        "id": job.id,
        "ops": shown_ops(job),
        "status": str(job.status),
        "summary": job.summary,
        "opstatus": job.opstatus,
        "opresult": job.opresult,
        "oplog": job.oplog,
        "received_ts": job.received_ts,
        "start_ts": job.start_ts,
        "end_ts": job.end_ts,
        "opstart_ts": job.op_start_ts,
        "opexec_ts": job.op_exec_ts,
        "opend_ts": job.op_end_ts,
        "priority": job.priority,
        "archived": job.archived,
        "log_serial": job.log_serial,
    }


_FIELDS = [
    Field("id", "ID", "number", "Job ID", lambda j, c: j.id),
    Field("status", "Status", "text", "Job status", lambda j, c: str(j.status)),
    Field("priority", "Prio", "number", "Job priority", lambda j, c: j.priority),
    Field("summary", "Summary", "other", "Opcode summaries", lambda j, c: j.summary),
    Field("ops", "OpCodes", "other", "Opcodes", lambda j, c: shown_ops(j)),
    Field("opstatus", "OpCode_status", "other", "Opcode statuses", lambda j, c: j.opstatus),
    Field("opresult", "OpCode_result", "other", "Opcode results", lambda j, c: j.opresult),
    Field("oplog", "OpCode_log", "other", "Opcode logs", lambda j, c: j.oplog),
    Field("received_ts", "Received", "timestamp", "Received", lambda j, c: _ts(j.received_ts)),
    Field("start_ts", "Start", "timestamp", "Started", lambda j, c: _ts(j.start_ts)),
    Field("end_ts", "End", "timestamp", "Ended", lambda j, c: _ts(j.end_ts)),
    Field("archived", "Archived", "bool", "Archived", lambda j, c: j.archived),
]
FIELDS = {f.name: f for f in _FIELDS}
DEFAULT_FIELDS = ["id", "status", "summary"]
BULK_FIELDS = ["id", "ops", "status", "summary", "opstatus", "opresult", "oplog", "received_ts", "start_ts", "end_ts"]


def rows(jobs: list[Job], fields: list[str]) -> list[dict[str, Any]]:
    selected = select(FIELDS, fields)
    return [{f.name: cell[1] for f, cell in zip(selected, row, strict=True)} for row in evaluate(selected, jobs, None)]
