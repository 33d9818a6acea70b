"""The base of the logical units that copy an instance's disks to another node (move, export)."""

from __future__ import annotations

from typing import Any

from gnt.instance.lifecycle import InstanceLU
from gnt.jobs.locking import Level, LockRequest


class TargetNodeLU(InstanceLU):
    """An instance LU that also writes to `op.target_node`: its node locks, the target's included, are exclusive."""

    NODE_LOCKS_SHARED = False
    op: Any

    def declare_locks(self, level: Level) -> LockRequest | None:
        request = super().declare_locks(level)
        if level == Level.NODE and request is not None:
            return LockRequest(sorted({*request.names, self.op.target_node}), shared=False)
        return request
