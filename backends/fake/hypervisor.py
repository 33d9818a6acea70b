"""The fake hypervisor: guests are small real processes with real state (see vm.sh, _proc.py).

Each guest keeps its runtime directory under `instance_run_dir("fake")/<name>/`:

    spec.json      the InstanceSpec it was started with (+ "incoming" while a migration lands)
    pid            the guest process
    state          written by the guest: counter, boots, running|paused|shutdown, ack, boot time
    ctl, tick.fifo control channel and the FIFO its tick loop sleeps on
    console.log    the fake serial console
    incoming.json  the state received by an incoming migration, until finalize

A new driver object (a restarted node daemon) rebuilds everything from these directories.
Guest-initiated poweroff is SIGTERM to the guest process (the ACPI power button; see
`guest_poweroff`): it leaves status "shutdown" and is reported as RunState.SHUTDOWN. Any other
death (SIGKILL, a host reboot) leaves the last status "running": RunState.CRASHED.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import time
from typing import Any

from backends.base import Hypervisor
from backends.fake import _migration, _proc
from gnt import paths, serial
from gnt.errors import HypervisorError
from gnt.runtime import DiskSpec, InstanceRuntime, InstanceSpec, MigrationPhase, MigrationStatus, NicSpec, RunState

DEFAULT_MEMORY_MB = 32768
DEFAULT_DOM0_MB = 512
DEFAULT_TICK = 1.0
DEFAULT_BANDWIDTH_MBPS = 1024.0
HV_VERSION = "gnt-fake 1.0"
SPEC = "spec.json"


def _env_number(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


class FakeHypervisor(Hypervisor):
    """Fake hypervisor driver. Arguments left as None are read from the environment on every call,
    so one process can act as one virtual node; tests pass them to run two nodes in one process."""

    name = "fake"

    def __init__(
        self,
        run_dir: str | None = None,
        memory_mb: int | None = None,
        dom0_mb: int | None = None,
        cpus: int | None = None,
        tick: float | None = None,
        bandwidth_mbps: float | None = None,
    ) -> None:
        self._run_dir = run_dir
        self._memory_mb = memory_mb
        self._dom0_mb = dom0_mb
        self._cpus = cpus
        self._tick = tick
        self._bandwidth = bandwidth_mbps
        self._lock = asyncio.Lock()
        self._outgoing: dict[str, _migration.Outgoing] = {}
        self._incoming: dict[str, _migration.Incoming] = {}
        self._memory_cache: dict[str, tuple[int, int]] = {}

    # -- configuration ----------------------------------------------------------------------
    def run_dir(self) -> str:
        return self._run_dir or paths.instance_run_dir("fake")

    def memory_total(self) -> int:
        return self._memory_mb or int(_env_number("GNT_FAKE_MEMORY_MB", DEFAULT_MEMORY_MB))

    def memory_dom0(self) -> int:
        return self._dom0_mb if self._dom0_mb is not None else int(_env_number("GNT_FAKE_DOM0_MB", DEFAULT_DOM0_MB))

    def tick(self) -> float:
        return self._tick or _env_number("GNT_FAKE_TICK", DEFAULT_TICK)

    def bandwidth(self) -> float:
        return self._bandwidth or _env_number("GNT_FAKE_MIGRATION_MBPS", DEFAULT_BANDWIDTH_MBPS)

    def _dir(self, name: str) -> str:
        if not name or "/" in name or name.startswith("."):
            raise HypervisorError(f"Invalid instance name {name!r}")
        return os.path.join(self.run_dir(), name)

    # -- lifecycle --------------------------------------------------------------------------
    async def start(self, spec: InstanceSpec, paused: bool = False) -> None:
        rundir = self._dir(spec.name)
        async with self._lock:
            if _proc.alive_pid(rundir) is not None:
                raise HypervisorError(f"Failed to start instance {spec.name}: already running")
            self._check_memory(spec, "start instance")
            old = _proc.read_state(rundir)
            await asyncio.to_thread(_prepare_dir, rundir, spec, False)
            await _proc.spawn(rundir, self.tick(), 0, old.boots + 1 if old else 0, paused)

    async def stop(self, spec: InstanceSpec, timeout: float, force: bool = False) -> None:
        rundir = self._dir(spec.name)
        self._drop_migrations(spec.name)
        pid = _proc.alive_pid(rundir)
        if pid is not None:
            state = _proc.read_state(rundir)
            clean = not force and state is not None and state.status == "running"
            if not clean or not await _acpi_shutdown(rundir, pid, timeout):
                await _proc.kill(rundir)
        await asyncio.to_thread(shutil.rmtree, rundir, True)

    async def reboot(self, spec: InstanceSpec, hard: bool = False) -> None:
        """Soft: the guest reboots itself (same process, counter kept, boot count bumped).
        Hard: a reset, i.e. a fresh process with a fresh counter and the next boot count."""
        rundir = self._dir(spec.name)
        if _proc.alive_pid(rundir) is None:
            raise HypervisorError(f"Failed to reboot instance {spec.name}: not running")
        if not hard:
            await _proc.control(rundir, "reboot")
            return
        state = _proc.read_state(rundir)
        boots = state.boots + 1 if state is not None else 0
        await _proc.kill(rundir)
        await _proc.spawn(rundir, self.tick(), 0, boots, False)

    async def resume(self, name: str) -> None:
        """Unpause a guest started with paused=True (not part of the generic interface)."""
        await _proc.control(self._dir(name), "cont")

    async def guest_poweroff(self, name: str) -> None:
        """Simulate `poweroff` run inside the guest (tests, demos). Sending SIGTERM to the guest
        process has the same effect (the ACPI power button); this waits until it has happened."""
        rundir = self._dir(name)
        pid = _proc.alive_pid(rundir)
        if pid is None:
            raise HypervisorError(f"Instance {name} is not running")
        await _proc.control(rundir, "poweroff")
        await _proc.wait_dead(rundir, pid, 5.0)

    async def kill_all_guests(self) -> None:
        """A power cut: every guest process dies at once; their run dirs stay, as after a crash."""
        for name in self._names():
            await _proc.kill(self._dir(name))

    async def list_instances(self) -> list[str]:
        return await asyncio.to_thread(self._names)

    def _names(self) -> list[str]:
        try:
            entries = os.listdir(self.run_dir())
        except FileNotFoundError:
            return []
        return sorted(e for e in entries if os.path.exists(os.path.join(self.run_dir(), e, SPEC)))

    async def running_disks(self, name: str) -> list[DiskSpec]:
        spec = _load_spec(self._dir(name)) or {}
        return [serial.from_dict(DiskSpec, disk) for disk in spec.get("disks", [])]

    async def instance_info(self, name: str) -> InstanceRuntime | None:
        return self._info(name)

    async def all_instances_info(self) -> dict[str, InstanceRuntime]:
        return await asyncio.to_thread(self._all_info)

    def _all_info(self) -> dict[str, InstanceRuntime]:
        result = {}
        for name in self._names():
            info = self._info(name)
            if info is not None:
                result[name] = info
        return result

    def _info(self, name: str) -> InstanceRuntime | None:
        rundir = self._dir(name)
        spec = _load_spec(rundir)
        if spec is None:
            return None
        pid = _proc.alive_pid(rundir)
        state = _proc.read_state(rundir)
        if pid is None:
            run_state = RunState.SHUTDOWN if state and state.status == "shutdown" else RunState.CRASHED
        else:
            run_state = RunState.PAUSED if state and state.status == "paused" else RunState.RUNNING
        extra: dict[str, Any] = {
            "counter": state.counter if state else 0,
            "boots": state.boots if state else 0,
            "incoming": bool(spec.get("incoming")),
            "console": os.path.join(rundir, _proc.CONSOLE),
            "nics": [n.get("mac") for n in spec.get("nics", [])],
            "disks": [d.get("uuid") for d in spec.get("disks", [])],
        }
        return InstanceRuntime(
            name=name,
            state=run_state,
            memory=int(spec["memory"]),
            vcpus=int(spec["vcpus"]),
            pid=pid,
            uptime=state.uptime if state and pid is not None else 0.0,
            extra=extra,
        )

    async def resize_disk(self, spec: InstanceSpec, index: int, size: int) -> None:
        """A fake guest does not open its disks: there is nothing to tell it, only that it runs."""
        if _proc.alive_pid(self._dir(spec.name)) is None:
            raise HypervisorError(f"Instance {spec.name} is not running on this node")

    # -- hotplug and ballooning: recorded in the guest's spec.json, as QEMU holds them ----------
    async def hotplug_nic(self, spec: InstanceSpec, nic: NicSpec) -> None:
        await self._change_devices(spec.name, "nics", serial.to_dict(nic), add=True)

    async def unplug_nic(self, spec: InstanceSpec, nic: NicSpec) -> None:
        await self._change_devices(spec.name, "nics", serial.to_dict(nic), add=False)

    async def hotplug_disk(self, spec: InstanceSpec, disk: DiskSpec, path: str) -> None:
        if not os.path.exists(path):
            raise HypervisorError(f"Cannot hotplug disk {disk.uuid} into {spec.name}: {path} does not exist")
        await self._change_devices(spec.name, "disks", {**serial.to_dict(disk), "path": path}, add=True)

    async def unplug_disk(self, spec: InstanceSpec, disk: DiskSpec) -> None:
        await self._change_devices(spec.name, "disks", serial.to_dict(disk), add=False)

    async def _change_devices(self, name: str, kind: str, device: dict[str, Any], add: bool) -> None:
        """Add a device to (or take it out of) the running guest's recorded devices, by uuid."""
        rundir = self._dir(name)
        async with self._lock:
            data = _load_spec(rundir)
            if data is None or _proc.alive_pid(rundir) is None:
                raise HypervisorError(f"Instance {name} is not running on this node")
            devices = data.setdefault(kind, [])
            present = [d for d in devices if d.get("uuid") == device["uuid"]]
            what = kind[:-1]
            if add and present:
                raise HypervisorError(f"Instance {name} already has {what} {device['uuid']}")
            if not add and not present:
                raise HypervisorError(f"Instance {name} has no {what} {device['uuid']} to take out")
            data[kind] = [*devices, device] if add else [d for d in devices if d.get("uuid") != device["uuid"]]
            await asyncio.to_thread(_write_spec, rundir, data)

    async def balloon_memory(self, spec: InstanceSpec, memory: int) -> None:
        """The guest's memory becomes `memory` MiB: node accounting and instance_info follow."""
        rundir = self._dir(spec.name)
        async with self._lock:
            data = _load_spec(rundir)
            if data is None or _proc.alive_pid(rundir) is None:
                raise HypervisorError(f"Instance {spec.name} is not running on this node")
            grow = memory - int(data["memory"])
            free = self.memory_total() - self.memory_dom0() - self.memory_used()
            if grow > free:
                raise HypervisorError(
                    f"Not enough memory to balloon {spec.name} to {memory} MiB: needs {grow} MiB more,"
                    f" {free} MiB available"
                )
            data["memory"] = memory
            await asyncio.to_thread(_write_spec, rundir, data)

    async def cleanup(self, name: str) -> None:
        rundir = self._dir(name)
        if _proc.alive_pid(rundir) is not None:
            raise HypervisorError(f"Cannot clean up instance {name}: it is still running")
        self._drop_migrations(name)
        await asyncio.to_thread(shutil.rmtree, rundir, True)

    # -- node -------------------------------------------------------------------------------
    def memory_used(self) -> int:
        """MiB held by guests whose process lives (running, paused or landing by migration)."""
        used = 0
        for name in self._names():
            rundir = os.path.join(self.run_dir(), name)
            if _proc.alive_pid(rundir) is not None:
                used += self._spec_memory(rundir)
        return used

    def _spec_memory(self, rundir: str) -> int:
        """A guest's memory from its spec.json, cached by mtime: start() scans every guest."""
        try:
            mtime = os.stat(os.path.join(rundir, SPEC)).st_mtime_ns
        except FileNotFoundError:
            return 0
        cached = self._memory_cache.get(rundir)
        if cached is None or cached[0] != mtime:
            spec = _load_spec(rundir)
            cached = (mtime, int(spec["memory"]) if spec else 0)
            self._memory_cache[rundir] = cached
        return cached[1]

    def _check_memory(self, spec: InstanceSpec, what: str) -> None:
        free = self.memory_total() - self.memory_dom0() - self.memory_used()
        if spec.memory > free:
            raise HypervisorError(
                f"Not enough memory to {what} {spec.name}: needed {spec.memory} MiB, available {free} MiB"
            )

    async def node_info(self) -> dict[str, Any]:
        used = await asyncio.to_thread(self.memory_used)
        total, dom0 = self.memory_total(), self.memory_dom0()
        cpus = self._cpus or int(_env_number("GNT_FAKE_CPUS", os.cpu_count() or 1))
        return {
            "memory_total": total,
            "memory_free": total - dom0 - used,
            "memory_dom0": dom0,
            "memory_instances": used,
            "cpu_total": cpus,
            "cpu_nodes": 1,
            "cpu_sockets": 1,
            "hv_version": HV_VERSION,
        }

    async def verify(self) -> list[str]:
        problems = []
        if shutil.which("bash") is None:
            problems.append("fake hypervisor: bash not found in PATH")
        if not os.path.exists(_proc.VM_SCRIPT):
            problems.append(f"fake hypervisor: guest script {_proc.VM_SCRIPT} is missing")
        try:
            paths.ensure_dir(self.run_dir())
        except OSError as err:
            problems.append(f"fake hypervisor: cannot create {self.run_dir()}: {err}")
        return problems

    def console_command(self, spec: InstanceSpec) -> list[str]:
        return ["tail", "-n", "50", "-f", os.path.join(self._dir(spec.name), _proc.CONSOLE)]

    # -- migration: target ------------------------------------------------------------------
    async def accept_instance(self, spec: InstanceSpec, target_address: str) -> dict[str, Any]:
        rundir = self._dir(spec.name)
        async with self._lock:
            await self._drop_incoming(spec.name, rundir)
            if _proc.alive_pid(rundir) is not None:
                raise HypervisorError(f"Cannot accept instance {spec.name}: already running on this node")
            self._check_memory(spec, "accept instance")
            await asyncio.to_thread(_prepare_dir, rundir, spec, True)
            await _proc.spawn(rundir, self.tick(), 0, 0, True)
        incoming = _migration.Incoming(spec.name, rundir, spec.memory)
        try:
            port = await incoming.listen(target_address)
        except OSError as err:
            await _proc.kill(rundir)
            await asyncio.to_thread(shutil.rmtree, rundir, True)
            raise HypervisorError(f"Cannot listen on {target_address} for instance {spec.name}: {err}") from err
        self._incoming[spec.name] = incoming
        return {"address": target_address, "port": port}

    async def finalize_migration_dst(self, spec: InstanceSpec, info: dict[str, Any], success: bool) -> None:
        rundir = self._dir(spec.name)
        incoming = self._incoming.pop(spec.name, None)
        if incoming is not None:
            incoming.close()
        if not success:
            await _proc.kill(rundir)
            await asyncio.to_thread(shutil.rmtree, rundir, True)
            return
        received = _migration.read_incoming_state(rundir)
        if received is None or _proc.alive_pid(rundir) is None:
            raise HypervisorError(f"Incoming migration of instance {spec.name} is not complete on this node")
        await _proc.control(rundir, "cont", received["counter"], received["boots"], received["uptime_us"])
        await asyncio.to_thread(_prepare_dir, rundir, spec, False)
        os.unlink(os.path.join(rundir, _migration.INCOMING_STATE))

    async def _drop_incoming(self, name: str, rundir: str) -> None:
        """A new accept replaces a stale incoming copy left by an earlier attempt."""
        stale = self._incoming.pop(name, None)
        if stale is not None:
            stale.close()
        spec = _load_spec(rundir)
        if spec is not None and spec.get("incoming"):
            await _proc.kill(rundir)

    # -- migration: source ------------------------------------------------------------------
    async def migrate_instance(self, spec: InstanceSpec, target_address: str, info: dict[str, Any], live: bool) -> None:
        rundir = self._dir(spec.name)
        state = _proc.read_state(rundir)
        if _proc.alive_pid(rundir) is None or state is None or state.status != "running":
            raise HypervisorError(f"Cannot migrate instance {spec.name}: not running on this node")
        current = self._outgoing.get(spec.name)
        if current is not None and current.status.phase == MigrationPhase.ACTIVE:
            raise HypervisorError(f"Instance {spec.name} is already being migrated")
        try:
            port = int(info["port"])
        except (KeyError, TypeError, ValueError):
            raise HypervisorError(f"Bad migration info for instance {spec.name}: {info!r}") from None
        address = str(info.get("address") or target_address)
        job = _migration.Outgoing(spec.name, rundir, spec.memory, address, port, live, self.bandwidth())
        self._outgoing[spec.name] = job
        job.start()

    async def migration_status(self, spec: InstanceSpec) -> MigrationStatus:
        job = self._outgoing.get(spec.name)
        if job is None:
            return MigrationStatus(
                MigrationPhase.FAILED,
                message=f"No migration of instance {spec.name} is known on this node (was the node daemon restarted?)",
            )
        return job.status

    async def abort_migration(self, spec: InstanceSpec) -> None:
        job = self._outgoing.get(spec.name)
        if job is not None:
            await job.abort()

    async def finalize_migration_src(self, spec: InstanceSpec, success: bool) -> None:
        rundir = self._dir(spec.name)
        job = self._outgoing.pop(spec.name, None)
        if job is not None:
            await job.abort()
        if success:
            await _proc.kill(rundir)
            await asyncio.to_thread(shutil.rmtree, rundir, True)
            return
        if _proc.alive_pid(rundir) is None:
            raise HypervisorError(f"Instance {spec.name} is no longer running on the source node")
        state = _proc.read_state(rundir)
        if state is not None and state.status == "paused":
            await _proc.control(rundir, "cont")

    def _drop_migrations(self, name: str) -> None:
        job = self._outgoing.pop(name, None)
        if job is not None and job.task is not None:
            job.task.cancel()
        incoming = self._incoming.pop(name, None)
        if incoming is not None:
            incoming.close()


