"""`gnt-instance modify --disk add:size=S | --disk N:remove`: the disk half of OP_INSTANCE_SET_PARAMS.

`LUInstanceSetParams` (gnt.instance.lifecycle) hands its `disks` field here in three steps:
`parse` (opcode alone), `check` (config and nodes, changes nothing) and `apply` (new disks made
on their nodes, the instance's disk list changed in memory for the LU's one commit), then, once
the config is committed, `finish` removes the storage of the disks taken out.

Without hotplug the instance must be stopped. A failed add removes the disks it made; a removed
disk whose node cannot delete it is recorded for `gnt-cluster verify-disks` (gnt.cluster.pending),
so nothing is left behind unnoticed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gnt import constants, disktypes
from gnt.cluster import pending
from gnt.errors import ECODE_INVAL, GntError, OpExecError, OpPrereqError, ParameterError
from gnt.instance import blockdevs as bd
from gnt.instance import hotplug
from gnt.instance.common import build_spec, check_free_vg, check_node_online, disk_path
from gnt.instance.hotplug import Undo
from gnt.objects import Disk, new_uuid
from gnt.opchecks import MAX_DISKS
from gnt.rpc import procedures as proc
from gnt.runtime import DiskSpec
from gnt.units import parse_size

if TYPE_CHECKING:
    from gnt.jobs.lu import LogicalUnit

ADD, REMOVE = "add", "remove"
_NAME_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}\Z")


@dataclass
class DiskChange:
    """One --disk change: add (at `index`, -1 = at the end) or remove (`index`, -1 = the last)."""

    action: str
    index: int
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Plan:
    """What `check` decided: the disk list to commit, what to create and what to remove after."""

    disks: list[Disk]
    added: list[Disk]
    #: the node-side records of the disks taken out, as they are now
    removed: list[DiskSpec]
    report: list[list[str]]


def _index(value: Any) -> int:
    if isinstance(value, str) and (value.isdigit() or value == "-1"):
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise OpPrereqError(f"Invalid disk index {value!r}", ECODE_INVAL)


def parse(mods: list[Any]) -> list[DiskChange]:
    """Ganeti's modification list: [[action, index, params], ...], or the older [[action, params]]."""
    changes = []
    for item in mods:
        if not isinstance(item, list) or len(item) not in (2, 3):
            raise OpPrereqError(
                f"Invalid disk modification {item!r}: expected [action, index, {{params}}]", ECODE_INVAL
            )
        if len(item) == 2:
            action, ident, params = (item[0], -1, item[1]) if item[0] in (ADD, REMOVE) else ("modify", item[0], item[1])
        else:
            action, ident, params = item
        if action not in (ADD, REMOVE):
            raise OpPrereqError(
                f"Disk modification {action!r} is not supported; disks can be added (add:size=S) or removed (N:remove)",
                ECODE_INVAL,
            )
        if not isinstance(params, dict):
            raise OpPrereqError(f"Invalid parameters for disk {action}: {params!r}", ECODE_INVAL)
        changes.append(DiskChange(action, _index(ident), _params(action, dict(params))))
    return changes


def _params(action: str, params: dict[str, Any]) -> dict[str, Any]:
    if action == REMOVE:
        if params:
            raise OpPrereqError(f"Removing a disk takes no parameters, got {', '.join(sorted(params))}", ECODE_INVAL)
        return params
    unknown = sorted(set(params) - {"size", "mode", "name"})
    if unknown:
        raise OpPrereqError(f"Unknown parameter(s) for a new disk: {', '.join(unknown)}", ECODE_INVAL)
    if "size" not in params:
        raise OpPrereqError("Missing size for the new disk (add:size=SIZE)", ECODE_INVAL)
    try:
        params["size"] = parse_size(params["size"], "disk size")
    except ParameterError as err:
        raise OpPrereqError(err.message, ECODE_INVAL) from None
    if params["size"] <= 0:
        raise OpPrereqError("The size of a new disk must be positive", ECODE_INVAL)
    if params.get("mode", "rw") not in ("rw", "ro"):
        raise OpPrereqError(f"Invalid disk access mode {params['mode']!r}", ECODE_INVAL)
    name = params.get("name")
    if name is not None and not (isinstance(name, str) and _NAME_RE.match(name)):
        raise OpPrereqError(f"Invalid disk name {name!r}: letters, digits, '.', '_', '-' (up to 64)", ECODE_INVAL)
    return params


