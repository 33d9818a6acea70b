"""The master's side of `gnt-debug wconfd` (lock table answers, stale lock cleanup) and of
`gnt-cluster upgrade` (config conversion only on a drained, idle queue)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest

from gnt import __version__
from gnt.cluster import upgrade as master_upgrade
from gnt.config import upgrade as formats
from gnt.config.manager import ConfigManager
from gnt.debug import wconfd
from gnt.errors import OpPrereqError
from gnt.jobs.job import JobStatus
from gnt.jobs.locking import HeldLocks, Level, LockManager, LockRequest


@dataclass
class FakeJob:
    status: JobStatus

    @property
    def finalized(self) -> bool:
        return self.status in (JobStatus.SUCCESS, JobStatus.ERROR, JobStatus.CANCELED)


@dataclass
class FakeQueue:
    jobs: dict[int, FakeJob] = field(default_factory=dict)
    drained: bool = False


@dataclass
class FakeMaster:
    cfg: Any
    locks: LockManager = field(default_factory=LockManager)
    queue: FakeQueue = field(default_factory=FakeQueue)


def _hold(locks: LockManager, job: int, wanted: dict[Level, LockRequest]) -> HeldLocks:
    async def take() -> HeldLocks:
        held = HeldLocks(owner=f"job/{job}")
        for level in sorted(wanted):
            await locks.acquire_level(held, level, wanted[level])
        return held

    return asyncio.run(take())


def test_lock_answers_name_each_lock_its_owners_and_modes(cfg: ConfigManager) -> None:
    master = FakeMaster(cfg)
    master.queue.jobs = {3: FakeJob(JobStatus.RUNNING), 4: FakeJob(JobStatus.RUNNING)}
    _hold(master.locks, 3, {Level.CLUSTER: LockRequest(["BGL"], shared=True), Level.INSTANCE: LockRequest(["web1"])})
    _hold(master.locks, 4, {Level.CLUSTER: LockRequest(["BGL"], shared=True)})
    run = lambda c, *a: asyncio.run(wconfd.run_command(master, c, list(a)))  # noqa: E731
    assert run("echo", "hi") == "hi"
    assert run("listlocks", "3") == [
        ["cluster/BGL", "shared"],
        ["instance/[lockset]", "shared"],
        ["instance/web1", "exclusive"],
    ]
    assert run("listalllocks") == ["cluster/BGL", "instance/[lockset]", "instance/web1"]
    assert run("listalllocksowners")[0] == ["cluster/BGL", [["job/3", "shared"], ["job/4", "shared"]]]
    with pytest.raises(OpPrereqError, match="Job 99 not found"):
        run("listlocks", "99")
    with pytest.raises(OpPrereqError, match="Command 'bogus' not supported"):
        run("bogus")


def test_cleanuplocks_frees_locks_of_finished_jobs_and_wakes_their_waiters(cfg: ConfigManager) -> None:
    master = FakeMaster(cfg)
    master.queue.jobs = {3: FakeJob(JobStatus.ERROR), 4: FakeJob(JobStatus.RUNNING)}
    _hold(master.locks, 3, {Level.INSTANCE: LockRequest(["web1"])})  # job 3 died without releasing

    async def scenario() -> list[Any]:
        held = HeldLocks(owner="job/4")
        waiter = asyncio.ensure_future(master.locks.acquire_level(held, Level.INSTANCE, LockRequest(["web1"])))
        await asyncio.sleep(0.01)
        assert not waiter.done()
        assert await wconfd.run_command(master, "cleanuplocks", []) == 2  # the lock and its level intent
        await asyncio.wait_for(waiter, 5)
        return await wconfd.run_command(master, "listalllocksowners", [])

    owners = asyncio.run(scenario())
    assert ["instance/web1", [["job/4", "exclusive"]]] in owners
    assert all(who == "job/4" for _, pairs in owners for who, _ in pairs)


def test_the_config_is_converted_only_on_a_drained_idle_queue(cfg: ConfigManager, monkeypatch: Any) -> None:
    master = FakeMaster(cfg)
    with pytest.raises(OpPrereqError, match="must be drained"):
        asyncio.run(master_upgrade.convert_config(master, __version__))
    master.queue.drained = True
    master.queue.jobs = {7: FakeJob(JobStatus.WAITING)}
    with pytest.raises(OpPrereqError, match="Jobs still running or queued: 7"):
        asyncio.run(master_upgrade.convert_config(master, __version__))
    master.queue.jobs = {7: FakeJob(JobStatus.SUCCESS)}

    # a release two formats ahead: node objects go through a renamed field and back
    def rename(old: str, new: str) -> Any:
        def step(snapshot: dict[str, Any]) -> dict[str, Any]:
            nodes = snapshot["node"]
            renamed = {u: {**{k: v for k, v in d.items() if k != old}, new: d[old]} for u, d in nodes.items()}
            return {**snapshot, "node": renamed}

        return step

    steps = [
        formats.Step(100, 101, rename("name", "n"), rename("n", "name")),
        formats.Step(101, 102, rename("n", "name"), rename("name", "n")),
    ]
    monkeypatch.setattr(formats, "STEPS", steps)
    monkeypatch.setattr(formats, "RELEASES", {**formats.RELEASES, "0.3.0": 102})
    serial = cfg.serial
    done = asyncio.run(master_upgrade.convert_config(master, "0.3.0"))
    assert done == {"from": 100, "to": 102, "steps": 2}
    assert cfg.cluster.config_version == 102 and cfg.serial == serial + 1
    assert sorted(n.name for n in cfg.nodes.values()) == ["node1", "node2"]
    reloaded = ConfigManager(cfg._writer)
    reloaded.load()
    assert reloaded.cluster.config_version == 102


def test_a_late_release_after_cleanup_changes_nothing() -> None:
    locks = LockManager()
    held = _hold(locks, 5, {Level.NODE: LockRequest(["node1"])})
    assert locks.drop_owners({"job/5"}) == 2
    locks.release(held)  # the owner's own release, after the cleanup: nothing left to release
    assert locks.owned_count() == 0
    again = _hold(locks, 6, {Level.NODE: LockRequest(["node1"])})
    assert [name for _, name, holders, _ in locks.table() if holders] == ["__all__", "node1"]
    locks.release(again)
