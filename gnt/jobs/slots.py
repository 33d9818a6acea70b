"""Running slots: how many jobs may execute an opcode at once (the cluster's max_running_jobs).

A job takes a slot only once it is ready to run: its dependencies have finished and its locks are
held. Waiting therefore costs no slot, so jobs stuck behind a lock or a long dependency chain can
never starve unrelated work (with one slot per worker, 20 waiters used to jam the whole queue).
Slots are granted by priority (lower value first), then in arrival order; decisions are made once
per event-loop pass, so jobs that become ready together are ordered by priority, not by luck.
The limit can change at any time: raising it starts waiters at once, lowering it lets running jobs
finish and only delays new grants.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class SlotGate:
    """A priority-ordered counting gate with a limit that applies live."""

    def __init__(self, limit: int) -> None:
        self._limit = max(1, limit)
        self.running = 0
        self._waiters: list[tuple[int, int, asyncio.Future[None], object]] = []
        self._seq = itertools.count()
        self._dispatch_pending = False

    @property
    def limit(self) -> int:
        return self._limit

    def set_limit(self, limit: int) -> None:
        """Apply a new max_running_jobs now; running jobs are never interrupted."""
        self._limit = max(1, limit)
        self._schedule_dispatch()

    async def acquire(self, priority: int = 0, key: object = None) -> None:
        """Wait for a slot; `key` (a job id) lets `change_priority` move the waiter in the line."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (priority, next(self._seq), fut, key))
        self._schedule_dispatch()
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release()  # granted just as we were cancelled: hand it on
            raise

    def release(self) -> None:
        self.running -= 1
        self._schedule_dispatch()

    def change_priority(self, key: object, priority: int) -> bool:
        """Give the waiter(s) registered under `key` a new priority (they keep their arrival order
        among equals); False when nothing waits under that key."""
        found = False
        for index, (_, seq, fut, wkey) in enumerate(self._waiters):
            if wkey is not None and wkey == key and not fut.done():
                self._waiters[index] = (priority, seq, fut, wkey)
                found = True
        if found:
            heapq.heapify(self._waiters)
            self._schedule_dispatch()
        return found

    @asynccontextmanager
    async def slot(self, priority: int = 0, key: object = None) -> AsyncIterator[None]:
        await self.acquire(priority, key)
        try:
            yield
        finally:
            self.release()

    def _schedule_dispatch(self) -> None:
        if not self._dispatch_pending:
            self._dispatch_pending = True
            asyncio.get_running_loop().call_soon(self._dispatch)

    def _dispatch(self) -> None:
        self._dispatch_pending = False
        while self._waiters and self.running < self._limit:
            _, _, fut, _ = heapq.heappop(self._waiters)
            if fut.done():  # its waiter was cancelled
                continue
            self.running += 1
            fut.set_result(None)
