"""The disk operations on one instance: activate-disks, deactivate-disks, grow-disk, recreate-disks.

Each works for every disk template through the storage drivers (blockdev_* procedures, see
`gnt.instance.blockdevs`): nothing here names `file`, `plain` or `drbd`. What a template is
(local, shared, mirrored) comes from `gnt.disktypes`; what a hypervisor can do with a running
guest's disk (kvm: QMP `block_resize`) from its capabilities there.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from gnt import disktypes
from gnt.cluster import pending
from gnt.errors import (
    ECODE_EXISTS,
    ECODE_INVAL,
    ECODE_NORES,
    ECODE_STATE,
    GntError,
    OpExecError,
    OpPrereqError,
    ParameterError,
)
from gnt.instance import blockdevs as bd
from gnt.instance import wipe
from gnt.instance.common import build_spec, check_node_online, check_node_usable, filled_beparams, spec_of
from gnt.instance.lifecycle import InstanceLU
from gnt.jobs.locking import ALL, Level, LockRequest
from gnt.jobs.lu import register
from gnt.objects import Node
from gnt.opcodes import (
    OpInstanceActivateDisks,
    OpInstanceDeactivateDisks,
    OpInstanceGrowDisk,
    OpInstanceRecreateDisks,
)
from gnt.rpc import procedures as proc
from gnt.runtime import DiskSpec
from gnt.units import format_size, parse_size


@register
class LUInstanceActivateDisks(InstanceLU):
    """Bring the disks up on their nodes (for maintenance, or after a node reboot); returns
    [[node, "disk/N", device], ...] for the primary node, as Ganeti."""

    OPCODE = OpInstanceActivateDisks
    op: OpInstanceActivateDisks
    #: cancellable while it waits for sync (the disks are up and recorded by then)
    CANCELLABLE = True

    async def check_prereq(self) -> None:
        super().check_prereq()
        check_node_online(self.pnode, "primary node")
        bd.check_has_disks(self.instance)
        self.running = await bd.is_running(self, self.instance)

    async def exec(self) -> list[list[str]]:
        inst = self.instance
        undo = not (self.running or inst.disks_active)
        found = await bd.assemble_or_undo(self, inst, undo, ignore_size=self.op.ignore_size)
        if not inst.disks_active:
            inst.disks_active = True
            await self.cfg.commit([inst])
        if self.op.wait_for_sync:
            try:
                await bd.wait_for_sync(self, inst)
            except OpExecError:
                if undo:  # brought up by this job only to be found degraded: left as they were
                    for problem in await bd.shutdown(self, inst):
                        self.warning(problem)
                    inst.disks_active = False
                    await self.cfg.commit([inst])
                raise
        return [[a.node, a.iv_name, a.path] for a in found]


@register
class LUInstanceDeactivateDisks(InstanceLU):
    """Shut the disks down on their nodes; refused while the instance runs unless forced (Ganeti's
    safe shutdown: a guest would lose its disks)."""

    OPCODE = OpInstanceDeactivateDisks
    op: OpInstanceDeactivateDisks

    async def check_prereq(self) -> None:
        super().check_prereq()
        bd.check_has_disks(self.instance)
        if not self.op.force:
            await bd.check_not_running(self, self.instance, "cannot shutdown disks")

    async def exec(self) -> None:
        inst = self.instance
        problems = await bd.shutdown(self, inst)
        if inst.disks_active:
            inst.disks_active = False
            await self.cfg.commit([inst])
        for problem in problems:
            if not self.op.force:
                raise OpExecError(problem)
            self.warning(problem)


@register
class LUInstanceGrowDisk(InstanceLU):
    """Grow one disk on every node holding it; the config's size changes only once all grew.

    Before anything changes, every node is asked whether the grow fits (blockdev_grow_check), so
    a full volume group or file system is a prerequisite error and nothing is touched. A running
    guest is told of the new size when its hypervisor can (kvm: QMP block_resize); otherwise the
    instance has to be stopped first.
    """

    OPCODE = OpInstanceGrowDisk
    op: OpInstanceGrowDisk
    #: cancellable only while it waits for sync (the grow is done and recorded by then)
    CANCELLABLE = True

    def declare_locks(self, level: Level) -> LockRequest | None:
        if level == Level.NODE_RES:
            nodes = super().declare_locks(Level.NODE)
            return LockRequest(nodes.names) if nodes else None
        return super().declare_locks(level)

    async def check_prereq(self) -> None:
        super().check_prereq()
        inst = self.instance
        bd.check_has_disks(inst)
        self.index = bd.check_disk_index(inst, self.op.disk)
        disk = inst.disks[self.index]
        if disktypes.kind(disk.dev_type).locality is disktypes.Locality.NONE:
            raise OpPrereqError(f"Instance '{inst.name}' has no disks", ECODE_INVAL)
        if self.op.absolute:
            self.target, self.delta = self.op.amount, self.op.amount - disk.size
            if self.delta < 0:
                raise OpPrereqError(
                    f"Requested size ({format_size(self.target)}) is smaller than current disk size"
                    f" ({format_size(disk.size)})",
                    ECODE_STATE,
                )
        else:
            self.target, self.delta = disk.size + self.op.amount, self.op.amount
        self.nodes = bd.disk_nodes(self, inst, disk.dev_type)
        for node in self.nodes:
            check_node_online(node)
        self.running = await bd.is_running(self, inst)
        if self.running and not disktypes.hypervisor(inst.hypervisor).resizes_disks_online:
            raise OpPrereqError(
                f"Instance {inst.name} is running and hypervisor {inst.hypervisor} cannot grow a disk of a running"
                f" guest; shut the instance down first (gnt-instance shutdown {inst.name})",
                ECODE_STATE,
            )
        spec = bd.disk_spec(self, inst, self.index)
        for node in self.nodes:
            args = proc.BlockdevGrowArgs(bd.one_for_node(self, inst, spec, node), self.delta)
            result = await self.rpc.blockdev_grow_check(self.target_of(node), args)
            if result.failed:
                raise OpPrereqError(
                    f"Cannot grow disk {self.index} of instance {inst.name} by {format_size(self.delta)} on node"
                    f" {node.name}: {result.error.message if result.error else 'unknown error'}",
                    ECODE_NORES,
                )

    def target_of(self, node: Node) -> Any:
        return self.ctx.services.target(node)

    async def exec(self) -> None:
        inst, index = self.instance, self.index
        if self.delta == 0:
            self.info(f"Disk {index} of instance {inst.name} is already {format_size(self.target)}; nothing to grow")
            return
        self.feedback(
            f"Growing disk {index} of instance '{inst.name}' by {format_size(self.delta)} to {format_size(self.target)}"
        )
        # a mirrored device grows (and resyncs) only while it is up; a stopped instance's disks go
        # down again afterwards, as Ganeti does
        assembled_here = not (self.running or inst.disks_active)
        if assembled_here:
            await bd.assemble_or_undo(self, inst, True, [index])
        try:
            spec = bd.disk_spec(self, inst, index)
            await self._grow(spec)
            await self._wipe_new_space(spec)
            inst.disks[index].size = self.target
            await self.cfg.commit([inst])
            if self.running:
                await self._tell_hypervisor()
            if self.op.wait_for_sync:
                await self._wait_for_sync()
        finally:
            if assembled_here:
                for problem in await bd.shutdown(self, inst, [index]):
                    self.warning(problem)

    async def _wait_for_sync(self) -> None:
        """The grow is done and recorded: a sync that does not finish is a warning, not a failure."""
        try:
            await bd.wait_for_sync(self, self.instance, [self.index])
        except OpExecError as err:
            self.warning(f"Disk syncing has not returned a good status; check the instance ({err})")

    async def _grow(self, spec: DiskSpec) -> None:
        for done, node in enumerate(self.nodes):
            args = proc.BlockdevGrowArgs(bd.one_for_node(self, self.instance, spec, node), self.delta)
            result = await self.rpc.blockdev_grow(self.target_of(node), args)
            if result.failed:
                grown = ", ".join(n.name for n in self.nodes[:done])
                extra = f" (already grown on {grown}; the recorded size is unchanged)" if grown else ""
                raise OpExecError(f"Grow request failed to node {node.name}: {result.error}{extra}")

    async def _wipe_new_space(self, spec: DiskSpec) -> None:
        """`--prealloc-wipe-disks`: zeros over the grown part only, before the size is recorded
        and the guest told, so a failed wipe leaves the guest seeing its old size."""
        if not wipe.enabled(self):
            return
        grown = dataclasses.replace(bd.one_for_node(self, self.instance, spec, self.pnode), size=self.target)
        try:
            await wipe.wipe(self, self.pnode, self.instance.name, [(grown, spec.size)])
        except OpExecError as err:
            raise OpExecError(f"{err} (the disk grew, but its recorded size is unchanged)") from None

    async def _tell_hypervisor(self) -> None:
        inst = self.instance
        args = proc.InstanceDiskResizeArgs(spec_of(self, inst), self.index, self.target)
        result = await self.rpc.instance_disk_resize(self.target_of(self.pnode), args)
        if result.failed:
            self.warning(
                f"Disk {self.index} grew, but the running instance was not told: {result.error}; it sees the new"
                f" size after its next restart"
            )
        else:
            self.info(f"The running instance {inst.name} sees the new size of disk {self.index}")


async def start_secondaries(lu: Any, inst: Any, force: bool) -> bool:
    """Before a start: each mirrored disk's secondary sides brought up first (as Ganeti's start
    does), so the primary's side finds its peer. Returns whether every secondary side is up.

    A side that cannot be brought up (its node is down) fails the start, and what this call
    brought up is taken down again, unless `force`: Ganeti's startup --force ignores the
    secondaries and the instance runs degraded. An offline secondary is skipped (a warning).
    """
    spec = build_spec(lu.cfg, inst)
    secondaries = [lu.cfg.nodes[u] for u in inst.secondary_nodes if u in lu.cfg.nodes]
    mirrored = [d for d in spec.disks if disktypes.kind(d.dev_type).locality is disktypes.Locality.MIRRORED]
    all_up = True
    brought_up: list[tuple[Node, DiskSpec]] = []
    for disk in mirrored:
        for node in secondaries:
            if node.offline:
                lu.warning(f"Secondary node {node.name} is offline: {bd.iv_name(disk.index)} runs degraded")
                all_up = False
                continue
            node_disk = bd.one_for_node(lu, inst, disk, node)
            args = proc.BlockdevArgs(node_disk, inst.name)
            result = await lu.rpc.blockdev_assemble(lu.ctx.services.target(node), args)
            if not result.failed:
                brought_up.append((node, node_disk))
                continue
            what = f"{bd.iv_name(disk.index)} on secondary node {node.name} ({result.error})"
            if not force:
                if not inst.disks_active:
                    for up_node, up_disk in brought_up:
                        args = proc.BlockdevArgs(up_disk, inst.name)
                        await lu.rpc.blockdev_shutdown(lu.ctx.services.target(up_node), args)
                raise OpExecError(
                    f"Disk consistency error: cannot activate {what}; if that node is down, start the instance"
                    f" degraded with `gnt-instance startup --force {inst.name}`"
                )
            lu.warning(f"Cannot activate {what}; starting degraded as asked (--force)")
            all_up = False
    return all_up


def recreate_requests(disks: list[Any]) -> dict[int, dict[str, Any]]:
    """OP_INSTANCE_RECREATE_DISKS' `disks` ([N, ...] or [[N, {size, mode}], ...]) as index -> changes."""
    result: dict[int, dict[str, Any]] = {}
    for item in disks:
        if isinstance(item, int) and not isinstance(item, bool):
            index, params = item, {}
        elif isinstance(item, list) and len(item) == 2 and isinstance(item[0], int) and isinstance(item[1], dict):
            index, params = item[0], dict(item[1])
        else:
            raise OpPrereqError(f"Invalid disk specification {item!r}: expected N or [N, {{size: ...}}]", ECODE_INVAL)
        if isinstance(index, bool) or index < 0:
            raise OpPrereqError(f"Invalid disk index: '{index}'", ECODE_INVAL)
        if index in result:
            raise OpPrereqError(f"Some disks have been specified more than once: {index}", ECODE_INVAL)
        unknown = sorted(set(params) - {"size", "mode"})
        if unknown:
            raise OpPrereqError(
                f"Parameters for disk {index} try to change unmodifiable parameter(s): {', '.join(unknown)}",
                ECODE_INVAL,
            )
        if "size" in params:
            try:
                params["size"] = parse_size(params["size"], f"disk/{index} size")
            except ParameterError as err:
                raise OpPrereqError(err.message, ECODE_INVAL) from None
            if params["size"] <= 0:
                raise OpPrereqError(f"Disk {index}: size must be positive", ECODE_INVAL)
        if params.get("mode", "rw") not in ("rw", "ro"):
            raise OpPrereqError(f"Disk {index}: invalid access mode {params['mode']!r}", ECODE_INVAL)
        result[index] = params
    return result


