"""The lock manager: named shared/exclusive locks at Ganeti's levels.

Locks are always taken level by level (in `Level` order) and, within a level, name by name in
sorted order, so two jobs can never wait on each other. A level may be added once the levels above
it are held (`acquire_level`), never the other way round. Locking a whole level (`ALL`) takes the
level's own lock in S or X; locking names puts an intent (IS or IX) on it, so "all nodes, shared"
and "node1, exclusive" exclude each other without listing every node, while named requests on
different names run side by side.
"""

from __future__ import annotations

import asyncio
import enum
from collections import Counter, deque
from dataclasses import dataclass, field

from gnt.errors import LockError


class Level(enum.IntEnum):
    CLUSTER = 0
    INSTANCE = 1
    NODEGROUP = 2
    NODE = 3
    NODE_RES = 4
    NETWORK = 5


ALL = "__all__"
BGL = "BGL"


class Mode(enum.Enum):
    """Lock modes; IS/IX are the intents a named request puts on its level's lock."""

    IS = "intent-shared"
    IX = "intent-exclusive"
    S = "shared"
    X = "exclusive"


#: which modes may be held together (the classic multi-granularity matrix)
COMPATIBLE: dict[Mode, frozenset[Mode]] = {
    Mode.IS: frozenset({Mode.IS, Mode.IX, Mode.S}),
    Mode.IX: frozenset({Mode.IS, Mode.IX}),
    Mode.S: frozenset({Mode.IS, Mode.S}),
    Mode.X: frozenset(),
}


class ModeLock:
    """An asyncio lock with the four modes above, granted strictly in arrival order."""

    def __init__(self) -> None:
        self._held: dict[Mode, int] = dict.fromkeys(Mode, 0)
        self._waiters: deque[tuple[Mode, asyncio.Future[None], str]] = deque()
        #: who holds the lock, for `gnt-debug locks` (owner "" when the caller gave none)
        self._owners: Counter[tuple[str, Mode]] = Counter()

    @property
    def free(self) -> bool:
        return not any(self._held.values()) and not self._waiters

    def _compatible(self, mode: Mode) -> bool:
        return all(count == 0 or other in COMPATIBLE[mode] for other, count in self._held.items())

    async def acquire(self, mode: Mode, owner: str = "") -> None:
        if not self._waiters and self._compatible(mode):
            self._grant(mode, owner)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (mode, fut, owner)
        self._waiters.append(entry)
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release(mode, owner)  # granted just as we were cancelled
            else:
                self._waiters.remove(entry)
                self._wake()
            raise

    def try_acquire(self, mode: Mode, owner: str = "") -> bool:
        """Take the lock only if that needs no wait (nobody queued, nothing incompatible held)."""
        if self._waiters or not self._compatible(mode):
            return False
        self._grant(mode, owner)
        return True

    def _grant(self, mode: Mode, owner: str) -> None:
        self._held[mode] += 1
        self._owners[(owner, mode)] += 1

    def release(self, mode: Mode, owner: str = "") -> None:
        if self._owners.get((owner, mode), 0) <= 0:
            return  # already dropped by `gnt-debug wconfd cleanuplocks`
        self._held[mode] -= 1
        self._owners[(owner, mode)] -= 1
        if self._owners[(owner, mode)] <= 0:
            del self._owners[(owner, mode)]
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self._compatible(self._waiters[0][0]):
            mode, fut, owner = self._waiters.popleft()
            if fut.cancelled():
                continue
            self._grant(mode, owner)
            fut.set_result(None)

    def drop_owner(self, owner: str) -> int:
        """Release every grant `owner` holds here (`gnt-debug wconfd cleanuplocks`); how many were dropped."""
        dropped = 0
        for held_owner, mode in [key for key in self._owners if key[0] == owner]:
            while self._owners.get((held_owner, mode), 0) > 0:
                self.release(mode, owner)
                dropped += 1
        return dropped

    def state(self) -> tuple[list[tuple[str, Mode]], list[tuple[str, Mode]]]:
        """(holders, waiters in arrival order), each as (owner, mode): what `gnt-debug locks` shows."""
        holders = sorted(self._owners)
        waiters = [(owner, mode) for mode, fut, owner in self._waiters if not fut.done()]
        return [(o, m) for o, m in holders], waiters


