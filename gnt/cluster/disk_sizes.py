"""OP_CLUSTER_REPAIR_DISK_SIZES: the recorded disk sizes corrected from what the nodes report.

A size can drift from the config: LVM rounds an LV up to whole extents, an admin grows a volume by
hand, an old grow failed half-way. Each instance's primary node is asked once for all the disks it
holds (blockdev_info, in parallel across nodes), and every size that differs is corrected in one
commit. The result is Ganeti's: [[instance, disk index, new size], ...].
"""

from __future__ import annotations

import asyncio
from typing import Any

from gnt.instance.blockdevs import for_node
from gnt.instance.common import build_spec
from gnt.jobs.locking import ALL, Level, LockRequest
from gnt.jobs.lu import LogicalUnit, register
from gnt.objects import Instance, Node
from gnt.opcodes import OpClusterRepairDiskSizes
from gnt.rpc import procedures as proc
from gnt.runtime import DiskSpec


@register
class LUClusterRepairDiskSizes(LogicalUnit):
    OPCODE = OpClusterRepairDiskSizes
    op: OpClusterRepairDiskSizes

    def declare_locks(self, level: Level) -> LockRequest | None:
        if level == Level.INSTANCE:
            return LockRequest(sorted(set(self.op.instances)) or ALL)
        if level == Level.NODE:
            return LockRequest(ALL, shared=True)
        return None

    def check_prereq(self) -> None:
        names = self.op.instances
        found = [self.cfg.instance(n) for n in names] if names else list(self.cfg.instances.values())
        self.wanted: list[Instance] = sorted({i.uuid: i for i in found}.values(), key=lambda i: i.name)

    async def exec(self) -> list[list[Any]]:
        by_node: dict[str, list[tuple[Instance, DiskSpec]]] = {}
        for inst in self.wanted:
            node = self.cfg.nodes[inst.primary_node]
            disks = [d for d in build_spec(self.cfg, inst).disks if d.dev_type != "diskless"]
            disks = for_node(self, inst, disks, node)  # a mirrored disk as its primary sees it
            if disks and node.offline:
                self.warning(f"Primary node {node.name} of instance {inst.name} is offline; its disks are not checked")
                continue
            by_node.setdefault(node.uuid, []).extend((inst, d) for d in disks)
        nodes = [self.cfg.nodes[u] for u in by_node]
        answers = await asyncio.gather(*(self._sizes(n, [d for _, d in by_node[n.uuid]]) for n in nodes))
        changed: dict[str, Instance] = {}
        result: list[list[Any]] = []
        for node, infos in zip(nodes, answers, strict=True):
            if infos is None:
                continue
            for (inst, disk), info in zip(by_node[node.uuid], infos, strict=True):
                size = info.get("size") if isinstance(info, dict) else None
                if not info.get("exists") or not isinstance(size, int) or isinstance(size, bool):
                    self.warning(f"Disk {disk.index} of instance {inst.name} not found on node {node.name}")
                    continue
                recorded = inst.disks[disk.index].size
                if size != recorded:
                    self.info(
                        f"Disk {disk.index} of instance {inst.name} has mismatched size, correcting: recorded"
                        f" {recorded}, actual {size}"
                    )
                    inst.disks[disk.index].size = size
                    changed[inst.uuid] = inst
                    result.append([inst.name, disk.index, size])
        if changed:
            await self.cfg.commit(list(changed.values()))
        return result

    async def _sizes(self, node: Node, disks: list[DiskSpec]) -> list[dict[str, Any]] | None:
        result = await self.rpc.blockdev_info(self.ctx.services.target(node), proc.BlockdevInfoArgs(disks))
        infos = result.payload
        if result.failed or not isinstance(infos, list) or len(infos) != len(disks):
            self.warning(f"Failure in blockdev_info call to node {node.name}, ignoring: {result.error}")
            return None
        return infos
