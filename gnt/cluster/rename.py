"""OP_CLUSTER_RENAME (`gnt-cluster rename NAME`): a new cluster name, and with it a new master IP.

With a master IP the new name must resolve, and the address it resolves to becomes the master IP
(Ganeti's rule: the cluster name is the master IP's name); without one only the name changes.
Every node gets the name through ssconf; the RAPI and the CLI keep working (neither depends on it).
"""

from __future__ import annotations

from typing import Any

from gnt.cluster import master_ip_change
from gnt.cluster.master_ip_ops import OpClusterRename
from gnt.errors import ECODE_INVAL, OpPrereqError
from gnt.jobs.locking import ALL, Level, LockRequest
from gnt.jobs.lu import LogicalUnit, register


@register
class LUClusterRename(LogicalUnit):
    OPCODE = OpClusterRename
    op: OpClusterRename
    BGL_EXCLUSIVE = True
    HPATH = "cluster-rename"
    HTYPE = "CLUSTER"

    def hooks_env(self) -> dict[str, Any]:
        return {"OP_TARGET": self.cfg.cluster.cluster_name, "NEW_NAME": self.op.name}

    def declare_locks(self, level: Level) -> LockRequest | None:
        return LockRequest(ALL, shared=True) if level == Level.NODE else None

    def check_prereq(self) -> None:
        cluster = self.cfg.cluster
        self.new_ip = master_ip_change.resolve_cluster_ip(self.cfg, self.op.name) if cluster.master_ip else ""
        if self.op.name == cluster.cluster_name and self.new_ip == cluster.master_ip:
            raise OpPrereqError("Neither the name nor the IP address of the cluster has changed", ECODE_INVAL)

    async def exec(self) -> str:
        cluster = self.cfg.cluster
        moved = self.new_ip != cluster.master_ip
        if moved:
            await master_ip_change.take_down(self)
        cluster.cluster_name = self.op.name
        cluster.master_ip = self.new_ip
        await self.cfg.commit([cluster])
        for name, result in sorted((await self.ctx.services.push_ssconf()).items()):
            if result.failed:
                self.feedback(f"  - WARNING: could not write ssconf on {name}: {result.error}")
        if moved:
            await master_ip_change.bring_up(self)
        return self.op.name
