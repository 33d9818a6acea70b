"""The node's uid pool allocator (backends.kvm.uids) and its use by the kvm driver: no uid is handed
out twice, a stopped guest's uid is free again, a dead holder's lock file is taken over, a uid some
process runs as is skipped, and QEMU really runs as the uid (when this machine can show it)."""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from backends.kvm import KvmHypervisor, proc
from backends.kvm.uids import UidLocks, uids_in_use
from gnt import uidpool
from gnt.errors import HypervisorError
from gnt.runtime import InstanceSpec


def _locks(tmp_path: Path, seed: int = 1) -> UidLocks:
    fake_proc = tmp_path / "proc"
    fake_proc.mkdir(exist_ok=True)
    return UidLocks(str(tmp_path / "uid-pool"), proc_root=str(fake_proc), rng=random.Random(seed))


def test_no_uid_is_handed_out_twice_and_an_exhausted_pool_says_so(tmp_path: Path) -> None:
    locks = _locks(tmp_path)
    pool = [(100, 102), (200, 201)]
    got = [locks.acquire(pool, f"inst{i}") for i in range(5)]
    assert sorted(got) == [100, 101, 102, 200, 201]
    with pytest.raises(HypervisorError, match=r"no free user-id in the pool \(100-102, 200-201\)"):
        locks.acquire(pool, "inst5")


def test_overlapping_ranges_still_give_each_uid_once(tmp_path: Path) -> None:
    locks = _locks(tmp_path)
    pool = uidpool.add([[10, 13]], [[12, 15], [10, 13], [13, 13]])
    got = [locks.acquire(pool, f"inst{i}") for i in range(6)]
    assert sorted(got) == [10, 11, 12, 13, 14, 15]
    with pytest.raises(HypervisorError, match="no free user-id"):
        locks.acquire(pool, "one-more")


def test_an_empty_pool_fails_with_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(HypervisorError, match="user-id pool is empty.*--add-uids"):
        _locks(tmp_path).acquire([], "web1")


def test_a_released_uid_is_free_again_and_release_keeps_another_holders_lock(tmp_path: Path) -> None:
    locks = _locks(tmp_path)
    uid = locks.acquire([(7, 7)], "web1")
    locks.release(uid, "someone-else")  # not its holder: the lock stays
    with pytest.raises(HypervisorError, match="no free user-id"):
        locks.acquire([(7, 7)], "web2")
    locks.release(uid, "web1")
    assert not (tmp_path / "uid-pool" / "7").exists()
    assert locks.acquire([(7, 7)], "web2") == 7


def test_a_dead_holders_lock_is_reclaimed_but_a_live_ones_is_not(tmp_path: Path) -> None:
    locks = _locks(tmp_path)
    assert locks.acquire([(7, 7)], "crashed") == 7
    child = subprocess.Popen(["sleep", "30"])
    try:
        locks.claim(7, "crashed", child.pid, proc.process_start_time(child.pid))
        with pytest.raises(HypervisorError, match="no free user-id"):
            locks.acquire([(7, 7)], "web2")  # its QEMU still runs
    finally:
        child.kill()
        child.wait()
    assert locks.acquire([(7, 7)], "web2") == 7  # the process died without a stop: the uid is taken over
    assert locks.read(7)["instance"] == "web2"


def test_a_reused_pid_does_not_keep_a_stale_lock(tmp_path: Path) -> None:
    locks = _locks(tmp_path)
    locks.acquire([(7, 7)], "old")
    locks.claim(7, "old", os.getpid(), 1)  # this pid, but another process's start time
    assert locks.acquire([(7, 7)], "new") == 7


def test_a_uid_a_process_runs_as_is_skipped(tmp_path: Path) -> None:
    locks = _locks(tmp_path)
    status = tmp_path / "proc" / "4242"
    status.mkdir(parents=True)
    (status / "status").write_text("Name:\tsomething\nUid:\t8\t8\t8\t8\nGid:\t0\t0\t0\t0\n")
    assert uids_in_use(str(tmp_path / "proc")) == {8}
    assert {locks.acquire([(8, 9)], "a")} == {9}
    with pytest.raises(HypervisorError, match="no free user-id"):
        locks.acquire([(8, 9)], "b")


