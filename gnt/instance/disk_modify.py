"""`gnt-instance modify --disk ...`: the disk half of OP_INSTANCE_SET_PARAMS.

Ganeti 3.0's five disk changes: `add` (a new disk), `remove` (disk and storage gone), `modify`
(its name or access mode), `detach` (out of the instance, storage kept in the config for a later
attach) and `attach` (a detached disk, by name or uuid, into an instance). `LUInstanceSetParams`
(gnt.instance.lifecycle) hands its `disks` field here in steps: `parse` (opcode alone), `check`
(config and nodes, changes nothing), `apply` (node-side steps, each with its undo, and the new disk
list set in memory for the LU's one commit), `stage_cluster` (the cluster's list of detached disks,
committed with the instance) and, once committed, `finish` (the storage of removed disks goes).

Without hotplug, add, remove, attach and detach need the instance stopped; a modify is recorded and
takes effect at the next start. A failed step puts back what the earlier ones did; a removed disk
whose node cannot delete it is recorded for `gnt-cluster verify-disks` (gnt.cluster.pending).
File disks move with attach and detach as in Ganeti: `DIR/INSTANCE/FILE` to `DIR/FILE` and back.
A drbd disk is added on both nodes at once with a port and minors of its own, its initial sync
followed unless `--no-wait-for-sync`; attach and detach stay refused on drbd.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gnt import constants, disktypes
from gnt.cluster import pending
from gnt.drbd import META_SIZE
from gnt.errors import ECODE_INVAL, ECODE_NOENT, GntError, OpExecError, OpPrereqError, ParameterError
from gnt.instance import blockdevs as bd
from gnt.instance import hotplug, wipe
from gnt.instance.common import build_spec, check_free_vg, check_node_online, disk_path
from gnt.instance.hotplug import Undo
from gnt.objects import DetachedDisk, Disk, new_uuid
from gnt.opchecks import MAX_DISKS
from gnt.rpc import procedures as proc
from gnt.runtime import DiskSpec
from gnt.units import parse_size

if TYPE_CHECKING:
    from gnt.config.manager import ConfigManager
    from gnt.jobs.lu import LogicalUnit

ADD, REMOVE, MODIFY, ATTACH, DETACH = "add", "remove", "modify", "attach", "detach"
ACTIONS = (ADD, REMOVE, MODIFY, ATTACH, DETACH)
#: the changes that take a disk into or out of the guest (the instance stopped unless hotplugged)
_PLUGGING = (ADD, REMOVE, ATTACH, DETACH)
#: Ganeti's MODIFIABLE_IDISK_PARAMS
_MODIFIABLE = ("mode", "name")
_NAME_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}\Z")
_FILE_BASED = (constants.DT_FILE, constants.DT_SHARED_FILE)


@dataclass
class DiskChange:
    """One --disk change. `ident` is an index (-1: at the end for add/attach, the last disk
    otherwise) or, for modify, remove and detach, a disk's name or uuid."""

    action: str
    ident: int | str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Plan:
    """What `check` decided: the disk list to commit and the node-side steps to get there."""

    disks: list[Disk]
    added: list[Disk]
    #: the node-side records of the disks taken out, as they are now
    removed: list[DiskSpec]
    report: list[list[str]]
    #: detached disks taken in: (the cluster's record, the disk as the instance will have it)
    attached: list[tuple[DetachedDisk, Disk]] = field(default_factory=list)
    #: disks taken out and kept: (the disk as it is now, the record the cluster will keep)
    detached: list[tuple[Disk, DetachedDisk]] = field(default_factory=list)
    #: DRBD ports and minors held for the added drbd disks until the commit holds them (or the job fails)
    reserved: list[Any] = field(default_factory=list)

    def release(self, inst: Any) -> None:
        """Give the drbd reservations back (idempotent: after the commit, and on any failure)."""
        if self.reserved:
            from gnt.instance import drbd

            drbd.release(self.reserved, inst.primary_node, inst.secondary_nodes[0])
            self.reserved = []

    @property
    def changes_cluster(self) -> bool:
        return bool(self.attached or self.detached)


def _ident(value: Any, action: str) -> int | str:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and (value.isdigit() or value == "-1"):
        return int(value)
    if isinstance(value, str) and action in (MODIFY, REMOVE, DETACH) and _NAME_RE.match(value):
        return value  # a name or uuid, resolved against the instance's disks
    raise OpPrereqError(f"Invalid disk index {value!r}", ECODE_INVAL)


