"""LUNodePowercycle (OP_NODE_POWERCYCLE): ask a node daemon to hard-reboot its host.

The node answers first and reboots a few seconds later (`agent.powercycle`), so the job ends with
the node's message ("Reboot scheduled in 5 seconds"). It takes no locks, as in Ganeti: it is the
admin's last resort on a node that misbehaves. The master only with `force`.
"""

from __future__ import annotations

from gnt.errors import ECODE_INVAL, OpExecError, OpPrereqError
from gnt.jobs.lu import LogicalUnit, register
from gnt.oob.opcodes import OpNodePowercycle
from gnt.rpc import procedures as proc


@register
class LUNodePowercycle(LogicalUnit):
    OPCODE = OpNodePowercycle
    op: OpNodePowercycle

    def check_prereq(self) -> None:
        self.node = self.cfg.node(self.op.node_name)
        if self.node.uuid == self.cfg.cluster.master_node and not self.op.force:
            raise OpPrereqError("The node is the master and the force parameter was not set", ECODE_INVAL)

    async def exec(self) -> str:
        hypervisor = self.cfg.cluster.default_hypervisor
        result = await self.rpc.call(
            self.ctx.services.target(self.node), proc.NODE_POWERCYCLE, proc.NodePowercycleArgs(hypervisor)
        )
        if result.failed:
            raise OpExecError(f"Failed to schedule the reboot: {result.error}")
        return str(result.payload)
