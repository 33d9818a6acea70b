"""gnt-instance replace-disks: new storage for one side of a mirrored (drbd) instance's disks.

Four modes, as Ganeti has them:

- `replace_on_primary` / `replace_on_secondary` (-p/-s): that node's side gets new LVs under its
  live link (`drbd_replace_local`: the old LVs renamed aside, new ones attached with fresh
  metadata); the other side keeps serving and resyncs the replaced one; once in sync the old LVs
  are removed. The side that keeps serving must hold good data (UpToDate), or nothing is done.
- `replace_new_secondary` (-n NODE / -I ALLOCATOR): each disk gets a minor on the new node, which
  is created there and waits for its peer; the old secondary's side is taken down (its LVs kept),
  the primary relinked to the new node, and only once the new side is in sync is the config
  changed and the old secondary's LVs removed. If it never syncs, the primary is linked back to
  the old secondary, which is brought up again, and the new node's disks are removed.
- `replace_auto` (-a): whichever side `drbd_status` finds faulty (not UpToDate, or no minor) is
  replaced as with -p/-s; both sides faulty is refused.

A stopped instance's disks are activated for the length of the operation and shut down after.
"""

from __future__ import annotations

import copy
from typing import Any

from gnt import constants
from gnt.cluster import pending
from gnt.drbd import META_SIZE
from gnt.errors import ECODE_INVAL, ECODE_NORES, ECODE_STATE, GntError, OpExecError, OpPrereqError
from gnt.instance import blockdevs as bd
from gnt.instance.common import build_spec, check_free_vg, check_node_online, check_node_usable
from gnt.instance.lifecycle import InstanceLU
from gnt.jobs.locking import ALL, Level, LockRequest
from gnt.jobs.lu import register
from gnt.objects import Instance, Node
from gnt.opcodes import OpInstanceReplaceDisks
from gnt.rpc import procedures as proc
from gnt.runtime import DiskSpec

ON_PRIMARY, ON_SECONDARY = "replace_on_primary", "replace_on_secondary"
NEW_SECONDARY, AUTO = "replace_new_secondary", "replace_auto"


def check_replace_arguments(op: OpInstanceReplaceDisks) -> None:
    """Ganeti's argument checks: which options go with which mode."""
    if op.mode == NEW_SECONDARY:
        if op.remote_node is None and op.iallocator is None:
            raise OpPrereqError(
                "When changing the secondary either an iallocator script must be used or the new node given",
                ECODE_INVAL,
            )
        if op.remote_node is not None and op.iallocator is not None:
            raise OpPrereqError("Give either the iallocator or the new secondary, not both", ECODE_INVAL)
    elif op.remote_node is not None or op.iallocator is not None:
        raise OpPrereqError(
            "The iallocator and new node options can only be used when changing the secondary node", ECODE_INVAL
        )
    if op.disks and op.mode in (NEW_SECONDARY, AUTO):
        raise OpPrereqError("Cannot specify disks to be replaced", ECODE_INVAL)
    if len(set(op.disks)) != len(op.disks):
        raise OpPrereqError(f"Disk given twice in {op.disks}", ECODE_INVAL)


async def wait_for_mirror_sync(lu: Any, inst: Instance, indices: list[int] | None = None) -> None:
    """Follow the resync of `inst`'s drbd disks on its primary (one drbd_status call per poll),
    progress in the job log. Unlike a wait on blockdev_info, a side that never connects (a new
    secondary that died, a refused peer) shows no progress either, so it also ends the wait:
    after SYNC_STALL_POLLS polls with neither a resync nor progress, the job fails naming the
    disks' states (the caller then keeps or restores the old storage)."""
    import asyncio

    pnode = lu.cfg.nodes[inst.primary_node]
    spec = build_spec(lu.cfg, inst).disks
    disks = [spec[i] for i in (indices if indices is not None else range(len(spec)))]
    views = bd.for_node(lu, inst, disks, pnode)
    last: list[Any] = []
    stalled = 0
    while True:
        result = await lu.rpc.drbd_status(lu.ctx.services.target(pnode), proc.BlockdevInfoArgs(views))
        statuses = result.get(f"Cannot get the DRBD status of instance {inst.name}'s disks on {pnode.name}")
        if all(s is not None and s.get("in_sync") for s in statuses):
            lu.info(f"Instance {inst.name}'s disks are in sync")
            return
        progress = [s.get("sync_percent") if s else None for s in statuses]
        for disk, percent in zip(disks, progress, strict=True):
            if isinstance(percent, (int, float)):
                lu.info(f"- device {bd.iv_name(disk.index)}: {float(percent):.2f}% done")
        moving = any(isinstance(p, (int, float)) for p in progress) and progress != last
        stalled = 0 if moving else stalled + 1
        last = progress
        if stalled >= bd.SYNC_STALL_POLLS:
            states = ", ".join(
                f"{bd.iv_name(d.index)} {s.get('cstate', 'unknown') if s else 'missing'}"
                for d, s in zip(disks, statuses, strict=True)
            )
            raise OpExecError(f"The disks of instance {inst.name} do not sync ({states})")
        lu.checkpoint()
        await lu.interruptible(asyncio.sleep(bd.SYNC_POLL))


