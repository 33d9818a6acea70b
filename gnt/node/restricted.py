"""LURestrictedCommand (OP_RESTRICTED_COMMAND): run a node-side restricted command on nodes.

The master sends only the command's name; each node decides on its own whether it may run
(`agent.restricted`). The result is Ganeti's: per node, in the order given, `[success, output or
error message]`.
"""

from __future__ import annotations

from typing import Any

from gnt.jobs.locking import Level, LockRequest
from gnt.jobs.lu import LogicalUnit, register
from gnt.node.restricted_opcodes import OpRestrictedCommand
from gnt.rpc import procedures as proc


@register
class LURestrictedCommand(LogicalUnit):
    OPCODE = OpRestrictedCommand
    op: OpRestrictedCommand

    def declare_locks(self, level: Level) -> LockRequest | None:
        if level == Level.NODE and self.op.use_locking:
            return LockRequest(list(self.op.nodes), shared=True)
        return None

    def check_prereq(self) -> None:
        self.nodes = [self.cfg.node(name) for name in self.op.nodes]

    async def exec(self) -> list[list[Any]]:
        services = self.ctx.services
        targets = services.targets(self.nodes)
        results = await self.rpc.call_many(
            targets, proc.RESTRICTED_COMMAND, proc.RestrictedCommandArgs(self.op.command)
        )
        answer: list[list[Any]] = []
        for node in self.nodes:
            result = results[node.name]
            if result.failed:
                answer.append([False, f"Command '{self.op.command}' on node '{node.name}' failed: {result.error}"])
            else:
                answer.append([True, result.payload])
        return answer
