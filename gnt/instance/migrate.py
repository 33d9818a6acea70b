"""Instance live migration and failover, and node-wide migration and evacuation.

Every one of them moves instances through the one shared step in gnt.instance.move: the LUs here
only pick the target and say which kind of move (the node-wide ones submit one job per instance).
"""

from __future__ import annotations

from typing import Any

from gnt import constants
from gnt.errors import ECODE_INVAL, ECODE_STATE, OpExecError, OpPrereqError
from gnt.hooks import env as hook_env
from gnt.instance.common import check_node_usable
from gnt.instance.move import InstanceMove, MoveKind, check_movable, evacuation_opcode
from gnt.instance.policy_check import check_target_node
from gnt.jobs.locking import ALL, Level, LockRequest
from gnt.jobs.lu import LogicalUnit, register
from gnt.objects import Instance, Node
from gnt.opcodes import OpInstanceFailover, OpInstanceMigrate, OpNodeEvacuate, OpNodeMigrate


class MoveLU(LogicalUnit):
    """An LU moving one instance to another node through the shared step (gnt.instance.move)."""

    KIND = MoveKind.MIGRATION
    HTYPE = "INSTANCE"

    def hooks_env(self) -> dict[str, Any]:
        env = {**hook_env.instance_env(self.cfg, self.instance), **hook_env.opcode_env(self.op)}
        env.update(OLD_PRIMARY=self.source.name, NEW_PRIMARY=self.target_node.name)
        if self.KIND == MoveKind.MIGRATION:
            env["MIGRATE_LIVE"] = getattr(self, "live", None)
        return env

    def hooks_nodes(self) -> tuple[list[Node], list[Node]]:
        nodes = hook_env.instance_nodes(self.cfg, self.instance, self.source, self.target_node)
        return nodes, nodes

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
        self.source: Node = self.cfg.nodes[self.instance.primary_node]
        if self.instance.forthcoming:
            from gnt.instance.lifecycle import forthcoming_error

            raise forthcoming_error(self.instance)
        check_movable(self.instance, self.KIND)
        self.target_node = await self._pick_target()
        if not (isinstance(op, OpInstanceMigrate) and op.cleanup):  # a cleanup moves nothing
            check_target_node(self, self.instance, self.target_node, op.ignore_ipolicy)
        self.move = InstanceMove(self, self.instance, self.source, self.target_node)
        self.move.check(self.KIND)

    async def _pick_target(self) -> Node:
        op: Any = self.op
        if op.target_node:
            return self.cfg.node(op.target_node)
        if self.instance.secondary_nodes:  # a mirrored instance moves to its secondary, as in Ganeti
            return self.cfg.nodes[self.instance.secondary_nodes[0]]
        from gnt.instance.placement import allocator_name, target_for_move

        node = await target_for_move(self, self.instance, op.iallocator)
        self.info(
            f"Selected nodes for instance {self.instance.name} via iallocator"
            f" {allocator_name(op.iallocator, self.cfg.cluster.default_iallocator)}: {node.name}"
        )
        return node


