"""Existing devices adopted as a new instance's disks: `gnt-instance add --disk N:adopt=NAME`.

As in Ganeti, adoption is all or nothing (every disk of the instance adopts, or none does), needs
the primary node named (the devices are on it; no allocator can choose), takes each disk's size
from its device and never installs the OS: the data is already there. What may be adopted is the
template's declaration in gnt.disktypes (`adoptable`, `must_adopt`): an LV of the `plain`
template, renamed to the instance's naming (`<disk uuid>.disk<N>`) and back if the creation fails;
or a `blockdev` path (`/dev/disk/by-id/...`), which is never renamed nor deleted.

The master checks what it knows (names, the config's own disks, reserved LVs); the primary node
has the last word on the device itself (`blockdev_adoptable`): it exists, nothing holds it, and
for a path, it lies under the node's own adoptable roots and is a block device (gnt.confine).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from gnt import confine, constants, disktypes
from gnt.errors import ECODE_ENVIRON, ECODE_EXISTS, ECODE_INVAL, OpExecError, OpPrereqError
from gnt.objects import Cluster, Instance, Node, new_uuid
from gnt.rpc import procedures as proc
from gnt.runtime import DiskSpec

if TYPE_CHECKING:
    from gnt.config.manager import ConfigManager
    from gnt.jobs.lu import LogicalUnit

#: Ganeti's driver name in a blockdev disk's logical_id
BLOCKDEV_DRIVER = "manual"


def check_arguments(template: str, disks: list[Any], iallocator: str | None, pnode: str | None) -> bool:
    """Whether the instance's disks are adopted; raises OpPrereqError for an adoption Ganeti
    would refuse (mixed, wrong template, with an allocator, bad names, a size given too)."""
    kind = disktypes.kind(template)
    adopted = [d for d in disks if isinstance(d, dict) and d.get("adopt") is not None]
    if not adopted:
        if kind.must_adopt:
            raise OpPrereqError(
                f"Disk template {template} requires disk adoption, but no 'adopt' parameter given"
                f" (--disk 0:adopt=/dev/disk/by-id/...)",
                ECODE_INVAL,
            )
        return False
    if len(adopted) != len(disks):
        raise OpPrereqError("Either all disks are adopted or none is", ECODE_INVAL)
    if not kind.adoptable:
        raise OpPrereqError(f"Disk adoption is not supported for the {template} disk template", ECODE_INVAL)
    if iallocator:
        raise OpPrereqError("Disk adoption not allowed with an iallocator script", ECODE_INVAL)
    if not pnode:
        raise OpPrereqError("Disk adoption needs the primary node (-n NODE): the devices are on it", ECODE_INVAL)
    names: list[str] = []
    for index, disk in enumerate(disks):
        if "size" in disk:
            raise OpPrereqError(
                f"Disk {index}: the size of an adopted disk is its device's; give adopt or size, not both",
                ECODE_INVAL,
            )
        problem = _name_problem(template, disk["adopt"])
        if problem:
            raise OpPrereqError(f"Disk {index}: cannot adopt {problem}", ECODE_INVAL)
        names.append(disk["adopt"])
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise OpPrereqError(f"Duplicate names given for adoption: {', '.join(duplicates)}", ECODE_INVAL)
    return True


def _name_problem(template: str, name: Any) -> str | None:
    if template == constants.DT_PLAIN:
        return confine.lvm_name_problem(name)
    # the node checks its own roots; here only the shape of the path (absolute, no '..')
    return confine.block_device_problem(name, roots=("/",))


def adopted_id(cluster: Cluster, template: str, disk: dict[str, Any]) -> list[str]:
    """The logical_id naming the device as it is before adoption."""
    if template == constants.DT_PLAIN:
        vg = disk.get("vg") or cluster.volume_group_name
        if not vg:
            message = "No volume group configured for plain disks; set one with `gnt-cluster modify --vg-name`"
            raise OpPrereqError(message, ECODE_ENVIRON)
        return [vg, str(disk["adopt"])]
    return [BLOCKDEV_DRIVER, str(disk["adopt"])]


def _describe(template: str, logical_id: list[str]) -> str:
    if template == constants.DT_PLAIN:
        return f"logical volume {logical_id[0]}/{logical_id[1]}"
    return f"block device {logical_id[1]}"


def _owners(cfg: ConfigManager) -> dict[tuple[str, str, str], str]:
    """Every device the config's instances already hold -> the instance: plain LVs, drbd data
    and meta LVs, blockdev paths (keyed by template family and logical_id)."""
    owners: dict[tuple[str, str, str], str] = {}
    for inst in cfg.instances.values():
        for disk in inst.disks:
            if disk.dev_type == constants.DT_PLAIN and len(disk.logical_id) == 2:
                owners[("lv", *disk.logical_id)] = inst.name  # type: ignore[index]
            elif disk.dev_type == constants.DT_DRBD:
                for vg, lv in disk.params.get("children", []):
                    owners[("lv", vg, lv)] = inst.name
            elif disk.dev_type == constants.DT_BLOCK and len(disk.logical_id) == 2:
                owners[("path", "", disk.logical_id[1])] = inst.name
    return owners


async def check_prereq(lu: LogicalUnit, pnode: Node) -> list[int]:
    """Check every device against the config, then ask the primary node; each disk's size (MiB)."""
    op, cfg = lu.op, lu.cfg
    template = op.disk_template
    ids = [adopted_id(cfg.cluster, template, d) for d in op.disks]
    owners = _owners(cfg)
    reserved = [re.compile(p) for p in cfg.cluster.reserved_lvs]
    for index, logical_id in enumerate(ids):
        key = ("lv", *logical_id) if template == constants.DT_PLAIN else ("path", "", logical_id[1])
        what = _describe(template, logical_id)
        owner = owners.get(key)  # type: ignore[arg-type]
        if owner is not None:
            raise OpPrereqError(f"Disk {index}: {what} is already used by instance {owner}", ECODE_EXISTS)
        if template == constants.DT_PLAIN and any(r.fullmatch("/".join(logical_id)) for r in reserved):
            raise OpPrereqError(
                f"Disk {index}: {what} is reserved (the cluster's reserved LVs: {', '.join(cfg.cluster.reserved_lvs)})",
                ECODE_INVAL,
            )
    specs = [DiskSpec(uuid=new_uuid(), index=i, size=0, dev_type=template, logical_id=lid) for i, lid in enumerate(ids)]
    result = await lu.rpc.blockdev_adoptable(lu.ctx.services.target(pnode), proc.BlockdevInfoArgs(specs))
    if result.failed:
        raise OpPrereqError(
            f"Cannot adopt the disks of instance {op.instance_name} on node {pnode.name}: {result.error}", ECODE_INVAL
        )
    sizes = [int(info.get("size") or 0) for info in result.payload]
    for index, size in enumerate(sizes):
        lu.feedback(f"* disk {index}: adopting {_describe(template, ids[index])}, size {size}M")
    return sizes