def _faulty(status: dict[str, Any] | None) -> bool:
    return status is None or status.get("disk") != "UpToDate"


@register
class LUInstanceReplaceDisks(InstanceLU):
    """Replace the storage of one side of a drbd instance (see the module's docstring)."""

    OPCODE = OpInstanceReplaceDisks
    op: OpInstanceReplaceDisks
    NODE_LOCKS_SHARED = False

    @classmethod
    def check_opcode(cls, op: Any) -> None:
        check_replace_arguments(op)

    def declare_locks(self, level: Level) -> LockRequest | None:
        if level in (Level.NODE, Level.NODE_RES):
            if self.op.iallocator:
                return LockRequest(ALL)  # the allocator may pick any node
            current = super().declare_locks(Level.NODE)
            names = set(current.names if current else [])
            if self.op.remote_node:
                names.add(self.op.remote_node)
            return LockRequest(sorted(names))
        return super().declare_locks(level)

    # -- prerequisites ----------------------------------------------------------------------------

    async def check_prereq(self) -> None:
        super().check_prereq()
        check_replace_arguments(self.op)
        inst = self.instance
        if inst.disk_template != constants.DT_DRBD:
            raise OpPrereqError("Can only run replace disks for DRBD8-based instances", ECODE_INVAL)
        if len(inst.secondary_nodes) != 1:
            raise OpPrereqError(
                f"The instance has a strange layout, expected one secondary but found {len(inst.secondary_nodes)}",
                ECODE_INVAL,
            )
        self.snode: Node = self.cfg.nodes[inst.secondary_nodes[0]]
        for index in self.op.disks:
            bd.check_disk_index(inst, index)
        self.indices = sorted(self.op.disks) or list(range(len(inst.disks)))
        self.running = await bd.is_running(self, inst)
        self.new_node: Node | None = None
        self.replace_on: Node | None = None
        if self.op.mode == NEW_SECONDARY:
            check_node_online(self.pnode, "primary node")
            self.new_node = await self._new_secondary()
        elif self.op.mode == AUTO:
            await self._find_faulty()
        else:
            self.replace_on = self.pnode if self.op.mode == ON_PRIMARY else self.snode
            await self._check_other_side(self.replace_on)

    async def _new_secondary(self) -> Node:
        inst = self.instance
        if self.op.iallocator:
            node = await self._allocate()
        else:
            node = self.cfg.node(self.op.remote_node or "")
        if node.uuid == inst.primary_node:
            raise OpPrereqError("The specified node is the primary node of the instance", ECODE_INVAL)
        if node.uuid == self.snode.uuid:
            raise OpPrereqError("The specified node is already the secondary node of the instance", ECODE_INVAL)
        check_node_usable(node)
        vg = self.cfg.cluster.volume_group_name
        needed = sum(d.size + META_SIZE for d in inst.disks)
        await check_free_vg(self, node, vg, needed, "data and metadata of the new secondary")
        return node

    async def _allocate(self) -> Node:
        from gnt.instance.placement import allocator_name, run_iallocator

        inst = self.instance
        request = {"type": "relocate", "name": inst.name, "relocate_from": [self.snode.name]}
        answer = await run_iallocator(self, self.op.iallocator, request)
        if not isinstance(answer, list) or len(answer) != 1 or not isinstance(answer[0], str):
            raise OpPrereqError(f"The iallocator's answer {str(answer)[:200]} names no new secondary", ECODE_NORES)
        node = self.cfg.find_node(answer[0])
        if node is None:
            raise OpPrereqError(f"The iallocator's answer names an unknown node {answer[0]!r}", ECODE_NORES)
        label = allocator_name(self.op.iallocator, self.cfg.cluster.default_iallocator)
        self.info(f"Selected new secondary for instance '{inst.name}' via iallocator {label}: {node.name}")
        return node  # type: ignore[no-any-return]

    async def _statuses(self, node: Node) -> list[dict[str, Any] | None]:
        inst = self.instance
        disks = build_spec(self.cfg, inst).disks
        args = proc.BlockdevInfoArgs(bd.for_node(self, inst, disks, node))
        result = await self.rpc.drbd_status(self.target(node), args)
        if result.failed:
            raise OpPrereqError(f"Cannot get the DRBD status of node {node.name}: {result.error}", ECODE_STATE)
        return result.payload  # type: ignore[no-any-return]

    async def _check_other_side(self, replace_on: Node) -> None:
        """The side that keeps serving must be online and hold good data: it is the resync's source."""
        other = self.snode if replace_on is self.pnode else self.pnode
        check_node_online(replace_on)
        check_node_online(other, "node")
        if not (self.running or self.instance.disks_active):
            return  # nothing is up to ask; the sides come up together and are checked in exec
        statuses = await self._statuses(other)
        bad = [bd.iv_name(i) for i in self.indices if _faulty(statuses[i])]
        if bad:
            raise OpPrereqError(
                f"Node {other.name} has degraded storage ({', '.join(bad)}), unsafe to replace disks for instance"
                f" {self.instance.name}",
                ECODE_STATE,
            )

    async def _find_faulty(self) -> None:
        """replace_auto: the side whose disks are not UpToDate (ask both nodes; the disks must be up)."""
        inst = self.instance
        for node in (self.pnode, self.snode):
            check_node_online(node)
        if not (self.running or inst.disks_active):
            raise OpPrereqError(
                f"Please run activate-disks on instance {inst.name} first (automatic mode needs its disks up)",
                ECODE_STATE,
            )
        on_primary = [i for i, s in enumerate(await self._statuses(self.pnode)) if _faulty(s)]
        on_secondary = [i for i, s in enumerate(await self._statuses(self.snode)) if _faulty(s)]
        if on_primary and on_secondary:
            raise OpPrereqError(
                f"Instance {inst.name} has faulty disks on more than one node; can't use automatic mode",
                ECODE_STATE,
            )
        if on_primary or on_secondary:
            self.replace_on = self.pnode if on_primary else self.snode
            self.indices = on_primary or on_secondary

    # -- execution --------------------------------------------------------------------------------

    async def exec(self) -> None:
        inst = self.instance
        if self.op.mode == AUTO and self.replace_on is None:
            self.info(f"No disks need replacement for instance '{inst.name}'")
            return
        activated = not (self.running or inst.disks_active)
        if activated:
            await bd.assemble_or_undo(self, inst, True)
        try:
            if self.new_node is not None:
                await self._change_secondary(self.new_node)
            else:
                assert self.replace_on is not None
                await self._replace_local(self.replace_on)
        finally:
            if activated:
                for problem in await bd.shutdown(self, self.instance):
                    self.warning(problem)

    async def _replace_local(self, node: Node) -> None:
        inst = self.instance
        other = self.snode if node is self.pnode else self.pnode
        statuses = await self._statuses(other)
        bad = [bd.iv_name(i) for i in self.indices if _faulty(statuses[i])]
        if bad:
            raise OpExecError(
                f"Node {other.name} has degraded storage ({', '.join(bad)}), unsafe to replace disks for instance"
                f" {inst.name}"
            )
        spec = build_spec(self.cfg, inst)
        aside: dict[int, list[list[str]]] = {}
        failure: GntError | None = None
        for index in self.indices:
            disk = spec.disks[index]
            self.feedback(f"* replacing the storage of {bd.iv_name(index)} on node {node.name}")
            args = proc.BlockdevArgs(bd.one_for_node(self, inst, disk, node), inst.name)
            result = await self.rpc.drbd_replace_local(self.target(node), args)
            if result.failed:
                failure = OpExecError(
                    f"Can't replace the storage of {bd.iv_name(index)} of instance {inst.name} on node {node.name}:"
                    f" {result.error}"
                )
                break
            aside[index] = list(result.payload or [])
        if aside:
            await self._finish_local(node, spec.disks, aside)
        if failure is not None:
            raise failure

    async def _finish_local(self, node: Node, disks: list[DiskSpec], aside: dict[int, list[list[str]]]) -> None:
        """Wait for the replaced disks to resync, then remove their old LVs (kept if the sync fails)."""
        inst = self.instance
        if not self.op.early_release:
            self.feedback(f"* waiting for the new storage on {node.name} to resync")
            try:
                await wait_for_mirror_sync(self, inst, sorted(aside))
            except OpExecError as err:
                kept = ", ".join("/".join(lv) for lvs in aside.values() for lv in lvs) or "none"
                raise OpExecError(f"{err}; the old volumes on node {node.name} are kept ({kept})") from None
        old = [
            DiskSpec(uuid=disks[i].uuid, index=i, size=0, dev_type=constants.DT_PLAIN, logical_id=lv)
            for i, lvs in sorted(aside.items())
            for lv in lvs
        ]
        if old:
            self.feedback(f"* removing the old storage on node {node.name}")
            await pending.remove_disks(self, node, old, inst.name)
        if self.op.early_release:  # the old storage went first (Ganeti's --early-release); the sync is watched only
            try:
                await wait_for_mirror_sync(self, inst, sorted(aside))
            except OpExecError as err:
                self.warning(f"The new storage on {node.name} is not in sync yet: {err}")

    async def _change_secondary(self, new: Node) -> None:
        from gnt.instance.drbd import allocate_minors, logical, release_minors

        inst, pnode, old = self.instance, self.pnode, self.snode
        old_disks = bd.for_node(self, inst, build_spec(self.cfg, inst).disks, old)
        minors = allocate_minors(list(self.cfg.instances.values()), new.uuid, len(inst.disks))
        try:
            planned = copy.deepcopy(inst)
            planned.secondary_nodes = [new.uuid]
            for disk, minor in zip(planned.disks, minors, strict=True):
                link = logical(disk)
                disk.logical_id = [pnode.uuid, new.uuid, str(link.port), str(link.primary_minor), str(minor)]
            await self._move_secondary(planned, new)
            inst.secondary_nodes = list(planned.secondary_nodes)
            for disk, moved in zip(inst.disks, planned.disks, strict=True):
                disk.logical_id = list(moved.logical_id)
            await self.cfg.commit([inst])
        finally:
            release_minors(minors, new.uuid)
        self.feedback(f"* removing the old storage on node {old.name}")
        await pending.remove_disks(self, old, old_disks, inst.name)
        if self.op.early_release:
            try:
                await wait_for_mirror_sync(self, inst)
            except OpExecError as err:
                self.warning(f"The new secondary {new.name} is not in sync yet: {err}")

    async def _move_secondary(self, planned: Instance, new: Node) -> None:
        """Everything up to a synced new secondary; on any failure, back to the old one."""
        inst, pnode, old = self.instance, self.pnode, self.snode
        new_disks = build_spec(self.cfg, planned).disks
        old_disks = build_spec(self.cfg, inst).disks
        created: list[DiskSpec] = []
        relinked = False
        try:
            for disk in new_disks:
                self.feedback(f"* creating {bd.iv_name(disk.index)} on the new secondary {new.name}")
                node_disk = bd.one_for_node(self, planned, disk, new)
                result = await self.rpc.blockdev_create(self.target(new), proc.BlockdevArgs(node_disk, inst.name))
                created.append(node_disk)
                if result.failed:
                    raise OpExecError(f"Can't create {bd.iv_name(disk.index)} on node {new.name}: {result.error}")
            if not old.offline:
                self.feedback(f"* shutting down the old secondary's side on {old.name} (its volumes are kept)")
                for disk in bd.for_node(self, inst, old_disks, old):
                    result = await self.rpc.blockdev_shutdown(self.target(old), proc.BlockdevArgs(disk, inst.name))
                    if result.failed:
                        self.warning(f"Could not shut down {bd.iv_name(disk.index)} on {old.name}: {result.error}")
            self.feedback(f"* linking the primary {pnode.name} to the new secondary {new.name}")
            relinked = True
            args = proc.BlockdevInfoArgs(bd.for_node(self, planned, new_disks, pnode))
            result = await self.rpc.drbd_relink(self.target(pnode), args)
            result.get(f"Could not link the disks of instance {inst.name} on {pnode.name} to {new.name}")
            if not self.op.early_release:
                self.feedback(f"* waiting for the new secondary {new.name} to sync")
                await wait_for_mirror_sync(self, planned)
        except GntError:
            await self._back_to_old(planned, new, created, relinked)
            raise

    async def _back_to_old(self, planned: Instance, new: Node, created: list[DiskSpec], relinked: bool) -> None:
        """The old secondary kept: primary linked back to it, it brought up again, the new side removed."""
        inst, pnode, old = self.instance, self.pnode, self.snode
        old_disks = build_spec(self.cfg, inst).disks
        self.warning(f"Replacing the secondary failed; going back to {old.name}")
        if relinked:
            args = proc.BlockdevInfoArgs(bd.for_node(self, inst, old_disks, pnode))
            result = await self.rpc.drbd_relink(self.target(pnode), args)
            if result.failed:
                self.warning(f"Could not link {pnode.name} back to {old.name}: {result.error}")
        if not old.offline:
            for disk in bd.for_node(self, inst, old_disks, old):
                result = await self.rpc.blockdev_assemble(self.target(old), proc.BlockdevArgs(disk, inst.name))
                if result.failed:
                    self.warning(f"Could not bring {bd.iv_name(disk.index)} up again on {old.name}: {result.error}")
        if created:
            await pending.remove_disks(self, new, list(reversed(created)), inst.name)
