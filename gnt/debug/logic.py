"""OP_TEST_DELAY: the no-op job, used to measure the queue and to test locking and timeouts."""

from __future__ import annotations

import asyncio

from gnt.errors import ECODE_INVAL, OpExecError, OpPrereqError
from gnt.jobs.locking import Level, LockRequest
from gnt.jobs.lu import LogicalUnit, register
from gnt.opcodes import OpTestDelay
from gnt.rpc import procedures as proc


@register
class LUTestDelay(LogicalUnit):
    OPCODE = OpTestDelay
    op: OpTestDelay

    def check_arguments(self) -> None:
        if self.op.duration < 0:
            raise OpPrereqError(f"Duration must be >= 0, not {self.op.duration}", ECODE_INVAL)

    def declare_locks(self) -> dict[Level, LockRequest]:
        if self.op.no_locks or not self.op.on_nodes:
            return {}
        return {Level.NODE: LockRequest(list(self.op.on_nodes), shared=False)}

    def check_prereq(self) -> None:
        self.nodes = [self.cfg.node(name) for name in self.op.on_nodes]

    async def exec(self) -> None:
        for _ in range(self.op.repeat + 1):
            if self.op.on_master and self.op.duration:
                await asyncio.sleep(self.op.duration)
            if self.nodes:
                targets = self.ctx.services.targets(self.nodes)
                results = await self.rpc.call_many(targets, proc.TEST_DELAY, proc.TestDelayArgs(self.op.duration))
                for name, result in results.items():
                    if result.failed:
                        raise OpExecError(f"Delay on node {name} failed: {result.error}")
