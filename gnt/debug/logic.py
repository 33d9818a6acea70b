"""OP_TEST_DELAY: the no-op job, used to measure the queue and to test locking and timeouts.

Its duration is checked at submission (finite, 0 to `MAX_DELAY`, repeats bounded): an endless
sleep would hold its locks, and its slot, for ever. It is always cancellable, as in Ganeti: a
cancel stops the sleep on the master and abandons the node calls (node sleeps are harmless).
"""

from __future__ import annotations

import asyncio
import math

from gnt.errors import ECODE_INVAL, OpExecError, OpPrereqError
from gnt.jobs.locking import Level, LockRequest
from gnt.jobs.lu import LogicalUnit, register
from gnt.opcodes import OpCode, OpTestDelay

#: the longest total sleep one OP_TEST_DELAY may ask for (a day); anything longer is a mistake
MAX_DELAY = 86400.0
#: repeats are bounded too: a zero-length sleep repeated for ever would never yield the event loop
MAX_REPEAT = 10000


@register
class LUTestDelay(LogicalUnit):
    OPCODE = OpTestDelay
    op: OpTestDelay
    CANCELLABLE = True

    @classmethod
    def check_opcode(cls, op: OpCode) -> None:
        assert isinstance(op, OpTestDelay)
        duration = op.duration
        if not math.isfinite(duration):
            raise OpPrereqError(f"Duration must be a finite number of seconds, not {duration}", ECODE_INVAL)
        if duration < 0:
            raise OpPrereqError(f"Duration must be >= 0, not {duration}", ECODE_INVAL)
        if not 0 <= op.repeat <= MAX_REPEAT:
            raise OpPrereqError(f"Repeat must be between 0 and {MAX_REPEAT}, not {op.repeat}", ECODE_INVAL)
        if duration * (op.repeat + 1) > MAX_DELAY:
            raise OpPrereqError(
                f"Delay of {duration}s x {op.repeat + 1} exceeds the maximum of {MAX_DELAY:.0f}s", ECODE_INVAL
            )

    def declare_locks(self, level: Level) -> LockRequest | None:
        if level != Level.NODE or self.op.no_locks or not self.op.on_nodes:
            return None
        return LockRequest(list(self.op.on_nodes), shared=False)

    def check_prereq(self) -> None:
        self.nodes = [self.cfg.node(name) for name in self.op.on_nodes]

    async def exec(self) -> None:
        for _ in range(self.op.repeat + 1):
            if self.op.on_master and self.op.duration:
                await self.interruptible(asyncio.sleep(self.op.duration))
            self.checkpoint()
            if self.nodes:
                targets = self.ctx.services.targets(self.nodes)
                results = await self.interruptible(
                    self.rpc.call_many(
                        targets, "test_delay", {"duration": self.op.duration}, timeout=self.op.duration + 10
                    )
                )
                for name, result in results.items():
                    if result.failed:
                        raise OpExecError(f"Delay on node {name} failed: {result.error}")
