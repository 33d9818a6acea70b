"""OP_GROUP_EVACUATE (`gnt-group evacuate`): move every instance with a node in a group to other groups.

Built on the instance change-group machinery: one allocator `change-group` request for all the
group's instances (its node evacuation steps: migrations or failovers, secondary replacements
for DRBD), whose per-instance jobs the LU submits and answers as `{"jobs": [[ok, id], ...]}`, as
Ganeti's ResultWithJobs. Instances the allocator cannot move (local disks, no room) are a warning
naming each, as in Ganeti; when none can move at all the opcode fails and nothing is submitted.
`--sequential` chains the moves into one job; `--force-failover` turns migrations into failovers.
"""

from __future__ import annotations

from typing import Any

from gnt.errors import ECODE_INVAL, ECODE_NORES, OpPrereqError
from gnt.group.opcodes import OpGroupEvacuate
from gnt.jobs.locking import ALL, Level, LockRequest
from gnt.jobs.lu import LogicalUnit, register

__all__ = ["LUGroupEvacuate"]


def _failover(op: dict[str, Any]) -> dict[str, Any]:
    """A migration step as the failover Ganeti's --force-failover asks for."""
    if op.get("OP_ID") != "OP_INSTANCE_MIGRATE":
        return op
    keep = ("instance_name", "target_node", "iallocator", "ignore_ipolicy")
    return {"OP_ID": "OP_INSTANCE_FAILOVER", **{k: op[k] for k in keep if k in op}}


@register
class LUGroupEvacuate(LogicalUnit):
    OPCODE = OpGroupEvacuate
    HPATH = "group-evacuate"
    HTYPE = "GROUP"
    op: OpGroupEvacuate

    def _members(self) -> list[str]:
        group = next((g for g in self.cfg.groups.values() if self.op.group_name in (g.name, g.uuid)), None)
        if group is None:
            return []
        return sorted(
            i.name
            for i in self.cfg.instances.values()
            if any(
                getattr(self.cfg.nodes.get(u), "group", None) == group.uuid
                for u in [i.primary_node, *i.secondary_nodes]
            )
        )

    def declare_locks(self, level: Level) -> LockRequest | None:
        if level == Level.INSTANCE:
            return LockRequest(self._members(), shared=True)
        if level == Level.NODE:
            return LockRequest(ALL, shared=True)  # the allocator reads every node
        return None

    def check_prereq(self) -> None:
        self.group = self.cfg.group(self.op.group_name)
        if self.op.target_groups:
            targets = {self.cfg.group(name).uuid for name in self.op.target_groups}
            if self.group.uuid in targets:
                raise OpPrereqError(
                    f"Group to be evacuated ({self.group.name}) can not be used as a destination group", ECODE_INVAL
                )
        else:
            targets = set(self.cfg.groups) - {self.group.uuid}
        if not targets:
            raise OpPrereqError("There are no possible target groups", ECODE_INVAL)
        self.target_names = sorted(self.cfg.groups[u].name for u in targets)
        members = [self.cfg.instance(name) for name in self._members()]
        # a reservation has nothing on the group's nodes to move; its jobs would only be refused
        self.reservations = [i.name for i in members if i.forthcoming]
        self.instances = [i.name for i in members if not i.forthcoming]

    def hooks_env(self) -> dict[str, Any]:
        return {"GROUP_NAME": self.group.name, "TARGET_GROUPS": " ".join(self.target_names)}

    def dry_run_result(self) -> Any:
        return {"jobs": []}

    async def exec(self) -> dict[str, Any]:
        if self.reservations:
            self.warning(
                f"Forthcoming instance(s) {', '.join(self.reservations)} stay reserved in node group"
                f" {self.group.name}: commit them, or remove them and reserve them again elsewhere"
            )
        if not self.instances:
            self.info(f"Node group {self.group.name} has no instances to evacuate")
            return {"jobs": []}
        from gnt.instance.placement import allocator_name, run_iallocator

        request = {"type": "change-group", "instances": self.instances, "target_groups": self.target_names}
        answer = await run_iallocator(self, self.op.iallocator, request)
        try:
            moved, failed, jobs = answer
        except (TypeError, ValueError):
            raise OpPrereqError(f"The iallocator's answer {str(answer)[:200]} is not a move", ECODE_NORES) from None
        if failed:
            unable = ", ".join(f"{item[0]} ({item[1] if len(item) > 1 else 'no reason given'})" for item in failed)
            if not moved:
                label = allocator_name(self.op.iallocator, self.cfg.cluster.default_iallocator)
                raise OpPrereqError(f"Can't compute group evacuation using iallocator '{label}': {unable}", ECODE_NORES)
            self.warning(f"Unable to evacuate instances {unable}")
        jobs = [[self._step(op) for op in job] for job in jobs if job]
        if self.op.sequential and jobs:
            jobs = [[op for job in jobs for op in job]]
        self.info(f"Iallocator returned {len(jobs)} job(s) for evacuating node group {self.group.name}")
        if not jobs:
            return {"jobs": []}
        submitted = await self.ctx.services.queue.submit_many(jobs)
        for ok, value in submitted:
            self.feedback(f"Submitted job {value}" if ok else f"Job submission failed: {value}")
        return {"jobs": [list(entry) for entry in submitted]}

    def _step(self, op: dict[str, Any]) -> dict[str, Any]:
        step = dict(op)
        if step.get("OP_ID") == "OP_INSTANCE_REPLACE_DISKS":
            step["early_release"] = self.op.early_release
        return _failover(step) if self.op.force_failover else step
