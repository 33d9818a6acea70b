"""SqliteWriter: group commit on a writer thread, one savepoint per caller."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from gnt.db import SqliteWriter

SCHEMA = "CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY, v INTEGER);"


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[SqliteWriter]:
    w = SqliteWriter(str(tmp_path / "w.db"), SCHEMA)
    yield w
    w.close()


def keys(writer: SqliteWriter) -> set[str]:
    return {k for (k,) in writer.conn.execute("SELECT k FROM t")}


def insert(key: str):  # noqa: ANN201 - a Work function
    def fn(conn: sqlite3.Connection) -> str:
        conn.execute("INSERT INTO t VALUES (?, 1)", (key,))
        return key

    return fn


async def hold_writer(writer: SqliteWriter) -> tuple[asyncio.Future[None], threading.Event]:
    """Occupy the writer thread so that everything submitted next lands in one batch."""
    started, release = threading.Event(), threading.Event()

    def block(conn: sqlite3.Connection) -> None:
        started.set()
        release.wait(5)

    fut = asyncio.ensure_future(writer.run(block))
    while not started.is_set():
        await asyncio.sleep(0.001)
    return fut, release


def test_run_returns_the_function_result(writer: SqliteWriter) -> None:
    assert asyncio.run(writer.run(insert("a"))) == "a"
    assert keys(writer) == {"a"}


def test_concurrent_runs_are_grouped_into_fewer_commits(writer: SqliteWriter) -> None:
    async def main() -> list[str]:
        blocker, release = await hold_writer(writer)
        runs = [asyncio.ensure_future(writer.run(insert(f"k{i}"))) for i in range(50)]
        await asyncio.sleep(0.01)
        release.set()
        await blocker
        return await asyncio.wait_for(asyncio.gather(*runs), 5)

    results = asyncio.run(main())
    assert results == [f"k{i}" for i in range(50)]
    assert keys(writer) == {f"k{i}" for i in range(50)}
    assert writer.commits == 2  # the blocker's batch, then all 50 together


def test_failing_function_rolls_back_only_its_own_savepoint(writer: SqliteWriter) -> None:
    def half_then_fail(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO t VALUES ('bad', 1)")
        raise ValueError("boom")

    async def main() -> list[object]:
        blocker, release = await hold_writer(writer)
        runs = [
            asyncio.ensure_future(writer.run(insert("before"))),
            asyncio.ensure_future(writer.run(half_then_fail)),
            asyncio.ensure_future(writer.run(insert("after"))),
        ]
        await asyncio.sleep(0.01)
        release.set()
        await blocker
        return await asyncio.wait_for(asyncio.gather(*runs, return_exceptions=True), 5)

    before, failed, after = asyncio.run(main())
    assert before == "before" and after == "after"
    assert isinstance(failed, ValueError) and str(failed) == "boom"
    assert keys(writer) == {"before", "after"}
    assert writer.commits == 2


def test_sql_error_reaches_the_caller(writer: SqliteWriter) -> None:
    asyncio.run(writer.run(insert("a")))
    with pytest.raises(sqlite3.IntegrityError):
        asyncio.run(writer.run(insert("a")))
    assert asyncio.run(writer.run(insert("b"))) == "b"  # the writer survives
    assert keys(writer) == {"a", "b"}


def test_run_sync_commits_or_rolls_back(writer: SqliteWriter) -> None:
    assert writer.run_sync(insert("x")) == "x"

    def fail(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO t VALUES ('y', 1)")
        raise RuntimeError("no")

    with pytest.raises(RuntimeError):
        writer.run_sync(fail)
    assert keys(writer) == {"x"}


def test_committed_writes_are_visible_to_another_connection(writer: SqliteWriter, tmp_path: Path) -> None:
    asyncio.run(writer.run(insert("durable")))
    other = sqlite3.connect(str(tmp_path / "w.db"))
    try:
        assert other.execute("SELECT k FROM t").fetchall() == [("durable",)]
    finally:
        other.close()


def test_a_cursor_returned_by_work_stays_on_the_writer_thread(tmp_path) -> None:
    # A cursor dropped on another thread resets a statement the writer may be reusing (SQLITE_MISUSE).
    writer = SqliteWriter(str(tmp_path / "c.db"), "CREATE TABLE IF NOT EXISTS t (x INTEGER);")
    try:
        assert writer.run_sync(lambda c: c.execute("INSERT INTO t VALUES (1)")) is None
        assert writer.run_sync(lambda c: c.execute("SELECT count(*) FROM t").fetchone()[0]) == 1
    finally:
        writer.close()


def test_a_durable_writer_syncs_every_commit_and_the_default_does_not(tmp_path) -> None:
    # synchronous: 2 = FULL (a commit survives a power cut), 1 = NORMAL (survives a killed process)
    for durable, expected in ((True, 2), (False, 1)):
        writer = SqliteWriter(str(tmp_path / f"{durable}.db"), SCHEMA, durable=durable)
        try:
            assert writer.run_sync(lambda c: c.execute("PRAGMA synchronous").fetchone()[0]) == expected
        finally:
            writer.close()
