"""One writer thread per SQLite database, with group commit.

Callers hand a function `fn(conn)` to `SqliteWriter.run`; the writer thread takes every function
waiting, runs each inside its own savepoint, and commits them in one transaction. Many jobs
finishing together then cost one commit, and the asyncio event loop never blocks on SQLite.
WAL with synchronous=NORMAL: a killed process loses nothing that was committed.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

Work = Callable[[sqlite3.Connection], Any]


def connect(path: str, schema: str = "") -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    if schema:
        conn.executescript(schema)
    return conn


class SqliteWriter:
    """Serialises writes to one database on a dedicated thread, batching them."""

    def __init__(self, path: str, schema: str = "") -> None:
        self.conn = connect(path, schema)
        self._queue: queue.Queue[tuple[Work, asyncio.Future[Any]] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name=f"sqlite-writer:{path}", daemon=True)
        self._thread.start()
        self.commits = 0

    async def run(self, fn: Work) -> Any:
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.put((fn, fut))
        return await fut

    def run_sync(self, fn: Work) -> Any:
        """For start-up and tools, outside any event loop."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn(self.conn)
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")
        return result

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)
        self.conn.close()

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

    def _run_batch(self, batch: list[tuple[Work, asyncio.Future[Any]]]) -> None:
        outcomes: list[tuple[asyncio.Future[Any], bool, Any]] = []
        self.conn.execute("BEGIN IMMEDIATE")
        for fn, fut in batch:
            self.conn.execute("SAVEPOINT item")
            try:
                outcomes.append((fut, True, fn(self.conn)))
                self.conn.execute("RELEASE item")
            except Exception as err:  # noqa: BLE001 - handed back to the caller
                self.conn.execute("ROLLBACK TO item")
                self.conn.execute("RELEASE item")
                outcomes.append((fut, False, err))
        try:
            self.conn.execute("COMMIT")
            self.commits += 1
        except Exception as err:  # noqa: BLE001
            outcomes = [(fut, False, err) for fut, _, _ in outcomes]
        for fut, ok, value in outcomes:
            fut.get_loop().call_soon_threadsafe(_settle, fut, ok, value)


def _settle(fut: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if fut.done():
        return
    if ok:
        fut.set_result(value)
    else:
        fut.set_exception(value)