@register
class LUInstanceRecreateDisks(InstanceLU):
    """Create an instance's missing disks again (empty), on its nodes or on new ones (`-n`).

    As in Ganeti this is for disks that are gone (a dead node, a lost volume): a disk that still
    exists on its node is refused, so no data is overwritten. Disks created before a failure are
    removed again, and the config changes only once all were made.
    """

    OPCODE = OpInstanceRecreateDisks
    op: OpInstanceRecreateDisks
    NODE_LOCKS_SHARED = False

    @classmethod
    def check_opcode(cls, op: Any) -> None:
        recreate_requests(op.disks)  # a malformed disk list never becomes a job

    def check_arguments(self) -> None:
        self.requests = recreate_requests(self.op.disks)
        if self.op.iallocator and self.op.nodes:
            raise OpPrereqError("Give either new nodes (-n) or an allocator (-I), not both", ECODE_INVAL)
        if len(set(self.op.nodes)) != len(self.op.nodes):
            raise OpPrereqError(f"Node given twice in {', '.join(self.op.nodes)}", ECODE_INVAL)

    def declare_locks(self, level: Level) -> LockRequest | None:
        if level in (Level.NODE, Level.NODE_RES):
            if self.op.iallocator:
                return LockRequest(ALL)  # the allocator may pick any node
            current = super().declare_locks(Level.NODE)
            names = sorted(set(current.names if current else []) | set(self.op.nodes))
            return LockRequest(names)
        return super().declare_locks(level)

    async def check_prereq(self) -> None:
        super().check_prereq()
        inst = self.instance
        bd.check_has_disks(inst)
        current = [inst.primary_node, *inst.secondary_nodes]
        if self.op.iallocator:
            self.new_nodes = await self._allocate()
        elif self.op.nodes:
            if len(self.op.nodes) != len(current):
                raise OpPrereqError(
                    f"Instance {inst.name} currently has {len(current)} nodes, but new node list has"
                    f" {len(self.op.nodes)} nodes",
                    ECODE_INVAL,
                )
            self.new_nodes = [self.cfg.node(n) for n in self.op.nodes]
            for node in self.new_nodes:
                check_node_usable(node)
        else:
            self.new_nodes = [self.cfg.nodes[u] for u in current]
            for node in self.new_nodes:
                if node.offline:
                    raise OpPrereqError(
                        f"Node {node.name} of instance {inst.name} is offline; recreate the disks elsewhere with"
                        f" -n NODE",
                        ECODE_STATE,
                    )
        for index in self.requests:
            bd.check_disk_index(inst, index)
        self.indices = sorted(self.requests) or list(range(len(inst.disks)))
        moving = [n.uuid for n in self.new_nodes] != current
        if moving and self.indices != list(range(len(inst.disks))):
            raise OpPrereqError("Can't recreate disks partially and change the nodes at the same time", ECODE_INVAL)
        if moving and any(disktypes.kind(d.dev_type).locality is disktypes.Locality.MIRRORED for d in inst.disks):
            raise OpPrereqError(
                f"Recreating the mirrored disks of {inst.name} on new nodes needs new mirror addresses; use"
                f" gnt-instance replace-disks",
                ECODE_INVAL,
            )
        if moving:
            from gnt.network.nics import require_connected

            require_connected(self.cfg, inst, self.new_nodes[0])
        await bd.check_not_running(self, inst, "cannot recreate disks")
        self.planned = self._planned()
        await self._check_missing()

    async def _allocate(self) -> list[Node]:
        """New nodes from the allocator, for the instance as it will be (all its disks recreated)."""
        from gnt.instance.placement import allocator_name, nodes_for_new_instance

        inst = self.instance
        if self.requests and sorted(self.requests) != list(range(len(inst.disks))):
            raise OpPrereqError("Can't recreate disks partially and change the nodes at the same time", ECODE_INVAL)
        be = filled_beparams(self.cfg.cluster, inst)
        sizes = [self.requests.get(i, {}).get("size", d.size) for i, d in enumerate(inst.disks)]
        # its NICs' networks and its tags, as at create: a NIC on a network may only land in a group the
        # network is connected to, and exclusion/location tags weigh in the placement
        nics = [{"network": nic.network, "ip": nic.ip} for nic in inst.nics]
        nodes = await nodes_for_new_instance(
            self,
            inst.name,
            self.op.iallocator,
            inst.disk_template,
            int(be["maxmem"]),
            int(be["vcpus"]),
            sizes,
            list(inst.tags),
            nics,
        )
        label = allocator_name(self.op.iallocator, self.cfg.cluster.default_iallocator)
        chosen = ", ".join(n.name for n in nodes)
        self.info(f"Selected new nodes for the disks of {inst.name} via iallocator {label}: {chosen}")
        for node in nodes:
            check_node_usable(node)
        if len(nodes) != 1 + len(inst.secondary_nodes):
            raise OpPrereqError(f"The iallocator chose {len(nodes)} nodes for instance {inst.name}", ECODE_INVAL)
        return nodes

    def _planned(self) -> Any:
        """The instance as it will be: new nodes, changed sizes and modes (a copy; config untouched)."""
        from copy import deepcopy

        new = deepcopy(self.instance)
        new.primary_node = self.new_nodes[0].uuid
        new.secondary_nodes = [n.uuid for n in self.new_nodes[1:]]
        for index, params in self.requests.items():
            new.disks[index].size = params.get("size", new.disks[index].size)
            new.disks[index].mode = params.get("mode", new.disks[index].mode)
        return new

    async def _check_missing(self) -> None:
        """Refuse disks that still exist where they would be created (no data is overwritten)."""
        spec = build_spec(self.cfg, self.planned)
        for index in self.indices:
            disk = spec.disks[index]
            for node in bd.disk_nodes(self, self.planned, disk.dev_type):
                info = (await bd.device_infos(self, self.planned, node, [disk]))[0]
                if info.get("exists"):
                    raise OpPrereqError(
                        f"Disk {index} of instance {self.instance.name} still exists on node {node.name}"
                        f" ({info.get('path') or 'no path'}); recreate-disks only creates missing disks",
                        ECODE_EXISTS,
                    )

    async def exec(self) -> None:
        new = self.planned
        spec = build_spec(self.cfg, new)
        created: list[tuple[Node, DiskSpec]] = []
        try:
            for index in self.indices:
                disk = spec.disks[index]
                for node in bd.disk_nodes(self, new, disk.dev_type):
                    self.feedback(f"* creating disk {index} ({format_size(disk.size)}) on node {node.name}")
                    target, node_disk = self.ctx.services.target(node), bd.one_for_node(self, new, disk, node)
                    result = await self.rpc.blockdev_create(target, proc.BlockdevArgs(node_disk, new.name))
                    created.append((node, node_disk))
                    if result.failed:
                        where = f"disk {index} of instance {new.name} on node {node.name}"
                        raise OpExecError(f"Can't create {where}: {result.error}")
            if wipe.enabled(self):  # --prealloc-wipe-disks, as Ganeti: the recreated disks zeroed, else removed
                pnode = self.cfg.nodes[new.primary_node]
                specs = [(bd.one_for_node(self, new, spec.disks[i], pnode), 0) for i in self.indices]
                await wipe.wipe(self, pnode, new.name, specs)
        except GntError:
            for node, disk in reversed(created):
                await pending.remove_disks(self, node, [disk], new.name)
            raise
        inst = self.instance
        if new.primary_node != inst.primary_node:
            from gnt.network.nics import regroup

            regroup(self.cfg, inst, self.cfg.nodes[new.primary_node])  # NICs on networks: the new group's link
        inst.primary_node, inst.secondary_nodes = new.primary_node, list(new.secondary_nodes)
        for index in self.indices:
            inst.disks[index].size, inst.disks[index].mode = new.disks[index].size, new.disks[index].mode
        inst.disks_active = False
        await self.cfg.commit([inst])