def parse(mods: list[Any]) -> list[DiskChange]:
    """Ganeti's modification list: [[action, ident, params], ...], or the older [[action, params]]
    (add/attach/remove/detach at the end, or [ident, params] for a modify)."""
    changes = []
    for item in mods:
        if not isinstance(item, list) or len(item) not in (2, 3):
            raise OpPrereqError(
                f"Invalid disk modification {item!r}: expected [action, index, {{params}}]", ECODE_INVAL
            )
        if len(item) == 2:
            action, ident, params = (item[0], -1, item[1]) if item[0] in _PLUGGING else (MODIFY, item[0], item[1])
        else:
            action, ident, params = item
        if action not in ACTIONS:
            raise OpPrereqError(
                f"Disk modification {action!r} is not supported; use one of {', '.join(ACTIONS)}", ECODE_INVAL
            )
        if not isinstance(params, dict):
            raise OpPrereqError(f"Invalid parameters for disk {action}: {params!r}", ECODE_INVAL)
        changes.append(DiskChange(action, _ident(ident, action), _params(action, dict(params))))
    return changes


def _name(params: dict[str, Any]) -> None:
    name = params.get("name")
    if isinstance(name, str) and name.lower() == "none":  # Ganeti's VALUE_NONE: no name
        params["name"] = None
    elif name is not None and not (isinstance(name, str) and _NAME_RE.match(name)):
        raise OpPrereqError(f"Invalid disk name {name!r}: letters, digits, '.', '_', '-' (up to 64)", ECODE_INVAL)


def _mode(params: dict[str, Any]) -> None:
    if params.get("mode", "rw") not in ("rw", "ro"):
        raise OpPrereqError(f"Invalid disk access mode '{params['mode']}'", ECODE_INVAL)


def _params(action: str, params: dict[str, Any]) -> dict[str, Any]:
    if action in (REMOVE, DETACH):
        if params:
            raise OpPrereqError("No settings should be passed when removing or detaching a disk", ECODE_INVAL)
        return params
    if action == ATTACH:
        if len(params) != 1 or not ({"name", "uuid"} & set(params)):
            raise OpPrereqError("Only one argument is permitted in attach op, either name or uuid", ECODE_INVAL)
        (value,) = params.values()
        if not (isinstance(value, str) and _NAME_RE.match(value)):
            raise OpPrereqError(f"Invalid disk identifier {value!r} to attach", ECODE_INVAL)
        return params
    if action == MODIFY:
        if "size" in params:
            raise OpPrereqError("Disk size change not possible, use grow-disk", ECODE_INVAL)
        unknown = sorted(set(params) - set(_MODIFIABLE))
        if unknown:
            raise OpPrereqError(f"Disk parameter(s) {', '.join(unknown)} cannot be modified", ECODE_INVAL)
        if not params:
            raise OpPrereqError("Nothing to change for the disk: give mode= or name=", ECODE_INVAL)
        _mode(params)
        _name(params)
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
    _mode(params)
    _name(params)
    return params


