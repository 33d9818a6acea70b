"""The queue's SQLite use under load: each connection used by one thread only.

Regression: 3 of 2,000 no-op jobs posted 100 at a time got "sqlite3.InterfaceError: bad parameter
or other API misuse", because the event loop read through the writer thread's connection.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import gnt.debug.logic
from gnt.config.manager import ConfigManager
from gnt.db import SqliteWriter
from gnt.jobs import lu
from gnt.jobs.job import JobStatus
from gnt.jobs.locking import LockManager
from gnt.jobs.queue import SCHEMA, JobQueue

NOOP = {"OP_ID": "OP_TEST_DELAY", "duration": 0}


class Services:
    def invalidate_live(self) -> None:
        pass


def test_run_sync_runs_on_the_writer_thread(tmp_path: Path) -> None:
    writer = SqliteWriter(str(tmp_path / "q.db"), SCHEMA)
    try:
        assert writer.run_sync(lambda conn: threading.current_thread().name) == f"sqlite-writer:{tmp_path / 'q.db'}"
    finally:
        writer.close()


def test_each_thread_reads_through_its_own_connection(tmp_path: Path) -> None:
    writer = SqliteWriter(str(tmp_path / "q.db"), SCHEMA)
    try:
        mine = writer.conn
        assert writer.conn is mine  # one per thread, reused
        theirs: list[sqlite3.Connection] = []
        thread = threading.Thread(target=lambda: theirs.append(writer.conn))
        thread.start()
        thread.join()
        assert theirs[0] is not mine
        assert writer._conn not in (mine, theirs[0])  # nobody reads through the writer's connection
    finally:
        writer.close()


def test_concurrent_submissions_and_archive_reads_never_misuse_sqlite(cfg: ConfigManager, tmp_path: Path) -> None:
    writer = SqliteWriter(str(tmp_path / "queue.db"), SCHEMA)
    ctx = lu.Context(cfg=cfg, rpc=None, locks=LockManager(), services=Services())  # type: ignore[arg-type]
    registry = lu.Registry.from_modules([gnt.debug.logic])
    queue = JobQueue(writer, ctx, str(tmp_path / "drain"), max_running=20, registry=registry)
    queue.load()
    errors: list[BaseException] = []

    async def main() -> None:
        queue.start()
        first = [job_id for _, job_id in await queue.submit_many([[NOOP]] * 50)]
        for job_id in first:
            while not queue.get(job_id).finalized:
                await queue.wait_for_change(job_id, str(queue.get(job_id).status), 0, 1)
        assert await queue.archive(first) == 50
        stop = threading.Event()

        def read_in_thread() -> None:
            try:
                while not stop.is_set():
                    for job_id in first[::7]:
                        job = queue.load_archived(job_id)
                        assert job is not None and job.archived
                    time.sleep(0.001)  # read often, but leave the event loop the GIL
            except BaseException as err:  # noqa: BLE001 - reported by the test
                errors.append(err)

        async def read_on_loop() -> None:
            while not stop.is_set():
                for job_id in first[::5]:
                    assert queue.get(job_id).archived
                await asyncio.sleep(0)

        readers = [threading.Thread(target=read_in_thread) for _ in range(2)]
        for thread in readers:
            thread.start()
        loop_reader = asyncio.ensure_future(read_on_loop())
        try:
            batches: list[Any] = await asyncio.gather(*(queue.submit_many([[NOOP]] * 100) for _ in range(20)))
            submitted = [result for batch in batches for result in batch]
            assert len(submitted) == 2000 and all(ok for ok, _ in submitted)
            for _, job_id in submitted:
                while not (job := queue.get(job_id)).finalized:
                    await queue.wait_for_change(job_id, str(job.status), job.log_serial, 1)
                assert job.status == JobStatus.SUCCESS
        finally:
            stop.set()
            await loop_reader
            for thread in readers:
                thread.join()
        await queue.stop()
        await writer.run(lambda conn: None)

    try:
        asyncio.run(asyncio.wait_for(main(), 240))
    finally:
        writer.close()
    assert errors == []


def test_reads_do_not_go_through_the_writer_connection_mid_transaction(cfg: ConfigManager, tmp_path: Path) -> None:
    """A read while the writer thread is inside its transaction sees only committed rows.

    Through the shared connection (the old code) the event loop read the writer's uncommitted row:
    the two threads were inside the same connection at once, which is the misuse behind the 500s.
    """
    writer = SqliteWriter(str(tmp_path / "queue.db"), SCHEMA)
    ctx = lu.Context(cfg=cfg, rpc=None, locks=LockManager(), services=Services())  # type: ignore[arg-type]
    queue = JobQueue(writer, ctx, str(tmp_path / "drain"), registry=lu.Registry())
    inside, release = threading.Event(), threading.Event()

    def slow_insert(conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT INTO jobs VALUES (999, 'success', 1, NULL, ?)", ('{"id": 999, "ops": [], "status": "success"}',)
        )
        inside.set()
        release.wait(10)

    async def main() -> None:
        pending = asyncio.ensure_future(writer.run(slow_insert))
        await asyncio.get_running_loop().run_in_executor(None, inside.wait, 10)
        assert queue.load_archived(999) is None  # not committed yet
        release.set()
        await pending
        job = queue.load_archived(999)
        assert job is not None and job.status == JobStatus.SUCCESS

    try:
        asyncio.run(asyncio.wait_for(main(), 20))
    finally:
        release.set()
        writer.close()
