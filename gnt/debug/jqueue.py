"""LUTestJqueue (OP_TEST_JQUEUE): an opcode that exercises the job queue's log, results and failure.

It sends each of its `log_messages` as job feedback (prefixed "TESTMSG=", Ganeti's marker) and
then succeeds (result True) or, with `fail`, raises OpExecError("Opcode failure was requested"):
`gnt-debug test-jobqueue` checks that the queue carries all of it back unchanged and in order.
"""

from __future__ import annotations

from gnt.debug.opcodes import OpTestJqueue
from gnt.errors import OpExecError
from gnt.jobs.lu import LogicalUnit, register

#: Ganeti's prefix of the test messages in the job log
MSG_PREFIX = "TESTMSG="


@register
class LUTestJqueue(LogicalUnit):
    OPCODE = OpTestJqueue
    op: OpTestJqueue

    async def exec(self) -> bool:
        self.info("Executing")
        for idx, message in enumerate(self.op.log_messages):
            self.info(f"Sending log message {idx + 1}")
            self.feedback(MSG_PREFIX + message)
        if self.op.fail:
            raise OpExecError("Opcode failure was requested")
        return True
