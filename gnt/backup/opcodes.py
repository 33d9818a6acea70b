"""The opcodes of `gnt-instance move` and `gnt-backup`, with Ganeti's ids and fields.

Declared apart from their logical units (which pull in the job layer) and registered into
`gnt.opcodes.OPCODES`, which imports this module, so the CLI, RAPI bodies and `POST /2/jobs`
validate them like every other opcode.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from gnt import constants
from gnt import opchecks as ck
from gnt.opcodes import OpCode, _f, register

__all__ = ["COMPRESSIONS", "OpInstanceMove"]

#: transport compressions of node-to-node disk streams (Ganeti's `--compress`/`--transport-compression`)
COMPRESSIONS = ("none", "gzip")
_TIMEOUT = ck.int_range(0, 86400)


def _compression(value: Any) -> None:
    if value not in COMPRESSIONS:
        raise ValueError(f"unknown compression tool '{value}'; use one of {', '.join(COMPRESSIONS)}")


@register
@dataclass(kw_only=True)
class OpInstanceMove(OpCode):
    OP_ID: ClassVar[str] = "OP_INSTANCE_MOVE"
    SUMMARY_FIELD: ClassVar[str | None] = "instance_name"
    instance_name: str = _f(doc="Instance to move", check=ck.hostname)
    target_node: str = _f(doc="Node to move the instance to", check=ck.hostname)
    shutdown_timeout: int = _f(constants.DEFAULT_SHUTDOWN_TIMEOUT, "Seconds for a clean shutdown", _TIMEOUT)
    ignore_consistency: bool = _f(False, "Go on even if the instance cannot be shut down on the source")
    ignore_ipolicy: bool = _f(False, "Ignore the instance policy")
    compress: str = _f("none", "Transport compression of the disk data (none, gzip)", _compression)
