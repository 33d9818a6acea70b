"""The kvm driver's node-local machinery and guest lifecycle (start, stop, reboot, info).

Every guest has a runtime dir `<instance_run_dir("kvm")>/<name>/` holding its QMP sockets, serial
console socket and log, and `runtime.json` (pid + start time, argv, spec, taps, migration state).
QEMU runs with `-no-shutdown`: when the guest powers itself off the process stays, in QMP status
`shutdown`, so even a node daemon that was down at the time can tell a user's poweroff (SHUTDOWN)
from a dead process (CRASHED).
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import time
from collections.abc import Awaitable, Callable
from typing import Any

from backends.base import Hypervisor
from backends.kvm import accel as accel_probe
from backends.kvm import hotplug, netplumb, proc
from backends.kvm.argv import LAYOUT_HVPARAM, Facts, RunPaths, build_argv, hvparams, is_block_device
from backends.kvm.qmp import Monitor, session
from backends.kvm.uids import UidLocks
from gnt import paths, ssconf, uidpool
from gnt.errors import HypervisorError
from gnt.runtime import DiskSpec, InstanceRuntime, InstanceSpec, NicSpec, RunState
from gnt.serial import from_dict, to_dict

__all__ = ["KvmBase"]

START_TIMEOUT = 30.0
MONITOR_POLL = 0.005  # s between attempts to reach a starting QEMU's monitor
QCOW2_MAGIC = b"QFI\xfb"
_STATUS_MAP = {
    "running": RunState.RUNNING,
    "shutdown": RunState.SHUTDOWN,
    "guest-panicked": RunState.CRASHED,
    "internal-error": RunState.CRASHED,
}


def _meminfo() -> dict[str, int]:
    """/proc/meminfo in MiB."""
    result = {}
    with open("/proc/meminfo") as f:
        for line in f:
            key, _, rest = line.partition(":")
            result[key] = int(rest.split()[0]) // 1024
    return result


#: seconds between ACPI power button presses while waiting for a clean shutdown
POWERDOWN_REPRESS = 3.0


def _ssconf_uid_pool() -> list[tuple[int, int]]:
    """The cluster's user-id pool as the master last pushed it to this node."""
    return uidpool.from_ssconf(ssconf.read("uid_pool"))


class _SetupFailed(Exception):
    """A setup command failed (QEMU is up): not a reason to retry the connection."""

    def __init__(self, error: HypervisorError) -> None:
        super().__init__(str(error))
        self.error = error


