"""The lock manager: named shared/exclusive locks at Ganeti's levels.

Locks are always taken level by level (in `LEVELS` order) and, within a level, name by name in
sorted order, so two jobs can never wait on each other. Locking a whole level (`ALL`) takes the
level's own lock exclusively; locking names takes it shared, so "all nodes" and "node1" exclude
each other without listing every node.
"""

from __future__ import annotations

import asyncio
import enum
from collections import deque
from dataclasses import dataclass, field


class Level(enum.IntEnum):
    CLUSTER = 0
    INSTANCE = 1
    NODEGROUP = 2
    NODE = 3
    NODE_RES = 4
    NETWORK = 5


ALL = "__all__"
BGL = "BGL"


class SharedLock:
    """An asyncio reader/writer lock, granted strictly in arrival order."""

    def __init__(self) -> None:
        self._sharers = 0
        self._exclusive = False
        self._waiters: deque[tuple[bool, asyncio.Future[None]]] = deque()

    @property
    def free(self) -> bool:
        return not self._exclusive and self._sharers == 0 and not self._waiters

    def _compatible(self, shared: bool) -> bool:
        return not self._exclusive and (shared or self._sharers == 0)

    async def acquire(self, shared: bool) -> None:
        if not self._waiters and self._compatible(shared):
            self._grant(shared)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (shared, fut)
        self._waiters.append(entry)
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release(shared)  # granted just as we were cancelled
            else:
                self._waiters.remove(entry)
                self._wake()
            raise

    def _grant(self, shared: bool) -> None:
        if shared:
            self._sharers += 1
        else:
            self._exclusive = True

    def release(self, shared: bool) -> None:
        if shared:
            self._sharers -= 1
        else:
            self._exclusive = False
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self._compatible(self._waiters[0][0]):
            shared, fut = self._waiters.popleft()
            if fut.cancelled():
                continue
            self._grant(shared)
            fut.set_result(None)


@dataclass
class LockRequest:
    """What an LU wants at one level: names (or ALL) and the mode."""

    names: list[str] | str
    shared: bool = False


@dataclass
class HeldLocks:
    held: list[tuple[Level, str, bool]] = field(default_factory=list)

    def names(self, level: Level) -> list[str]:
        return [name for lvl, name, _ in self.held if lvl == level and name != ALL]


class LockManager:
    def __init__(self) -> None:
        self._locks: dict[tuple[Level, str], SharedLock] = {}

    def _lock(self, level: Level, name: str) -> SharedLock:
        key = (level, name)
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = SharedLock()
        return lock

    async def acquire(self, wanted: dict[Level, LockRequest]) -> HeldLocks:
        """Take everything in `wanted`, in the global order; on cancel, nothing stays held."""
        held = HeldLocks()
        try:
            for level in sorted(wanted):
                req = wanted[level]
                if req.names == ALL:
                    await self._take(held, level, ALL, req.shared)
                    continue
                await self._take(held, level, ALL, True)
                for name in sorted(set(req.names)):
                    await self._take(held, level, name, req.shared)
        except BaseException:
            self.release(held)
            raise
        return held

    async def _take(self, held: HeldLocks, level: Level, name: str, shared: bool) -> None:
        await self._lock(level, name).acquire(shared)
        held.held.append((level, name, shared))

    def release(self, held: HeldLocks, level: Level | None = None) -> None:
        """Release all held locks, or only those at `level` (LUs may drop locks early)."""
        keep = []
        for lvl, name, shared in reversed(held.held):
            if level is not None and lvl != level:
                keep.append((lvl, name, shared))
                continue
            lock = self._locks[(lvl, name)]
            lock.release(shared)
            if lock.free and name != ALL:
                del self._locks[(lvl, name)]
        held.held = list(reversed(keep))

    def owned_count(self) -> int:
        """Locks held or waited for; idle whole-level locks are kept in the table but not counted."""
        return sum(1 for lock in self._locks.values() if not lock.free)
