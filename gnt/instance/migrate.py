"""Instance live migration, failover, and node-wide migration.

The master drives the same steps for every hypervisor (see backends/base.py): accept on the
target, migrate on the source, poll the source for progress (logged in the job), then finalize
both sides. On any failure the source keeps the guest and the target copy is destroyed.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from gnt import constants
from gnt.errors import ECODE_INVAL, ECODE_STATE, GntError, OpCanceledError, OpExecError, OpPrereqError
from gnt.instance.common import check_free_memory, check_node_usable, instance_memory, spec_args
from gnt.jobs.locking import ALL, Level, LockRequest
from gnt.jobs.lu import LogicalUnit, register
from gnt.objects import Instance, Node
from gnt.opcodes import OpInstanceFailover, OpInstanceMigrate, OpNodeEvacuate, OpNodeMigrate

#: the node answers migration_status as soon as the migration ends, or after this long (progress, cancel)
STATUS_WAIT = 0.25
PROGRESS_INTERVAL = 1.0
MIGRATION_TIMEOUT = 3600


def _mib(value: int) -> str:
    return f"{value / 1048576:.1f} MiB"


class MoveLU(LogicalUnit):
    """Common checks for moving an instance to another node."""

    VERB = "migrations"

    def declare_locks(self, level: Level) -> LockRequest | None:
        op: Any = self.op
        if level == Level.INSTANCE:
            return LockRequest([op.instance_name])
        if level != Level.NODE:
            return None
        # read under the instance lock (re-checked once the node locks are held)
        inst = self.cfg.find_instance(op.instance_name)
        nodes: list[str] | str = ALL  # the allocator picks the target: any node may be it
        if op.target_node and inst is not None:
            nodes = [self.cfg.node_name(inst.primary_node), op.target_node]
        return LockRequest(nodes)

    async def check_move(self) -> None:
        op: Any = self.op
        self.instance: Instance = self.cfg.instance(op.instance_name)
        inst = self.instance
        self.source: Node = self.cfg.nodes[inst.primary_node]
        movable = constants.DTS_MIRRORED
        if self.VERB == "migrations" and inst.hypervisor == "kvm":
            movable = movable + constants.DTS_LOCAL_MIGRATE
        if inst.disk_template not in movable:
            raise OpPrereqError(
                f"Instance's disk layout '{inst.disk_template}' does not allow {self.VERB}", ECODE_STATE
            )
        self.target_node = await self._pick_target()
        if self.target_node.uuid == self.source.uuid:
            raise OpPrereqError(f"Instance {inst.name} is already on node {self.source.name}", ECODE_INVAL)
        check_node_usable(self.target_node)

    async def _pick_target(self) -> Node:
        op: Any = self.op
        if op.target_node:
            return self.cfg.node(op.target_node)
        from gnt.instance.placement import target_for_move

        node = await target_for_move(self, self.instance, op.iallocator)
        self.info(
            f"Selected nodes for instance {self.instance.name} via iallocator"
            f" {op.iallocator or self.cfg.cluster.default_iallocator}: {node.name}"
        )
        return node

    async def runtime_state(self, node: Node) -> str | None:
        result = await self.rpc.call(
            self.ctx.services.target(node),
            "instance_info",
            {"name": self.instance.name, "hypervisor": self.instance.hypervisor},
            15,
        )
        info = result.get("Cannot get instance information")
        return info["state"] if info else None


@register
class LUInstanceMigrate(MoveLU):
    OPCODE = OpInstanceMigrate
    op: OpInstanceMigrate
    CANCELLABLE = True

    def check_arguments(self) -> None:
        if self.op.mode not in (None, "live", "non-live"):
            raise OpPrereqError(f"Invalid migration mode '{self.op.mode}'", ECODE_INVAL)

    async def check_prereq(self) -> None:
        await self.check_move()
        if self.op.cleanup:
            return
        state = await self.runtime_state(self.source)
        if state not in ("running", "paused"):
            raise OpPrereqError(
                f"Instance {self.instance.name} is not running on {self.source.name}, cannot migrate; use failover",
                ECODE_STATE,
            )
        await check_free_memory(
            self,
            self.target_node,
            self.instance.hypervisor,
            instance_memory(self.cfg.cluster, self.instance),
            f"migrating instance {self.instance.name}",
        )

    @property
    def live(self) -> bool:
        if self.op.mode is not None:
            return self.op.mode == "live"
        if self.op.live is not None:
            return self.op.live
        return self.instance.hvparams.get("migration_mode", "live") != "non-live"

    async def exec(self) -> dict[str, Any]:
        if self.op.cleanup:
            return await self._cleanup()
        inst, _src, dst = self.instance, self.source, self.target_node
        services = self.ctx.services
        self.feedback(f"Migrating instance {inst.name}")
        self.feedback("* checking disk consistency between source and target")
        self.feedback(f"* preparing {dst.name} to accept the instance")
        accepted = await self.rpc.call(
            services.target(dst), "accept_instance", spec_args(self, inst, target_address=dst.primary_ip), 120
        )
        if accepted.failed:
            raise OpExecError(f"Could not pre-migrate instance {inst.name}: {accepted.error}")
        info = accepted.payload or {}
        self.feedback(f"* migrating instance to {dst.name}")
        started = time.monotonic()
        try:
            status = await self._transfer(info)
        except OpCanceledError:
            await self._abort(info)
            raise
        except GntError as err:
            await self._abort(info)
            raise OpExecError(f"Could not migrate instance {inst.name}: {err}") from err
        self.feedback("* memory transfer complete")
        await self._finalize(info, success=True)
        inst.primary_node = dst.uuid
        await self.cfg.commit([inst])
        if inst.disk_template in constants.DTS_LOCAL_MIGRATE:
            await self._remove_source_disks()
        self.feedback("* done")
        return {
            "downtime_ms": status.get("downtime"),
            "total_time_ms": status.get("total_time"),
            "orchestration_s": round(time.monotonic() - started, 3),
        }

    async def _remove_source_disks(self) -> None:
        """The disks were copied to the target; the source's copies would be orphans."""
        from gnt import serial
        from gnt.instance.common import build_spec

        self.feedback(f"* removing the old disk copies on {self.source.name}")
        for disk in build_spec(self.cfg.cluster, self.instance).disks:
            result = await self.rpc.call(
                self.ctx.services.target(self.source), "blockdev_remove", {"disk": serial.to_dict(disk)}, 120
            )
            if result.failed:
                self.warning(f"Could not remove disk {disk.index} on {self.source.name}: {result.error}")

    async def _transfer(self, info: dict[str, Any]) -> dict[str, Any]:
        inst, src, dst = self.instance, self.source, self.target_node
        services = self.ctx.services
        started = await self.rpc.call(
            services.target(src),
            "migrate_instance",
            spec_args(self, inst, target_address=dst.primary_ip, info=info, live=self.live),
            120,
        )
        started.get("Migration could not start")
        self.feedback("* starting memory transfer")
        last_log = time.monotonic()
        logged_actions = 0
        deadline = time.monotonic() + MIGRATION_TIMEOUT
        while True:
            result = await self.rpc.call(
                services.target(src), "migration_status", spec_args(self, inst, wait=STATUS_WAIT), 30
            )
            status = result.get("Cannot get migration status")
            actions = status.get("extra", {}).get("actions", [])
            for action in actions[logged_actions:]:
                self.info(f"migration policy: {action}")
            logged_actions = len(actions)
            phase = status["phase"]
            if phase == "completed":
                return status
            if phase in ("failed", "cancelled"):
                raise OpExecError(status.get("message") or f"migration {phase}")
            if time.monotonic() - last_log >= PROGRESS_INTERVAL:
                last_log = time.monotonic()
                self.feedback(
                    f"* memory transfer progress: transferred {_mib(status['transferred'])}, remaining"
                    f" {_mib(status['remaining'])}, dirty rate {status['dirty_rate']} pages/s, expected downtime"
                    f" {status['expected_downtime']} ms"
                )
            if time.monotonic() > deadline:
                raise OpExecError(f"migration did not finish in {MIGRATION_TIMEOUT}s")
            if not self.cancel.is_set():
                continue
            raise OpCanceledError(
                f"Migration of instance {inst.name} canceled by request; it keeps running on node {src.name}"
            )

    async def _abort(self, info: dict[str, Any]) -> None:
        services = self.ctx.services
        self.warning("Migration failed, aborting; the instance keeps running on the source")
        await self.rpc.call(services.target(self.source), "abort_migration", spec_args(self, self.instance), 60)
        await self._finalize(info, success=False)

    async def _finalize(self, info: dict[str, Any], success: bool) -> None:
        """Both sides at once: each driver checks the migration's outcome itself before acting."""
        services = self.ctx.services
        dst_result, src_result = await asyncio.gather(
            self.rpc.call(
                services.target(self.target_node),
                "finalize_migration_dst",
                spec_args(self, self.instance, info=info, success=success),
                120,
            ),
            self.rpc.call(
                services.target(self.source),
                "finalize_migration_src",
                spec_args(self, self.instance, success=success),
                120,
            ),
        )
        if success:
            dst_result.get("Failed to finalize the migration on the target")
            if src_result.failed:
                self.warning(f"Could not clean up the source copy on {self.source.name}: {src_result.error}")

    async def _cleanup(self) -> dict[str, Any]:
        """After an interrupted migration: keep exactly one copy, and point the config at it."""
        inst, src, dst = self.instance, self.source, self.target_node
        on_src, on_dst = await self.runtime_state(src), await self.runtime_state(dst)
        self.feedback(f"* instance state: {src.name}={on_src or 'absent'}, {dst.name}={on_dst or 'absent'}")
        if on_src == "running":
            if on_dst is not None:
                await self._finalize({}, success=False)
            self.feedback(f"* instance runs on {src.name}; nothing else to do")
            return {"node": src.name}
        if on_dst in ("running", "paused"):
            await self._finalize({}, success=True)
            inst.primary_node = dst.uuid
            await self.cfg.commit([inst])
            self.feedback(f"* instance runs on {dst.name}; config updated")
            return {"node": dst.name}
        raise OpExecError(
            f"Instance {inst.name} runs on neither {src.name} nor {dst.name}; start it with gnt-instance startup"
        )


