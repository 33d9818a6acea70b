"""Fake-hypervisor live migration between two driver objects (two virtual nodes) over loopback TCP."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from backends.fake import FakeHypervisor
from gnt.errors import HypervisorError
from gnt.runtime import MigrationPhase, MigrationStatus, RunState
from tests.unit.backends.fake_helpers import TICK, Factory, async_test, counter, kill_guests, spec, state, wait_for


@pytest.fixture
def node(tmp_path: Any) -> Iterator[Factory]:
    """Builds drivers for virtual nodes; kills every guest they started (by recorded pid)."""
    made: list[FakeHypervisor] = []

    def make(name: str, memory_mb: int = 4096, **kwargs: Any) -> FakeHypervisor:
        hv = FakeHypervisor(run_dir=str(tmp_path / name / "run"), memory_mb=memory_mb, dom0_mb=512, tick=TICK, **kwargs)
        made.append(hv)
        return hv

    yield make
    for hv in made:
        kill_guests(hv.run_dir())


ADDRESS = "127.0.0.1"
MIB = 1024 * 1024


async def final_status(hv, inst, timeout: float = 5.0) -> MigrationStatus:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        status = await hv.migration_status(inst)
        if status.phase != MigrationPhase.ACTIVE:
            return status
        assert time.monotonic() < deadline, "migration did not finish"
        await asyncio.sleep(0.01)


@async_test
async def test_live_migration_moves_the_guest_and_its_counter_keeps_counting(node: Factory) -> None:
    src, dst = node("node1"), node("node2")
    inst = spec(memory=256)
    await src.start(inst)
    await asyncio.sleep(10 * TICK)
    info = await dst.accept_instance(inst, ADDRESS)
    assert info["port"] > 0
    assert await state(dst) == RunState.PAUSED
    assert (await dst.node_info())["memory_free"] == 4096 - 512 - 256  # the landing guest is counted
    await src.migrate_instance(inst, ADDRESS, info, live=True)
    seen_active = await src.migration_status(inst)
    assert seen_active.phase == MigrationPhase.ACTIVE and seen_active.total >= 256 * MIB
    status = await final_status(src, inst)
    assert status.phase == MigrationPhase.COMPLETED, status.message
    assert status.transferred >= 256 * MIB and status.remaining == 0
    assert status.downtime is not None and status.total_time is not None
    assert status.total_time >= 200  # 256 MiB at the default 1 GiB/s: ~250 ms
    moved = status.extra["counter"]
    assert moved >= 5
    assert await state(src) == RunState.PAUSED  # the source stays paused until finalized
    await dst.finalize_migration_dst(inst, info, success=True)
    await src.finalize_migration_src(inst, success=True)
    assert await src.list_instances() == []
    assert (await src.node_info())["memory_free"] == 4096 - 512
    assert await state(dst) == RunState.RUNNING
    assert await counter(dst) >= moved
    await asyncio.sleep(5 * TICK)
    assert await counter(dst) > moved  # counts on from the migrated state


@async_test
async def test_non_live_migration_pauses_for_the_whole_transfer(node: Factory) -> None:
    src, dst = node("node1", bandwidth_mbps=4096), node("node2")
    inst = spec(memory=512)
    await src.start(inst)
    info = await dst.accept_instance(inst, ADDRESS)
    await src.migrate_instance(inst, ADDRESS, info, live=False)
    await asyncio.sleep(0.03)
    assert await state(src) == RunState.PAUSED
    status = await final_status(src, inst)
    assert status.phase == MigrationPhase.COMPLETED
    assert status.downtime is not None and status.downtime >= 100  # 512 MiB at 4 GiB/s
    await dst.finalize_migration_dst(inst, info, success=True)
    await src.finalize_migration_src(inst, success=True)
    assert await state(dst) == RunState.RUNNING


@async_test
async def test_migration_to_a_dead_target_fails_and_the_source_keeps_running(node: Factory) -> None:
    src = node("node1")
    inst = spec()
    await src.start(inst)
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind((ADDRESS, 0))
        port = sock.getsockname()[1]
    before = await counter(src)
    await src.migrate_instance(inst, ADDRESS, {"port": port}, live=True)
    status = await final_status(src, inst)
    assert status.phase == MigrationPhase.FAILED
    assert f"to {ADDRESS}:{port} failed" in status.message and "efused" in status.message
    await src.finalize_migration_src(inst, success=False)
    assert await state(src) == RunState.RUNNING
    await wait_for(lambda: _counter_above(src, before + 2))


@async_test
async def test_target_dying_mid_transfer_fails_and_the_source_keeps_running(node: Factory) -> None:
    src, dst = node("node1", bandwidth_mbps=64), node("node2")
    inst = spec(memory=1024)  # ~16 s at 64 MiB/s: time to kill the target even on a loaded machine
    await src.start(inst)
    info = await dst.accept_instance(inst, ADDRESS)
    await src.migrate_instance(inst, ADDRESS, info, live=True)
    await wait_for(lambda: _transferred(src, inst))
    await dst.finalize_migration_dst(inst, info, success=False)  # the target gives up mid-way
    status = await final_status(src, inst)
    assert status.phase == MigrationPhase.FAILED
    assert "closed the connection" in status.message
    await src.finalize_migration_src(inst, success=False)
    assert await state(src) == RunState.RUNNING
    assert await dst.list_instances() == []


@async_test
async def test_abort_cancels_and_the_source_keeps_running(node: Factory) -> None:
    src, dst = node("node1", bandwidth_mbps=256), node("node2")
    inst = spec(memory=1024)
    await src.start(inst)
    info = await dst.accept_instance(inst, ADDRESS)
    await src.migrate_instance(inst, ADDRESS, info, live=False)  # pauses the source at once
    await wait_for(lambda: _transferred(src, inst))
    await src.abort_migration(inst)
    status = await src.migration_status(inst)
    assert status.phase == MigrationPhase.CANCELLED
    assert 0 < status.transferred < 1024 * MIB
    assert await state(src) == RunState.RUNNING  # resumed after the cancelled stop-and-copy
    await dst.finalize_migration_dst(inst, info, success=False)
    await src.finalize_migration_src(inst, success=False)
    assert await dst.list_instances() == []
    assert await state(src) == RunState.RUNNING


@async_test
async def test_accept_refuses_without_memory_or_when_running(node: Factory) -> None:
    dst = node("node2", memory_mb=1024)
    with pytest.raises(HypervisorError, match="Not enough memory to accept instance big: needed 1024 MiB"):
        await dst.accept_instance(spec("big", memory=1024), ADDRESS)
    await dst.start(spec("here"))
    with pytest.raises(HypervisorError, match="already running"):
        await dst.accept_instance(spec("here"), ADDRESS)
    assert await dst.list_instances() == ["here"]


@async_test
async def test_finalize_dst_without_a_completed_transfer_is_an_error(node: Factory) -> None:
    dst = node("node2")
    inst = spec()
    info = await dst.accept_instance(inst, ADDRESS)
    with pytest.raises(HypervisorError, match="not complete"):
        await dst.finalize_migration_dst(inst, info, success=True)
    await dst.finalize_migration_dst(inst, info, success=False)
    assert await dst.list_instances() == []


@async_test
async def test_migrate_refuses_a_guest_that_is_not_running(node: Factory) -> None:
    src = node("node1")
    with pytest.raises(HypervisorError, match="not running"):
        await src.migrate_instance(spec(), ADDRESS, {"port": 1}, live=True)
    status = await src.migration_status(spec())
    assert status.phase == MigrationPhase.FAILED and "No migration" in status.message


async def _counter_above(hv, value: int) -> bool:  # type: ignore[no-untyped-def]
    return await counter(hv) > value


async def _transferred(hv, inst) -> bool:  # type: ignore[no-untyped-def]
    return (await hv.migration_status(inst)).transferred > 0
