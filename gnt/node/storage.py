"""`gnt-node volumes` and `gnt-node list-storage`: what each node's LVM holds, asked live.

Both ask every (chosen) online node once, in parallel, and shape the answers as rows of the
requested fields, as Ganeti's OpNodeQueryvols and OpNodeQueryStorage do. A node that does not
answer is a job error naming it: a listing that silently left a node out would look complete.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gnt.errors import ECODE_INVAL, OpExecError, OpPrereqError
from gnt.instance.common import check_node_online
from gnt.jobs.locking import ALL, Level, LockRequest
from gnt.jobs.lu import LogicalUnit, register
from gnt.objects import Node
from gnt.opcodes import OpNodeModifyStorage, OpNodeQueryStorage, OpNodeQueryvols, OpRepairNodeStorage
from gnt.rpc import procedures as proc

Row = dict[str, Any]
VOLUME_FIELDS = ("node", "phys", "vg", "name", "size", "instance")
STORAGE_FIELDS = ("node", "type", "name", "size", "used", "free", "allocatable")
STORAGE_TYPES = ("lvm-vg", "lvm-pv")


def _check_fields(wanted: list[str], known: tuple[str, ...]) -> None:
    unknown = [f for f in wanted if f not in known]
    if unknown:
        raise OpPrereqError(
            f"Unknown output fields selected: {', '.join(unknown)} (known: {', '.join(known)})", ECODE_INVAL
        )


class _NodeQuery(LogicalUnit):
    """Shared: field checks, shared node locks, the nodes asked."""

    FIELDS: tuple[str, ...] = ()
    op: Any

    def check_arguments(self) -> None:
        _check_fields(self.op.output_fields, self.FIELDS)

    def declare_locks(self, level: Level) -> LockRequest | None:
        return LockRequest(self.op.nodes or ALL, shared=True) if level == Level.NODE else None

    def check_prereq(self) -> None:
        cfg = self.cfg
        chosen = [cfg.node(n) for n in self.op.nodes] if self.op.nodes else list(cfg.nodes.values())
        self.nodes = sorted((n for n in chosen if n.vm_capable and not n.offline), key=lambda n: n.name)

    async def ask(self, procedure: proc.Procedure[Any], args: Any) -> dict[str, Any]:
        results = await self.rpc.call_many(self.ctx.services.targets(self.nodes), procedure, args)
        failed = sorted(name for name, r in results.items() if r.failed)
        if failed:
            raise OpExecError(f"Can't get storage data from node(s) {', '.join(failed)}: {results[failed[0]].error}")
        return {name: r.payload for name, r in results.items()}

    def rows(self, found: list[Row]) -> list[list[Any]]:
        return [[row[f] for f in self.op.output_fields] for row in found]


@register
class LUNodeQueryvols(_NodeQuery):
    OPCODE = OpNodeQueryvols
    FIELDS = VOLUME_FIELDS

    async def exec(self) -> list[list[Any]]:
        owner = self._owners()
        answers = await self.ask(proc.LV_LIST, proc.VolumeGroupsArgs([self.cfg.cluster.volume_group_name]))
        found = []
        for node in self.nodes:
            for lv in sorted(answers[node.name], key=lambda v: (v["vg"], v["name"])):
                instance = owner(node, lv["vg"], lv["name"])
                found.append({"node": node.name, **lv, "instance": instance})
        return self.rows(found)

    def _owners(self) -> Callable[[Node, str, str], str]:
        """Which instance an LV belongs to ('-' for none), from the disks' logical_ids."""
        owners: dict[tuple[str, str, str], str] = {}
        for inst in self.cfg.instances.values():
            for disk in inst.disks:
                if disk.dev_type == "plain" and len(disk.logical_id) == 2:
                    owners[(inst.primary_node, *disk.logical_id)] = inst.name
                elif disk.dev_type == "drbd":  # its data and meta LVs, on both nodes
                    for node_uuid in (inst.primary_node, *inst.secondary_nodes):
                        for vg, lv in disk.params.get("children", []):
                            owners[(node_uuid, vg, lv)] = inst.name
        return lambda node, vg, lv: owners.get((node.uuid, vg, lv), "-")