@register
class LUInstanceFailover(MoveLU):
    OPCODE = OpInstanceFailover
    op: OpInstanceFailover
    VERB = "failovers"

    async def check_prereq(self) -> None:
        await self.check_move()
        self.was_up = self.instance.admin_state == constants.ADMINST_UP
        if self.was_up:
            await check_free_memory(
                self,
                self.target_node,
                self.instance.hypervisor,
                instance_memory(self.cfg.cluster, self.instance),
                f"failing over instance {self.instance.name}",
            )

    async def exec(self) -> None:
        inst, src, dst = self.instance, self.source, self.target_node
        services = self.ctx.services
        self.feedback(f"Failover instance {inst.name}")
        if not src.offline:
            self.feedback(f"* shutting down instance on source node {src.name}")
            result = await self.rpc.call(
                services.target(src),
                "instance_shutdown",
                spec_args(self, inst, timeout=self.op.shutdown_timeout),
                self.op.shutdown_timeout + 30,
            )
            if result.failed and not self.op.ignore_consistency:
                raise OpExecError(f"Could not shutdown instance {inst.name} on node {src.name}: {result.error}")
        inst.primary_node = dst.uuid
        await self.cfg.commit([inst])
        if self.was_up:
            self.feedback(f"* starting the instance on the target node {dst.name}")
            result = await self.rpc.call(services.target(dst), "instance_start", spec_args(self, inst), 120)
            if result.failed:
                raise OpExecError(f"Could not start instance {inst.name} on node {dst.name}: {result.error}")