class _Walk:
    """`check`'s walk over a copy of the disk list: each change sees the ones before it."""

    def __init__(self, lu: LogicalUnit) -> None:
        self.lu = lu
        self.inst = lu.instance  # type: ignore[attr-defined]
        self.disks: list[Disk] = list(self.inst.disks)
        self.current = {d.uuid: d for d in build_spec(lu.cfg, self.inst).disks}
        self.plan = Plan(self.disks, [], [], [])
        self.taken: set[str] = set()  # detached records attached by this change

    def index_of(self, change: DiskChange) -> int:
        ident, disks = change.ident, self.disks
        if isinstance(ident, str):
            found = [i for i, d in enumerate(disks) if ident in (d.name, d.uuid)]
            if not found:
                raise OpPrereqError(f"Lookup of disk {ident!r} failed (instance {self.inst.name})", ECODE_NOENT)
            return found[0]
        index = len(disks) - 1 if ident == -1 else ident
        if not 0 <= index < len(disks):
            raise OpPrereqError(f"Invalid disk index: '{ident}' (instance {self.inst.name})", ECODE_INVAL)
        return index

    def insert_at(self, change: DiskChange) -> int:
        index = len(self.disks) if change.ident == -1 else int(change.ident)
        if not 0 <= index <= len(self.disks):
            raise OpPrereqError(f"Invalid disk index: '{change.ident}' for a new disk of {self.inst.name}", ECODE_INVAL)
        if len(self.disks) >= MAX_DISKS:
            raise OpPrereqError(
                f"Instance {self.inst.name} has {len(self.disks)} disks; at most {MAX_DISKS} are allowed", ECODE_INVAL
            )
        return index

    def take_out(self, change: DiskChange) -> tuple[int, Disk]:
        if len(self.disks) <= 1:
            raise OpPrereqError(f"Cannot {change.action} the last disk of instance {self.inst.name}", ECODE_INVAL)
        index = self.index_of(change)
        return index, self.disks.pop(index)

    def remove(self, change: DiskChange) -> None:
        index, gone = self.take_out(change)
        if gone in self.plan.added:
            self.plan.added.remove(gone)
        elif gone.uuid in self.current:
            self.plan.removed.append(self.current[gone.uuid])
        else:
            raise OpPrereqError(f"Cannot remove disk {index}: it is attached by the same change", ECODE_INVAL)
        self.plan.report.append([f"disk/{index}", REMOVE])

    def detach(self, change: DiskChange) -> None:
        index, gone = self.take_out(change)
        if gone.uuid not in self.current:
            raise OpPrereqError(f"Cannot detach disk {index}: it is added by the same change", ECODE_INVAL)
        lid = list(gone.logical_id)
        if gone.dev_type in _FILE_BASED:  # DIR/INSTANCE/FILE -> DIR/FILE
            lid = [lid[0], os.path.join(os.path.dirname(os.path.dirname(lid[1])), os.path.basename(lid[1]))]
        record = DetachedDisk(disk=dataclasses.replace(gone, logical_id=lid), nodes=[self.inst.primary_node])
        self.plan.detached.append((gone, record))
        self.plan.report.append([f"disk/{index}", DETACH])

    def add(self, change: DiskChange) -> None:
        index = self.insert_at(change)
        inst = self.inst
        uuid = new_uuid()
        lid = disk_path(self.lu.cfg.cluster, inst.disk_template, inst.name, uuid, index)
        siblings = [d for d in self.disks if d.dev_type in _FILE_BASED and len(d.logical_id) == 2]
        if lid and siblings:  # beside the instance's other files (made with --file-storage-dir, maybe)
            lid = [lid[0], os.path.join(os.path.dirname(siblings[0].logical_id[1]), os.path.basename(lid[1]))]
        disk = Disk(
            uuid=uuid,
            size=change.params["size"],
            dev_type=inst.disk_template,
            logical_id=lid,
            mode=change.params.get("mode", "rw"),
            name=change.params.get("name"),
        )
        self.disks.insert(index, disk)
        self.plan.added.append(disk)
        self.plan.report.append([f"disk/{index}", f"add:size={disk.size},mode={disk.mode}"])

    def attach(self, change: DiskChange) -> None:
        record = self._detached(change.params)
        disk = record.disk
        inst = self.inst
        if disk.dev_type != inst.disk_template:
            raise OpPrereqError(
                f"Instance has '{inst.disk_template}' template while disk has '{disk.dev_type}' template", ECODE_INVAL
            )
        local = disktypes.kind(disk.dev_type).locality is not disktypes.Locality.SHARED
        if local and not set(record.nodes) <= {inst.primary_node, *inst.secondary_nodes}:
            names = [self.lu.cfg.node_name(u) for u in record.nodes]
            raise OpPrereqError(
                f"Disk nodes are {names} while the instance's nodes are"
                f" {[self.lu.cfg.node_name(inst.primary_node)]}; move the instance or attach it elsewhere",
                ECODE_INVAL,
            )
        index = self.insert_at(change)
        lid = list(disk.logical_id)
        if disk.dev_type in _FILE_BASED:  # DIR/FILE -> DIR/INSTANCE/FILE
            lid = [lid[0], os.path.join(os.path.dirname(lid[1]), inst.name, os.path.basename(lid[1]))]
        taken = dataclasses.replace(disk, logical_id=lid)
        self.disks.insert(index, taken)
        self.taken.add(disk.uuid)
        self.plan.attached.append((record, taken))
        self.plan.report.append([f"disk/{index}", f"attach:size={disk.size},mode={disk.mode}"])

    def _detached(self, params: dict[str, Any]) -> DetachedDisk:
        key, value = next(iter(params.items()))
        records = [r for r in self.lu.cfg.cluster.detached_disks if getattr(r.disk, key) == value]
        records = [r for r in records if r.disk.uuid not in self.taken]
        if not records:
            in_use = [i.name for i in self.lu.cfg.instances.values() for d in i.disks if getattr(d, key) == value]
            if in_use:
                raise OpPrereqError(
                    f"Disk {value} is attached to instance {in_use[0]}; detach it there first", ECODE_INVAL
                )
            what = "name" if key == "name" else "UUID"
            raise OpPrereqError(f"No disk was found with this {what}: {value}", ECODE_NOENT)
        if len(records) > 1:
            raise OpPrereqError(f"Several detached disks are named {value}; attach one by uuid", ECODE_INVAL)
        return records[0]

    def modify(self, change: DiskChange) -> None:
        index = self.index_of(change)
        disk = dataclasses.replace(self.disks[index], **change.params)
        self.disks[index] = disk
        for key in _MODIFIABLE:
            if key in change.params:
                self.plan.report.append([f"disk.{key}/{index}", str(change.params[key])])

    def check_names(self) -> None:
        """Ganeti's ValidateDeviceNames: a name names one disk of the instance."""
        seen: set[str] = set()
        for disk in self.disks:
            if disk.name is None:
                continue
            if disk.name in seen:
                raise OpPrereqError(f"Disk name '{disk.name}' used more than once in {self.inst.name}", ECODE_INVAL)
            seen.add(disk.name)


