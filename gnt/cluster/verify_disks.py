"""OP_CLUSTER_VERIFY_DISKS: finish the disk cleanups that rollbacks could not do (gnt.cluster.pending),
then check the plain volumes of every instance and activate again what should be up
(gnt.cluster.verify_lvm), and the drbd disks' sides: re-activate or reconnect the missing, faulty and
unconnected ones (gnt.cluster.verify_drbd).

Ganeti's watcher runs verify-disks on every pass to re-activate disks; here it is also where a
failed create's leftover disks go once their node answers again.
"""

from __future__ import annotations

from typing import Any

from gnt.cluster import pending, verify_drbd, verify_lvm
from gnt.jobs.locking import ALL, Level, LockRequest
from gnt.jobs.lu import LogicalUnit, register
from gnt.opcodes import OpClusterVerifyDisks


@register
class LUClusterVerifyDisks(LogicalUnit):
    OPCODE = OpClusterVerifyDisks
    op: OpClusterVerifyDisks

    def declare_locks(self, level: Level) -> LockRequest | None:
        # shared: instances cannot be added or removed underneath, and no node leaves meanwhile
        return LockRequest(ALL, shared=True) if level in (Level.INSTANCE, Level.NODE) else None

    def check_prereq(self) -> None:
        # -g: only the instances with a node in that group (an unknown group is refused here)
        self.group_uuid = self.cfg.group(self.op.group_name).uuid if self.op.group_name else None

    async def exec(self) -> dict[str, Any]:
        done = await pending.retry(self)
        for what in done["removed"]:
            self.feedback(f"Removed leftover {what}")
        for what in done["dropped"]:
            self.feedback(f"Dropped cleanup of {what}: its disk is in use again or its node is gone")
        for what in done["pending"]:
            self.warning(f"Still cannot remove leftover {what}")
        lvm = await verify_lvm.check(self, self.group_uuid)
        drbd = await verify_drbd.check(self, self.group_uuid)
        return {**done, **lvm.as_dict(), **drbd.as_dict()}