def _spec(disk: Any, index: int) -> DiskSpec:
    return DiskSpec(
        uuid=disk.uuid, index=index, size=disk.size, dev_type=disk.dev_type, logical_id=list(disk.logical_id)
    )


async def adopt(lu: LogicalUnit, inst: Instance, pnode: Node) -> None:
    """Take the devices over: an LV is renamed to the instance's naming (Ganeti's `<uuid>.diskN`),
    so `gnt-node volumes` and verify see it as the instance's; all renames are undone if one fails."""
    lu.adopted_from = {}  # type: ignore[attr-defined]
    if inst.disk_template != constants.DT_PLAIN:
        return
    target = lu.ctx.services.target(pnode)
    for index, disk in enumerate(inst.disks):
        new_id = [disk.logical_id[0], f"{disk.uuid}.disk{index}"]
        result = await lu.rpc.blockdev_rename(target, proc.BlockdevRenameArgs(_spec(disk, index), new_id))
        if result.failed:
            await release(lu, inst, pnode)
            raise OpExecError(
                f"Cannot rename {_describe(inst.disk_template, disk.logical_id)} of instance {inst.name}"
                f" to {new_id[1]} on node {pnode.name}: {result.error}"
            )
        lu.adopted_from[disk.uuid] = list(disk.logical_id)  # type: ignore[attr-defined]
        disk.logical_id = new_id


async def release(lu: LogicalUnit, inst: Instance, pnode: Node) -> None:
    """Give the adopted devices back as they were (renamed LVs get their old names again); a
    rename that fails is a warning naming both names, so the admin can finish it by hand."""
    renamed: dict[str, list[str]] = getattr(lu, "adopted_from", {})
    target = lu.ctx.services.target(pnode)
    for index, disk in enumerate(inst.disks):
        old_id = renamed.pop(disk.uuid, None)
        if old_id is None:
            continue
        result = await lu.rpc.blockdev_rename(target, proc.BlockdevRenameArgs(_spec(disk, index), old_id))
        if result.failed:
            lu.warning(
                f"Could not rename {'/'.join(disk.logical_id)} back to {'/'.join(old_id)} on node {pnode.name}:"
                f" {result.error}"
            )
        else:
            disk.logical_id = old_id