async def check(lu: LogicalUnit, changes: list[DiskChange]) -> Plan:
    """Check the changes against the instance and its nodes; the plan, with nothing changed yet."""
    inst = lu.instance  # type: ignore[attr-defined]
    kind = disktypes.kind(inst.disk_template)
    actions = {c.action for c in changes}
    if kind.locality is disktypes.Locality.NONE:
        raise OpPrereqError("Disk operations not supported for diskless instances", ECODE_INVAL)
    if kind.locality is disktypes.Locality.MIRRORED and actions & {ATTACH, DETACH}:
        what = " and ".join(sorted(actions & {ATTACH, DETACH}))
        raise OpPrereqError(f"Disk {what} on {inst.disk_template} instances is not supported yet", ECODE_INVAL)
    if kind.must_adopt and ADD in actions:  # gnt never creates such a disk
        raise OpPrereqError(f"Disks cannot be added to {inst.disk_template} instances: they are adopted", ECODE_INVAL)
    check_node_online(lu.cfg.nodes[inst.primary_node], "primary node")
    if actions & set(_PLUGGING) and not getattr(lu, "hotplug", False):  # hotplugged: the guest sees it now
        await bd.check_not_running(lu, inst, "cannot add or remove disks without hotplug (nor attach or detach them)")
    walk = _Walk(lu)
    steps: dict[str, Callable[[DiskChange], None]] = {
        ADD: walk.add,
        REMOVE: walk.remove,
        MODIFY: walk.modify,
        ATTACH: walk.attach,
        DETACH: walk.detach,
    }
    for change in changes:
        steps[change.action](change)
    walk.check_names()
    plan = walk.plan
    needed = sum(d.size for d in plan.added)
    if plan.added and inst.disk_template == constants.DT_DRBD:
        vg = lu.cfg.cluster.volume_group_name
        needed += META_SIZE * len(plan.added)  # each side holds data and metadata
        for node in bd.disk_nodes(lu, inst, inst.disk_template):
            check_node_online(node, "secondary node" if node.uuid != inst.primary_node else "primary node")
            await check_free_vg(lu, node, vg, needed, f"new disks of {inst.name} (data and metadata)")
    elif plan.added and inst.disk_template in constants.LVM_DISK_TEMPLATES:
        vg = lu.cfg.cluster.volume_group_name
        await check_free_vg(lu, lu.cfg.nodes[inst.primary_node], vg, needed, f"new disks of {inst.name}")
    return plan


