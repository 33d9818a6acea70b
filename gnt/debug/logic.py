"""OP_TEST_DELAY: the no-op job, used to measure the queue and to test locking and timeouts; and
OP_TEST_OS_PARAMS (`gnt-debug test-osparams`), which checks secret OS parameters reach an LU.

Its duration is checked at submission (`gnt.debug.limits`): an endless sleep would hold its
locks, and its slot, for ever. It is always cancellable, as in Ganeti: a
cancel stops the sleep on the master and abandons the node calls (node sleeps are harmless).
"""

from __future__ import annotations

import asyncio

from gnt.debug.limits import delay_problem
from gnt.debug.opcodes import OpTestOsParams
from gnt.errors import ECODE_INVAL, OpExecError, OpPrereqError
from gnt.jobs.locking import Level, LockRequest
from gnt.jobs.lu import LogicalUnit, register
from gnt.opcodes import OpCode, OpTestDelay
from gnt.os.secrets import REDACTED
from gnt.rpc import procedures as proc


@register
class LUTestDelay(LogicalUnit):
    OPCODE = OpTestDelay
    op: OpTestDelay
    CANCELLABLE = True

    @classmethod
    def check_opcode(cls, op: OpCode) -> None:
        assert isinstance(op, OpTestDelay)
        problem = delay_problem(op.duration, op.repeat)
        if problem:
            raise OpPrereqError(problem, ECODE_INVAL)

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
                    self.rpc.call_many(targets, proc.TEST_DELAY, proc.TestDelayArgs(self.op.duration))
                )
                for name, result in results.items():
                    if result.failed:
                        raise OpExecError(f"Delay on node {name} failed: {result.error}")


@register
class LUTestOsParams(LogicalUnit):
    """Reports which secret OS parameters the LU received, and their lengths.

    Ganeti's LUTestOsParams prints the values; here the job log (persisted and replicated) never
    holds a secret, so the report gives each name with its length: a value that arrived as
    `<redacted>` (lost on the way) is named as such, and the opcode fails."""

    OPCODE = OpTestOsParams
    op: OpTestOsParams

    async def exec(self) -> list[str]:
        secrets = self.op.osparams_secret or {}
        if not secrets:
            raise OpExecError("Opcode needs secret parameters")
        lost = sorted(name for name, value in secrets.items() if value == REDACTED)
        if lost:
            raise OpExecError(f"Secret OS parameters arrived redacted: {', '.join(lost)}")
        shown = ", ".join(f"{name} ({len(str(value))} characters)" for name, value in sorted(secrets.items()))
        self.feedback(f"Secret OS parameters: {shown}")
        return sorted(secrets)
