"""One writer thread per SQLite database, with group commit.

Callers hand a function `fn(conn)` to `SqliteWriter.run`; the writer thread takes every function
waiting, runs each inside its own savepoint, and commits them in one transaction. Many jobs
finishing together then cost one commit, and the asyncio event loop never blocks on SQLite.
WAL with synchronous=NORMAL: a killed process loses nothing that was committed. A power cut may
lose the last commits, though, so a database that must survive one (the cluster config, on the
master and on every replica) is opened `durable`: synchronous=FULL, one fsync per group commit
(measured on this machine: 500-950 sequential commits/s instead of 5,000-8,000, and concurrent
writes unchanged at about 20,000/s because group commit shares the fsync).

A database cut short or with a zeroed page is detected when it is opened (`PRAGMA quick_check`,
a linear scan that costs milliseconds for a config of thousands of objects) and raised as
`DamagedDatabaseError`: one line naming the file and the way out, instead of a traceback the first
time a damaged page happens to be read.

A `sqlite3.Connection` must never be used by two threads at once (doing so gave
"InterfaceError: bad parameter or other API misuse" under load). So the write connection is used
only on the writer thread (`run_sync` hands its work to that thread too), and readers get one
connection per thread (`conn`); WAL lets those read while the writer writes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import queue
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

from gnt.errors import ConfigurationError

Work = Callable[[sqlite3.Connection], Any]

#: what an admin does about a damaged database, by file name (anything else gets the generic advice)
REMEDIES = {
    "config.db": "rebuild it from the newest master candidate's replica with `gnt-cluster recover-config`"
    " (run on the master node; the damaged file is kept aside)",
    "queue.db": "move it aside (`mv {path} {path}.damaged`) and start gnt-masterd again with an empty job"
    " queue (the job history is lost, the cluster config is not)",
}


class DamagedDatabaseError(ConfigurationError):
    """A database file exists but SQLite cannot read it whole; `path` names it."""

    def __init__(self, path: str, detail: str = "") -> None:
        remedy = REMEDIES.get(os.path.basename(path), "restore it from a backup or move it aside").format(path=path)
        self.detail = detail or "integrity check failed"
        super().__init__(f"Database {path} is damaged ({self.detail}); {remedy}")
        self.path = path


def check_integrity(conn: sqlite3.Connection, path: str) -> None:
    """Raise DamagedDatabaseError unless SQLite's quick check passes on `conn`."""
    try:
        rows = conn.execute("PRAGMA quick_check").fetchall()
    except sqlite3.DatabaseError as err:
        raise DamagedDatabaseError(path, str(err)) from err
    problems = [str(r[0]) for r in rows if r and r[0] != "ok"]
    if problems:
        raise DamagedDatabaseError(path, problems[0][:200])


def check_file(path: str) -> None:
    """Check an existing database file without changing it (start-up checks, recovery tools)."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.DatabaseError as err:
        raise DamagedDatabaseError(path, str(err)) from err
    try:
        check_integrity(conn, path)
    finally:
        conn.close()


def move_aside(path: str) -> str:
    """Rename a damaged database and its WAL side files to `<path>.damaged-<timestamp>`; the new name."""
    import time

    aside = f"{path}.damaged-{time.strftime('%Y%m%d-%H%M%S')}"
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.replace(path + suffix, aside + suffix)
    return aside


def connect(
    path: str, schema: str = "", check_same_thread: bool = True, check: bool = True, durable: bool = False
) -> sqlite3.Connection:
    """Open (or create) a database; an existing one that is damaged raises DamagedDatabaseError.

    `check=False` skips the integrity scan: for further connections to a file already checked when
    its writer opened it (a scan reads the whole file, once per thread otherwise).
    """
    try:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=check_same_thread)
    except sqlite3.DatabaseError as err:
        raise DamagedDatabaseError(path, str(err)) from err
    try:
        if check:
            check_integrity(conn, path)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        if schema:
            conn.executescript(schema)
    except DamagedDatabaseError:
        conn.close()
        raise
    except sqlite3.DatabaseError as err:
        conn.close()
        raise DamagedDatabaseError(path, str(err)) from err
    return conn


def _own_thread_only(value: Any) -> Any:
    """A cursor never leaves the writer thread: it is closed here and None handed back.

    `lambda c: c.execute(...)` returns its cursor. Dropped later on the event loop's thread, the
    cursor resets its statement, which the connection's statement cache may be handing to this
    thread's next `execute` of the same SQL at that moment: SQLite answered "bad parameter or
    other API misuse" (a job queue test under load, about 1 run in 15).
    """
    if isinstance(value, sqlite3.Cursor):
        value.close()
        return None
    return value


class SqliteWriter:
    """Serialises writes to one database on a dedicated thread, batching them."""

    def __init__(self, path: str, schema: str = "", durable: bool = False) -> None:
        """`durable`: every commit is on disk before its callers are answered (survives a power cut)."""
        self.path = path
        # made here so that a damaged file fails the constructor; from now on only the writer thread uses it
        self._conn = connect(path, schema, check_same_thread=False, durable=durable)
        self._queue: queue.Queue[tuple[Work, Any] | None] = queue.Queue()
        self._readers = threading.local()
        self._thread = threading.Thread(target=self._loop, name=f"sqlite-writer:{path}", daemon=True)
        self._thread.start()
        self.commits = 0

    @property
    def conn(self) -> sqlite3.Connection:
        """This thread's read connection (opened on first use); never write through it."""
        conn = getattr(self._readers, "conn", None)
        if conn is None:
            conn = self._readers.conn = connect(self.path, check=False)  # checked when the writer opened it
        return conn

    async def run(self, fn: Work) -> Any:
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.put((fn, fut))
        return await fut

    def run_sync(self, fn: Work) -> Any:
        """For start-up and tools, outside any event loop: runs `fn` on the writer thread and waits."""
        fut: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._queue.put((fn, fut))
        return fut.result()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self._conn.close()
        # This thread's reader only: closing a connection another thread may be reading through
        # would crash it; theirs close when those threads end (their thread-local goes away).
        conn = getattr(self._readers, "conn", None)
        if conn is not None:
            conn.close()
            del self._readers.conn

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            while True:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)
                    break
                batch.append(nxt)
            self._run_batch(batch)

    def _run_batch(self, batch: list[tuple[Work, Any]]) -> None:
        conn = self._conn
        outcomes: list[tuple[Any, bool, Any]] = []
        conn.execute("BEGIN IMMEDIATE")
        for fn, fut in batch:
            conn.execute("SAVEPOINT item")
            try:
                outcomes.append((fut, True, _own_thread_only(fn(conn))))
                conn.execute("RELEASE item")
            except Exception as err:  # noqa: BLE001 - handed back to the caller
                conn.execute("ROLLBACK TO item")
                conn.execute("RELEASE item")
                outcomes.append((fut, False, err))
        try:
            conn.execute("COMMIT")
            self.commits += 1
        except Exception as err:  # noqa: BLE001
            outcomes = [(fut, False, err) for fut, _, _ in outcomes]
        for fut, ok, value in outcomes:
            if isinstance(fut, concurrent.futures.Future):  # from run_sync: a thread waits on it
                if ok:
                    fut.set_result(value)
                else:
                    fut.set_exception(value)
            else:
                # RuntimeError: its event loop has closed; nobody waits any more, and this thread must live on
                with contextlib.suppress(RuntimeError):
                    fut.get_loop().call_soon_threadsafe(_settle, fut, ok, value)


def _settle(fut: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if fut.done():
        return
    if ok:
        fut.set_result(value)
    else:
        fut.set_exception(value)