@register
class LUNodeMigrate(LogicalUnit):
    """Migrate every primary instance off a node, one job per instance (as Ganeti does)."""

    OPCODE = OpNodeMigrate
    op: OpNodeMigrate

    def declare_locks(self, level: Level) -> LockRequest | None:
        return LockRequest([self.op.node_name], shared=True) if level == Level.NODE else None

    def check_prereq(self) -> None:
        self.node = self.cfg.node(self.op.node_name)
        self.instances = sorted(
            i.name for i in self.cfg.primary_instances(self.node.uuid) if i.admin_state == constants.ADMINST_UP
        )

    async def exec(self) -> dict[str, Any]:
        jobs = [
            [
                {
                    "OP_ID": "OP_INSTANCE_MIGRATE",
                    "instance_name": name,
                    "mode": self.op.mode,
                    "target_node": self.op.target_node,
                    "iallocator": self.op.iallocator,
                    "ignore_ipolicy": self.op.ignore_ipolicy,
                }
            ]
            for name in self.instances
        ]
        if not jobs:
            self.info(f"No running primary instances on node {self.node.name}")
            return {"jobs": []}
        submitted = await self.ctx.services.queue.submit_many(jobs)
        for ok, value in submitted:
            if ok:
                self.feedback(f"Submitted job {value}")
        return {"jobs": submitted}


