"""LUs of `gnt-cluster activate-master-ip` / `deactivate-master-ip`: ask the master's node daemon.

The node daemon reads the address and interface from its own ssconf (agent.master_ip), so these LUs
send no arguments; they only refuse early, with a clear message, when the cluster has no master IP.
"""

from __future__ import annotations

from gnt.cluster.master_ip_ops import OpClusterActivateMasterIp, OpClusterDeactivateMasterIp
from gnt.errors import ECODE_STATE, OpExecError, OpPrereqError
from gnt.jobs.locking import Level, LockRequest
from gnt.jobs.lu import LogicalUnit, register
from gnt.rpc import procedures as proc


class _MasterIpLU(LogicalUnit):
    PROCEDURE: proc.Procedure[proc.NoArgs] = proc.MASTER_IP_ACTIVATE

    def declare_locks(self, level: Level) -> LockRequest | None:
        return None

    def check_prereq(self) -> None:
        if not self.cfg.cluster.master_ip:
            raise OpPrereqError(
                "This cluster has no master IP (it was initialised without --master-netdev)", ECODE_STATE
            )

    async def exec(self) -> str:
        master = self.cfg.master()
        result = await self.rpc.call(self.ctx.services.target(master), self.PROCEDURE, proc.NoArgs())
        if result.failed:
            raise OpExecError(f"{self.PROCEDURE.name.replace('_', ' ')} on {master.name}: {result.error}")
        payload = result.payload if isinstance(result.payload, dict) else {}
        return str(payload.get("address", ""))


@register
class LUClusterActivateMasterIp(_MasterIpLU):
    OPCODE = OpClusterActivateMasterIp
    PROCEDURE = proc.MASTER_IP_ACTIVATE


@register
class LUClusterDeactivateMasterIp(_MasterIpLU):
    OPCODE = OpClusterDeactivateMasterIp
    PROCEDURE = proc.MASTER_IP_DEACTIVATE
