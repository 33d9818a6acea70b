"""The xen-pvm and xen-hvm drivers: xl config files written from the spec, domains driven with xl.

Xen keeps the domains, not gnt: the live state is whatever `xl list -v` says, so a restarted node
daemon needs nothing of its own to find its guests. The driver only keeps each instance's xl config
(`<instance_run_dir("xen")>/<name>/config.xl`), which `xl migrate` and a hard reboot reuse.

A guest's own poweroff and a crash both leave the domain in place (the config says "preserve"),
so instance_info tells SHUTDOWN from CRASHED; `cleanup` (or a stop) destroys it afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import time
from collections.abc import Awaitable, Callable
from typing import Any

from backends.base import Hypervisor
from backends.kvm.proc import run as run_argv
from backends.xen import xl
from backends.xen.config import XenFacts, build_config, hvparams
from backends.xen.livemigrate import XlMigration, processes
from backends.xen.saverestore import Receiver, SaveTransfer
from gnt import paths
from gnt.errors import HypervisorError
from gnt.runtime import InstanceRuntime, InstanceSpec, MigrationPhase, MigrationStatus, RunState

__all__ = ["BLOCK_SCRIPT", "VIF_SCRIPT", "XenHypervisor", "Runner"]

#: gnt's vif script, shipped beside this module (bridged and routed NICs; never calls xm)
VIF_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vif-gnt")
#: gnt's block script for a PV guest's block-device disks, beside this module (see block-gnt)
BLOCK_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "block-gnt")
XL_TIMEOUT = 300.0  # xl create on a loaded TCG test bed took 91 s once; real hosts take about 1 s
#: where xenconsoled keeps its PID (Debian's init script and the test bed start it so)
XENCONSOLED_PIDFILE = "/var/run/xenconsoled.pid"
#: seconds the target's migration receiver may take to listen
RECEIVER_WAIT = 10.0
#: how the guest travels (accept's answer says which receiver listens): `xl migrate` (live) or
#: `xl save` into `xl restore` (non-live; works where Xen cannot track dirty pages, e.g. under TCG)
TRANSPORT_MIGRATE, TRANSPORT_SAVE = "xl-migrate", "xl-save-restore"

Runner = Callable[..., Awaitable[tuple[int, str, str]]]


class XenHypervisor(Hypervisor):
    """Shared by both Xen flavours; `hvm` picks the HVM config and xl's -F fallbacks."""

    name = "xen-pvm"
    hvm = False

    def __init__(
        self,
        run_dir: str | None = None,
        runner: Runner | None = None,
        vif_script: str = VIF_SCRIPT,
        block_script: str = BLOCK_SCRIPT,
    ) -> None:
        """Arguments default to the node's; tests pass a run dir and a fake xl runner."""
        self._run_root = run_dir
        self._run = runner or run_argv
        self.vif_script = vif_script
        self.block_script = block_script
        self._migrations: dict[str, XlMigration] = {}  # live moves leaving this node
        self._receivers: dict[str, asyncio.subprocess.Process] = {}
        self._saves: dict[str, SaveTransfer] = {}  # non-live moves leaving this node
        self._restores: dict[str, Receiver] = {}  # non-live moves arriving here

    # -- node-local helpers -------------------------------------------------------------------
    @property
    def run_root(self) -> str:
        return self._run_root or paths.instance_run_dir("xen")

    def _dir(self, name: str) -> str:
        return os.path.join(self.run_root, name)

    def config_path(self, name: str) -> str:
        return os.path.join(self._dir(name), "config.xl")

    def _cmd(self, name: str, target: str = "") -> dict[str, list[str]]:
        return xl.commands(name, self.config_path(name), self.hvm, target)

    async def _xl(self, argv: list[str], check: bool = True, timeout: float = XL_TIMEOUT) -> tuple[int, str, str]:
        return await self._run(argv, check=check, timeout=timeout)

    async def domains(self) -> dict[str, xl.XlDomain]:
        """Every domain but dom0, by name."""
        _, out, _ = await self._xl(self._cmd("")["list"])
        return {d.name: d for d in xl.parse_list(out) if d.domid != 0}

    def write_config(self, spec: InstanceSpec) -> str:
        """Write the instance's xl config (0600: it names the disks) and return its path."""
        text = build_config(spec, XenFacts([self.disk_path(d) for d in spec.disks], self.vif_script, self.block_script))
        os.makedirs(self._dir(spec.name), mode=0o700, exist_ok=True)
        path = self.config_path(spec.name)
        tmp = path + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
        return path

    def _forget_files(self, name: str) -> None:
        shutil.rmtree(self._dir(name), ignore_errors=True)

    async def _destroy(self, name: str) -> None:
        """xl destroy, tolerating a domain that went away in between."""
        rc, _, err = await self._xl(self._cmd(name)["destroy"], check=False)
        if rc != 0 and name in await self.domains():
            raise HypervisorError(f"xl destroy {name} failed: {err.strip()}")

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self, spec: InstanceSpec, paused: bool = False) -> None:
        hvparams(spec)  # refuse bad parameters before anything is written
        existing = (await self.domains()).get(spec.name)
        if existing is not None:
            if xl.domain_state(existing) in (RunState.RUNNING, RunState.PAUSED):
                raise HypervisorError(f"{spec.name} is already running on this node (domain {existing.domid})")
            await self._destroy(spec.name)  # a preserved poweroff or crash from before
        self.write_config(spec)
        argv = self._cmd(spec.name)["create_paused" if paused else "create"]
        rc, out, err = await self._xl(argv, check=False)
        if rc != 0:
            if spec.name in await self.domains():
                await self._destroy(spec.name)
            self._forget_files(spec.name)
            lines = [line.strip() for line in (err or out).splitlines() if line.strip()]
            first_errors = [line for line in lines if "error" in line.lower()][:2]  # the cause, not the cleanup
            reason = " ".join(first_errors or lines[-3:]) or "no message"
            raise HypervisorError(f"xl create {spec.name} failed (exit {rc}): {reason}")

    async def stop(self, spec: InstanceSpec, timeout: float, force: bool = False) -> None:
        domain = (await self.domains()).get(spec.name)
        if domain is not None:
            if not force and xl.domain_state(domain) in (RunState.RUNNING, RunState.PAUSED):
                await self._shutdown(spec.name, timeout)
            # down (preserved), ignoring the request, or gone meanwhile: _destroy tolerates the last
            await self._destroy(spec.name)
        self._forget_files(spec.name)

    async def _shutdown(self, name: str, timeout: float) -> None:
        """Ask the guest to power off and wait until it has, or `timeout` passes.

        `xl shutdown -w` waits on Xen's own shutdown event: no `xl list` polling, so the stop
        goes on the moment the guest is down (and a guest that ignores the request costs at most
        `timeout`: the waiting xl is killed then, the request already sent). Without PV shutdown
        support (or with the domain gone) xl fails at once and the caller destroys it.
        """
        if timeout <= 0:
            await self._xl(self._cmd(name)["shutdown"], check=False)
            return
        with contextlib.suppress(HypervisorError):  # the wait timed out
            await self._xl(self._cmd(name)["shutdown_wait"], check=False, timeout=timeout)

    async def reboot(self, spec: InstanceSpec, hard: bool = False) -> None:
        domain = (await self.domains()).get(spec.name)
        if domain is None or xl.domain_state(domain) not in (RunState.RUNNING, RunState.PAUSED):
            raise HypervisorError(f"{spec.name} is not running on this node")
        if not hard:
            await self._xl(self._cmd(spec.name)["reboot"])
            return
        await self._destroy(spec.name)
        await self.start(spec)

    async def list_instances(self) -> list[str]:
        return sorted(await self.domains())

    def _runtime(self, domain: xl.XlDomain) -> InstanceRuntime:
        info = InstanceRuntime(domain.name, xl.domain_state(domain), domain.memory, domain.vcpus)
        info.uptime = domain.cpu_time
        info.extra = {"domid": domain.domid, "xl_state": domain.flags, "uuid": domain.uuid}
        return info

    async def instance_info(self, name: str) -> InstanceRuntime | None:
        domain = (await self.domains()).get(name)
        return None if domain is None else self._runtime(domain)

    async def all_instances_info(self) -> dict[str, InstanceRuntime]:
        return {name: self._runtime(d) for name, d in (await self.domains()).items()}

    async def cleanup(self, name: str) -> None:
        if name in await self.domains():
            await self._destroy(name)
        self._forget_files(name)

    async def node_info(self) -> dict[str, Any]:
        # both at once: node_info is an URGENT (10 s) RPC, and one xl exec took seconds on a loaded TCG dom0
        (_, info_out, _), (_, list_out, _) = await asyncio.gather(
            self._xl(self._cmd("")["info"]), self._xl(self._cmd("")["list"])
        )
        return xl.memory_accounting(xl.parse_info(info_out), xl.parse_list(list_out))

    async def verify(self) -> list[str]:
        if not shutil.which("xl"):
            return [f"xl is not installed ({self.name} hypervisor): install xen-utils"]
        rc, _, err = await self._xl(self._cmd("")["info"], check=False)
        if rc != 0:
            return [f"xl info fails ({self.name}): {err.strip() or 'no message'}; is this node running Xen?"]
        return [
            f"gnt's {kind} script {script} is not executable"
            for kind, script in (("vif", self.vif_script), ("block", self.block_script))
            if not os.access(script, os.X_OK)
        ]

    async def version(self) -> str:
        _, out, _ = await self._xl(self._cmd("")["info"])
        return xl.parse_info(out).get("xen_version", "")

    def console_command(self, spec: InstanceSpec) -> list[str]:
        """xl console; Ctrl-] detaches."""
        return self._cmd(spec.name)["console"]

    # -- migration (xl migrate to a socat receiver on the target's migration port) -------------
    def _migration_cmd(self, spec: InstanceSpec, target_address: str) -> dict[str, list[str]]:
        port = hvparams(spec)["migration_port"]
        if not 0 < port < 65536:
            raise HypervisorError(f"migration_port must be a TCP port (1-65535), not {port}")
        return xl.commands(spec.name, self.config_path(spec.name), self.hvm, target_address, port)

    def _receiver_pidfile(self, name: str) -> str:
        return os.path.join(self._dir(name), "receiver.pid")

    async def _start_receiver(self, spec: InstanceSpec, target_address: str) -> None:
        """socat on the migration port, handing its one connection to `xl migrate-receive`.

        Detached, with its PID on disk: a restarted node daemon can still stop it. It serves one
        connection and exits; `finalize_migration_dst` stops it if the source never came.
        """
        argv = self._migration_cmd(spec, target_address)["receive"]
        port = hvparams(spec)["migration_port"]
        if port in _listening_ports():
            raise HypervisorError(f"migration port {port} is busy on this node (another migration is arriving?)")
        log = os.path.join(self._dir(spec.name), "receive.log")
        with open(log, "wb") as out:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True
            )
        with open(self._receiver_pidfile(spec.name), "w") as f:
            f.write(f"{proc.pid}\n")
        self._receivers[spec.name] = proc
        deadline = time.monotonic() + RECEIVER_WAIT
        while port not in _listening_ports():  # the source must not connect before socat listens
            if proc.returncode is not None or time.monotonic() > deadline:
                await self._stop_receiver(spec.name)
                with open(log, errors="replace") as f:
                    why = " ".join(f.read().split())[-300:]
                raise HypervisorError(f"the migration receiver did not listen on port {port}: {why or 'no message'}")
            await asyncio.sleep(0.05)

    async def _stop_receiver(self, name: str) -> None:
        proc = self._receivers.pop(name, None)
        try:
            with open(self._receiver_pidfile(name)) as f:
                pid = int(f.read().strip())
        except (OSError, ValueError):
            pid = proc.pid if proc is not None else 0
        if proc is not None and proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        elif pid and _is_receiver(pid):  # started by a node daemon before this one
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        if proc is not None:
            with contextlib.suppress(ProcessLookupError):
                await asyncio.wait_for(proc.wait(), 10)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._receiver_pidfile(name))

    async def accept_instance(self, spec: InstanceSpec, target_address: str) -> dict[str, Any]:
        # one xl info and one xl list, at once: the memory check and the name check read the same list
        (_, info_out, _), (_, list_out, _) = await asyncio.gather(
            self._xl(self._cmd("")["info"]), self._xl(self._cmd("")["list"])
        )
        listed = xl.parse_list(list_out)
        info = xl.memory_accounting(xl.parse_info(info_out), listed)
        if spec.memory > info["memory_free"]:
            raise HypervisorError(
                f"not enough free memory for {spec.name} here: needs {spec.memory} MiB, Xen has"
                f" {info['memory_free']} MiB free"
            )
        if any(d.name == spec.name for d in listed):
            raise HypervisorError(f"{spec.name} already has a domain on this node")
        self._migration_cmd(spec, target_address)  # a bad port fails here, before anything runs
        transport = TRANSPORT_SAVE if hvparams(spec)["migration_mode"] == "non-live" else TRANSPORT_MIGRATE
        self.write_config(spec)  # the target keeps the config for a later stop or hard reboot
        try:
            if transport == TRANSPORT_SAVE:
                await self._start_restore_receiver(spec, target_address)
            else:
                await self._start_receiver(spec, target_address)
        except BaseException:
            self._forget_files(spec.name)
            raise
        port = hvparams(spec)["migration_port"]
        return {"xen_version": info["xen_version"], "migration_port": port, "transport": transport}

    async def _start_restore_receiver(self, spec: InstanceSpec, target_address: str) -> None:
        """Non-live: a one-shot listener in this daemon feeding `xl restore` (backends/xen/saverestore.py)."""
        port = hvparams(spec)["migration_port"]
        if port in _listening_ports():
            raise HypervisorError(f"migration port {port} is busy on this node (another migration is arriving?)")
        name = spec.name

        async def restored() -> str:
            domain = (await self.domains()).get(name)
            if domain is None:
                return f"xl restore exited 0 but {name} has no domain here"
            if xl.domain_state(domain) not in (RunState.RUNNING, RunState.PAUSED):
                return f"{name} arrived but is {xl.domain_state(domain).value} (xl flags {domain.flags})"
            return ""

        argv = self._cmd(name)["restore"]
        receiver = Receiver(argv, target_address, port, os.path.join(self._dir(name), "restore.log"), restored)
        await receiver.listen()
        self._restores[name] = receiver

    async def migrate_instance(self, spec: InstanceSpec, target_address: str, info: dict[str, Any], live: bool) -> None:
        if spec.name not in await self.domains():
            raise HypervisorError(f"{spec.name} is not running on this node")
        argv = self._migration_cmd(spec, target_address)["migrate"]
        self.write_config(spec)
        # the target chose the receiver at accept (from migration_mode); older targets said nothing
        if info.get("transport", TRANSPORT_MIGRATE if live else TRANSPORT_SAVE) == TRANSPORT_SAVE:
            port = int(info.get("migration_port") or hvparams(spec)["migration_port"])
            save_log = os.path.join(self._dir(spec.name), "save.log")
            transfer = SaveTransfer(self._cmd(spec.name)["save"], target_address, port, save_log)
            self._saves[spec.name] = transfer
            transfer.start()
            return
        log = os.path.join(self._dir(spec.name), "migrate.log")
        with open(log, "wb") as out:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True
            )
        self._migrations[spec.name] = XlMigration(proc, log)

    async def migration_status(self, spec: InstanceSpec) -> MigrationStatus:
        transfer = self._saves.get(spec.name)
        if transfer is not None:
            if not transfer.done:
                sent = f"{transfer.transferred / 1048576:.1f} MiB of the paused guest's image sent (xl save)"
                return MigrationStatus(MigrationPhase.ACTIVE, transferred=transfer.transferred, progress=sent)
            if transfer.succeeded:
                return MigrationStatus(MigrationPhase.COMPLETED, transferred=transfer.transferred)
            return MigrationStatus(MigrationPhase.FAILED, message=f"non-live migration (xl save): {transfer.error}")
        migration = self._migrations.get(spec.name)
        if migration is None:
            return MigrationStatus(MigrationPhase.FAILED, message="no migration of this instance is running here")
        return migration.status()

    async def abort_migration(self, spec: InstanceSpec) -> None:
        transfer = self._saves.get(spec.name)
        if transfer is not None:
            await transfer.abort()  # xl save still ends, leaving the source copy paused: finalize resumes it
            return
        migration = self._migrations.get(spec.name)
        if migration is not None:
            await migration.abort()  # cuts the stream: xl resumes the domain here

    async def finalize_migration_dst(self, spec: InstanceSpec, info: dict[str, Any], success: bool) -> None:
        await self._stop_receiver(spec.name)
        receiver = self._restores.pop(spec.name, None)
        if receiver is not None:
            await receiver.close(success)  # a restore under way ends first: no domain may appear after this
        domains = await self.domains()
        if not success:
            for name in (spec.name, spec.name + xl.INCOMING):  # a half-arrived copy must not run
                if name in domains:
                    await self._destroy(name)
            self._forget_files(spec.name)
            return
        domain = domains.get(spec.name)
        if domain is None:
            raise HypervisorError(f"{spec.name} did not arrive on this node")
        self.write_config(spec)  # a cleanup after a lost node daemon has no config here yet
        if xl.domain_state(domain) == RunState.PAUSED:
            await self._xl(self._cmd(spec.name)["unpause"])
        _reopen_console_logs()

    async def finalize_migration_src(self, spec: InstanceSpec, success: bool) -> None:
        self._migrations.pop(spec.name, None)
        transfer = self._saves.pop(spec.name, None)
        if transfer is not None:
            await transfer.abort()  # no-op once it ended; otherwise the paused copy must be settled first
            if success and not transfer.succeeded:
                raise HypervisorError(
                    f"refusing to destroy {spec.name} here: the target never confirmed it restored the guest"
                    f" ({transfer.error or 'no answer'})"
                )
        domains = await self.domains()
        gone = spec.name + xl.MIGRATED_AWAY
        if gone in domains:  # xl's source copy after a transfer; it never runs again
            await self._destroy(gone)
        domain = domains.get(spec.name)
        if success:
            if domain is not None:  # xl destroys the source copy itself; a leftover must not run twice
                await self._destroy(spec.name)
            self._forget_files(spec.name)
        elif domain is not None and xl.domain_state(domain) == RunState.PAUSED:
            await self._xl(self._cmd(spec.name)["unpause"])

    async def wait_migration(self, spec: InstanceSpec, timeout: float) -> None:
        """Until the outgoing move's process (xl migrate, or the non-live save and the target's
        answer) ends, or `timeout`: its end is an event here, so the node daemon does not poll
        while the guest's memory is sent (under TCG that polling took CPU from the transfer)."""
        transfer = self._saves.get(spec.name)
        entry = self._migrations.get(spec.name)
        if transfer is not None and transfer.task is not None:
            ended: asyncio.Future[Any] = transfer.task
        elif entry is not None:
            ended = asyncio.ensure_future(entry.proc.wait())
        else:  # nothing to wait for (migration_status says so): never a busy loop, though
            await super().wait_migration(spec, timeout)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(ended), timeout)


