"""The lock manager: modes, FIFO fairness, whole-level locks, ordering, cancellation, level-by-level declaration."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Coroutine
from typing import Any

import pytest

from gnt.config.manager import ConfigManager
from gnt.errors import LockError
from gnt.instance.lifecycle import LUInstanceRemove
from gnt.jobs.locking import ALL, BGL, HeldLocks, Level, LockManager, LockRequest
from gnt.jobs.lu import Context
from gnt.jobs.processor import acquire_locks
from gnt.objects import Instance
from gnt.opcodes import OpInstanceRemove

TIMEOUT = 5.0


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(asyncio.wait_for(coro, TIMEOUT))


async def blocked(aw: Awaitable[Any], wait: float = 0.05) -> asyncio.Task[Any]:
    """Start `aw` and check it is still waiting after a moment."""
    task = asyncio.ensure_future(aw)
    await asyncio.sleep(wait)
    assert not task.done(), "expected the request to wait"
    return task


async def granted(aw: Awaitable[Any]) -> Any:
    return await asyncio.wait_for(aw, 1.0)


def node(*names: str, shared: bool = False) -> dict[Level, LockRequest]:
    return {Level.NODE: LockRequest(list(names), shared=shared)}


def all_nodes(shared: bool = False) -> dict[Level, LockRequest]:
    return {Level.NODE: LockRequest(ALL, shared=shared)}


def test_shared_locks_coexist() -> None:
    async def main() -> None:
        lm = LockManager()
        a = await granted(lm.acquire(node("n1", shared=True)))
        b = await granted(lm.acquire(node("n1", shared=True)))
        assert a.names(Level.NODE) == b.names(Level.NODE) == ["n1"]
        lm.release(a)
        lm.release(b)
        assert lm.owned_count() == 0

    run(main())


def test_exclusive_lock_excludes_shared_and_exclusive() -> None:
    async def main() -> None:
        lm = LockManager()
        held = await granted(lm.acquire(node("n1")))
        shared = await blocked(lm.acquire(node("n1", shared=True)))
        excl = await blocked(lm.acquire(node("n1")))
        lm.release(held)
        got = await granted(shared)
        assert not excl.done()
        lm.release(got)
        lm.release(await granted(excl))
        assert lm.owned_count() == 0

    run(main())


def test_shared_holder_blocks_exclusive_until_released() -> None:
    async def main() -> None:
        lm = LockManager()
        s = await granted(lm.acquire(node("n1", shared=True)))
        excl = await blocked(lm.acquire(node("n1")))
        lm.release(s)
        lm.release(await granted(excl))

    run(main())


def test_different_names_do_not_conflict() -> None:
    async def main() -> None:
        lm = LockManager()
        a = await granted(lm.acquire(node("n1")))
        b = await granted(lm.acquire(node("n2")))
        lm.release(a)
        lm.release(b)

    run(main())


def test_waiting_exclusive_blocks_later_shared_requests_fifo() -> None:
    async def main() -> None:
        lm = LockManager()
        order: list[str] = []
        first = await granted(lm.acquire(node("n1", shared=True)))
        excl = await blocked(lm.acquire(node("n1")))
        excl.add_done_callback(lambda _: order.append("exclusive"))
        late_shared = await blocked(lm.acquire(node("n1", shared=True)))  # would be compatible, but must queue
        late_shared.add_done_callback(lambda _: order.append("shared"))
        lm.release(first)
        held = await granted(excl)
        await asyncio.sleep(0.02)
        assert not late_shared.done()
        lm.release(held)
        lm.release(await granted(late_shared))
        assert order == ["exclusive", "shared"]

    run(main())


def test_consecutive_shared_waiters_are_granted_together() -> None:
    async def main() -> None:
        lm = LockManager()
        excl = await granted(lm.acquire(node("n1")))
        s1 = await blocked(lm.acquire(node("n1", shared=True)))
        s2 = await blocked(lm.acquire(node("n1", shared=True)))
        lm.release(excl)
        h1, h2 = await granted(asyncio.gather(s1, s2))
        lm.release(h1)
        lm.release(h2)

    run(main())


@pytest.mark.parametrize("named_shared", [True, False])
def test_whole_level_lock_excludes_named_locks(named_shared: bool) -> None:
    async def main() -> None:
        lm = LockManager()
        everything = await granted(lm.acquire(all_nodes()))
        named = await blocked(lm.acquire(node("n1", shared=named_shared)))
        lm.release(everything)
        lm.release(await granted(named))
        assert lm.owned_count() == 0

    run(main())


@pytest.mark.parametrize("named_shared", [True, False])
def test_named_locks_exclude_whole_level_lock(named_shared: bool) -> None:
    async def main() -> None:
        lm = LockManager()
        named = await granted(lm.acquire(node("n1", shared=named_shared)))
        everything = await blocked(lm.acquire(all_nodes()))
        lm.release(named)
        lm.release(await granted(everything))
        assert lm.owned_count() == 0

    run(main())


def test_whole_level_shared_lock_coexists_with_named_shared_locks() -> None:
    async def main() -> None:
        lm = LockManager()
        everything = await granted(lm.acquire(all_nodes(shared=True)))
        named = await granted(lm.acquire(node("n1", shared=True)))
        lm.release(everything)
        lm.release(named)

    run(main())


def test_whole_level_shared_lock_excludes_named_exclusive_lock() -> None:
    async def main() -> None:
        lm = LockManager()
        readers = await granted(lm.acquire(all_nodes(shared=True)))
        writer = await blocked(lm.acquire(node("n1", shared=False)))
        lm.release(readers)
        lm.release(await granted(writer))

    run(main())


def test_other_levels_are_independent() -> None:
    async def main() -> None:
        lm = LockManager()
        a = await granted(lm.acquire(all_nodes()))
        b = await granted(lm.acquire({Level.INSTANCE: LockRequest(["i1"])}))
        lm.release(a)
        lm.release(b)

    run(main())


def test_locks_are_taken_level_by_level_and_names_sorted() -> None:
    async def main() -> None:
        lm = LockManager()
        held = await granted(
            lm.acquire(
                {
                    Level.NODE: LockRequest(["n3", "n1", "n2", "n1"]),
                    Level.INSTANCE: LockRequest(["i2", "i1"], shared=True),
                    Level.CLUSTER: LockRequest([BGL], shared=True),
                }
            )
        )
        assert [(lvl, name) for lvl, name, _ in held.held] == [
            (Level.CLUSTER, ALL),
            (Level.CLUSTER, BGL),
            (Level.INSTANCE, ALL),
            (Level.INSTANCE, "i1"),
            (Level.INSTANCE, "i2"),
            (Level.NODE, ALL),
            (Level.NODE, "n1"),
            (Level.NODE, "n2"),
            (Level.NODE, "n3"),
        ]
        assert held.names(Level.NODE) == ["n1", "n2", "n3"]
        lm.release(held)
        assert held.held == []
        assert lm.owned_count() == 0

    run(main())


def test_opposite_order_multi_lock_requests_never_deadlock() -> None:
    async def main() -> None:
        lm = LockManager()
        names = [f"n{i}" for i in range(6)]
        done = 0

        async def worker(order: list[str]) -> None:
            nonlocal done
            for _ in range(20):
                held = await lm.acquire({Level.NODE: LockRequest(order), Level.INSTANCE: LockRequest(order[:2])})
                await asyncio.sleep(0)
                lm.release(held)
                done += 1

        await asyncio.wait_for(
            asyncio.gather(worker(names), worker(names[::-1]), worker(names[2:] + names[:2]), worker(names[::-1])),
            3.0,
        )
        assert done == 80
        assert lm.owned_count() == 0

    run(main())


def test_cancel_while_waiting_leaves_nothing_held() -> None:
    async def main() -> None:
        lm = LockManager()
        blocker = await granted(lm.acquire(node("n2")))
        # takes n1 then waits for n2
        waiter = await blocked(lm.acquire({Level.INSTANCE: LockRequest(["i1"]), **node("n1", "n2")}))
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        # n1 and i1 are free again: an exclusive request gets them at once
        other = await granted(lm.acquire({Level.INSTANCE: LockRequest(["i1"]), **node("n1")}))
        lm.release(other)
        lm.release(blocker)
        assert lm.owned_count() == 0

    run(main())


def test_cancelled_waiter_does_not_block_the_queue_behind_it() -> None:
    async def main() -> None:
        lm = LockManager()
        shared = await granted(lm.acquire(node("n1", shared=True)))
        excl = await blocked(lm.acquire(node("n1")))
        late = await blocked(lm.acquire(node("n1", shared=True)))
        excl.cancel()
        lm.release(await granted(late))  # the exclusive waiter was the only thing in the way
        lm.release(shared)
        assert lm.owned_count() == 0

    run(main())


def test_release_by_level_keeps_other_levels() -> None:
    async def main() -> None:
        lm = LockManager()
        held = await granted(lm.acquire({Level.INSTANCE: LockRequest(["i1"]), **node("n1")}))
        lm.release(held, Level.NODE)
        assert held.names(Level.NODE) == []
        assert held.names(Level.INSTANCE) == ["i1"]
        # the node is free now, the instance is not
        lm.release(await granted(lm.acquire(node("n1"))))
        inst = await blocked(lm.acquire({Level.INSTANCE: LockRequest(["i1"])}))
        lm.release(held)
        lm.release(await granted(inst))
        assert lm.owned_count() == 0

    run(main())


# -- level by level ------------------------------------------------------------------------------------
def test_acquire_level_adds_lower_levels_and_refuses_going_back_up() -> None:
    async def main() -> None:
        lm = LockManager()
        held = HeldLocks()
        await granted(lm.acquire_level(held, Level.INSTANCE, LockRequest(["i1"])))
        await granted(lm.acquire_level(held, Level.NODE, LockRequest(["n1"], shared=True)))
        assert held.names(Level.INSTANCE) == ["i1"] and held.names(Level.NODE) == ["n1"]
        with pytest.raises(LockError, match="INSTANCE requested after a lower level"):
            await lm.acquire_level(held, Level.INSTANCE, LockRequest(["i2"]))
        lm.release(held)
        assert lm.owned_count() == 0

    run(main())


def test_cancelled_level_wait_releases_that_level_only() -> None:
    async def main() -> None:
        lm = LockManager()
        blocker = await granted(lm.acquire(node("n2")))
        held = HeldLocks()
        await granted(lm.acquire_level(held, Level.INSTANCE, LockRequest(["i1"])))
        waiter = await blocked(lm.acquire_level(held, Level.NODE, LockRequest(["n1", "n2"])))
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert held.names(Level.NODE) == [] and held.names(Level.INSTANCE) == ["i1"]
        lm.release(await granted(lm.acquire(node("n1"))))  # n1 was given back
        lm.release(held)
        lm.release(blocker)
        assert lm.owned_count() == 0

    run(main())


class _Op:
    OP_ID = "OP_TEST_LOCKS"


class MovingLU:
    """An LU whose node locks come from a mutable 'config' (where the instance lives)."""

    BGL_EXCLUSIVE = False

    def __init__(self, locks: LockManager, where: dict[str, str]) -> None:
        self.ctx = type("Ctx", (), {"locks": locks})()
        self.op = _Op()
        self.where = where
        self.asked: list[str] = []

    def locks_at(self, level: Level) -> LockRequest | None:
        if level == Level.INSTANCE:
            return LockRequest(["i1"])
        if level == Level.NODE:
            self.asked.append(self.where["i1"])
            return LockRequest([self.where["i1"]])
        return None


def test_node_locks_are_recomputed_when_the_instance_moved_while_waiting() -> None:
    async def main() -> None:
        lm = LockManager()
        where = {"i1": "n1"}
        lu = MovingLU(lm, where)
        blocker = await granted(lm.acquire(node("n1")))  # n1 is busy: the LU waits for it
        held = HeldLocks()
        task = await blocked(acquire_locks(lu, held))  # type: ignore[arg-type]
        where["i1"] = "n2"  # something (not holding i1) moved the instance meanwhile
        lm.release(blocker)
        await granted(task)
        assert held.names(Level.NODE) == ["n2"]  # the stale n1 was released, n2 taken
        assert lu.asked == ["n1", "n2", "n2"]
        lm.release(await granted(lm.acquire(node("n1"))))  # n1 is free again
        lm.release(held)
        assert lm.owned_count() == 0

    run(main())


def test_node_locks_that_keep_changing_fail_clearly_and_hold_nothing() -> None:
    async def main() -> None:
        lm = LockManager()
        lu = MovingLU(lm, {})
        counter = iter(range(100))
        lu.where = type("Moving", (dict,), {"__getitem__": lambda self, k: f"n{next(counter)}"})()
        held = HeldLocks()
        with pytest.raises(LockError, match="node locks of OP_TEST_LOCKS kept changing"):
            await granted(acquire_locks(lu, held))  # type: ignore[arg-type]
        assert held.names(Level.NODE) == []
        lm.release(held)
        assert lm.owned_count() == 0

    run(main())


def test_instance_lu_reads_its_nodes_only_once_the_instance_is_locked(cfg: ConfigManager) -> None:
    """LUInstanceRemove: the node locks follow the instance even if it moved before its lock was granted."""
    node1, node2 = sorted(cfg.nodes.values(), key=lambda n: n.name)
    inst = Instance(name="inst1", primary_node=node1.uuid)
    cfg.commit_sync(put=[inst])

    async def main() -> None:
        lm = LockManager()
        ctx = Context(cfg=cfg, rpc=None, locks=lm)  # type: ignore[arg-type]
        remove = LUInstanceRemove(OpInstanceRemove(instance_name="inst1"), ctx, lambda *_: None)
        mover = await granted(lm.acquire({Level.INSTANCE: LockRequest(["inst1"])}))  # e.g. a migration
        held = HeldLocks()
        task = await blocked(acquire_locks(remove, held))
        inst.primary_node = node2.uuid  # the migration commits, then lets go of the instance
        await cfg.commit([inst])
        lm.release(mover)
        await granted(task)
        assert held.names(Level.INSTANCE) == ["inst1"]
        assert held.names(Level.NODE) == ["node2"]
        lm.release(held)

    run(main())


def test_an_opportunistic_request_takes_the_free_names_and_never_waits_for_the_others() -> None:
    async def main() -> None:
        lm = LockManager()
        other = await granted(lm.acquire(node("n2")))
        opportunistic = {Level.NODE: LockRequest(["n1", "n2", "n3"], opportunistic=True)}
        got = await granted(lm.acquire(opportunistic))
        assert got.names(Level.NODE) == ["n1", "n3"]
        waiting = await blocked(lm.acquire(node("n1")))  # what it took is really held
        lm.release(got)
        await granted(waiting)
        lm.release(other)
        lm.release(waiting.result())
        assert lm.owned_count() == 0

    run(main())