@register
class LUNodeEvacuate(LogicalUnit):
    """Move instances off a node: the allocator (or -n) picks targets, one job per instance."""

    OPCODE = OpNodeEvacuate
    op: OpNodeEvacuate
    MODES = ("primary-only", "secondary-only", "all")

    def check_arguments(self) -> None:
        if self.op.mode not in self.MODES:
            raise OpPrereqError(
                f"Invalid evacuation mode '{self.op.mode}'; use one of {', '.join(self.MODES)}", ECODE_INVAL
            )

    def declare_locks(self, level: Level) -> LockRequest | None:
        return LockRequest(ALL, shared=True) if level == Level.NODE else None

    def check_prereq(self) -> None:
        self.node = self.cfg.node(self.op.node_name)
        if self.op.remote_node:
            remote = self.cfg.node(self.op.remote_node)
            check_node_usable(remote)
            if remote.uuid == self.node.uuid:
                raise OpPrereqError("Can't evacuate a node to itself", ECODE_INVAL)
        primaries = self.cfg.primary_instances(self.node.uuid) if self.op.mode != "secondary-only" else []
        secondaries = self.cfg.secondary_instances(self.node.uuid) if self.op.mode != "primary-only" else []
        self.instances = sorted({i.name for i in [*primaries, *secondaries]})

    async def exec(self) -> dict[str, Any]:
        from gnt.instance.placement import run_iallocator

        if not self.instances:
            self.info(f"No instances to evacuate from node {self.node.name}")
            return {"jobs": []}
        if self.op.remote_node:
            jobs = [[self._move_op(name, self.op.remote_node)] for name in self.instances]
        else:
            request = {"type": "node-evacuate", "instances": self.instances, "evac_mode": self.op.mode}
            _, failed, jobs = await run_iallocator(self, self.op.iallocator, request)
            for entry in failed:
                self.warning(f"Instance {entry[0]} cannot be moved: {entry[1] if len(entry) > 1 else '?'}")
        submitted = await self.ctx.services.queue.submit_many(jobs)
        for ok, value in submitted:
            self.feedback(f"Submitted job {value}" if ok else f"Job submission failed: {value}")
        return {"jobs": submitted}

    def _move_op(self, name: str, target: str) -> dict[str, Any]:
        inst = self.cfg.instance(name)
        verb = "OP_INSTANCE_MIGRATE" if inst.admin_state == constants.ADMINST_UP else "OP_INSTANCE_FAILOVER"
        return {"OP_ID": verb, "instance_name": name, "target_node": target}
