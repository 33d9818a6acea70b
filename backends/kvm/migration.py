"""Live migration for the kvm driver, following the step protocol of backends.base.

Target: `accept_instance` starts QEMU with `-incoming defer`, listens with `migrate-incoming` on an
ephemeral port of `target_address` and, for local (`file`) disks, creates the destination images
and exports them writable over NBD. Source: `migrate_instance` mirrors each local disk to that
export (`blockdev-mirror`, sync=full) and starts a supervisor task (see supervisor.py) that starts
the RAM phase once every mirror is ready, applies the convergence policy and completes the mirrors
in the `pre-switchover` pause. Shared (`sharedfile`) disks stay in place.

The target resumes by itself when the state is in (no `-S`): the guest's pause is QEMU's own
downtime, not the master's polling interval. Nothing here ever resumes a source whose migration
completed, which is what makes `migration_cleanup_info` + the documented `--cleanup` procedure safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import socket
import time
from typing import Any

from backends.kvm import proc
from backends.kvm.argv import hvparams, running_devices
from backends.kvm.driver import KvmBase
from backends.kvm.policy import Limits, initial_parameters, limits_from_hvparams
from backends.kvm.qmp import Monitor
from backends.kvm.supervisor import Supervisor, local_disks, status_from_query
from gnt.errors import HypervisorError
from gnt.runtime import InstanceSpec, MigrationPhase, MigrationStatus

__all__ = ["KvmMigration"]

_MANAGED_CAPS = ("auto-converge", "postcopy-ram", "pause-before-switchover", "events", "multifd")
#: capabilities QEMU 7.2 refuses to combine with multifd
_NOT_WITH_MULTIFD = ("postcopy-ram", "xbzrle", "compress")


def _uri_host(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def _free_port(address: str) -> int:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((address, 0))
        return sock.getsockname()[1]


def disk_node(state: dict[str, Any], disk: Any) -> str:
    """The block node of `disk` in this guest: its hotplug id, or the command line's `disk<N>`."""
    entry = (state.get("devices") or {}).get("disks", {}).get(disk.uuid) or {}
    return str(entry.get("node") or f"disk{disk.index}")


def runs_tcg(state: dict[str, Any]) -> bool:
    """Whether the guest's QEMU emulates the CPU (TCG) rather than using KVM (from its recorded argv)."""
    argv = state.get("argv") or []
    machine = [argv[i + 1] for i, arg in enumerate(argv[:-1]) if arg == "-machine"]
    return any("accel=tcg" in m.split(",") for m in machine)


def migration_limits(params: dict[str, Any], state: dict[str, Any]) -> Limits:
    """The convergence limits for this guest's outgoing migration.

    Under TCG QEMU must not iterate: QEMU 7.2's TCG dirty tracking misses guest writes made after
    the second dirty-bitmap sync, so a guest that QEMU iterated on arrives with stale pages and
    oopses on the target. So a TCG migration runs at `migration_max_bandwidth` with
    `migration_max_downtime` from the start, which lets QEMU switch over within its first pass
    unless the guest dirties more than that during it, and the supervisor forces the switchover
    once the first pass is done (`one_pass`) for the guests that still make QEMU iterate. With KVM
    the kernel tracks dirty pages and the Ganeti-style start values apply. See doc/design/003-kvm.md.
    """
    limits = limits_from_hvparams(params)
    if runs_tcg(state):
        limits = dataclasses.replace(
            limits, bandwidth=limits.max_bandwidth, downtime=limits.max_downtime, one_pass=True
        )
    return limits


def _stream_capabilities(params: dict[str, Any]) -> set[str]:
    """Capabilities both ends must agree on, so each side derives them from the same hvparams.

    multifd (RAM sent over `multifd-channels` parallel connections, 2 by default) is on unless
    post-copy or a capability it excludes is wanted: under TCG the switchover copies what the one
    pass left with the guest stopped, and two channels halved that pause for 128 MiB guests
    (bench/bench_migration.py, 5 samples each: median 82 vs 149 ms shared, 49 vs 130 ms local).
    """
    if params["migration_postcopy"]:
        return {"postcopy-ram"}
    extra = set(str(params["migration_caps"] or "").split(":"))
    return set() if extra & set(_NOT_WITH_MULTIFD) else {"multifd"}


def _capabilities(params: dict[str, Any], enabled: set[str]) -> list[dict[str, Any]]:
    extra = {c for c in str(params["migration_caps"] or "").split(":") if c}
    names = sorted(set(_MANAGED_CAPS) | extra)
    return [{"capability": c, "state": c in enabled or c in extra} for c in names]


