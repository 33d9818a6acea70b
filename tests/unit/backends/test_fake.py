"""The fake hypervisor: real guest processes, memory accounting, crash vs shutdown, restarts."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest

import backends
from backends.fake import FakeHypervisor, _proc
from gnt.errors import HypervisorError
from gnt.runtime import RunState
from tests.unit.backends.fake_helpers import TICK, Factory, async_test, counter, kill_guests, spec, state, wait_for


@pytest.fixture
def node(tmp_path: Any) -> Iterator[Factory]:
    made: list[FakeHypervisor] = []

    def make(name: str = "node1", memory_mb: int = 4096, **kwargs: Any) -> FakeHypervisor:
        hv = FakeHypervisor(
            run_dir=str(tmp_path / name / "run"), memory_mb=memory_mb, dom0_mb=512, cpus=4, tick=TICK, **kwargs
        )
        made.append(hv)
        return hv

    yield make
    for hv in made:
        kill_guests(hv.run_dir())


def test_registry_builds_fake_driver_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setenv("GNT_ROOTDIR", str(tmp_path / "node1"))
    monkeypatch.setenv("GNT_FAKE_MEMORY_MB", "1024")
    hv = backends.get("fake")
    assert hv.name == "fake"
    assert isinstance(hv, FakeHypervisor)
    assert hv.run_dir() == str(tmp_path / "node1" / "var/run/gnt/instances/fake")
    info = asyncio.run(hv.node_info())
    assert info["memory_total"] == 1024
    assert info["memory_free"] == 1024 - info["memory_dom0"]


@async_test
async def test_start_runs_a_real_process_whose_counter_ticks(node: Factory) -> None:
    hv = node()
    await hv.start(spec())
    info = await hv.instance_info("inst1")
    assert info is not None and info.state == RunState.RUNNING
    assert info.pid is not None and os.path.exists(f"/proc/{info.pid}")
    # Double-forked: the guest is not our child, so the node daemon never has to reap it.
    with open(f"/proc/{info.pid}/stat") as fh:
        ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
    assert ppid != os.getpid()
    first = await counter(hv)
    await asyncio.sleep(10 * TICK)
    assert await counter(hv) > first
    assert await hv.list_instances() == ["inst1"]
    assert "guest booting" in _read(info.extra["console"])


@async_test
async def test_start_twice_is_refused(node: Factory) -> None:
    hv = node()
    await hv.start(spec())
    with pytest.raises(HypervisorError, match="already running"):
        await hv.start(spec())


@async_test
async def test_memory_accounting_and_not_enough_memory(node: Factory) -> None:
    hv = node(memory_mb=1024)  # 512 MiB left after dom0
    await hv.start(spec("a", memory=384))
    info = await hv.node_info()
    assert (info["memory_total"], info["memory_dom0"], info["memory_free"]) == (1024, 512, 128)
    assert (info["cpu_total"], info["cpu_nodes"], info["cpu_sockets"]) == (4, 1, 1)
    with pytest.raises(HypervisorError) as err:
        await hv.start(spec("b", memory=256))
    assert str(err.value) == "Not enough memory to start instance b: needed 256 MiB, available 128 MiB"
    assert await hv.list_instances() == ["a"]
    await hv.stop(spec("a"), timeout=5)
    assert (await hv.node_info())["memory_free"] == 512
    await hv.start(spec("b", memory=256))


@async_test
async def test_parallel_starts_never_overcommit(node: Factory) -> None:
    hv = node(memory_mb=1024)
    results = await asyncio.gather(*(hv.start(spec(f"i{n}", memory=128)) for n in range(6)), return_exceptions=True)
    assert sum(r is None for r in results) == 4
    assert all(isinstance(r, HypervisorError) for r in results if r is not None)
    assert (await hv.node_info())["memory_free"] == 0


@async_test
async def test_sigkill_is_a_crash_and_frees_memory(node: Factory) -> None:
    hv = node()
    await hv.start(spec())
    info = await hv.instance_info("inst1")
    assert info is not None and info.pid is not None
    os.kill(info.pid, signal.SIGKILL)
    await wait_for(lambda: _is(hv, RunState.CRASHED))
    crashed = await hv.instance_info("inst1")
    assert crashed is not None and crashed.pid is None
    assert (await hv.node_info())["memory_free"] == 4096 - 512
    await hv.cleanup("inst1")
    assert await hv.instance_info("inst1") is None
    await hv.start(spec())
    assert await state(hv) == RunState.RUNNING


@async_test
async def test_guest_poweroff_is_a_user_shutdown_not_a_crash(node: Factory) -> None:
    hv = node()
    await hv.start(spec())
    await hv.guest_poweroff("inst1")
    await wait_for(lambda: _is(hv, RunState.SHUTDOWN))
    assert "Power down" in _read(os.path.join(hv.run_dir(), "inst1", "console.log"))
    await hv.cleanup("inst1")
    assert await hv.list_instances() == []


@async_test
async def test_cleanup_refuses_a_running_guest(node: Factory) -> None:
    hv = node()
    await hv.start(spec())
    with pytest.raises(HypervisorError, match="still running"):
        await hv.cleanup("inst1")


@async_test
async def test_stop_is_clean_then_forgets_and_is_idempotent(node: Factory) -> None:
    hv = node()
    await hv.start(spec())
    info = await hv.instance_info("inst1")
    assert info is not None and info.pid is not None
    await hv.stop(spec(), timeout=5)
    assert await hv.instance_info("inst1") is None
    assert not _proc.is_ours(info.pid, os.path.join(hv.run_dir(), "inst1"))
    await hv.stop(spec(), timeout=5)  # not running: a no-op success
    await hv.stop(spec("never-started"), timeout=5, force=True)


@async_test
async def test_stop_force_and_paused_guests_are_killed(node: Factory) -> None:
    hv = node()
    await hv.start(spec("a"))
    await hv.start(spec("b"), paused=True)
    assert await state(hv, "b") == RunState.PAUSED
    started = time.monotonic()
    await hv.stop(spec("a"), timeout=30, force=True)
    await hv.stop(spec("b"), timeout=30)  # a paused guest ignores ACPI: do not wait 30 s for it
    assert time.monotonic() - started < 15  # far below the 30 s a wait for the paused guest would take
    assert await hv.list_instances() == []


@async_test
async def test_paused_start_holds_the_counter_until_resumed(node: Factory) -> None:
    hv = node()
    await hv.start(spec(), paused=True)
    await asyncio.sleep(5 * TICK)
    assert await counter(hv) == 0
    await hv.resume("inst1")
    await wait_for(lambda: _counter_above(hv, 2))
    assert await state(hv) == RunState.RUNNING


@async_test
async def test_soft_reboot_keeps_process_and_counter_hard_reboot_resets(node: Factory) -> None:
    hv = node()
    await hv.start(spec())
    await asyncio.sleep(5 * TICK)
    before = await hv.instance_info("inst1")
    assert before is not None
    await hv.reboot(spec())
    soft = await hv.instance_info("inst1")
    assert soft is not None
    assert soft.pid == before.pid and soft.extra["boots"] == 1
    assert soft.extra["counter"] >= before.extra["counter"]
    assert soft.uptime < before.uptime
    await hv.reboot(spec(), hard=True)
    hard = await hv.instance_info("inst1")
    assert hard is not None
    assert hard.pid != before.pid and hard.extra["boots"] == 2 and hard.extra["counter"] < 3
    assert not _proc.is_ours(before.pid or 0, os.path.join(hv.run_dir(), "inst1"))
    await hv.stop(spec(), timeout=5)
    with pytest.raises(HypervisorError, match="not running"):
        await hv.reboot(spec())


@async_test
async def test_restarted_driver_finds_running_guests(node: Factory) -> None:
    hv = node()
    await hv.start(spec("a", memory=256))
    await hv.start(spec("b"))
    pid_a = (await hv.instance_info("a")).pid  # type: ignore[union-attr]
    fresh = FakeHypervisor(run_dir=hv.run_dir(), memory_mb=4096, dom0_mb=512, tick=TICK)
    assert await fresh.list_instances() == ["a", "b"]
    infos = await fresh.all_instances_info()
    assert infos["a"].pid == pid_a and infos["a"].state == RunState.RUNNING
    assert (await fresh.node_info())["memory_free"] == 4096 - 512 - 256 - 128
    first = infos["a"].extra["counter"]
    await wait_for(lambda: _counter_above(fresh, first + 2, "a"))
    with pytest.raises(HypervisorError, match="already running"):
        await fresh.start(spec("a", memory=256))


@async_test
async def test_recycled_pid_is_not_taken_for_the_guest(node: Factory) -> None:
    hv = node()
    await hv.start(spec())
    info = await hv.instance_info("inst1")
    assert info is not None and info.pid is not None
    os.kill(info.pid, signal.SIGKILL)
    await wait_for(lambda: _is(hv, RunState.CRASHED))
    # The pid file now names an unrelated live process (this test runner): never ours.
    with open(os.path.join(hv.run_dir(), "inst1", "pid"), "w") as fh:
        fh.write(f"{os.getpid()}\n")
    assert await state(hv) == RunState.CRASHED
    await hv.stop(spec(), timeout=1, force=True)  # must not signal the test runner
    assert await hv.instance_info("inst1") is None


@async_test
async def test_console_command_tails_the_console_log(node: Factory) -> None:
    hv = node()
    await hv.start(spec())
    argv = hv.console_command(spec())
    assert argv[0] == "tail" and "-f" in argv
    assert argv[-1] == os.path.join(hv.run_dir(), "inst1", "console.log")
    assert os.path.isfile(argv[-1])


@async_test
async def test_verify_reports_a_healthy_driver(node: Factory) -> None:
    assert await node().verify() == []


async def _is(hv: FakeHypervisor, wanted: RunState, name: str = "inst1") -> bool:
    return await state(hv, name) == wanted


async def _counter_above(hv: FakeHypervisor, value: int, name: str = "inst1") -> bool:
    return await counter(hv, name) > value


def _read(path: str) -> str:
    with open(path) as fh:
        return fh.read()
