"""The job queue's rows in SQLite: one schema and one upsert, shared by the master and its replicas.

The master's queue (`gnt.jobs.queue`) and a master candidate's replica (`agent.replica`) hold the
same table in the same file (`paths.jobs_db()`), so a candidate that becomes master simply loads
its replica. A row is a whole job (status, archived flag, end time, JSON), never a delta: applying
rows again or out of order between jobs is harmless, and the last row written for a job wins.

It sits in `gnt/` (core), not in `gnt.jobs`: the node daemon stores replicated rows with it and must
not import the master's job code to do so (a node never runs jobs).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY, status TEXT NOT NULL, archived INTEGER NOT NULL DEFAULT 0,
    end_time REAL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS jobs_archived ON jobs (archived, id);
"""

#: (id, status, archived, end_time, data): one job as stored and as replicated
Row = tuple[int, str, int, float | None, str]

#: rows per replication call in a full copy (a long archive travels in several calls)
CHUNK = 500


def upsert(conn: sqlite3.Connection, rows: Iterable[Row]) -> None:
    """Write whole jobs (inside the caller's transaction); a job already there is replaced."""
    conn.executemany("INSERT OR REPLACE INTO jobs VALUES (?,?,?,?,?)", [tuple(r) for r in rows])


def all_rows(conn: sqlite3.Connection) -> Iterator[list[Row]]:
    """Every stored job, in chunks of CHUNK, oldest first (a full copy to a candidate)."""
    last = 0
    while True:
        chunk = conn.execute(
            "SELECT id, status, archived, end_time, data FROM jobs WHERE id > ? ORDER BY id LIMIT ?", (last, CHUNK)
        ).fetchall()
        if not chunk:
            return
        yield [tuple(r) for r in chunk]  # type: ignore[misc]
        last = chunk[-1][0]


def check_row(value: Any) -> Row:
    """A replicated row as the node stores it; anything else is refused (the caller's fault)."""
    if not isinstance(value, list) or len(value) != 5:
        raise ValueError("a job row is [id, status, archived, end_time, data]")
    job_id, status, archived, end_time, data = value
    if isinstance(job_id, bool) or not isinstance(job_id, int) or job_id < 1:
        raise ValueError(f"bad job id {job_id!r}")
    if not isinstance(status, str) or not isinstance(data, str) or archived not in (0, 1):
        raise ValueError(f"malformed row for job {job_id}")
    if end_time is not None and (isinstance(end_time, bool) or not isinstance(end_time, (int, float))):
        raise ValueError(f"bad end time for job {job_id}")
    return (job_id, status, archived, end_time, data)
