"""An instance's disks on its nodes: where each disk lives, assembling and shutting it down, sync.

The disk operations (activate, deactivate, grow, recreate, repair sizes) never name a template:
what a disk *is* comes from `gnt.disktypes` (local, shared, mirrored), and the per-node work is the
storage driver's, behind the blockdev_* procedures. A mirrored disk (drbd) lives on the instance's
secondary nodes and its primary; every helper here visits the secondaries first and the primary
last, so a mirrored driver brings up (or grows) its peers before the side the hypervisor opens.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gnt import constants, disktypes
from gnt.errors import ECODE_INVAL, ECODE_STATE, OpExecError, OpPrereqError
from gnt.instance.common import build_spec
from gnt.objects import Instance, Node
from gnt.rpc import procedures as proc
from gnt.runtime import DiskSpec

if TYPE_CHECKING:
    from gnt.jobs.lu import LogicalUnit

#: seconds between two sync polls (a mirrored disk resyncing after activation or a grow)
SYNC_POLL = 1.0
#: polls without progress after which waiting for sync gives up (Ganeti's degraded-retries idea)
SYNC_STALL_POLLS = 60
#: polls in a row in which every disk still waited for is out of sync with no resync running (its
#: mirror is not connected) before the wait gives up: Ganeti's degraded retries (10, one a second)
DEGRADED_POLLS = 10


@dataclass
class Assembled:
    """One disk brought up on the instance's primary node: Ganeti's `node:disk/N:device` line."""

    node: str
    iv_name: str
    path: str

    def line(self) -> str:
        return f"{self.node}:{self.iv_name}:{self.path}"


def for_node(lu: LogicalUnit, inst: Instance, disks: list[DiskSpec], node: Node) -> list[DiskSpec]:
    """`disks` as `node` is sent them. The config holds a disk once; a mirrored disk's nodes each
    need their own view of it (their minor, the peer's address, which side is primary), which the
    drbd template's master side computes (`gnt.instance.drbd.node_specs`). Every per-node call of
    the disk operations goes through here, so no LU needs to know which template needs this."""
    if not any(d.dev_type == constants.DT_DRBD for d in disks):
        return disks
    from gnt.instance.drbd import node_specs  # type: ignore[import-not-found,unused-ignore]

    return list(node_specs(disks, inst, node, lu.cfg.nodes))


def one_for_node(lu: LogicalUnit, inst: Instance, disk: DiskSpec, node: Node) -> DiskSpec:
    return for_node(lu, inst, [disk], node)[0]


def iv_name(index: int) -> str:
    return f"disk/{index}"


def disk_spec(lu: LogicalUnit, inst: Instance, index: int) -> DiskSpec:
    return build_spec(lu.cfg, inst).disks[index]


def disk_nodes(lu: LogicalUnit, inst: Instance, dev_type: str) -> list[Node]:
    """The nodes holding a disk of this type: a mirrored disk's secondaries, then the primary.

    A local disk is on the primary only; a shared one is reachable from every node, so the primary
    is the one that acts on it (a grow of a shared file happens once, not once per node).
    """
    primary = lu.cfg.nodes[inst.primary_node]
    if disktypes.kind(dev_type).locality is disktypes.Locality.MIRRORED:
        return [lu.cfg.nodes[u] for u in inst.secondary_nodes if u in lu.cfg.nodes] + [primary]
    return [primary]


def check_disk_index(inst: Instance, index: int) -> int:
    """Ganeti's 'Invalid disk index' for an index the instance does not have."""
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(inst.disks):
        count = len(inst.disks)
        raise OpPrereqError(
            f"Invalid disk index: '{index}' (instance {inst.name} has {count} disk{'s' if count != 1 else ''},"
            f" numbered from 0)",
            ECODE_INVAL,
        )
    return index


def check_has_disks(inst: Instance) -> None:
    if inst.disk_template == constants.DT_DISKLESS or not inst.disks:
        raise OpPrereqError(f"Instance '{inst.name}' has no disks", ECODE_INVAL)


async def is_running(lu: LogicalUnit, inst: Instance) -> bool:
    """Whether the primary's hypervisor runs the instance (an offline primary runs nothing we reach)."""
    node = lu.cfg.nodes[inst.primary_node]
    if node.offline:
        return False
    args = proc.InstanceQueryArgs(inst.name, inst.hypervisor)
    result = await lu.rpc.instance_info(lu.ctx.services.target(node), args)
    info = result.get("Cannot get instance information")
    return bool(info and info.get("state") in ("running", "paused"))


async def check_not_running(lu: LogicalUnit, inst: Instance, what: str, allow_admin_up: bool = False) -> None:
    """Ganeti's CheckInstanceState for an operation that needs the instance stopped."""
    if not allow_admin_up and inst.admin_state == constants.ADMINST_UP:
        raise OpPrereqError(f"Instance '{inst.name}' is marked to be up, {what}", ECODE_STATE)
    if await is_running(lu, inst):
        raise OpPrereqError(f"Instance {inst.name} is running, {what}", ECODE_STATE)


async def assemble(
    lu: LogicalUnit, inst: Instance, indices: Sequence[int] | None = None, ignore_size: bool = False
) -> list[Assembled]:
    """Bring up the instance's disks (all, or `indices`) on every node holding them.

    Offline secondaries are skipped with a warning (the disk runs degraded, as in Ganeti); an
    offline primary is the caller's to refuse. Raises OpExecError naming the first disk and node
    that failed; what this call assembled is then shut down again by `assemble_or_undo`.
    `ignore_size` sends size 0: the driver uses the size it finds (Ganeti's --ignore-size).
    """
    spec = build_spec(lu.cfg, inst)
    wanted = range(len(spec.disks)) if indices is None else indices
    primary = lu.cfg.nodes[inst.primary_node]
    found: list[Assembled] = []
    for index in wanted:
        disk = spec.disks[index]
        if ignore_size:
            disk.size = 0
        for node in disk_nodes(lu, inst, disk.dev_type):
            if node.offline and node is not primary:
                lu.warning(f"Node {node.name} is offline: disk {index} of {inst.name} is not assembled there")
                continue
            args = proc.BlockdevArgs(one_for_node(lu, inst, disk, node), inst.name)
            result = await lu.rpc.blockdev_assemble(lu.ctx.services.target(node), args)
            if result.failed:
                raise OpExecError(f"Cannot activate block device {iv_name(index)} on node {node.name}: {result.error}")
            if node is primary:
                found.append(Assembled(node.name, iv_name(index), str(result.payload or "")))
    return found


async def shutdown(lu: LogicalUnit, inst: Instance, indices: Sequence[int] | None = None) -> list[str]:
    """Shut the disks down on every node holding them (primary first: the side in use goes first);
    returns the failures as messages, offline nodes skipped."""
    spec = build_spec(lu.cfg, inst)
    wanted = range(len(spec.disks)) if indices is None else indices
    problems = []
    for index in wanted:
        disk = spec.disks[index]
        for node in reversed(disk_nodes(lu, inst, disk.dev_type)):
            if node.offline:
                lu.warning(f"Node {node.name} is offline: {iv_name(index)} of {inst.name} is not shut down there")
                continue
            args = proc.BlockdevArgs(one_for_node(lu, inst, disk, node), inst.name)
            result = await lu.rpc.blockdev_shutdown(lu.ctx.services.target(node), args)
            if result.failed:
                where = f"{iv_name(index)} on node {node.name}"
                problems.append(f"Could not shut down block device {where}: {result.error}")
    return problems


async def assemble_or_undo(
    lu: LogicalUnit, inst: Instance, undo: bool, indices: Sequence[int] | None = None, ignore_size: bool = False
) -> list[Assembled]:
    """`assemble`, and on failure shut down again (when `undo`) so a failed activation leaves the
    disks as they were; a running instance's disks are never shut down (undo False)."""
    try:
        return await assemble(lu, inst, indices, ignore_size)
    except OpExecError:
        if undo:
            for problem in await shutdown(lu, inst, indices):
                lu.warning(problem)
        raise


async def device_infos(lu: LogicalUnit, inst: Instance, node: Node, disks: list[DiskSpec]) -> list[dict[str, Any]]:
    """What `node` reports about each of `disks` (exists, path, size, in_sync): one call."""
    args = proc.BlockdevInfoArgs(for_node(lu, inst, disks, node))
    result = await lu.rpc.blockdev_info(lu.ctx.services.target(node), args)
    infos = result.get("Cannot get block device information")
    if not isinstance(infos, list) or len(infos) != len(disks):
        raise OpExecError(f"Node {node.name} answered block device information for the wrong number of disks")
    return infos


async def wait_for_sync(lu: LogicalUnit, inst: Instance, indices: Sequence[int] | None = None) -> None:
    """Wait until the primary reports every disk in sync; progress goes to the job log.

    Local and shared disks are always in sync; a mirrored driver reports `in_sync` false (and,
    if it knows, `sync_percent`) while it resyncs. Gives up, with an error, when the disks exist
    no more, their reported progress stands still for SYNC_STALL_POLLS polls, or they are
    degraded (out of sync, no resync running: a mirror that never connects) for DEGRADED_POLLS
    polls in a row, as Ganeti's wait does; the disks stay as they are (active, degraded).
    """
    spec = build_spec(lu.cfg, inst)
    disks = [spec.disks[i] for i in (range(len(spec.disks)) if indices is None else indices)]
    primary = lu.cfg.nodes[inst.primary_node]
    last: list[Any] = []
    stalled = degraded = 0
    while True:
        infos = await device_infos(lu, inst, primary, disks)
        missing = [d.index for d, i in zip(disks, infos, strict=True) if not i.get("exists")]
        if missing:
            names = ", ".join(iv_name(i) for i in missing)
            raise OpExecError(f"Can't compute data for node {primary.name}/{names}: not found while syncing")
        pending = [(d, i) for d, i in zip(disks, infos, strict=True) if not i.get("in_sync", True)]
        if not pending:
            if last:
                lu.info(f"Instance {inst.name}'s disks are in sync")
            return
        progress = [i.get("sync_percent") for _, i in pending]
        for disk, info in pending:
            percent = info.get("sync_percent")
            done = f"{float(percent):.2f}% done" if _known(percent) else "syncing"
            lu.info(f"- device {iv_name(disk.index)}: {done}")
        # only a progress the driver reports can be seen to stall; without one the wait goes on,
        # and `gnt-job cancel` stops it (the LUs that wait are cancellable here)
        known = all(_known(p) for p in progress)
        stalled = stalled + 1 if known and progress == last else 0
        if stalled >= SYNC_STALL_POLLS:
            raise OpExecError(f"Disks of instance {inst.name} make no sync progress; see gnt-cluster verify")
        degraded = degraded + 1 if not any(_known(p) for p in progress) else 0
        if degraded >= DEGRADED_POLLS:
            names = ", ".join(iv_name(d.index) for d, _ in pending)
            raise OpExecError(
                f"Disks of instance {inst.name} are degraded ({names}: out of sync and not resyncing, their mirror"
                f" is not connected); see gnt-cluster verify-disks"
            )
        last = progress
        lu.checkpoint()  # before the sleep is made: a cancelled job leaves no coroutine unawaited
        await lu.interruptible(asyncio.sleep(SYNC_POLL))


def _known(percent: Any) -> bool:
    return isinstance(percent, (int, float)) and not isinstance(percent, bool)
