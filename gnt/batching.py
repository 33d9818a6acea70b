"""One ordered sender per peer: what queues up while a call is out travels in the next call.

The config's change sets and the job queue's rows go to each master candidate this way. Both
need the same three things: items shipped in the order they were queued, a caller that can await
"my items are out" without holding up the others, and a sender that outlives any one failed call.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Generic, TypeVar

T = TypeVar("T")
log = logging.getLogger("gnt-masterd")


class OrderedBatchSender(Generic[T]):
    """Runs one task that ships queued items in order, batching whatever waited behind a call."""

    def __init__(self) -> None:
        self.pending: list[tuple[T, asyncio.Future[None]]] = []
        self.wakeup = asyncio.Event()
        self.task = asyncio.create_task(self._run())

    def send(self, item: T) -> asyncio.Future[None]:
        """Queue `item`; the future is done once it was shipped (or its call failed)."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.pending.append((item, fut))
        self.wakeup.set()
        return fut

    async def ship(self, items: list[T]) -> None:
        """Deliver `items` (oldest first) in one go; subclasses say how."""
        raise NotImplementedError

    def failed(self) -> None:
        """Called after `ship` raised; the default only logs (subclasses mark the peer for a resync)."""

    async def _run(self) -> None:
        while True:
            await self.wakeup.wait()
            self.wakeup.clear()
            batch, self.pending = self.pending, []
            if not batch:
                continue
            try:
                await self.ship([item for item, _ in batch])
            except Exception:  # noqa: BLE001 - a sender must outlive any one failure
                log.exception("%s: shipping %d item(s) failed", type(self).__name__, len(batch))
                self.failed()
            for _, fut in batch:
                if not fut.done():
                    fut.set_result(None)
