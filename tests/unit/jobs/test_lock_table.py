"""The lock manager's table as `gnt-debug locks` shows it: owners, modes and waiters in order."""

from __future__ import annotations

import asyncio

from gnt.debug.locks import rows
from gnt.jobs.locking import ALL, BGL, HeldLocks, Level, LockManager, LockRequest


def test_owners_modes_and_pending_in_arrival_order() -> None:
    async def scenario() -> list:
        locks = LockManager()
        first = HeldLocks(owner="job/1")
        await locks.acquire_level(first, Level.CLUSTER, LockRequest([BGL], shared=True))
        await locks.acquire_level(first, Level.NODE, LockRequest(["node2"]))
        second, third = HeldLocks(owner="job/2"), HeldLocks(owner="job/3")
        waiting = [
            asyncio.ensure_future(locks.acquire_level(second, Level.NODE, LockRequest(["node2"], shared=True))),
            asyncio.ensure_future(locks.acquire_level(third, Level.NODE, LockRequest(["node2"]))),
        ]
        await asyncio.sleep(0.01)
        table = rows(locks)
        locks.release(first)
        await asyncio.gather(*waiting[:1])
        after = rows(locks, ["node/node2"])
        locks.release(second)
        await asyncio.gather(*waiting[1:])
        locks.release(third)
        return [table, after, rows(locks)]

    table, after, idle = asyncio.run(scenario())
    shown = {r.name: (r.mode, r.owner, r.pending) for r in table}
    assert shown["cluster/BGL"] == ("shared", ["job/1"], [])
    assert shown["node/[lockset]"] == ("shared", ["job/1", "job/2", "job/3"], [])  # the intents
    assert shown["node/node2"] == ("exclusive", ["job/1"], [["shared", ["job/2"]], ["exclusive", ["job/3"]]])
    assert [(r.mode, r.owner, r.pending) for r in after] == [("shared", ["job/2"], [["exclusive", ["job/3"]]])]
    # nothing held: named locks are forgotten, whole-level locks stay listed as free
    assert {r.name: r.mode for r in idle} == {"node/[lockset]": None}


def test_a_cancelled_waiter_leaves_no_owner_behind() -> None:
    async def scenario() -> list:
        locks = LockManager()
        holder, waiter = HeldLocks(owner="job/1"), HeldLocks(owner="job/2")
        await locks.acquire_level(holder, Level.INSTANCE, LockRequest(ALL))
        task = asyncio.ensure_future(locks.acquire_level(waiter, Level.INSTANCE, LockRequest(ALL)))
        await asyncio.sleep(0.01)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        locks.release(holder)
        return rows(locks)

    (row,) = asyncio.run(scenario())
    assert (row.name, row.mode, row.owner, row.pending) == ("instance/[lockset]", None, [], [])
