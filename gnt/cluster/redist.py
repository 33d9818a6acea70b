"""OP_CLUSTER_REDIST_CONF (`PUT /2/redistribute-config`): copy the config and ssconf to the nodes again.

Every commit already reaches the master candidates, so this is the repair for a candidate that
missed changes (it was down, its disk was restored) or a node whose ssconf files were lost: each
online master candidate gets the whole config (one full resync), every online node the ssconf
files. A node that does not answer is a warning in the job log, not a failed job, as in Ganeti.
"""

from __future__ import annotations

from gnt.jobs.lu import LogicalUnit, register
from gnt.opcodes import OpClusterRedistConf

__all__ = ["LUClusterRedistConf"]


@register
class LUClusterRedistConf(LogicalUnit):
    OPCODE = OpClusterRedistConf
    op: OpClusterRedistConf

    async def exec(self) -> None:
        cfg, services = self.cfg, self.ctx.services
        master = cfg.cluster.master_node
        for node in sorted(cfg.master_candidates(), key=lambda n: n.name):
            if node.uuid == master or node.offline:
                continue
            result = await services.full_resync(node)
            if result.failed:
                self.warning(f"Could not copy the config to node {node.name}: {result.error}")
        for name, result in sorted((await services.push_ssconf()).items()):
            if result.failed:
                self.warning(f"Could not write the ssconf files on node {name}: {result.error}")