@register
class LUInstanceMigrate(MoveLU):
    OPCODE = OpInstanceMigrate
    HPATH = "instance-migrate"
    op: OpInstanceMigrate
    CANCELLABLE = True

    def check_arguments(self) -> None:
        if self.op.mode not in (None, "live", "non-live"):
            raise OpPrereqError(f"Invalid migration mode '{self.op.mode}'", ECODE_INVAL)

    async def check_prereq(self) -> None:
        await self.check_move()
        if self.op.cleanup:
            return
        state = await self.move.runtime_state(self.source)
        if state not in ("running", "paused"):
            raise OpPrereqError(
                f"Instance {self.instance.name} is not running on {self.source.name}, cannot migrate; use failover",
                ECODE_STATE,
            )
        answers = await self.move.migration_node_info()  # one node_info per node for both checks
        await self.move.check_migration_memory(self.op.allow_runtime_changes, answers)
        await self.move.check_hypervisor_versions(self.op.ignore_hvversions, answers)

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
        return await self.move.migrate(self.live)

    async def _cleanup(self) -> dict[str, Any]:
        """Ganeti's migrate --cleanup: keep the one copy of the guest that runs (the config follows
        it) and, for drbd, end a dual-primary window the interrupted migration left open with the
        node running the guest the only primary. A guest running nowhere is refused (start it),
        but its disks still get one primary, the config's, first (no guest writes to either)."""
        if not self.move.mirrored:
            return await self.move.cleanup()
        from gnt.instance.drbd import end_interrupted_window

        inst = self.instance
        try:
            result = await self.move.cleanup()
        except OpExecError:
            primary = self.cfg.nodes[inst.primary_node]
            other = self.target_node if primary.uuid == self.source.uuid else self.source
            await end_interrupted_window(self, inst, keep=primary, drop=other)
            raise
        keep = self.cfg.nodes[inst.primary_node]  # moved to the target if the guest runs there
        drop = self.target_node if keep.uuid == self.source.uuid else self.source
        await end_interrupted_window(self, inst, keep=keep, drop=drop)
        return result


@register
class LUInstanceFailover(MoveLU):
    OPCODE = OpInstanceFailover
    HPATH = "instance-failover"
    op: OpInstanceFailover
    KIND = MoveKind.FAILOVER

    async def check_prereq(self) -> None:
        await self.check_move()
        self.was_up = self.instance.admin_state == constants.ADMINST_UP
        if self.was_up:
            await self.move.check_target_memory("failing over")

    async def exec(self) -> None:
        await self.move.failover(self.op.shutdown_timeout, self.op.ignore_consistency, start=self.was_up)


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
                    "allow_runtime_changes": self.op.allow_runtime_changes,
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
        chosen = [*primaries, *secondaries]
        # a reservation has nothing on the node to move; its jobs would only be refused
        self.reservations = sorted({i.name for i in chosen if i.forthcoming})
        self.instances = sorted({i.name for i in chosen if not i.forthcoming})

    async def exec(self) -> dict[str, Any]:
        from gnt.instance.placement import run_iallocator

        if self.reservations:
            self.warning(
                f"Forthcoming instance(s) {', '.join(self.reservations)} stay reserved on node {self.node.name}:"
                " commit them, or remove them and reserve them again elsewhere"
            )
        if not self.instances:
            self.info(f"No instances to evacuate from node {self.node.name}")
            return {"jobs": []}
        if self.op.remote_node:
            jobs = [[self._move_op(name, self.op.remote_node)] for name in self.instances]
        else:
            request = {"type": "node-evacuate", "instances": self.instances, "evac_mode": self.op.mode}
            _, failed, jobs = await run_iallocator(
                self, self.op.iallocator, request, ignore_soft_errors=self.op.ignore_soft_errors
            )
            for entry in failed:
                self.warning(f"Instance {entry[0]} cannot be moved: {entry[1] if len(entry) > 1 else '?'}")
            for job in jobs:  # the allocator's plan knows nothing of the admin's --early-release
                for step in job:
                    if step.get("OP_ID") == "OP_INSTANCE_REPLACE_DISKS":
                        step["early_release"] = self.op.early_release
        submitted = await self.ctx.services.queue.submit_many(jobs)
        for ok, value in submitted:
            self.feedback(f"Submitted job {value}" if ok else f"Job submission failed: {value}")
        return {"jobs": submitted}

    def _move_op(self, name: str, target: str) -> dict[str, Any]:
        inst = self.cfg.instance(name)
        if self.node.uuid in inst.secondary_nodes:  # the node only holds the mirror: move that
            return {
                "OP_ID": "OP_INSTANCE_REPLACE_DISKS",
                "instance_name": name,
                "mode": "replace_new_secondary",
                "remote_node": target,
                "early_release": self.op.early_release,
            }
        return evacuation_opcode(inst, target)