def test_the_whole_uid_range_is_searched_without_expanding_it(tmp_path: Path) -> None:
    locks = _locks(tmp_path)
    pool = [(0, uidpool.UID_MAX)]
    got = {locks.acquire(pool, f"i{n}") for n in range(20)}
    assert len(got) == 20 and all(0 <= uid <= uidpool.UID_MAX for uid in got)


def test_claim_needs_the_lock_to_be_the_instances(tmp_path: Path) -> None:
    locks = _locks(tmp_path)
    locks.acquire([(7, 7)], "web1")
    with pytest.raises(HypervisorError, match="no longer locked"):
        locks.claim(7, "web2", os.getpid(), None)


# -- the driver: a real QEMU (no disks, paused at the firmware) run as a pool uid -------------------

QEMU = "/usr/bin/qemu-system-x86_64"
POOL = [(61000, 61003)]


def _driver(tmp_path: Path, pool: list[tuple[int, int]]) -> KvmHypervisor:
    return KvmHypervisor(
        run_dir=str(tmp_path / "run"),
        data_dir=str(tmp_path / "data"),
        accel="tcg",
        uid_dir=str(tmp_path / "uid-pool"),
        uid_pool=lambda: pool,
    )


def _spec(name: str, **hv: object) -> InstanceSpec:
    uuid = f"6f1c4a52-0000-4000-8000-{abs(hash(name)) % 10**12:012d}"
    return InstanceSpec(name, uuid, "kvm", 64, 1, hvparams={"serial_console": False, **hv})


def _uid_of(pid: int) -> int:
    with open(f"/proc/{pid}/status") as handle:
        line = next(line for line in handle if line.startswith("Uid:"))
    return int(line.split()[1])


def test_security_model_pool_without_a_pool_fails_before_qemu_starts(tmp_path: Path) -> None:
    kvm = _driver(tmp_path, [])
    with pytest.raises(HypervisorError, match="user-id pool is empty"):
        asyncio.run(kvm.start(_spec("vm1", security_model="pool"), paused=True))
    assert not (tmp_path / "run" / "vm1").exists()


def test_an_unknown_security_domain_user_is_refused(tmp_path: Path) -> None:
    kvm = _driver(tmp_path, POOL)
    with pytest.raises(HypervisorError, match="Unknown security domain user no-such-user-gnt"):
        asyncio.run(kvm.start(_spec("vm1", security_model="user", security_domain="no-such-user-gnt"), paused=True))


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which(QEMU), reason="needs root and QEMU to switch uids")
def test_qemu_runs_as_a_pool_uid_and_gives_it_back_on_stop(tmp_path: Path) -> None:
    kvm = _driver(tmp_path, POOL)

    async def scenario() -> tuple[list[int], list[str], list[str]]:
        specs = [_spec(f"vm{i}", security_model="pool") for i in range(2)]
        for spec in specs:
            await kvm.start(spec, paused=True)
        try:
            states = [kvm.load(spec.name) or {} for spec in specs]
            uids = [_uid_of(state["pid"]) for state in states]
            assert uids == [state["uid"] for state in states]
            assert [a for a in states[0]["argv"] if a.startswith("6100")] == [f"{uids[0]}:{uids[0]}"]
            held = sorted(os.listdir(tmp_path / "uid-pool"))
        finally:
            for spec in specs:
                await kvm.stop(spec, 0, force=True)
        return uids, held, sorted(os.listdir(tmp_path / "uid-pool"))

    uids, held, after = asyncio.run(scenario())
    assert len(set(uids)) == 2 and all(61000 <= uid <= 61003 for uid in uids)
    assert held == sorted([".lock", *map(str, uids)])
    assert after == [".lock"]  # both given back
