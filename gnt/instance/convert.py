"""`gnt-instance modify -t plain|drbd [-n SNODE | -I ALLOCATOR]`: the disk template conversion half of
OP_INSTANCE_SET_PARAMS, for a stopped instance.

- plain -> drbd: each disk keeps its data LV on the primary (its name becomes the drbd disk's data
  volume on both nodes); the secondary gets a data and a meta LV, the primary a meta LV, and a
  minor on each joins them (external metadata: the data LV's content is untouched). The primary
  side is promoted by force, so its data is what the secondary syncs from. Only once every disk is
  up (and, unless told not to wait, in sync) is the config changed; before that, any failure takes
  the minors down, removes what was made (never the primary's data LV) and changes nothing.
- drbd -> plain: the disks are shut down on both nodes, the config changed to the primary's data
  LVs, then the primary's meta LVs and the secondary's LVs removed (a node that cannot is recorded
  for verify-disks, gnt.cluster.pending).

Ganeti's refusals and messages: a running instance, the same template, an unsupported pair, a
missing or wrong secondary, and a conversion mixed with other disk changes.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gnt import constants
from gnt.cluster import pending
from gnt.drbd import META_SIZE
from gnt.errors import ECODE_INVAL, ECODE_NORES, ECODE_STATE, GntError, OpExecError, OpPrereqError
from gnt.instance import blockdevs as bd
from gnt.instance import drbd
from gnt.instance.common import build_spec, check_free_vg, check_node_online, check_node_usable
from gnt.objects import Instance, Node
from gnt.rpc import procedures as proc
from gnt.runtime import DiskSpec

if TYPE_CHECKING:
    from gnt.jobs.lu import LogicalUnit

SUPPORTED = {(constants.DT_PLAIN, constants.DT_DRBD), (constants.DT_DRBD, constants.DT_PLAIN)}


@dataclass
class Conversion:
    """What `check` decided: the target template and, for drbd, the new secondary."""

    target: str
    snode: Node | None = None


async def check(
    lu: LogicalUnit,
    inst: Instance,
    target: str,
    remote: str | None,
    other_disk_changes: bool,
    iallocator: str | None = None,
) -> Conversion:
    """Every refusal before anything changes (the nodes are asked for room, not changed). To drbd
    without a secondary named, the allocator (`iallocator`, else the cluster's default) picks one,
    as Ganeti's CheckIAllocatorOrNode does."""
    if other_disk_changes:
        raise OpPrereqError(
            "Disk template conversion and other disk changes not supported at the same time", ECODE_INVAL
        )
    if inst.disk_template == target:
        raise OpPrereqError(f"Instance already has disk template {target}", ECODE_INVAL)
    if (inst.disk_template, target) not in SUPPORTED:
        raise OpPrereqError(f"Unsupported disk template conversion from {inst.disk_template} to {target}", ECODE_INVAL)
    enabled = lu.cfg.cluster.enabled_disk_templates
    if enabled and target not in enabled:
        raise OpPrereqError(
            f"Disk template '{target}' is not enabled in cluster. Enabled disk templates are: {','.join(enabled)}",
            ECODE_STATE,
        )
    if remote and target != constants.DT_DRBD:
        raise OpPrereqError("A secondary node (-n) is only given when converting to drbd", ECODE_INVAL)
    pnode = lu.cfg.nodes[inst.primary_node]
    check_node_online(pnode, "primary node")
    await bd.check_not_running(lu, inst, "cannot change disk template")
    if target == constants.DT_PLAIN:
        return Conversion(target)
    snode = lu.cfg.node(remote) if remote else await _allocate_secondary(lu, inst, pnode, iallocator)
    if snode.uuid == pnode.uuid:
        raise OpPrereqError(
            f"Given new secondary node {snode.name} is the same as the primary node of the instance", ECODE_INVAL
        )
    check_node_usable(snode)
    vg = lu.cfg.cluster.volume_group_name
    if not vg:
        raise OpPrereqError(
            "No volume group configured for drbd disks; set one with gnt-cluster modify --vg-name", ECODE_STATE
        )
    sizes = sum(d.size for d in inst.disks)
    await check_free_vg(lu, snode, vg, sizes + META_SIZE * len(inst.disks), "data and metadata of the new secondary")
    await check_free_vg(lu, pnode, vg, META_SIZE * len(inst.disks), "metadata of the drbd disks")
    return Conversion(target, snode)


async def _allocate_secondary(lu: LogicalUnit, inst: Instance, pnode: Node, iallocator: str | None) -> Node:
    """The allocator's secondary for `inst` (an 'allocate-secondary' request): a node of the
    primary's group, whose nodes the LU holds locked for this (the answer is checked for that)."""
    from gnt.instance.placement import allocator_name, run_iallocator

    name = allocator_name(iallocator, lu.cfg.cluster.default_iallocator)
    lu.info(f"Using {name} to choose new secondary")
    answer = await run_iallocator(lu, name, {"type": "allocate-secondary", "name": inst.name})
    node = lu.cfg.find_node(answer) if isinstance(answer, str) else None
    if node is None:
        raise OpPrereqError(f"The iallocator's answer {str(answer)[:200]} names no known node", ECODE_NORES)
    if node.group != pnode.group or node.uuid == pnode.uuid:
        raise OpPrereqError(
            f"iallocator {name} chose {node.name}, which is not another node of the primary's node group", ECODE_NORES
        )
    lu.info(f"{name} chose {node.name} as new secondary")
    return node


async def apply(lu: LogicalUnit, inst: Instance, plan: Conversion, wait_for_sync: bool) -> list[list[str]]:
    """Convert (the instance changed in memory; the LU commits it)."""
    if plan.target == constants.DT_PLAIN:
        await _to_plain(lu, inst)
    else:
        assert plan.snode is not None
        await _to_drbd(lu, inst, plan.snode, wait_for_sync)
    return [["disk_template", plan.target]]


# -- plain -> drbd ---------------------------------------------------------------------------------


def _planned(lu: LogicalUnit, inst: Instance, snode: Node, reserved: list[drbd.Allocation]) -> Instance:
    new = copy.deepcopy(inst)
    new.disk_template = constants.DT_DRBD
    new.secondary_nodes = [snode.uuid]
    for index, (disk, alloc) in enumerate(zip(new.disks, reserved, strict=True)):
        vg, data = list(disk.logical_id)
        fields = drbd.disk_fields(vg, inst.primary_node, snode.uuid, disk.uuid, index, alloc)
        fields["params"]["children"] = [[vg, data], [vg, f"{disk.uuid}.disk{index}_meta"]]
        disk.dev_type = constants.DT_DRBD
        disk.logical_id = fields["logical_id"]
        disk.params = fields["params"]
    return new


async def _to_drbd(lu: LogicalUnit, inst: Instance, snode: Node, wait_for_sync: bool) -> None:
    pnode = lu.cfg.nodes[inst.primary_node]
    reserved = drbd.allocate(list(lu.cfg.instances.values()), pnode.uuid, snode.uuid, len(inst.disks))
    try:
        new = _planned(lu, inst, snode, reserved)
        made: list[tuple[Node, DiskSpec]] = []
        try:
            for node in (snode, pnode):  # the secondary waits for its peer; the primary's promotion needs it
                for disk in build_spec(lu.cfg, new).disks:
                    lu.feedback(f"* creating the drbd side of disk/{disk.index} on node {node.name}")
                    node_disk = bd.one_for_node(lu, new, disk, node)
                    result = await lu.rpc.blockdev_create(
                        lu.ctx.services.target(node), proc.BlockdevArgs(node_disk, new.name)
                    )
                    made.append((node, node_disk))
                    if result.failed:
                        raise OpExecError(
                            f"Can't create disk/{disk.index} of instance {new.name} on node {node.name}: {result.error}"
                        )
            if wait_for_sync:
                lu.feedback("* waiting for the new secondary to sync")
                from gnt.instance.replace_disks import wait_for_mirror_sync

                await wait_for_mirror_sync(lu, new)
            for problem in await bd.shutdown(lu, new):  # the instance is stopped: its disks go down again
                lu.warning(problem)
        except GntError:
            await _undo_drbd(lu, new, pnode, made)
            raise
        inst.disk_template, inst.secondary_nodes = new.disk_template, list(new.secondary_nodes)
        for disk, converted in zip(inst.disks, new.disks, strict=True):
            disk.dev_type, disk.logical_id, disk.params = converted.dev_type, converted.logical_id, converted.params
        await lu.cfg.commit([inst])
    finally:
        drbd.release(reserved, pnode.uuid, snode.uuid)


async def _undo_drbd(lu: LogicalUnit, new: Instance, pnode: Node, made: list[tuple[Node, DiskSpec]]) -> None:
    """Back to plain: the minors down, the secondary's LVs and the primary's meta LVs removed; the
    primary's data LVs (the instance's data) stay."""
    lu.warning(f"Converting instance {new.name} to drbd failed; removing what was made")
    for node, disk in reversed(made):
        target = lu.ctx.services.target(node)
        if node.uuid != pnode.uuid:
            await pending.remove_disks(lu, node, [disk], new.name)
            continue
        result = await lu.rpc.blockdev_shutdown(target, proc.BlockdevArgs(disk, new.name))
        if result.failed:
            lu.warning(f"Could not take down the drbd minor of disk/{disk.index} on {node.name}: {result.error}")
        await pending.remove_disks(lu, node, [_meta_lv(disk)], new.name)


def _meta_lv(disk: DiskSpec) -> DiskSpec:
    """The meta LV of a drbd disk (as a node is sent it) as a plain disk, to remove it alone."""
    meta = disk.params["drbd"]["meta"]
    return DiskSpec(
        uuid=disk.uuid, index=disk.index, size=META_SIZE, dev_type=constants.DT_PLAIN, logical_id=list(meta)
    )


# -- drbd -> plain ---------------------------------------------------------------------------------


async def _to_plain(lu: LogicalUnit, inst: Instance) -> None:
    pnode = lu.cfg.nodes[inst.primary_node]
    old = copy.deepcopy(inst)
    problems = [p for p in await bd.shutdown(lu, old) if pnode.name in p]
    if problems:
        raise OpExecError(f"Cannot convert instance {inst.name} to plain: {problems[0]}")
    primary_views = bd.for_node(lu, old, build_spec(lu.cfg, old).disks, pnode)
    secondaries = [lu.cfg.nodes[u] for u in old.secondary_nodes if u in lu.cfg.nodes]
    secondary_views = {n.uuid: bd.for_node(lu, old, build_spec(lu.cfg, old).disks, n) for n in secondaries}
    inst.disk_template, inst.secondary_nodes = constants.DT_PLAIN, []
    for disk in inst.disks:
        data = list(disk.params.get("children", [[]])[0])
        disk.dev_type, disk.logical_id, disk.params = constants.DT_PLAIN, data, {}
    await lu.cfg.commit([inst])
    lu.feedback(f"* removing the drbd metadata on {pnode.name}")
    await pending.remove_disks(lu, pnode, [_meta_lv(d) for d in primary_views], inst.name)
    for node in secondaries:
        lu.feedback(f"* removing the old secondary's volumes on {node.name}")
        await pending.remove_disks(lu, node, secondary_views[node.uuid], inst.name)


def describe(plan: Any) -> str:
    return f"disk template -> {plan.target}"
