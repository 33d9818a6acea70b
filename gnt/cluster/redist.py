"""OP_CLUSTER_REDIST_CONF (`gnt-cluster redist-conf`): send the config, the job queue and ssconf again.

Replication keeps candidates current on its own; this is the admin's lever after repairing a node
by hand (a restored disk, a replaced ssconf file): every online master candidate gets a full copy
of the config and the job queue, every online node its ssconf files. A node that cannot be
reached is reported as a warning, as Ganeti does, and gets its copy when it is next updated.
"""

from __future__ import annotations

import asyncio

from gnt.jobs.locking import ALL, Level, LockRequest
from gnt.jobs.lu import LogicalUnit, register
from gnt.opcodes import OpClusterRedistConf


@register
class LUClusterRedistConf(LogicalUnit):
    OPCODE = OpClusterRedistConf

    def declare_locks(self, level: Level) -> LockRequest | None:
        return LockRequest(ALL, shared=True) if level == Level.NODE else None

    async def exec(self) -> None:
        cfg, services = self.cfg, self.ctx.services
        master = cfg.cluster.master_node
        candidates = [n for n in cfg.master_candidates() if n.uuid != master and not n.offline]
        copies = await asyncio.gather(*(services.full_resync(n) for n in candidates))
        for node, result in zip(candidates, copies, strict=True):
            if result.failed:
                self.feedback(f"  - WARNING: could not copy the config to {node.name}: {result.error}")
        for name, result in sorted((await services.push_ssconf()).items()):
            if result.failed:
                self.feedback(f"  - WARNING: could not write ssconf on {name}: {result.error}")