class KvmBase(Hypervisor):
    """Lifecycle half of the kvm driver; the migration half is mixed in by `KvmHypervisor`."""

    name = "kvm"

    def __init__(
        self,
        run_dir: str | None = None,
        data_dir: str | None = None,
        netns: str | None = None,
        accel: str | None = None,
        uid_dir: str | None = None,
        uid_pool: Callable[[], list[tuple[int, int]]] | None = None,
    ) -> None:
        """All arguments default to this node's (gnt.paths); tests pass explicit ones per virtual node.

        Args:
            run_dir: where instance runtime dirs live.
            data_dir: where the acceleration verdict is cached.
            netns: network namespace the taps and QEMU live in (None: the node's own).
            accel: "kvm"/"tcg" to skip the probe (tests, or an admin override).
            uid_dir: the lock files of the user-id pool (security_model=pool).
            uid_pool: gives the cluster's user-id pool (default: this node's uid_pool ssconf file).
        """
        self._run_root = run_dir
        self._data_dir = data_dir
        self.netns = netns
        self._accel_override = accel
        self._uid_dir = uid_dir
        self._uid_pool = uid_pool or _ssconf_uid_pool
        self._accel: dict[str, Any] | None = None
        self._children: dict[str, asyncio.subprocess.Process] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    # -- node-local helpers -------------------------------------------------------------------
    @property
    def run_root(self) -> str:
        return self._run_root or paths.instance_run_dir("kvm")

    @property
    def uid_locks(self) -> UidLocks:
        return UidLocks(self._uid_dir or paths.uid_pool_dir())

    def paths_for(self, name: str) -> RunPaths:
        return RunPaths(os.path.join(self.run_root, name))

    def load(self, name: str) -> dict[str, Any] | None:
        return proc.load_state(self.paths_for(name).state)

    def save(self, name: str, state: dict[str, Any]) -> None:
        proc.save_state(self.paths_for(name).state, state)

    def lock(self, name: str) -> asyncio.Lock:
        return self._locks.setdefault(name, asyncio.Lock())

    def alive(self, state: dict[str, Any] | None) -> bool:
        return bool(state) and proc.pid_alive(state.get("pid"), state.get("start_time"))  # type: ignore[union-attr]

    def qmp(self, name: str, timeout: float = 10.0):  # noqa: ANN201 - an async context manager
        return session(self.paths_for(name).qmp, f"kvm:{name}", timeout)

    def taps_for(self, spec: InstanceSpec) -> list[str]:
        return [netplumb.tap_name(self.run_root, spec.name, i) for i in range(len(spec.nics))]

    async def accel_info(self, kvm_path: str | None = None, kernels: list[str] | None = None) -> dict[str, Any]:
        """The node's acceleration verdict (probed once, then cached in the data dir)."""
        if self._accel_override:
            return {"accel": self._accel_override, "reason": "set by the node's configuration"}
        if self._accel is None:
            data_dir = self._data_dir or paths.host_state_dir()
            kvm = kvm_path or hvparams(InstanceSpec("", "", "kvm", 0, 0))["kvm_path"]
            self._accel = await accel_probe.detect(kvm, data_dir, kernels)
        return self._accel

    async def disk_format(self, path: str, declared: str | None = None) -> str:
        """raw or qcow2: the format the disk declares (params["format"]), else the image's first bytes.

        A qcow2 image starts with the magic "QFI\\xfb"; anything else is used as raw. Reading four
        bytes costs microseconds where `qemu-img info` cost a process start (~15-30 ms).
        """
        if declared:
            if declared not in ("raw", "qcow2"):
                raise HypervisorError(f"{path}: unsupported image format {declared!r} (use raw or qcow2)")
            return declared
        try:
            with open(path, "rb") as f:
                magic = f.read(4)
        except OSError as err:
            raise HypervisorError(f"cannot read disk image {path}: {err}") from err
        return "qcow2" if magic == QCOW2_MAGIC else "raw"

    async def facts(self, spec: InstanceSpec, incoming: bool = False, paused: bool = False) -> Facts:
        params = hvparams(spec)
        accel = (await self.accel_info(params["kvm_path"], [params["kernel_path"]]))["accel"]
        disk_paths = [self.disk_path(d) for d in spec.disks]
        formats = [
            await self.disk_format(p, d.params.get("format")) for p, d in zip(disk_paths, spec.disks, strict=True)
        ]
        return Facts(
            self.paths_for(spec.name),
            accel,
            disk_paths,
            formats,
            disk_block=[is_block_device(p) for p in disk_paths],
            taps=self.taps_for(spec),
            incoming=incoming,
            paused=paused,
            layout=(spec.hvparams or {}).get(LAYOUT_HVPARAM) if incoming else None,
        )

    # -- processes ------------------------------------------------------------------------------
    def _check_memory(self, spec: InstanceSpec) -> None:
        free = _meminfo().get("MemAvailable", 0)
        if spec.memory > free:
            raise HypervisorError(
                f"not enough memory to start {spec.name}: needs {spec.memory} MiB, {free} MiB available"
            )

    async def spawn(
        self,
        spec: InstanceSpec,
        facts: Facts,
        extra: dict[str, Any] | None = None,
        setup: Callable[[Monitor], Awaitable[Any]] | None = None,
    ) -> Any:
        """Plumb NICs, launch QEMU in its own session, wait for its monitor, record the state.

        `setup` runs on the first monitor session (no second connection for the first commands);
        spawn returns its result (None without one).
        """
        self._check_memory(spec)
        rp = facts.paths
        uid = self._lock_uid(spec, facts)  # first: a guest that cannot have a uid leaves nothing behind
        try:
            os.makedirs(rp.root, exist_ok=True)
            for stale in (rp.qmp, rp.qmp_mig, rp.serial, rp.pidfile):
                if os.path.exists(stale):
                    os.unlink(stale)
            argv = build_argv(spec, facts)
            await netplumb.plumb(spec.nics, facts.taps, self.netns)
            prefix = ["ip", "netns", "exec", self.netns] if self.netns else []
            with open(rp.log, "ab") as log:
                child = await asyncio.create_subprocess_exec(
                    *prefix, *argv, stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
                )
        except BaseException:
            if uid is not None:
                self.uid_locks.release(uid, spec.name)
            raise
        self._children[spec.name] = child  # asyncio's child watcher reaps it when it exits
        if uid is not None:  # from now on QEMU holds the uid: its death frees it
            self.uid_locks.claim(uid, spec.name, child.pid, proc.process_start_time(child.pid))
        state = {
            "name": spec.name,
            "uuid": spec.uuid,
            "pid": child.pid,
            "start_time": proc.process_start_time(child.pid),
            "argv": argv,
            "spec": to_dict(spec),
            "accel": facts.accel,
            "taps": facts.taps,
            "started": time.time(),
            "incoming": facts.incoming,
            "guest_shutdown": False,
            "migration": None,
            "uid": uid,
            **(extra or {}),
        }
        self.save(spec.name, state)
        return await self._wait_monitor(spec.name, child, setup)

    def _lock_uid(self, spec: InstanceSpec, facts: Facts) -> int | None:
        """security_model=pool: lock a free uid of the pool for this guest (into `facts`); user: the
        security domain must be a user of this node. None when QEMU gets no pool uid."""
        params = hvparams(spec)
        model, domain = params["security_model"], str(params["security_domain"] or "")
        if model == "user" and domain:
            try:
                pwd.getpwnam(domain)
            except KeyError:
                raise HypervisorError(f"Unknown security domain user {domain}") from None
        if model != "pool":
            return None
        uid = self.uid_locks.acquire(self._uid_pool(), spec.name)
        facts.pool_uid = uid
        try:
            facts.pool_gid = pwd.getpwuid(uid).pw_gid
        except KeyError:
            facts.pool_gid = uid  # a pool uid needs no passwd entry: its own number as group
        return uid

    async def _wait_monitor(
        self, name: str, child: asyncio.subprocess.Process, setup: Callable[[Monitor], Awaitable[Any]] | None
    ) -> Any:
        """Connect as soon as QEMU listens (tries every 5 ms), then run `setup` on that session."""
        sock = self.paths_for(name).qmp
        deadline = time.monotonic() + START_TIMEOUT
        while child.returncode is None:
            if os.path.exists(sock):
                try:
                    async with self.lock(name), self.qmp(name, timeout=2.0) as mon:
                        if setup is None:
                            return None
                        try:
                            return await setup(mon)
                        except HypervisorError as err:
                            raise _SetupFailed(err) from err
                except _SetupFailed as failed:
                    raise failed.error from None
                except HypervisorError:
                    pass
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(MONITOR_POLL)
        await asyncio.sleep(0.1)
        log = self._log_tail(name)
        await self.forget(name)
        raise HypervisorError(f"QEMU for {name} did not come up: {log}")

    def _log_tail(self, name: str) -> str:
        try:
            with open(self.paths_for(name).log, errors="replace") as f:
                return f.read()[-600:].strip() or "(no output)"
        except OSError:
            return "(no log)"

    async def kill(self, name: str, state: dict[str, Any], quit_first: bool = True) -> None:
        """End the QEMU process: QMP quit, then SIGKILL by pid (checked against its start time)."""
        pid, start = state.get("pid"), state.get("start_time")
        if quit_first and self.alive(state):
            try:
                async with self.qmp(name, timeout=3.0) as mon:
                    await mon.try_cmd("quit")
            except HypervisorError:
                pass
            if await self._wait_gone(name, pid, start, 5.0):
                return
        proc.signal_pid(pid, start)
        if not await self._wait_gone(name, pid, start, 10.0):
            raise HypervisorError(f"QEMU for {name} (pid {pid}) does not die")

    async def _wait_gone(self, name: str, pid: int | None, start: int | None, timeout: float) -> bool:
        """Wait for QEMU to exit: on our own child process when we started it, else poll its pid."""
        child = self._children.get(name)
        if child is not None and child.pid == pid:
            try:
                await asyncio.wait_for(child.wait(), timeout)
            except TimeoutError:
                return False
            return True
        return await proc.wait_pid_gone(pid, start, timeout)

    async def forget(self, name: str) -> None:
        """Kill what is left of the guest, remove its taps and runtime dir."""
        state = self.load(name) or {}
        if self.alive(state):
            await self.kill(name, state)
        await netplumb.unplumb(state.get("taps", []), self.netns)
        child = self._children.pop(name, None)
        if child is not None and child.returncode is None:
            await asyncio.wait_for(child.wait(), 5.0)
        if state.get("uid") is not None:
            self.uid_locks.release(int(state["uid"]), name)
        run_paths = self.paths_for(name)
        if run_paths.sock_dir != run_paths.root:
            shutil.rmtree(run_paths.sock_dir, ignore_errors=True)
        shutil.rmtree(run_paths.root, ignore_errors=True)

    async def query_status(self, name: str, timeout: float = 5.0) -> str | None:
        """QMP status ("running", "paused", "shutdown", "inmigrate", ...), None if unreachable."""
        try:
            async with self.lock(name), self.qmp(name, timeout) as mon:
                return (await mon.cmd("query-status"))["status"]
        except HypervisorError:
            return None

    async def command(self, name: str, command: str, args: dict[str, Any] | None = None) -> Any:
        """One QMP command on the guest's control monitor."""
        async with self.lock(name), self.qmp(name) as mon:
            return await mon.cmd(command, args)

    async def commands(self, name: str, steps: list[tuple[str, dict[str, Any] | None]]) -> list[Any]:
        async with self.lock(name), self.qmp(name) as mon:
            return [await mon.cmd(c, a) for c, a in steps]

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self, spec: InstanceSpec, paused: bool = False) -> None:
        state = self.load(spec.name)
        if self.alive(state):
            raise HypervisorError(f"{spec.name} is already running on this node (pid {state['pid']})")  # type: ignore[index]
        if state:
            await self.forget(spec.name)
        facts = await self.facts(spec, paused=paused)
        await self.spawn(spec, facts)
        if not paused:
            await self.command(spec.name, "cont")

    async def stop(self, spec: InstanceSpec, timeout: float, force: bool = False) -> None:
        state = self.load(spec.name)
        if state is None:
            return
        if self.alive(state) and not force:
            await self._powerdown(spec.name, state, timeout)
        await self.forget(spec.name)

    async def _powerdown(self, name: str, state: dict[str, Any], timeout: float) -> None:
        """ACPI power button, then wait for the guest to power off (QMP status `shutdown`).

        The button is pressed again every few seconds: a guest that is still booting, or whose
        handler was not listening yet, loses a press, and would otherwise sit out the whole timeout.
        """
        deadline = time.monotonic() + timeout
        next_press = 0.0
        while time.monotonic() < deadline and self.alive(state):
            if time.monotonic() >= next_press:
                try:
                    await self.command(name, "system_powerdown")
                except HypervisorError:
                    return
                next_press = time.monotonic() + POWERDOWN_REPRESS
            if await self.query_status(name) == "shutdown":
                return
            await asyncio.sleep(0.2)

    async def reboot(self, spec: InstanceSpec, hard: bool = False) -> None:
        if not self.alive(self.load(spec.name)):
            raise HypervisorError(f"{spec.name} is not running on this node")
        if not hard:
            await self.command(spec.name, "system_reset")
            return
        await self.stop(spec, 0, force=True)
        await self.start(spec)

    async def list_instances(self) -> list[str]:
        try:
            names = sorted(os.listdir(self.run_root))
        except FileNotFoundError:
            return []
        return [n for n in names if os.path.exists(self.paths_for(n).state)]

    async def instance_info(self, name: str) -> InstanceRuntime | None:
        state = self.load(name)
        if state is None:
            return None
        spec = state.get("spec") or {}
        memory = state.get("runtime_memory") or spec.get("memory", 0)  # ballooned (modify -m), else as started
        info = InstanceRuntime(name, RunState.CRASHED, memory, spec.get("vcpus", 0), state.get("pid"))
        info.uptime = time.time() - state.get("started", time.time())
        info.extra = {"accel": state.get("accel"), "serial_console": self.paths_for(name).serial}
        if state.get("devices"):  # hotplugged: a migration target must build this layout, not the config's
            info.extra["device_layout"] = hotplug.portable_layout(state["devices"])
        if not self.alive(state):
            info.state = RunState.SHUTDOWN if state.get("guest_shutdown") else RunState.CRASHED
            info.pid = None
            return info
        status = await self.query_status(name)
        info.extra["qmp_status"] = status
        if status is None:
            info.state = RunState.RUNNING  # alive but the monitor is busy: the process is there
        else:
            info.state = _STATUS_MAP.get(status, RunState.PAUSED)
        if status == "shutdown" and not state.get("guest_shutdown"):
            state["guest_shutdown"] = True  # remembered even if the process goes away later
            self.save(name, state)
        return info

    async def running_disks(self, name: str) -> list[DiskSpec]:
        spec = (self.load(name) or {}).get("spec") or {}
        return [from_dict(DiskSpec, disk) for disk in spec.get("disks", [])]

    async def cleanup(self, name: str) -> None:
        await self.forget(name)

    async def resize_disk(self, spec: InstanceSpec, index: int, size: int) -> None:
        """QMP block_resize of the disk's format node: the guest sees the new size at once; the
        storage below has already grown to it.

        The node is found by the disk's uuid in the guest's device map (as hotplug does), never
        by `index`: after a disk was unplugged the config's index N is no longer QEMU's `disk<N>`,
        and a hotplugged disk is `hdisk<uuid8>`, so an index-named resize would grow another disk.
        """
        state = self.load(spec.name)
        if not self.alive(state):
            raise HypervisorError(f"{spec.name} is not running on this node")
        assert state is not None
        if not 0 <= index < len(spec.disks):
            raise HypervisorError(f"{spec.name} has no disk {index} (it has {len(spec.disks)})")
        uuid = spec.disks[index].uuid
        entry = hotplug.device_map(state)["disks"].get(uuid)
        if entry is None:
            raise HypervisorError(f"{spec.name}: disk {index} ({uuid}) is not plugged into the running guest")
        await self.command(spec.name, "block_resize", {"node-name": entry["node"], "size": size * 1024 * 1024})

    async def hotplug_nic(self, spec: InstanceSpec, nic: NicSpec) -> None:
        await hotplug.hotplug_nic(self, spec, nic)

    async def unplug_nic(self, spec: InstanceSpec, nic: NicSpec) -> None:
        await hotplug.unplug(self, spec, "nics", nic.uuid)

    async def hotplug_disk(self, spec: InstanceSpec, disk: DiskSpec, path: str) -> None:
        await hotplug.hotplug_disk(self, spec, disk, path)

    async def unplug_disk(self, spec: InstanceSpec, disk: DiskSpec) -> None:
        await hotplug.unplug(self, spec, "disks", disk.uuid)

    async def balloon_memory(self, spec: InstanceSpec, memory: int) -> None:
        await hotplug.balloon(self, spec, memory)

    async def node_info(self) -> dict[str, Any]:
        mem = _meminfo()
        accel = await self.accel_info()
        used = 0
        for name in await self.list_instances():
            state = self.load(name) or {}
            if self.alive(state):
                used += state.get("runtime_memory") or (state.get("spec") or {}).get("memory", 0)
        total, free = mem.get("MemTotal", 0), mem.get("MemAvailable", 0)
        return {
            "memory_total": total,
            "memory_free": free,
            "memory_dom0": max(total - free - used, 0),
            "cpu_total": os.cpu_count() or 1,
            "accel": accel["accel"],
            "accel_reason": accel.get("reason", ""),
        }

    async def verify(self) -> list[str]:
        problems = []
        kvm = hvparams(InstanceSpec("", "", "kvm", 0, 0))["kvm_path"]
        for tool in (kvm, "qemu-img", "socat", "ip"):
            if not shutil.which(tool):
                problems.append(f"{tool} is not installed (kvm hypervisor)")
        return problems

    def console_command(self, spec: InstanceSpec) -> list[str]:
        """socat on the serial console socket; Ctrl-] detaches."""
        return ["socat", "STDIO,raw,echo=0,escape=0x1d", f"UNIX-CONNECT:{self.paths_for(spec.name).serial}"]