def _specs(lu: LogicalUnit, inst: Any, disks: list[Disk]) -> dict[str, DiskSpec]:
    """The node-side records of `disks`, indexed as in `inst`'s disk list (by uuid)."""
    saved = inst.disks
    inst.disks = disks
    try:
        return {d.uuid: d for d in build_spec(lu.cfg, inst).disks}
    finally:
        inst.disks = saved


async def _rename(lu: LogicalUnit, node: Any, spec: DiskSpec, new_lid: list[str], undo: Undo) -> None:
    """Move a file disk on its node; the move back goes on `undo`."""
    if list(spec.logical_id) == list(new_lid):
        return
    result = await lu.rpc.blockdev_rename(lu.ctx.services.target(node), proc.BlockdevRenameArgs(spec, new_lid))
    if result.failed:
        raise OpExecError(f"Could not move disk {spec.logical_id[-1]} on node {node.name}: {result.error}")
    moved = dataclasses.replace(spec, logical_id=list(new_lid))

    async def back() -> None:
        args = proc.BlockdevRenameArgs(moved, list(spec.logical_id))
        (await lu.rpc.blockdev_rename(lu.ctx.services.target(node), args)).get(f"moving back {new_lid[-1]}")

    undo.push(f"disk {new_lid[-1]} back", back)


async def apply(lu: LogicalUnit, plan: Plan, undo: Undo, plug: bool = False) -> list[list[str]]:
    """Node-side steps: new disks made, detached disks shut down (and file disks moved out of the
    instance's directory), attached ones moved in; with `plug` (hotplug) the running guest gets
    and loses the disks now. Then the instance's disk list is set (the LU commits it). Every step
    pushes its inverse on `undo`, which the LU runs if anything later fails; a failure here undoes
    this call's own steps at once."""
    inst = lu.instance  # type: ignore[attr-defined]
    pnode = lu.cfg.nodes[inst.primary_node]
    mine = Undo()
    try:
        if plan.added and inst.disk_template == constants.DT_DRBD:  # ports and minors before the specs
            mine.push("drbd reservations", _released(plan, inst))
            _link_drbd(lu, inst, plan)
        new_specs = _specs(lu, inst, plan.disks)
        old_specs = _specs(lu, inst, inst.disks)
        for disk in plan.added:
            await _create(lu, inst, new_specs[disk.uuid], mine)
        if plan.added and inst.disk_template == constants.DT_DRBD:
            await _settle_drbd(lu, inst, plan, up=plug)
        for disk in plan.added if plug else ():
            await hotplug.plug_disk(lu, inst, pnode, bd.one_for_node(lu, inst, new_specs[disk.uuid], pnode), mine)
        for disk, kept in plan.detached:
            spec = old_specs[disk.uuid]
            if plug:
                await hotplug.unplug_disk(lu, inst, pnode, spec, mine)
            result = await lu.rpc.blockdev_shutdown(lu.ctx.services.target(pnode), proc.BlockdevArgs(spec, inst.name))
            if result.failed:
                lu.warning(f"Could not shut down disk {spec.index} of {inst.name} before detaching it: {result.error}")
            await _rename(lu, pnode, spec, kept.disk.logical_id, mine)
        for record, disk in plan.attached:
            spec = new_specs[disk.uuid]
            await _rename(lu, pnode, dataclasses.replace(spec, logical_id=list(record.disk.logical_id)),
                          disk.logical_id, mine)  # fmt: skip
            if plug:
                await hotplug.plug_disk(lu, inst, pnode, spec, mine)
        for gone in plan.removed if plug else ():
            await hotplug.unplug_disk(lu, inst, pnode, bd.one_for_node(lu, inst, gone, pnode), mine)
    except GntError:
        await mine.run(lu)
        raise
    undo.steps.extend(mine.steps)  # run newest first: out of the guest before their storage goes
    inst.disks = plan.disks
    return plan.report


def _released(plan: Plan, inst: Any) -> Callable[[], Any]:
    async def release() -> None:
        plan.release(inst)

    return release