async def check(lu: LogicalUnit, changes: list[DiskChange]) -> Plan:
    """Check the changes against the instance and its nodes; the plan, with nothing changed yet."""
    inst = lu.instance  # type: ignore[attr-defined]
    kind = disktypes.kind(inst.disk_template)
    if kind.locality is disktypes.Locality.NONE:
        raise OpPrereqError("Disk operations not supported for diskless instances", ECODE_INVAL)
    if kind.locality is disktypes.Locality.MIRRORED and any(c.action == ADD for c in changes):
        raise OpPrereqError(f"Adding disks to {inst.disk_template} instances is not supported yet", ECODE_INVAL)
    if kind.must_adopt and any(c.action == ADD for c in changes):  # gnt never creates such a disk
        raise OpPrereqError(f"Disks cannot be added to {inst.disk_template} instances: they are adopted", ECODE_INVAL)
    check_node_online(lu.cfg.nodes[inst.primary_node], "primary node")
    if not getattr(lu, "hotplug", False):  # hotplugged, the running guest gets or loses them at once
        await bd.check_not_running(lu, inst, "cannot add or remove disks without hotplug")
    disks = list(inst.disks)
    current = {d.uuid: d for d in build_spec(lu.cfg.cluster, inst).disks}
    added: list[Disk] = []
    removed: list[DiskSpec] = []
    report: list[list[str]] = []
    for change in changes:
        if change.action == REMOVE:
            if len(disks) <= 1:
                raise OpPrereqError(f"Cannot remove the last disk of instance {inst.name}", ECODE_INVAL)
            index = len(disks) - 1 if change.index == -1 else change.index
            if not 0 <= index < len(disks):
                raise OpPrereqError(f"Invalid disk index: '{change.index}' (instance {inst.name})", ECODE_INVAL)
            gone = disks.pop(index)
            if gone in added:
                added.remove(gone)
            else:
                removed.append(current[gone.uuid])
            report.append([f"disk/{index}", REMOVE])
            continue
        index = len(disks) if change.index == -1 else change.index
        if not 0 <= index <= len(disks):
            raise OpPrereqError(f"Invalid disk index: '{change.index}' for a new disk of {inst.name}", ECODE_INVAL)
        if len(disks) >= MAX_DISKS:
            raise OpPrereqError(
                f"Instance {inst.name} has {len(disks)} disks; at most {MAX_DISKS} are allowed", ECODE_INVAL
            )
        uuid = new_uuid()
        disk = Disk(
            uuid=uuid,
            size=change.params["size"],
            dev_type=inst.disk_template,
            logical_id=disk_path(lu.cfg.cluster, inst.disk_template, inst.name, uuid, index),
            mode=change.params.get("mode", "rw"),
            name=change.params.get("name"),
        )
        disks.insert(index, disk)
        added.append(disk)
        report.append([f"disk/{index}", f"add:size={disk.size},mode={disk.mode}"])
    needed = sum(d.size for d in added)
    if added and inst.disk_template in constants.LVM_DISK_TEMPLATES:
        vg = lu.cfg.cluster.volume_group_name
        await check_free_vg(lu, lu.cfg.nodes[inst.primary_node], vg, needed, f"new disks of {inst.name}")
    return Plan(disks, added, removed, report)


def _specs(lu: LogicalUnit, inst: Any, disks: list[Disk]) -> dict[str, DiskSpec]:
    """The node-side records of `disks`, indexed as in `inst`'s disk list (by uuid)."""
    saved = inst.disks
    inst.disks = disks
    try:
        return {d.uuid: d for d in build_spec(lu.cfg.cluster, inst).disks}
    finally:
        inst.disks = saved


async def apply(lu: LogicalUnit, plan: Plan, undo: Undo | None = None) -> list[list[str]]:
    """Make the new disks on their nodes and set the instance's disk list (the LU commits it);
    with `undo` (hotplug) the running guest gets the new disks and loses the removed ones now.
    On a failure the disks made so far are taken out and removed: the instance is left as it was."""
    inst = lu.instance  # type: ignore[attr-defined]
    pnode = lu.cfg.nodes[inst.primary_node]
    new_specs = _specs(lu, inst, plan.disks)
    created: list[tuple[Any, DiskSpec]] = []
    mine = Undo()
    try:
        for disk in plan.added:
            spec = new_specs[disk.uuid]
            for node in bd.disk_nodes(lu, inst, disk.dev_type):
                lu.feedback(f"* creating disk {spec.index} ({disk.size}M) on node {node.name}")
                node_spec = bd.one_for_node(lu, inst, spec, node)
                result = await lu.rpc.blockdev_create(
                    lu.ctx.services.target(node), proc.BlockdevArgs(node_spec, inst.name)
                )
                created.append((node, node_spec))
                if result.failed:
                    raise OpExecError(f"Can't create new disk {spec.index} on node {node.name}: {result.error}")
            if undo is not None:
                await hotplug.plug_disk(lu, inst, pnode, bd.one_for_node(lu, inst, spec, pnode), mine)
        for gone in plan.removed if undo is not None else ():
            await hotplug.unplug_disk(lu, inst, pnode, bd.one_for_node(lu, inst, gone, pnode), mine)
    except GntError:
        await mine.run(lu)
        for node, spec in reversed(created):
            await pending.remove_disks(lu, node, [spec], inst.name)
        raise
    if undo is not None:  # a later failure in the same job takes the hotplugged disks out, then removes them
        for node, spec in created:
            undo.push(f"disk {spec.index} storage", lambda n=node, s=spec: pending.remove_disks(lu, n, [s], inst.name))
        undo.steps.extend(mine.steps)  # run newest first: out of the guest before their storage goes
    inst.disks = plan.disks
    return plan.report


async def finish(lu: LogicalUnit, plan: Plan) -> None:
    """After the commit: shut down and remove the storage of the disks taken out."""
    inst = lu.instance  # type: ignore[attr-defined]
    for spec in plan.removed:
        for node in reversed(bd.disk_nodes(lu, inst, spec.dev_type)):
            node_spec = bd.one_for_node(lu, inst, spec, node)
            if not node.offline:
                await lu.rpc.blockdev_shutdown(lu.ctx.services.target(node), proc.BlockdevArgs(node_spec, inst.name))
            await pending.remove_disks(lu, node, [node_spec], inst.name)
