"""LUOobCommand: run a node's out-of-band program on the master, as Ganeti's OP_OOB_COMMAND.

The result is Ganeti's: per node (sorted by name) ``[[RS_NORMAL, name], [status, payload]]``,
where a node without an `oob_program` is RS_UNAVAIL and a failed or malformed answer is RS_NODATA
(with a warning in the job log). The node's `powered` flag follows power-on/off and power-status.
"""

from __future__ import annotations

import asyncio
from typing import Any

from gnt.errors import ECODE_INVAL, ECODE_STATE, OpExecError, OpPrereqError
from gnt.jobs.locking import ALL, Level, LockRequest
from gnt.jobs.lu import LogicalUnit, register
from gnt.objects import Node
from gnt.oob import protocol
from gnt.oob.opcodes import OpOobCommand
from gnt.oob.protocol import oob_program


@register
class LUOobCommand(LogicalUnit):
    OPCODE = OpOobCommand
    op: OpOobCommand

    def declare_locks(self, level: Level) -> LockRequest | None:
        if level != Level.NODE:
            return None
        # reading power or health shares the nodes; changing power owns them
        shared = self.op.command in (protocol.POWER_STATUS, protocol.HEALTH)
        return LockRequest(list(self.op.node_names) if self.op.node_names else ALL, shared=shared)

    def check_prereq(self) -> None:
        op, cfg = self.op, self.cfg
        master = cfg.master()
        if op.node_names:
            nodes = [cfg.node(name) for name in dict.fromkeys(op.node_names)]
        else:
            nodes = [n for n in cfg.nodes.values() if not (op.command in protocol.SKIP_MASTER and n is master)]
        if op.command in protocol.SKIP_MASTER and master in nodes and not op.force_master:
            program = oob_program(cfg, master)
            if program:
                extra = f"run '{program} {op.command} {master.name}' if you want to operate on the master regardless"
            else:
                extra = "it does not support out-of-band operations"
            raise OpPrereqError(
                f"Operating on the master node {master.name} is not allowed for {op.command}; {extra}", ECODE_INVAL
            )
        for node in nodes:
            if op.command == protocol.POWER_OFF and not op.ignore_status and not node.offline:
                raise OpPrereqError(f"Cannot power off node {node.name} because it is not marked offline", ECODE_STATE)
        self.nodes = sorted(nodes, key=lambda n: n.name)

    async def exec(self) -> list[list[list[Any]]]:
        op = self.op
        result: list[list[list[Any]]] = []
        for idx, node in enumerate(self.nodes):
            entry: list[list[Any]] = [[protocol.RS_NORMAL, node.name]]
            result.append(entry)
            program = oob_program(self.cfg, node)
            if not program:
                entry.append([protocol.RS_UNAVAIL, None])
                continue
            problem = protocol.program_problem(program)
            if problem:
                self.warning(f"Out-of-band program of node '{node.name}' is not usable: {problem}")
                entry.append([protocol.RS_NODATA, None])
                continue
            try:
                payload = await protocol.run_program(program, op.command, node.name, op.timeout)
            except OpExecError as err:
                self.warning(f"Out-of-band RPC failed on node '{node.name}': {err}")
                entry.append([protocol.RS_NODATA, None])
                continue
            errs = protocol.payload_problems(op.command, payload)
            if errs:
                self.warning(
                    f"Payload returned by node '{node.name}' is not valid: Check of out-of-band payload failed"
                    f" due to {', '.join(errs)}"
                )
                entry.append([protocol.RS_NODATA, None])
                continue
            await self._record(node, payload)
            entry.append([protocol.RS_NORMAL, payload])
            if op.command == protocol.POWER_ON and idx < len(self.nodes) - 1 and op.power_delay:
                await asyncio.sleep(op.power_delay)
        return result

    async def _record(self, node: Node, payload: Any) -> None:
        """Log health problems; keep the node's `powered` flag in step with what the program did or saw."""
        command = self.op.command
        if command == protocol.HEALTH:
            for item, status in payload:
                if status in (protocol.STATUS_WARNING, protocol.STATUS_CRITICAL):
                    self.warning(f"Item '{item}' on node '{node.name}' has status '{status}'")
            return
        powered = {protocol.POWER_ON: True, protocol.POWER_OFF: False}.get(command)
        if command == protocol.POWER_STATUS:
            powered = payload[protocol.POWERED]
        if powered is not None and powered != node.powered:
            node.powered = powered
            await self.cfg.commit([node])
            services = self.ctx.services
            if services is not None and hasattr(services, "invalidate_live"):
                services.invalidate_live()