def _link_drbd(lu: LogicalUnit, inst: Any, plan: Plan) -> None:
    """Ports, minors, LV names and a secret for each added drbd disk, held until the commit."""
    from gnt.instance import drbd

    snode = inst.secondary_nodes[0]
    plan.reserved = drbd.allocate(list(lu.cfg.instances.values()), inst.primary_node, snode, len(plan.added))
    vg = lu.cfg.cluster.volume_group_name
    for disk, alloc in zip(plan.added, plan.reserved, strict=True):
        index = plan.disks.index(disk)
        fields = drbd.disk_fields(vg, inst.primary_node, snode, disk.uuid, index, alloc)
        disk.logical_id, disk.params = fields["logical_id"], fields["params"]


async def _settle_drbd(lu: LogicalUnit, inst: Any, plan: Plan, up: bool) -> None:
    """The new drbd disks' initial sync followed (Ganeti's WaitForSync after a disk add, unless
    --no-wait-for-sync); on a stopped instance they go down again, as its other disks are."""
    shadow = copy.copy(inst)
    shadow.disks = plan.disks
    indices = [plan.disks.index(d) for d in plan.added]
    if getattr(lu.op, "wait_for_sync", True):
        from gnt.instance.replace_disks import wait_for_mirror_sync

        lu.feedback("* waiting for the new disks to sync")
        await wait_for_mirror_sync(lu, shadow, indices)
    if not up:
        for problem in await bd.shutdown(lu, shadow, indices):
            lu.warning(problem)


async def _create(lu: LogicalUnit, inst: Any, spec: DiskSpec, undo: Undo) -> None:
    """The new disk made on all its nodes at once, as at instance creation: a drbd disk's two
    sides are independent until they connect. Each node's removal is queued for the undo whether
    or not its create answered, since a node may have made part of the disk before failing."""
    nodes = bd.disk_nodes(lu, inst, spec.dev_type)
    node_specs = [bd.one_for_node(lu, inst, spec, node) for node in nodes]
    for node in nodes:
        lu.feedback(f"* creating disk {spec.index} ({spec.size}M) on node {node.name}")
    results = await asyncio.gather(
        *(
            lu.rpc.blockdev_create(lu.ctx.services.target(node), proc.BlockdevArgs(node_spec, inst.name))
            for node, node_spec in zip(nodes, node_specs, strict=True)
        )
    )
    for node, node_spec in zip(nodes, node_specs, strict=True):
        undo.push(f"disk {spec.index} storage", lambda n=node, s=node_spec: pending.remove_disks(lu, n, [s], inst.name))
    for node, result in zip(nodes, results, strict=True):
        if result.failed:
            raise OpExecError(f"Can't create new disk {spec.index} on node {node.name}: {result.error}")
    if wipe.enabled(lu):  # --prealloc-wipe-disks: zeros before the guest sees it; a failure undoes the create
        pnode = lu.cfg.nodes[inst.primary_node]
        await wipe.wipe(lu, pnode, inst.name, [(bd.one_for_node(lu, inst, spec, pnode), 0)])


def stage_cluster(cfg: ConfigManager, plan: Plan) -> Callable[[], None]:
    """Right before the commit: the cluster's detached disks without the attached ones, with the
    detached ones; returns how to put the list back if the commit fails. A disk another job
    attached meanwhile (nothing locks the list between check and commit) fails this job, whose
    node-side steps the LU then undoes."""
    saved = list(cfg.cluster.detached_disks)
    gone = {record.disk.uuid for record, _ in plan.attached}
    taken = gone - {r.disk.uuid for r in saved}
    if taken:
        raise OpExecError(f"Disk {sorted(taken)[0]} was attached by another job meanwhile; nothing was changed")
    kept = [r for r in saved if r.disk.uuid not in gone]
    cfg.cluster.detached_disks = kept + [record for _, record in plan.detached]

    def revert() -> None:
        cfg.cluster.detached_disks = saved

    return revert


async def finish(lu: LogicalUnit, plan: Plan) -> None:
    """After the commit: drbd reservations given back (the config holds them now), the storage
    of the disks taken out shut down and removed."""
    inst = lu.instance  # type: ignore[attr-defined]
    plan.release(inst)
    for spec in plan.removed:
        for node in reversed(bd.disk_nodes(lu, inst, spec.dev_type)):
            node_spec = bd.one_for_node(lu, inst, spec, node)
            if not node.offline:
                await lu.rpc.blockdev_shutdown(lu.ctx.services.target(node), proc.BlockdevArgs(node_spec, inst.name))
            await pending.remove_disks(lu, node, [node_spec], inst.name)
