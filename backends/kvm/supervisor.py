"""The source-side migration supervisor: a task per outgoing migration, on QEMU's second monitor.

It exists because two moments cannot wait for the master's next poll: starting the RAM phase the
moment every disk mirror is ready, and completing the mirrors while QEMU holds the stopped guest
in `pre-switchover` (every extra millisecond there is guest downtime). It also applies the
convergence policy (policy.py) every 200 ms, whatever the master's polling interval. MIGRATION
events wake it at once. If the node daemon restarts mid-migration, `migration_status` starts a
new supervisor from the state in runtime.json.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING, Any

from qemu.qmp import EventListener

from backends.kvm.policy import Limits, PolicyState, decide
from backends.kvm.qmp import Monitor, session
from gnt import disktypes
from gnt.errors import HypervisorError
from gnt.runtime import DiskSpec, InstanceSpec, MigrationPhase, MigrationStatus

if TYPE_CHECKING:
    from backends.kvm.driver import KvmBase

__all__ = ["Supervisor", "local_disks", "status_from_query"]

POLL = 0.2
#: QEMU's largest downtime-limit (ms): with it, the next iteration check switches over.
FORCE_DOWNTIME = 2_000_000
_FINAL = {"completed", "failed", "cancelled"}
_PHASES = {
    "completed": MigrationPhase.COMPLETED,
    "failed": MigrationPhase.FAILED,
    "cancelled": MigrationPhase.CANCELLED,
    "postcopy-paused": MigrationPhase.FAILED,
}


def local_disks(spec: InstanceSpec) -> list[DiskSpec]:
    """Disks whose data lives on one node only (gnt.disktypes): mirrored to the target over NBD."""
    return [d for d in spec.disks if disktypes.kind(d.dev_type).is_local]


def status_from_query(info: dict[str, Any], uri: str, actions: list[dict[str, Any]]) -> MigrationStatus:
    """Map a `query-migrate` answer to the master's MigrationStatus."""
    status = str(info.get("status", "none"))
    ram = info.get("ram") or {}
    phase = _PHASES.get(status, MigrationPhase.ACTIVE)
    if status == "completed" and not info.get("total-time"):
        # QEMU sets "completed" a moment before it fills in total-time and downtime (and before the
        # source reaches postmigrate): report it once the figures are there.
        phase = MigrationPhase.ACTIVE
    message = actions[-1]["action"] if actions else ""
    if status == "failed":
        message = f"migration to {uri} failed: {info.get('error-desc', 'unknown error')}; the source keeps the guest"
    elif status == "postcopy-paused":
        message = "post-copy interrupted: the guest is paused on both nodes until the link is recovered"
    return MigrationStatus(
        phase=phase,
        transferred=int(ram.get("transferred", 0)),
        remaining=int(ram.get("remaining", 0)),
        total=int(ram.get("total", 0)),
        dirty_rate=int(ram.get("dirty-pages-rate", 0)),
        expected_downtime=int(info.get("expected-downtime", 0)),
        downtime=info.get("downtime"),
        total_time=info.get("total-time"),
        message=message,
        extra={
            "qemu_status": status,
            "actions": actions,
            "mbps": ram.get("mbps"),
            "setup_time": info.get("setup-time"),
            "cpu_throttle": info.get("cpu-throttle-percentage", 0),
            "iterations": ram.get("dirty-sync-count"),
        },
    )


