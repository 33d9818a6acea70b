"""OP_OOB_COMMAND and OP_NODE_POWERCYCLE, with Ganeti's ids and fields; registered into `gnt.opcodes`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from gnt import opchecks as ck
from gnt.oob import protocol
from gnt.opcodes import OpCode, _f, register

__all__ = ["OpNodePowercycle", "OpOobCommand"]


def _command(value: Any) -> None:
    if value not in protocol.COMMANDS:
        raise ValueError(f"'{str(value)[:80]}' is not one of {', '.join(protocol.COMMANDS)}")


@register
@dataclass(kw_only=True)
class OpOobCommand(OpCode):
    OP_ID: ClassVar[str] = "OP_OOB_COMMAND"
    SUMMARY_FIELD: ClassVar[str | None] = "command"
    node_names: list[str] = _f(
        [], "Nodes to run the command for (all but the master for power-off/cycle when empty)", ck.hostname_list
    )
    node_uuids: list[str] | None = _f(None, "Accepted for Ganeti compatibility; node_names is used")
    command: str = _f(doc="power-on, power-off, power-cycle, power-status or health", check=_command)
    timeout: int = _f(protocol.DEFAULT_TIMEOUT, "Seconds the OOB program may take", ck.int_range(1, 3600))
    ignore_status: bool = _f(False, "Power off even if the node is not marked offline")
    force_master: bool = _f(False, "Allow power-off/power-cycle of the master")
    power_delay: float = _f(protocol.DEFAULT_POWER_DELAY, "Seconds between two power-ons", ck.float_range(0, 3600))


@register
@dataclass(kw_only=True)
class OpNodePowercycle(OpCode):
    OP_ID: ClassVar[str] = "OP_NODE_POWERCYCLE"
    SUMMARY_FIELD: ClassVar[str | None] = "node_name"
    node_name: str = _f(doc="Node to power-cycle", check=ck.hostname)
    node_uuid: str | None = _f(None, "Accepted for Ganeti compatibility; node_name is used")
    force: bool = _f(False, "Allow power-cycling the master")
