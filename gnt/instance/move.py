"""The one step that moves an instance to another node: live migration or failover.

`LUInstanceMigrate`, `LUInstanceFailover`, and the per-instance jobs that `gnt-node migrate`,
`gnt-node failover` and `gnt-node evacuate` submit all go through `InstanceMove`, so the checks
(can these disks move this way, under this hypervisor? is the target usable, with room?) and the
steps (accept, transfer, finalize, point the config at the new node, drop what was left behind)
exist once. Whether disks can move is asked of `gnt.disktypes`, not spelled as template names.

Live migration: accept on the target, migrate on the source, poll the source for progress
(logged in the job), then finalize both sides. On any failure the source keeps the guest and the
target copy is destroyed. Failover: stop on the source, point the config at the target, start
there if the instance was up.
"""

from __future__ import annotations

import asyncio
import copy
import enum
import time
from typing import TYPE_CHECKING, Any

from gnt import constants, disktypes
from gnt.errors import ECODE_INVAL, ECODE_NORES, ECODE_STATE, GntError, OpCanceledError, OpExecError, OpPrereqError
from gnt.instance.common import (
    build_spec,
    check_free_memory,
    check_node_usable,
    filled_beparams,
    instance_memory,
    node_free_memory,
    not_enough_memory,
    spec_of,
)
from gnt.objects import Instance, Node
from gnt.rpc import procedures as proc

if TYPE_CHECKING:
    from gnt.jobs.lu import LogicalUnit
    from gnt.rpc.client import Target
    from gnt.rpc.transport import RpcResult

#: the node answers migration_status as soon as the migration ends, or after this long (progress, cancel)
STATUS_WAIT = 0.25
PROGRESS_INTERVAL = 1.0
MIGRATION_TIMEOUT = proc.Timeout.MIGRATION.value
#: what a node's instance_info reports in `extra` when a guest's devices are not where its config puts
#: them (kvm after a hotplug), and the hvparam the target's accept gets it back in (backends.kvm.argv)
DEVICE_LAYOUT = "device_layout"


class MoveKind(enum.StrEnum):
    """How an instance moves; the value names it in messages ("does not allow migrations")."""

    MIGRATION = "migrations"
    """Live (or non-live) migration: the guest keeps running state."""
    FAILOVER = "failovers"
    """Stop on the source, start on the target."""


def check_movable(inst: Instance, kind: MoveKind) -> None:
    """Refuse a move the instance's disks (and, for migrations, its hypervisor) cannot do."""
    if kind is MoveKind.MIGRATION:
        allowed = disktypes.can_migrate(inst.disk_template, inst.hypervisor)
    else:
        allowed = disktypes.can_fail_over(inst.disk_template)
    if not allowed:
        raise OpPrereqError(f"Instance's disk layout '{inst.disk_template}' does not allow {kind}", ECODE_STATE)


def evacuation_opcode(inst: Instance, target: str) -> dict[str, Any]:
    """The job moving `inst` to `target` for node evacuation: running ones migrate, others fail over."""
    verb = "OP_INSTANCE_MIGRATE" if inst.admin_state == constants.ADMINST_UP else "OP_INSTANCE_FAILOVER"
    return {"OP_ID": verb, "instance_name": inst.name, "target_node": target}


def _major_minor(version: str) -> list[str]:
    """The first two dot-separated parts of a version ("4.17.3-pre" -> ["4", "17"])."""
    return version.split(".")[:2]


def _mib(value: int) -> str:
    return f"{value / 1048576:.1f} MiB"


def _progress(status: dict[str, Any]) -> str:
    """The figures the hypervisor measured (QEMU's), or its own line when it has none (xl's)."""
    if status.get("progress"):
        return str(status["progress"])
    return (
        f"transferred {_mib(status['transferred'])}, remaining {_mib(status['remaining'])}, dirty rate"
        f" {status['dirty_rate']} pages/s, expected downtime {status['expected_downtime']} ms"
    )