@register
class LUNodeQueryStorage(_NodeQuery):
    OPCODE = OpNodeQueryStorage
    FIELDS = STORAGE_FIELDS

    def check_arguments(self) -> None:
        if self.op.storage_type not in STORAGE_TYPES:
            raise OpPrereqError(
                f"Unknown storage type '{self.op.storage_type}' (known: {', '.join(STORAGE_TYPES)})", ECODE_INVAL
            )
        super().check_arguments()

    async def exec(self) -> list[list[Any]]:
        if self.op.storage_type == "lvm-pv":
            return self.rows(await self._physical_volumes())
        vg = self.op.name or self.cfg.cluster.volume_group_name
        answers = await self.ask(proc.NODE_INFO, proc.NodeInfoArgs([], [], [vg]))
        found = []
        for node in self.nodes:
            for entry in answers[node.name].get("storage", []):
                if entry.get("type") != "lvm-vg":
                    continue
                if "free" not in entry:
                    raise OpExecError(f"Can't get storage data from node {node.name}: {entry.get('error')}")
                size, free = int(entry["total"]), int(entry["free"])
                found.append(
                    {
                        "node": node.name,
                        "type": "lvm-vg",
                        "name": entry["name"],
                        "size": size,
                        "used": size - free,
                        "free": free,
                        "allocatable": bool(entry.get("allowed")),
                    }
                )
        return self.rows(found)

    async def _physical_volumes(self) -> list[Row]:
        """The PVs of the cluster's VG on each node (`--name` picks one PV)."""
        answers = await self.ask(proc.PV_LIST, proc.VolumeGroupsArgs([self.cfg.cluster.volume_group_name]))
        found = []
        for node in self.nodes:
            for pv in sorted(answers[node.name], key=lambda p: p["name"]):
                if self.op.name and pv["name"] != self.op.name:
                    continue
                size, free = int(pv["size"]), int(pv["free"])
                found.append(
                    {
                        "node": node.name,
                        "type": "lvm-pv",
                        "name": pv["name"],
                        "size": size,
                        "used": size - free,
                        "free": free,
                        "allocatable": bool(pv["allocatable"]),
                    }
                )
        return found


class _OneNodeStorage(LogicalUnit):
    """A change to one storage unit on one node: the node's lock, exclusive."""

    TYPE = ""
    op: Any

    def check_arguments(self) -> None:
        if not self.op.name:
            raise OpPrereqError(f"No {self.TYPE} named: give the storage unit's name", ECODE_INVAL)
        if self.op.storage_type != self.TYPE:
            raise OpPrereqError(
                f"Storage type '{self.op.storage_type}' does not support this operation (only {self.TYPE})",
                ECODE_INVAL,
            )

    def declare_locks(self, level: Level) -> LockRequest | None:
        return LockRequest([self.op.node_name]) if level == Level.NODE else None

    def check_prereq(self) -> None:
        self.node = self.cfg.node(self.op.node_name)
        check_node_online(self.node)

    def check(self, result: Any, verb: str) -> None:
        if result.failed:
            raise OpExecError(
                f"Cannot {verb} {self.op.storage_type} {self.op.name} on node {self.node.name}: {result.error}"
            )


@register
class LUNodeModifyStorage(_OneNodeStorage):
    OPCODE = OpNodeModifyStorage
    TYPE = "lvm-pv"

    def check_arguments(self) -> None:
        super().check_arguments()
        changes = self.op.changes
        unknown = sorted(set(changes) - {"allocatable"})
        if unknown or not changes:
            raise OpPrereqError(
                f"Cannot change {', '.join(unknown) or 'nothing'} of an lvm-pv (allocatable can)", ECODE_INVAL
            )
        if not isinstance(changes["allocatable"], bool):
            raise OpPrereqError("allocatable must be true or false", ECODE_INVAL)

    async def exec(self) -> None:
        args = proc.StorageModifyArgs(self.op.storage_type, self.op.name, self.op.changes["allocatable"])
        self.check(await self.rpc.storage_modify(self.ctx.services.target(self.node), args), "modify")


@register
class LURepairNodeStorage(_OneNodeStorage):
    OPCODE = OpRepairNodeStorage
    TYPE = "lvm-vg"

    async def exec(self) -> None:
        args = proc.StorageRepairArgs(self.op.storage_type, self.op.name)
        self.check(await self.rpc.storage_repair(self.ctx.services.target(self.node), args), "repair")