def _listening_ports() -> set[int]:
    """TCP ports something listens on here (from /proc/net/tcp{,6}: no connection is made)."""
    ports: set[int] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f, None)
                for line in f:
                    fields = line.split()
                    if len(fields) > 3 and fields[3] == "0A":  # TCP_LISTEN
                        ports.add(int(fields[1].rsplit(":", 1)[1], 16))
        except OSError:
            continue
    return ports


def _reopen_console_logs() -> None:
    """Make xenconsoled reopen its guest logs (SIGHUP), so an arrived guest logs under its name.

    xenconsoled names a guest's log after the domain's name when it first sees the domain; a live
    migration's domain arrives as NAME--incoming and is renamed once it runs, so without this its
    console went on into guest-NAME--incoming.log. No xenconsoled (or no logging): nothing to do.
    """
    pids = []
    try:
        with open(XENCONSOLED_PIDFILE) as f:
            pids = [int(f.read().strip())]
    except (OSError, ValueError):
        pass
    running = processes("xenconsoled")
    for pid in [pid for pid in pids if pid in running] or running:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGHUP)


def _is_receiver(pid: int) -> bool:
    """The PID is still our socat (a PID from a file may have been reused since)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
    except OSError:
        return False
    return bool(argv) and os.path.basename(argv[0]) == b"socat" and any(b"migrate-receive" in a for a in argv)


class XenPvmHypervisor(XenHypervisor):
    name = "xen-pvm"
    hvm = False


class XenHvmHypervisor(XenHypervisor):
    """HVM guests need hardware virtualisation in the dom0's CPU; see doc/design/007-xen.md."""

    name = "xen-hvm"
    hvm = True