class InstanceMove:
    """One instance moving from `source` to `target`, on behalf of an LU (its log, cancel, RPC)."""

    def __init__(self, lu: LogicalUnit, instance: Instance, source: Node, target: Node) -> None:
        self.lu = lu
        self.instance = instance
        self.source = source
        self.target = target
        self.rpc = lu.rpc
        self._source_layout: dict[str, Any] | None = None
        self._source_seen = False
        #: MiB the guest runs with on the source (its instance_info), when the node said
        self.source_memory: int | None = None
        #: MiB to balloon the guest down to before a live migration (check_migration_memory)
        self.balloon_to: int | None = None

    # -- checks --------------------------------------------------------------------------------
    def check(self, kind: MoveKind) -> None:
        check_movable(self.instance, kind)
        if self.target.uuid == self.source.uuid:
            raise OpPrereqError(f"Instance {self.instance.name} is already on node {self.source.name}", ECODE_INVAL)
        check_node_usable(self.target)
        from gnt.network.nics import require_connected

        require_connected(self.lu.cfg, self.instance, self.target)  # NICs on networks take the target group's link
        if self.mirrored:
            from gnt.instance.drbd import check_move_target

            check_move_target(self.instance, self.target, self.lu.cfg.nodes)

    def _on(self, node: Node | None) -> Instance:
        """The instance as it will be on `node`: NICs on networks take their mode and link from the
        network's connection in that node's group (a copy when that differs from now)."""
        from gnt.network.nics import regroup

        if node is None or node.uuid == self.instance.primary_node:
            return self.instance
        primary = self.lu.cfg.nodes.get(self.instance.primary_node)
        if primary is not None and primary.group == node.group:
            return self.instance
        moved = copy.deepcopy(self.instance)
        return moved if regroup(self.lu.cfg, moved, node) else self.instance

    @property
    def mirrored(self) -> bool:
        """Replicated to a secondary (drbd): the move hands the primary role over to it."""
        return disktypes.kind(self.instance.disk_template).needs_secondary

    async def check_target_memory(self, doing: str) -> None:
        inst = self.instance
        memory = instance_memory(self.lu.cfg.cluster, inst)
        await check_free_memory(self.lu, self.target, inst.hypervisor, memory, f"{doing} instance {inst.name}")

    async def migration_node_info(self) -> dict[str, RpcResult]:
        """One fresh node_info from the target (and the source, if the hypervisor reports its
        version), in parallel: the memory and the version checks read the same answers, so a
        migration asks each node once (a round trip and an `xl info` + `xl list` each)."""
        inst = self.instance
        nodes = [self.source, self.target] if disktypes.hypervisor(inst.hypervisor).reports_version else [self.target]
        return await self.lu.ctx.services.live(nodes, proc.NODE_INFO, proc.NodeInfoArgs([inst.hypervisor]), fresh=True)

    async def check_migration_memory(
        self, allow_runtime_changes: bool, answers: dict[str, RpcResult] | None = None
    ) -> None:
        """Ganeti's rule for a live migration (after `runtime_state` of the source): the target must
        have room for the instance's minimum memory; when it has less free than the guest runs with
        now, the guest is ballooned down to what is free before it moves (`migrate`), unless runtime
        changes are not allowed (`--no-runtime-changes`): then it is refused here, nothing changed."""
        inst, dst = self.instance, self.target
        be = filled_beparams(self.lu.cfg.cluster, inst)
        reason = f"migrating instance {inst.name}"
        free = await node_free_memory(self.lu, dst, inst.hypervisor, (answers or {}).get(dst.name))
        minimum = int(be["minmem"])
        if minimum > free:
            raise not_enough_memory(dst, reason, minimum, free)
        current = int(self.source_memory if self.source_memory is not None else be["maxmem"])
        if current <= free:
            return
        if not allow_runtime_changes:
            raise OpPrereqError(
                f"Memory ballooning not allowed and not enough free memory to fit instance {inst.name} on target"
                f" node {dst.name} (have {free} MiB, need {current} MiB)",
                ECODE_NORES,
            )
        if not disktypes.hypervisor(inst.hypervisor).balloons:
            raise not_enough_memory(dst, f"{reason} (hypervisor {inst.hypervisor} cannot balloon)", current, free)
        self.balloon_to = free

    async def check_hypervisor_versions(self, ignore: bool, answers: dict[str, RpcResult] | None = None) -> None:
        """A live migration between hypervisor versions may fail or corrupt the guest: refuse one
        across major.minor versions unless `ignore` (--ignore-hvversions); a patch-level difference
        is reported and allowed. Hypervisors that report no version (kvm, fake) are not compared."""
        inst = self.instance
        if not disktypes.hypervisor(inst.hypervisor).reports_version:
            return
        nodes = [self.source, self.target]
        if answers is None or any(node.name not in answers for node in nodes):
            answers = await self.lu.ctx.services.live(
                nodes, proc.NODE_INFO, proc.NodeInfoArgs([inst.hypervisor]), fresh=True
            )
        versions = []
        for node in nodes:
            info = answers[node.name].get(f"Cannot get node information from {node.name}")
            hv_info = info["hv"][inst.hypervisor]
            versions.append(str(hv_info.get("version") or hv_info.get("xen_version") or ""))
        src, dst = versions
        if not src or not dst or src == dst:
            return
        self.lu.warning(f"Hypervisor version mismatch between source ({src}) and target ({dst}) node")
        if ignore or _major_minor(src) == _major_minor(dst):
            self.lu.feedback("  migrating anyway: " + ("--ignore-hvversions given" if ignore else "same major.minor"))
            return
        raise OpPrereqError(
            f"Hypervisor version mismatch between source ({src}) and target ({dst}) node: a live migration"
            " across versions may fail; use --ignore-hvversions to migrate anyway",
            ECODE_STATE,
        )

    async def runtime_state(self, node: Node) -> str | None:
        query = proc.InstanceQueryArgs(self.instance.name, self.instance.hypervisor)
        info = (await self.rpc.instance_info(self._at(node), query)).get("Cannot get instance information")
        if node.uuid == self.source.uuid:  # the instance is locked: its devices stay as they are now
            self._source_layout = (info or {}).get("extra", {}).get(DEVICE_LAYOUT)
            self._source_seen = True
            memory = (info or {}).get("memory")
            self.source_memory = int(memory) if isinstance(memory, int) and memory > 0 else None
        return info["state"] if info else None

    # -- shared steps --------------------------------------------------------------------------
    def _at(self, node: Node) -> Target:
        return self.lu.ctx.services.target(node)  # type: ignore[no-any-return]

    def _spec(self, node: Node | None = None) -> Any:
        """The instance spec for `node` (default: its primary); drbd disks as that node sees them,
        NICs on networks as that node's group connects them."""
        inst = self._on(node)
        if not self.mirrored:
            return build_spec(self.lu.cfg, inst)
        spec = spec_of(self.lu, inst)
        if node is not None and node.uuid != self.instance.primary_node:
            from gnt.instance.drbd import disks_for_node

            spec.disks = disks_for_node(self.lu.cfg, self.instance, node.uuid)
        return spec

    def _mode_spec(self, node: Node | None, live: bool, layout: dict[str, Any] | None = None) -> Any:
        """The spec with the mode this move uses as its `migration_mode` (an op's --non-live overrides
        the hvparam): a target that listens differently for each mode (xen: xl migrate against xl
        restore) learns it at accept. `layout` is the source's device layout, for the target."""
        spec = self._spec(node)
        spec.hvparams = {**(spec.hvparams or {}), "migration_mode": "live" if live else "non-live"}
        if layout:
            spec.hvparams[DEVICE_LAYOUT] = layout
        return spec

    async def source_device_layout(self) -> dict[str, Any] | None:
        """The device layout the guest runs with on the source, when it differs from what its config's
        command line gives (kvm, after a hotplug: other device ids and PCI slots). The target must
        build the same, or QEMU refuses the migration stream or hands the guest the wrong device.
        From the check's instance_info when there was one."""
        if not self._source_seen:
            await self.runtime_state(self.source)
        return self._source_layout

    async def point_config_at_target(self) -> None:
        if self.mirrored:  # the old primary keeps the other side of the mirror
            self.instance.secondary_nodes = [self.source.uuid]
        from gnt.network.nics import regroup

        if regroup(self.lu.cfg, self.instance, self.target):  # another group: its network connections
            self.lu.feedback(f"* NICs on networks take their mode and link from node {self.target.name}'s group")
        self.instance.primary_node = self.target.uuid
        await self.lu.cfg.commit([self.instance])

    # -- failover ------------------------------------------------------------------------------
    async def failover(self, shutdown_timeout: float, ignore_consistency: bool, start: bool) -> None:
        inst, src, dst = self.instance, self.source, self.target
        self.lu.feedback(f"Failover instance {inst.name}")
        if not src.offline:
            self.lu.feedback(f"* shutting down instance on source node {src.name}")
            args = proc.InstanceShutdownArgs(self._spec(), timeout=shutdown_timeout)
            result = await self.rpc.instance_shutdown(self._at(src), args)
            if result.failed and not ignore_consistency:
                raise OpExecError(
                    f"Could not shutdown instance {inst.name} on node {src.name}: {result.error};"
                    " if the node is dead, use --ignore-consistency"
                )
            if result.failed:
                self.lu.warning(
                    f"Could not shutdown instance {inst.name} on node {src.name}, proceeding anyway; please make"
                    f" sure node {src.name} is down ({result.error})"
                )
        if self.mirrored:
            from gnt.instance.drbd import hand_over_primary

            self.lu.feedback(f"* making the disks primary on {dst.name}")
            await hand_over_primary(self.lu, inst, src, dst, ignore_consistency)
        await self.point_config_at_target()
        if start:
            self.lu.feedback(f"* starting the instance on the target node {dst.name}")
            result = await self.rpc.instance_start(self._at(dst), proc.InstanceStartArgs(self._spec()))
            if result.failed:
                raise OpExecError(f"Could not start instance {inst.name} on node {dst.name}: {result.error}")

    # -- live migration ------------------------------------------------------------------------
    async def migrate(self, live: bool) -> dict[str, Any]:
        inst, dst = self.instance, self.target
        feedback = self.lu.feedback
        feedback(f"Migrating instance {inst.name}")
        if self.balloon_to is not None:
            from gnt.instance.modify_runtime import balloon

            await balloon(self.lu, inst, self.source, self.balloon_to)
        feedback("* checking disk consistency between source and target")
        if self.mirrored:
            from gnt.instance.drbd import check_in_sync, open_migration_window

            await check_in_sync(self.lu, inst, self.source)
            try:
                await open_migration_window(self.lu, inst, self.source, dst)
            except GntError:
                await self._close_window(keep=self.source, drop=dst)
                raise
        feedback(f"* preparing {dst.name} to accept the instance")
        target_ip = dst.secondary_ip or dst.primary_ip  # the replication network
        layout = await self.source_device_layout()
        accept = proc.AcceptInstanceArgs(self._mode_spec(dst, live, layout), target_ip)
        accepted = await self.rpc.accept_instance(self._at(dst), accept)
        if accepted.failed:
            await self._close_window(keep=self.source, drop=dst)
            raise OpExecError(f"Could not pre-migrate instance {inst.name}: {accepted.error}")
        info = accepted.payload or {}
        feedback(f"* migrating instance to {dst.name}")
        started = time.monotonic()
        try:
            status = await self._transfer(info, live)
        except OpCanceledError:
            status = await self._cancel(info, live)
            if status is None:
                raise
        except GntError as err:
            await self._abort(info)
            raise OpExecError(f"Could not migrate instance {inst.name}: {err}") from err
        feedback("* memory transfer complete")
        if status.get("downtime") is not None and status.get("total_time") is not None:
            # the hypervisor's own measurement (QEMU's query-migrate), not the master's polling time
            feedback(f"* migration done: total {status['total_time']} ms, downtime {status['downtime']} ms")
        await self.finalize(info, success=True)
        await self.point_config_at_target()  # first: the guest runs there, whatever the window's end does
        await self._close_window(keep=dst, drop=self.source)
        if disktypes.kind(inst.disk_template).is_local:
            await self._remove_source_disks()
        feedback("* done")
        return {
            "downtime_ms": status.get("downtime"),
            "total_time_ms": status.get("total_time"),
            "orchestration_s": round(time.monotonic() - started, 3),
        }

    async def _remove_source_disks(self) -> None:
        """The disks were copied to the target; the source's copies would be orphans."""
        self.lu.feedback(f"* removing the old disk copies on {self.source.name}")
        for disk in self._spec().disks:
            result = await self.rpc.blockdev_remove(self._at(self.source), proc.BlockdevArgs(disk, self.instance.name))
            if result.failed:
                self.lu.warning(f"Could not remove disk {disk.index} on {self.source.name}: {result.error}")

    async def _transfer(self, info: dict[str, Any], live: bool) -> dict[str, Any]:
        inst, src, dst = self.instance, self.source, self.target
        spec = self._mode_spec(None, live)
        start = proc.MigrateInstanceArgs(spec, dst.secondary_ip or dst.primary_ip, info, live)
        (await self.rpc.migrate_instance(self._at(src), start)).get("Migration could not start")
        self.lu.feedback("* starting memory transfer")
        last_log = time.monotonic()
        logged_actions = 0
        deadline = time.monotonic() + MIGRATION_TIMEOUT
        poll = proc.MigrationStatusArgs(spec, wait=STATUS_WAIT)
        while True:
            status = (await self.rpc.migration_status(self._at(src), poll)).get("Cannot get migration status")
            actions = status.get("extra", {}).get("actions", [])
            for action in actions[logged_actions:]:
                self.lu.info(f"migration policy: {action}")
            logged_actions = len(actions)
            phase = status["phase"]
            if phase == "completed":
                return status  # type: ignore[no-any-return]
            if phase in ("failed", "cancelled"):
                raise OpExecError(status.get("message") or f"migration {phase}")
            if time.monotonic() - last_log >= PROGRESS_INTERVAL:
                last_log = time.monotonic()
                self.lu.feedback(f"* memory transfer progress: {_progress(status)}")
            if time.monotonic() > deadline:
                raise OpExecError(f"migration did not finish in {MIGRATION_TIMEOUT:g}s")
            if not self.lu.cancel.is_set():
                continue
            raise OpCanceledError(
                f"Migration of instance {inst.name} canceled by request; it keeps running on node {src.name}"
            )

    async def _cancel(self, info: dict[str, Any], live: bool) -> dict[str, Any] | None:
        """Abort on a cancel request; None once the source keeps the guest. A migration past its
        point of no return (xl: the target acknowledged the stream) ends anyway: then the guest runs
        on the target only, and finalizing that as a failure would destroy it there. Its final
        status is returned and the move completes."""
        await self.rpc.abort_migration(self._at(self.source), proc.InstanceArgs(self._spec()))
        spec = self._mode_spec(None, live)
        answer = await self.rpc.migration_status(self._at(self.source), proc.MigrationStatusArgs(spec, wait=0))
        status = answer.payload if not answer.failed else None
        if status and status.get("phase") == "completed":
            self.lu.warning(f"The cancel came too late: instance {self.instance.name} had already moved")
            return status  # type: ignore[no-any-return]
        await self._abort(info, aborted=True)
        return None

    async def _abort(self, info: dict[str, Any], aborted: bool = False) -> None:
        self.lu.warning("Migration failed, aborting; the instance keeps running on the source")
        if not aborted:
            await self.rpc.abort_migration(self._at(self.source), proc.InstanceArgs(self._spec()))
        await self.finalize(info, success=False)
        await self._close_window(keep=self.source, drop=self.target)

    async def _close_window(self, keep: Node, drop: Node) -> None:
        """drbd: end the dual-primary window with `keep` the only primary (no-op for other disks)."""
        if not self.mirrored:
            return
        from gnt.instance.drbd import close_migration_window

        try:
            await close_migration_window(self.lu, self.instance, keep, drop)
        except GntError as err:
            if keep is self.target:
                raise  # the guest runs on the target now: the job must not report a clean move
            self.lu.warning(f"Could not end the dual-primary window of instance {self.instance.name}: {err}")

    async def finalize(self, info: dict[str, Any], success: bool) -> None:
        """Both sides at once: each driver checks the migration's outcome itself before acting."""
        dst_args = proc.FinalizeDstArgs(self._spec(self.target), success, info)
        dst_result, src_result = await asyncio.gather(
            self.rpc.finalize_migration_dst(self._at(self.target), dst_args),
            self.rpc.finalize_migration_src(self._at(self.source), proc.FinalizeSrcArgs(self._spec(), success)),
        )
        if success:
            dst_result.get("Failed to finalize the migration on the target")
            if src_result.failed:
                self.lu.warning(f"Could not clean up the source copy on {self.source.name}: {src_result.error}")

    async def cleanup(self) -> dict[str, Any]:
        """After an interrupted migration: keep exactly one copy, and point the config at it."""
        inst, src, dst = self.instance, self.source, self.target
        on_src, on_dst = await self.runtime_state(src), await self.runtime_state(dst)
        self.lu.feedback(f"* instance state: {src.name}={on_src or 'absent'}, {dst.name}={on_dst or 'absent'}")
        if on_src == "running":
            if on_dst is not None:
                await self.finalize({}, success=False)
            self.lu.feedback(f"* instance runs on {src.name}; nothing else to do")
            return {"node": src.name}
        if on_dst in ("running", "paused"):
            await self.finalize({}, success=True)
            await self.point_config_at_target()
            self.lu.feedback(f"* instance runs on {dst.name}; config updated")
            return {"node": dst.name}
        raise OpExecError(
            f"Instance {inst.name} runs on neither {src.name} nor {dst.name}; start it with gnt-instance startup"
        )
