"""OP_INSTANCE_CHANGE_GROUP: move an instance to the nodes of another node group.

The allocator's `change-group` request picks the new nodes among the target groups (by default
every group but the instance's own) and answers the opcodes that move the instance there: a
migration or failover for a shared-storage or diskless instance, secondary replacements around a
failover for DRBD (Ganeti's evacuation steps, `gnt.alloc`). As in Ganeti the LU moves nothing
itself: it submits those steps as the instance's job and answers `{"jobs": [[ok, id]]}`, so the move runs
with the ordinary migrate/failover/replace-disks LUs, their locks and their rollback.

Refused before anything runs: an unknown instance or group, a target group the instance already
uses, no other group at all, and an instance the allocator cannot move (its disks live on one
node, or no target node has room), with the allocator's reason.
"""

from __future__ import annotations

from typing import Any

from gnt.errors import ECODE_INVAL, ECODE_NORES, OpPrereqError
from gnt.instance.lifecycle import InstanceLU
from gnt.instance.multi_opcodes import OpInstanceChangeGroup
from gnt.jobs.locking import ALL, Level, LockRequest
from gnt.jobs.lu import register

__all__ = ["LUInstanceChangeGroup"]


@register
class LUInstanceChangeGroup(InstanceLU):
    OPCODE = OpInstanceChangeGroup
    HPATH = "instance-change-group"
    op: OpInstanceChangeGroup

    def declare_locks(self, level: Level) -> LockRequest | None:
        if level == Level.NODE:
            return LockRequest(ALL, shared=True)  # the allocator reads every node
        return super().declare_locks(level)

    def check_prereq(self) -> None:
        super().check_prereq()
        inst = self.instance
        own = {self.cfg.nodes[u].group for u in [inst.primary_node, *inst.secondary_nodes] if u in self.cfg.nodes}
        if self.op.target_groups:
            targets = {self.cfg.group(name).uuid for name in self.op.target_groups}
            used = sorted(self.cfg.groups[u].name for u in targets & own)
            if used:
                raise OpPrereqError(
                    f"Can't use group(s) '{', '.join(used)}' as targets, they are used by the instance '{inst.name}'",
                    ECODE_INVAL,
                )
        else:
            targets = set(self.cfg.groups) - own
        if not targets:
            raise OpPrereqError("There are no possible target groups", ECODE_INVAL)
        self.target_names = sorted(self.cfg.groups[u].name for u in targets)

    def hooks_env(self) -> dict[str, Any]:
        return {**super().hooks_env(), "TARGET_GROUPS": " ".join(self.target_names)}

    def dry_run_result(self) -> Any:
        return {"jobs": []}

    async def exec(self) -> dict[str, Any]:
        from gnt.instance.placement import run_iallocator

        request = {"type": "change-group", "instances": [self.instance.name], "target_groups": self.target_names}
        answer = await run_iallocator(self, self.op.iallocator, request)
        try:
            moved, failed, jobs = answer
        except (TypeError, ValueError):
            raise OpPrereqError(f"The iallocator's answer {str(answer)[:200]} is not a move", ECODE_NORES) from None
        if failed or not moved:
            reason = failed[0][1] if failed and len(failed[0]) > 1 else "no target found"
            raise OpPrereqError(
                f"Can't compute solution for changing group of instance '{self.instance.name}': {reason}", ECODE_NORES
            )
        jobs = [[dict(op) for op in job] for job in jobs if job]
        for op in (op for job in jobs for op in job):
            if op.get("OP_ID") == "OP_INSTANCE_REPLACE_DISKS":
                op["early_release"] = self.op.early_release
        if not jobs:
            return {"jobs": []}
        target = moved[0][2] if len(moved[0]) > 2 else []
        self.feedback(f"Moving instance {self.instance.name} to group {moved[0][1]} (nodes {', '.join(target)})")
        submitted = await self.ctx.services.queue.submit_many(jobs)
        for ok, value in submitted:
            self.feedback(f"Submitted job {value}" if ok else f"Job submission failed: {value}")
        return {"jobs": [list(entry) for entry in submitted]}