class KvmMigration(KvmBase):
    """The migration steps; state lives in runtime.json["migration"] so a restarted daemon resumes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._supervisors: dict[str, Supervisor] = {}

    # -- target --------------------------------------------------------------------------------
    async def accept_instance(self, spec: InstanceSpec, target_address: str) -> dict[str, Any]:
        state = self.load(spec.name)
        if self.alive(state):
            raise HypervisorError(f"{spec.name} already runs on the target node; run migrate --cleanup")
        if state:
            await self.forget(spec.name)
        created = await self._create_local_disks(spec)
        try:
            facts = await self.facts(spec, incoming=True)

            async def setup(mon: Monitor) -> dict[str, Any]:  # on the monitor session that saw QEMU come up
                info = await self._listen(mon, spec, target_address)
                if local_disks(spec):
                    info.update(await self._export_disks(mon, spec, target_address))
                return info

            extra = {"created_disks": created, "migration": {"role": "target"}}
            if facts.layout:  # the source's ids and slots, and this node's taps: what a later hotplug finds
                extra["devices"] = running_devices(spec, facts.layout, facts.taps)
            return await self.spawn(spec, facts, extra, setup=setup)
        except Exception:
            await self.forget(spec.name)
            self._remove_files(created)
            raise

    async def _create_local_disks(self, spec: InstanceSpec) -> list[str]:
        """Destination images for mirrored disks (raw unless params say qcow2); existing ones are used."""
        created = []
        try:
            for disk in local_disks(spec):
                path = self.disk_path(disk)
                if os.path.exists(path):
                    continue
                os.makedirs(os.path.dirname(path), exist_ok=True)
                fmt = str(disk.params.get("format", "raw"))
                await proc.run(["qemu-img", "create", "-q", "-f", fmt, path, f"{disk.size}M"])
                created.append(path)
        except Exception:
            self._remove_files(created)
            raise
        return created

    @staticmethod
    def _remove_files(files: list[str]) -> None:
        for path in files:
            with contextlib.suppress(OSError):
                os.unlink(path)

    @staticmethod
    async def _listen(mon: Monitor, spec: InstanceSpec, address: str) -> dict[str, Any]:
        params = hvparams(spec)
        await mon.cmd("migrate-set-capabilities", {"capabilities": _capabilities(params, _stream_capabilities(params))})
        await mon.cmd("migrate-incoming", {"uri": f"tcp:{_uri_host(address)}:0"})
        info = await mon.cmd("query-migrate")
        addresses = info.get("socket-address") or []
        if not addresses:
            raise HypervisorError(f"{spec.name}: QEMU did not report its incoming migration port")
        return {"address": address, "port": int(addresses[0]["port"])}

    async def _export_disks(self, mon: Monitor, spec: InstanceSpec, address: str) -> dict[str, Any]:
        port = await self._start_nbd_server(mon, spec, address)
        state = self.load(spec.name) or {}
        for disk in local_disks(spec):
            export = {"type": "nbd", "id": f"mig-disk{disk.index}", "node-name": disk_node(state, disk)}
            export.update({"name": f"disk{disk.index}", "writable": True})
            await mon.cmd("block-export-add", export)
        return {"nbd_port": port, "nbd_exports": [f"disk{d.index}" for d in local_disks(spec)]}

    async def _start_nbd_server(self, mon: Monitor, spec: InstanceSpec, address: str) -> int:
        """Start QEMU's NBD server on a port of `address`; the port.

        The listening socket is ours, made with TCP_NODELAY and handed to QEMU: accepted sockets
        inherit the option, and QEMU 7.2's server does not set it, so every reply it splits in two
        writes waited for the client's delayed ACK (Nagle): ~90 ms to connect, measured with
        `qemu-img info nbd://...` (90 ms vs 7 ms with this socket). In a test network namespace
        the socket must be QEMU's own, so there QEMU binds a probed port itself.
        """
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        if self.netns is None:
            with socket.socket(family, socket.SOCK_STREAM) as sock:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.bind((address, 0))
                sock.listen(16)
                await mon.pass_socket(sock, "nbd-listen")
                await mon.cmd("nbd-server-start", {"addr": {"type": "fd", "data": {"str": "nbd-listen"}}})
                return int(sock.getsockname()[1])
        last: Exception | None = None
        for _ in range(5):  # the probed port may be taken before QEMU binds it: try another
            port = _free_port(address)
            addr = {"type": "inet", "data": {"host": address, "port": str(port)}}
            try:
                await mon.cmd("nbd-server-start", {"addr": addr})
                return port
            except HypervisorError as err:
                last = err
        raise HypervisorError(f"cannot start the NBD server for {spec.name} on {address}: {last}")

    async def finalize_migration_dst(self, spec: InstanceSpec, info: dict[str, Any], success: bool) -> None:
        state = self.load(spec.name)
        if not success:
            if state is not None:
                await self.forget(spec.name)
                self._remove_files(state.get("created_disks", []))
            return
        if not self.alive(state):
            raise HypervisorError(f"{spec.name}: the received guest is not running on the target")
        status = await self._wait_incoming_done(spec.name)
        if status != "running":
            await self.command(spec.name, "cont")
        if info.get("nbd_port"):
            with contextlib.suppress(HypervisorError):
                await self.command(spec.name, "nbd-server-stop")
        state.update({"incoming": False, "migration": None, "created_disks": []})  # type: ignore[union-attr]
        self.save(spec.name, state)  # type: ignore[arg-type]

    async def _wait_incoming_done(self, name: str, timeout: float = 60.0) -> str:
        """The target's status once the incoming migration is in (asked every 5 ms on one session)."""
        deadline = time.monotonic() + timeout
        status = None
        async with self.lock(name), self.qmp(name) as mon:
            while True:
                status = (await mon.cmd("query-status"))["status"]
                if status != "inmigrate":
                    return status
                if time.monotonic() > deadline:
                    raise HypervisorError(f"{name}: the incoming migration did not finish (status {status})")
                await asyncio.sleep(0.005)

    # -- source --------------------------------------------------------------------------------
    async def migrate_instance(self, spec: InstanceSpec, target_address: str, info: dict[str, Any], live: bool) -> None:
        state = self.load(spec.name)
        if not self.alive(state):
            raise HypervisorError(f"{spec.name} is not running on the source node")
        params = hvparams(spec)
        limits = migration_limits(params, state)  # type: ignore[arg-type]
        disks = local_disks(spec)
        enabled = {"events"} | _stream_capabilities(params)
        enabled |= {"auto-converge"} if limits.max_throttle else set()
        enabled |= {"pause-before-switchover"} if disks else set()
        uri = f"tcp:{_uri_host(target_address)}:{int(info['port'])}"
        steps: list[tuple[str, dict[str, Any] | None]] = [
            ("migrate-set-capabilities", {"capabilities": _capabilities(params, enabled)}),
            ("migrate-set-parameters", initial_parameters(limits)),
        ]
        for disk in disks:
            server = {"type": "inet", "host": target_address, "port": str(info["nbd_port"])}
            node = {"driver": "nbd", "node-name": f"mig-disk{disk.index}", "server": server}
            node["export"] = f"disk{disk.index}"
            job = {"job-id": f"mig-disk{disk.index}", "device": disk_node(state, disk)}
            job.update({"target": f"mig-disk{disk.index}", "sync": "full", "auto-dismiss": False})
            steps += [("blockdev-add", node), ("blockdev-mirror", job)]
        if not disks:
            steps.append(("migrate", {"uri": uri}))
        failed: HypervisorError | None = None
        async with self.lock(spec.name), self.qmp(spec.name) as mon:  # one session for all of it
            was_running = (await mon.cmd("query-status"))["status"] == "running"
            if not live and was_running:
                steps.insert(2, ("stop", None))
            state["migration"] = {  # type: ignore[index]
                "role": "source",
                "stage": "mirror" if disks else "ram",
                "uri": uri,
                "live": live,
                "was_running": was_running,
                "disks": [d.index for d in disks],
                "started": time.time(),
                "error": None,
            }
            self.save(spec.name, state)  # type: ignore[arg-type]
            try:
                for command, args in steps:
                    await mon.cmd(command, args)
            except HypervisorError as err:
                failed = err
        if failed is not None:
            await self._restore_source(spec.name)
            raise failed
        self._supervise(spec.name, limits)

    def _supervise(self, name: str, limits: Any = None) -> Supervisor:
        sup = self._supervisors.get(name)
        if sup is None or sup.done:
            state = self.load(name) or {}
            spec_params = hvparams(
                InstanceSpec(name, "", "kvm", 0, 0, hvparams=(state.get("spec") or {}).get("hvparams", {}))
            )
            sup = Supervisor(self, name, limits or migration_limits(spec_params, state))
            self._supervisors[name] = sup
            sup.start()
        return sup

    async def migration_status(self, spec: InstanceSpec) -> MigrationStatus:
        state = self.load(spec.name)
        mig = (state or {}).get("migration") or {}
        if mig.get("role") != "source":
            return MigrationStatus(MigrationPhase.FAILED, message=f"no outgoing migration of {spec.name} on this node")
        if not self.alive(state):
            return MigrationStatus(MigrationPhase.FAILED, message=f"the source QEMU of {spec.name} died")
        sup = self._supervise(spec.name) if mig.get("stage") in ("mirror", "ram") else self._supervisors.get(spec.name)
        actions = sup.policy.actions if sup is not None and sup.policy is not None else []
        if mig.get("error"):
            return MigrationStatus(MigrationPhase.FAILED, message=mig["error"], extra={"actions": actions})
        if mig.get("stage") == "mirror":
            return await self._mirror_status(spec.name, actions)
        info = await self.command(spec.name, "query-migrate")
        return status_from_query(info, mig.get("uri", ""), actions)

    async def _mirror_status(self, name: str, actions: list[dict[str, Any]]) -> MigrationStatus:
        jobs = [j for j in await self.command(name, "query-block-jobs") if j["device"].startswith("mig-disk")]
        done, total = sum(j["offset"] for j in jobs), sum(j["len"] for j in jobs)
        msg = f"mirroring {len(jobs)} disk(s): {done >> 20}/{total >> 20} MiB"
        extra = {"qemu_status": "mirror", "disks": jobs, "actions": actions}
        return MigrationStatus(MigrationPhase.ACTIVE, message=msg, extra=extra)

    async def abort_migration(self, spec: InstanceSpec) -> None:
        state = self.load(spec.name)
        mig = (state or {}).get("migration") or {}
        if mig.get("role") != "source" or not self.alive(state):
            return
        sup = self._supervisors.pop(spec.name, None)
        if sup is not None:
            await sup.stop()
        await self.command(spec.name, "migrate_cancel")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            status = (await self.command(spec.name, "query-migrate")).get("status")
            if status not in ("cancelling", "pre-switchover", "device"):
                break
            await asyncio.sleep(0.05)
        mig.update({"stage": "cancelled", "error": mig.get("error")})
        state["migration"] = mig  # type: ignore[index]
        self.save(spec.name, state)  # type: ignore[arg-type]
        await self._restore_source(spec.name)

    async def _restore_source(self, name: str) -> None:
        """After a failed or cancelled migration: drop the mirrors, resume the guest if we paused it."""
        state = self.load(name) or {}
        mig = state.get("migration") or {}
        async with self.lock(name), self.qmp(name) as mon:
            status = (await mon.cmd("query-migrate")).get("status")
            if status == "completed":
                raise HypervisorError(f"the migration of {name} completed: the target holds the guest")
            for index in mig.get("disks", []):
                await mon.try_cmd("block-job-cancel", {"device": f"mig-disk{index}", "force": True})
            await asyncio.sleep(0.05)
            for index in mig.get("disks", []):
                await mon.try_cmd("job-dismiss", {"id": f"mig-disk{index}"})
                await mon.try_cmd("blockdev-del", {"node-name": f"mig-disk{index}"})
            run_status = (await mon.cmd("query-status"))["status"]
            if mig.get("was_running") and run_status != "running":
                await mon.cmd("cont")

    async def finalize_migration_src(self, spec: InstanceSpec, success: bool) -> None:
        state = self.load(spec.name)
        if state is None:
            return
        sup = self._supervisors.pop(spec.name, None)
        if sup is not None:
            await sup.stop()
        if success:
            if self.alive(state):
                status = (await self.command(spec.name, "query-migrate")).get("status")
                if status != "completed":
                    raise HypervisorError(
                        f"the migration of {spec.name} is '{status}', not completed; the source keeps the guest"
                    )
            await self.forget(spec.name)
            return
        if self.alive(state):
            await self._restore_source(spec.name)
        state = self.load(spec.name) or state
        state["migration"] = None
        self.save(spec.name, state)

    async def migration_cleanup_info(self, name: str) -> dict[str, Any]:
        """Facts for `gnt-instance migrate --cleanup` on this node (see doc/design/003-kvm.md)."""
        state = self.load(name)
        result: dict[str, Any] = {"exists": state is not None, "alive": self.alive(state)}
        if result["alive"]:
            result["status"] = await self.query_status(name)
            with contextlib.suppress(HypervisorError):
                result["migration"] = (await self.command(name, "query-migrate")).get("status")
            result["incoming"] = bool(state.get("incoming"))  # type: ignore[union-attr]
        return result
