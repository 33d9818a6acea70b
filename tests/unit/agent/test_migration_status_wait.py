"""migration_status with `wait`: the node answers the moment the migration ends, without polling
a driver that can wait for the end itself (Xen: the xl process's exit), and a driver without such
an event is asked every few ms (backends.base's default)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from agent import handlers
from backends.base import Hypervisor
from backends.xen.driver import XenPvmHypervisor
from backends.xen.livemigrate import XlMigration
from gnt.rpc import procedures as proc
from gnt.runtime import InstanceSpec, MigrationPhase, MigrationStatus

SPEC = InstanceSpec(name="m1", uuid="i1", hypervisor="xen-pvm", memory=64, vcpus=1)


class EndsAfter:
    """A driver whose migration ends `seconds` after it started; counts the status questions."""

    def __init__(self, seconds: float, event: bool) -> None:
        self.end = time.monotonic() + seconds
        self.asked = 0
        if event:
            self.wait_migration = self._until_end  # type: ignore[method-assign]

    async def migration_status(self, spec: InstanceSpec) -> MigrationStatus:
        self.asked += 1
        phase = MigrationPhase.COMPLETED if time.monotonic() >= self.end else MigrationPhase.ACTIVE
        return MigrationStatus(phase)

    async def wait_migration(self, spec: InstanceSpec, timeout: float) -> None:
        await Hypervisor.wait_migration(self, spec, timeout)  # type: ignore[arg-type]

    async def _until_end(self, spec: InstanceSpec, timeout: float) -> None:
        await asyncio.sleep(min(timeout, max(0.0, self.end - time.monotonic())))


@pytest.mark.parametrize("event", [True, False])
def test_the_answer_comes_when_the_migration_ends(monkeypatch: pytest.MonkeyPatch, event: bool) -> None:
    hv = EndsAfter(0.2, event)
    monkeypatch.setattr(handlers.backends, "get", lambda name: hv)
    answer: Any = asyncio.run(handlers.migration_status(proc.MigrationStatusArgs(SPEC, wait=5.0)))
    assert answer["phase"] == "completed"
    if event:
        assert hv.asked == 2  # once before the wait, once after the end: no polling in between
    else:
        assert hv.asked > 5  # polled every few ms


def test_a_running_migration_is_reported_active_after_the_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    hv = EndsAfter(60, event=True)
    monkeypatch.setattr(handlers.backends, "get", lambda name: hv)
    answer: Any = asyncio.run(handlers.migration_status(proc.MigrationStatusArgs(SPEC, wait=0.05)))
    assert answer["phase"] == "active" and hv.asked == 2


def test_xen_waits_for_the_xl_process_to_exit(tmp_path: Any) -> None:
    hv = XenPvmHypervisor(run_dir=str(tmp_path))

    async def scenario() -> tuple[bool, int | None]:
        xl = await asyncio.create_subprocess_exec("sleep", "600")
        hv._migrations["m1"] = XlMigration(xl, str(tmp_path / "migrate.log"))
        await hv.wait_migration(SPEC, 0.01)  # still sending: back after the timeout
        running = xl.returncode is None
        asyncio.get_running_loop().call_later(0.05, xl.kill)  # the transfer ends
        # back at the exit: a wait that ran to its 600 s would trip the outer bound
        await asyncio.wait_for(hv.wait_migration(SPEC, 600), 60)
        return running, xl.returncode

    running, returncode = asyncio.run(scenario())
    assert running and returncode is not None
    nothing = InstanceSpec(name="none", uuid="i2", hypervisor="xen-pvm", memory=64, vcpus=1)
    asyncio.run(asyncio.wait_for(hv.wait_migration(nothing, 600), 60))  # no migration here: back at once
