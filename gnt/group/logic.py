"""The node group logical units: add, remove, rename, modify and assign nodes.

Each takes the big cluster lock exclusively: group changes are rare, and a node moving between
groups changes where every allocation may go, so nothing else should be placing instances while
it happens. Each is one commit of the objects it changes.
"""

from __future__ import annotations

from typing import Any

from gnt import diskparams as dp
from gnt import resstate as rs
from gnt.errors import ECODE_EXISTS, ECODE_INVAL, ECODE_STATE, OpPrereqError
from gnt.group.opcodes import OpGroupAdd, OpGroupAssignNodes, OpGroupRemove, OpGroupRename, OpGroupSetParams
from gnt.jobs.lu import LogicalUnit, register
from gnt.objects import NodeGroup

__all__ = ["LUGroupAdd", "LUGroupAssignNodes", "LUGroupRemove", "LUGroupRename", "LUGroupSetParams"]


def _find(cfg: Any, name: str) -> NodeGroup | None:
    return next((g for g in cfg.groups.values() if g.name == name), None)


def _merged(current: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """`current` with `changes` applied; a null value removes the key (back to the cluster's)."""
    result = dict(current)
    for key, value in changes.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = value
    return result


@register
class LUGroupAdd(LogicalUnit):
    OPCODE = OpGroupAdd
    op: OpGroupAdd
    BGL_EXCLUSIVE = True

    def check_prereq(self) -> None:
        existing = _find(self.cfg, self.op.group_name)
        if existing is not None:
            raise OpPrereqError(
                f"Desired group name '{self.op.group_name}' already exists as a node group (UUID: {existing.uuid})",
                ECODE_EXISTS,
            )

    async def exec(self) -> None:
        op = self.op
        group = NodeGroup(
            name=op.group_name,
            alloc_policy=op.alloc_policy or "preferred",
            ndparams=dict(op.ndparams or {}),
            ipolicy=dict(op.ipolicy or {}),
            diskparams={template: dict(params) for template, params in (op.diskparams or {}).items()},
            hv_state_static=rs.apply_hv_state({}, op.hv_state),
            disk_state_static=rs.apply_disk_state({}, op.disk_state),
        )
        await self.cfg.commit([group])


@register
class LUGroupRemove(LogicalUnit):
    OPCODE = OpGroupRemove
    op: OpGroupRemove
    BGL_EXCLUSIVE = True

    def check_prereq(self) -> None:
        self.group = self.cfg.group(self.op.group_name)
        members = sorted(n.name for n in self.cfg.nodes.values() if n.group == self.group.uuid)
        if members:
            raise OpPrereqError(
                f"Group '{self.op.group_name}' not empty, has the following node(s): {', '.join(members)}",
                ECODE_STATE,
            )
        if len(self.cfg.groups) == 1:
            raise OpPrereqError(f"Group '{self.op.group_name}' is the only group, cannot be removed", ECODE_STATE)

    async def exec(self) -> None:
        await self.cfg.commit(delete=[self.group])


@register
class LUGroupRename(LogicalUnit):
    OPCODE = OpGroupRename
    op: OpGroupRename
    BGL_EXCLUSIVE = True

    def check_prereq(self) -> None:
        self.group = self.cfg.group(self.op.group_name)
        clash = _find(self.cfg, self.op.new_name)
        if clash is not None and clash.uuid != self.group.uuid:
            raise OpPrereqError(f"Desired new name '{self.op.new_name}' clashes with existing node group", ECODE_EXISTS)

    async def exec(self) -> str:
        self.group.name = self.op.new_name
        await self.cfg.commit([self.group])
        return self.op.new_name


@register
class LUGroupSetParams(LogicalUnit):
    OPCODE = OpGroupSetParams
    op: OpGroupSetParams
    BGL_EXCLUSIVE = True

    def check_prereq(self) -> None:
        op = self.op
        changed = (op.alloc_policy, op.ndparams, op.ipolicy, op.diskparams, op.hv_state, op.disk_state)
        if all(value is None for value in changed):
            raise OpPrereqError("Please pass at least one modification", ECODE_INVAL)
        self.group = self.cfg.group(op.group_name)
        # computed here, applied in exec: a refused change leaves the group as it was
        self.diskparams = dp.apply_changes(self.group.diskparams, op.diskparams) if op.diskparams else None
        self.ipolicy = _merged(self.group.ipolicy, op.ipolicy) if op.ipolicy is not None else None
        if self.ipolicy is not None and "std" in self.ipolicy:
            self._check_std_within_bounds(self.ipolicy)

    def _check_std_within_bounds(self, ipolicy: dict[str, Any]) -> None:
        from gnt.group.query import fill_ipolicy

        filled = fill_ipolicy(self.cfg.cluster.ipolicy, ipolicy)
        std = filled["std"]
        for pair in filled["minmax"]:
            if all(pair["min"].get(k, 0) <= v <= pair["max"].get(k, v) for k, v in std.items()):
                return
        raise OpPrereqError(f"Invalid instance policy: std specs {std} are outside every min/max range", ECODE_INVAL)

    async def exec(self) -> list[list[Any]]:
        op, group = self.op, self.group
        changes: list[list[Any]] = []
        if op.alloc_policy is not None:
            group.alloc_policy = op.alloc_policy
            changes.append(["alloc_policy", op.alloc_policy])
        if op.ndparams is not None:
            group.ndparams = _merged(group.ndparams, op.ndparams)
            changes.append(["ndparams", dict(group.ndparams)])
        if self.ipolicy is not None:
            group.ipolicy = self.ipolicy
            changes.append(["ipolicy", dict(group.ipolicy)])
        if self.diskparams is not None:
            group.diskparams = self.diskparams
            changes.append(["diskparams", {t: dict(p) for t, p in group.diskparams.items()}])
        if op.hv_state is not None:
            group.hv_state_static = rs.apply_hv_state(group.hv_state_static, op.hv_state)
            changes.append(["hv_state", rs.format_hv_state(group.hv_state_static)])
        if op.disk_state is not None:
            group.disk_state_static = rs.apply_disk_state(group.disk_state_static, op.disk_state)
            changes.append(["disk_state", rs.format_disk_state(group.disk_state_static)])
        await self.cfg.commit([group])
        return changes


@register
class LUGroupAssignNodes(LogicalUnit):
    OPCODE = OpGroupAssignNodes
    op: OpGroupAssignNodes
    BGL_EXCLUSIVE = True

    def check_prereq(self) -> None:
        cfg = self.cfg
        self.group = cfg.group(self.op.group_name)
        self.nodes = [cfg.node(name) for name in self.op.nodes]
        moving = {n.uuid for n in self.nodes}

        def group_after(node_uuid: str) -> str:
            return self.group.uuid if node_uuid in moving else cfg.nodes[node_uuid].group

        new_splits, old_splits = [], []
        for inst in cfg.instances.values():
            members = [inst.primary_node, *inst.secondary_nodes]
            if len(members) < 2:
                continue
            before = {cfg.nodes[u].group for u in members if u in cfg.nodes}
            after = {group_after(u) for u in members if u in cfg.nodes}
            if len(after) > 1:
                (old_splits if len(before) > 1 else new_splits).append(inst.name)
        if new_splits and not self.op.force:
            raise OpPrereqError(
                "The following instances get split by this change and --force was not given: "
                + ", ".join(sorted(new_splits)),
                ECODE_STATE,
            )
        self.new_splits, self.old_splits = sorted(new_splits), sorted(old_splits)

    async def exec(self) -> None:
        if self.new_splits:
            self.warning(f"This operation will split the following instances: {', '.join(self.new_splits)}")
        if self.old_splits:
            still = ", ".join(self.old_splits)
            self.warning(f"In addition, these already-split instances continue to be split: {still}")
        changed = [n for n in self.nodes if n.group != self.group.uuid]
        for node in changed:
            node.group = self.group.uuid
        if changed:
            await self.cfg.commit(changed)