@dataclass
class LockRequest:
    """What an LU wants at one level: names (or ALL) and the mode. `opportunistic` (Ganeti's
    opportunistic locking): of the names, take those free at that moment and skip the others,
    instead of waiting for them; the LU reads what it got from `HeldLocks.names`."""

    names: list[str] | str
    shared: bool = False
    opportunistic: bool = False


@dataclass
class HeldLocks:
    held: list[tuple[Level, str, Mode]] = field(default_factory=list)
    #: who holds them ("job/17"), shown by `gnt-debug locks`
    owner: str = ""

    def names(self, level: Level) -> list[str]:
        return [name for lvl, name, _ in self.held if lvl == level and name != ALL]


class LockManager:
    def __init__(self) -> None:
        self._locks: dict[tuple[Level, str], ModeLock] = {}

    def _lock(self, level: Level, name: str) -> ModeLock:
        key = (level, name)
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = ModeLock()
        return lock

    async def acquire(self, wanted: dict[Level, LockRequest]) -> HeldLocks:
        """Take everything in `wanted`, in the global order; on cancel, nothing stays held."""
        held = HeldLocks()
        try:
            for level in sorted(wanted):
                await self.acquire_level(held, level, wanted[level])
        except BaseException:
            self.release(held)
            raise
        return held

    async def acquire_level(self, held: HeldLocks, level: Level, req: LockRequest) -> None:
        """Add one level to `held`; the caller holds only higher levels (lower `Level` values).

        This is what lets a logical unit compute a level's names once the levels above are held
        (Ganeti's DeclareLocks): the global order stays level by level, name by name. If the wait
        is cancelled, this level's locks are released again; the levels already held stay held.
        """
        if any(lvl >= level for lvl, _, _ in held.held):
            raise LockError(f"Lock level {level.name} requested after a lower level was taken")
        try:
            if req.names == ALL:
                await self._take(held, level, ALL, Mode.S if req.shared else Mode.X)
                return
            await self._take(held, level, ALL, Mode.IS if req.shared else Mode.IX)
            mode = Mode.S if req.shared else Mode.X
            for name in sorted(set(req.names)):
                if not req.opportunistic:
                    await self._take(held, level, name, mode)
                elif self._lock(level, name).try_acquire(mode, held.owner):  # busy: skipped, not waited for
                    held.held.append((level, name, mode))
        except BaseException:
            self.release(held, level)
            raise

    async def _take(self, held: HeldLocks, level: Level, name: str, mode: Mode) -> None:
        await self._lock(level, name).acquire(mode, held.owner)
        held.held.append((level, name, mode))

    def release(self, held: HeldLocks, level: Level | None = None) -> None:
        """Release all held locks, or only those at `level` (LUs may drop locks early)."""
        keep = []
        for lvl, name, mode in reversed(held.held):
            if level is not None and lvl != level:
                keep.append((lvl, name, mode))
                continue
            lock = self._locks.get((lvl, name))
            if lock is None:
                continue  # dropped by `gnt-debug wconfd cleanuplocks` (see drop_owners)
            lock.release(mode, held.owner)
            if lock.free and name != ALL:
                del self._locks[(lvl, name)]
        held.held = list(reversed(keep))

    def table(self) -> list[tuple[Level, str, list[tuple[str, Mode]], list[tuple[str, Mode]]]]:
        """Every lock in the table: (level, name, holders, waiters); idle whole-level locks included."""
        return [(level, name, *self._locks[(level, name)].state()) for level, name in sorted(self._locks)]

    def drop_owners(self, stale: set[str]) -> int:
        """Release the locks of owners that no longer run (an owner whose task died without its
        `finally`); waiters behind them are woken. Returns how many grants were dropped."""
        dropped = 0
        for key in list(self._locks):
            lock = self._locks[key]
            for owner in stale:
                dropped += lock.drop_owner(owner)
            if lock.free and key[1] != ALL:
                del self._locks[key]
        return dropped

    def owned_count(self) -> int:
        """Locks held or waited for; idle whole-level locks are kept in the table but not counted."""
        return sum(1 for lock in self._locks.values() if not lock.free)