class Supervisor:
    """Drives one outgoing migration from mirror to switchover; records outcome in runtime.json."""

    def __init__(self, driver: KvmBase, name: str, limits: Limits) -> None:
        self.driver = driver
        self.name = name
        self.limits = limits
        self.policy: PolicyState | None = None
        self._task: asyncio.Task[None] | None = None
        self._forced = False
        self._switched = False  # migrate-continue (or the cancel) sent: QEMU may still say pre-switchover

    @property
    def done(self) -> bool:
        return self._task is None or self._task.done()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"kvm-migrate-{self.name}")

    async def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    def _migration(self) -> dict[str, Any]:
        return (self.driver.load(self.name) or {}).get("migration") or {}

    def _record(self, **changes: Any) -> None:
        state = self.driver.load(self.name)
        if state and state.get("migration"):
            state["migration"].update(changes)
            self.driver.save(self.name, state)

    async def _run(self) -> None:
        label = f"kvm:{self.name}:migration"
        try:
            async with session(self.driver.paths_for(self.name).qmp_mig, label) as mon:
                listener = EventListener(("MIGRATION", "MIGRATION_PASS", "JOB_STATUS_CHANGE"))
                with mon.client.listen(listener):
                    self.policy = PolicyState.start(self.limits, time.monotonic())
                    while await self._step(mon):
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(listener.get(), POLL)
                        listener.clear()
        except asyncio.CancelledError:
            raise
        except Exception as err:  # a supervisor must never die silently: the master would poll forever
            if self._migration().get("stage") in ("mirror", "ram"):
                self._record(stage="failed", error=f"migration supervisor failed: {err}")

    async def _step(self, mon: Monitor) -> bool:
        """One round; False once the migration reached a final state."""
        mig = self._migration()
        if mig.get("stage") == "mirror":
            return await self._mirror_step(mon, mig)
        if mig.get("stage") != "ram":
            return False
        info = await mon.cmd("query-migrate")
        status = info.get("status")
        if status == "pre-switchover":
            if not self._switched:
                await self._switchover(mon, mig)
        elif status == "active" and self.limits.one_pass and (info.get("ram") or {}).get("dirty-sync-count", 0) >= 2:
            await self._force_switchover(mon)
        elif status == "active" and self.policy is not None:
            await self._apply_policy(mon, info)
        elif status in _FINAL:
            error = None
            if status == "failed":
                error = status_from_query(info, mig.get("uri", ""), []).message
            self._record(stage=status, error=mig.get("error") or error)
            return False
        return True

    async def _mirror_step(self, mon: Monitor, mig: dict[str, Any]) -> bool:
        jobs = {j["id"]: j for j in await mon.cmd("query-jobs")}
        ready = 0
        for index in mig.get("disks", []):
            job = jobs.get(f"mig-disk{index}")
            if job is None or job["status"] in ("concluded", "aborting", "null"):
                reason = (job or {}).get("error") or "the mirror job ended"
                for other in mig.get("disks", []):
                    await mon.try_cmd("block-job-cancel", {"device": f"mig-disk{other}", "force": True})
                self._record(stage="failed", error=f"mirroring disk {index} to the target failed: {reason}")
                return False
            ready += job["status"] == "ready"
        if ready == len(mig.get("disks", [])):
            await mon.cmd("migrate", {"uri": mig["uri"]})
            self._record(stage="ram", ram_started=time.time())
        return True

    async def _switchover(self, mon: Monitor, mig: dict[str, Any]) -> None:
        """The guest is stopped: complete every mirror (no pivot), then let QEMU send the device state."""
        self._switched = True
        for index in mig.get("disks", []):
            await mon.cmd("block-job-cancel", {"device": f"mig-disk{index}"})
        errors = []
        deadline = time.monotonic() + 120
        pending = {f"mig-disk{i}" for i in mig.get("disks", [])}
        while pending and time.monotonic() < deadline:
            for job in await mon.cmd("query-jobs"):
                if job["id"] in pending and job["status"] == "concluded":
                    pending.discard(job["id"])
                    if job.get("error"):
                        errors.append(f"{job['id']}: {job['error']}")
                    await mon.try_cmd("job-dismiss", {"id": job["id"]})
            if pending:
                await asyncio.sleep(0.002)
        if errors or pending:
            self._record(error=f"final disk sync to the target failed: {'; '.join(errors) or 'timeout'}")
            await mon.cmd("migrate_cancel")
            return
        await mon.cmd("migrate-continue", {"state": "pre-switchover"})

    async def _force_switchover(self, mon: Monitor) -> None:
        """First pass done (a second dirty-bitmap sync happened): no more live passes (TCG, see migration_limits)."""
        if self._forced:
            return
        self._forced = True
        await mon.cmd("migrate-set-parameters", {"downtime-limit": FORCE_DOWNTIME})
        if self.policy is not None:
            self.policy.actions.append({"time": time.monotonic(), "action": "TCG: switching over after the first pass"})

    async def _apply_policy(self, mon: Monitor, info: dict[str, Any]) -> None:
        assert self.policy is not None
        action = decide(self.policy, self.limits, info, time.monotonic())
        if action is None or not action.command:
            return
        try:
            await mon.cmd(action.command, action.args)
        except HypervisorError as err:
            self.policy.actions.append({"time": time.monotonic(), "action": f"{action.description} failed: {err}"})