async def _acpi_shutdown(rundir: str, pid: int, timeout: float) -> bool:
    """Press the power button (SIGTERM, repeated as a signal can be lost) until the guest is gone
    or `timeout` passes; True if it shut down by itself."""
    deadline = time.monotonic() + timeout
    while True:
        _proc.send_signal(rundir, signal.SIGTERM)
        left = deadline - time.monotonic()
        if await _proc.wait_dead(rundir, pid, max(0.0, min(0.25, left))):
            return True
        if left <= 0.25:
            return False


def _prepare_dir(rundir: str, spec: InstanceSpec, incoming: bool) -> None:
    os.makedirs(rundir, exist_ok=True)
    data = serial.to_dict(spec)
    data["incoming"] = incoming
    _write_spec(rundir, data)


def _write_spec(rundir: str, data: dict[str, Any]) -> None:
    tmp = os.path.join(rundir, SPEC + ".tmp")
    with open(tmp, "w") as fh:
        json.dump(data, fh)
    os.replace(tmp, os.path.join(rundir, SPEC))


def _load_spec(rundir: str) -> dict[str, Any] | None:
    try:
        with open(os.path.join(rundir, SPEC)) as fh:
            return json.load(fh)
    except (FileNotFoundError, NotADirectoryError, ValueError):
        return None
