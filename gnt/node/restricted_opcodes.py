"""OP_RESTRICTED_COMMAND with Ganeti's fields; registered into `gnt.opcodes`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar

from gnt import opchecks as ck
from gnt.opcodes import OpCode, _f, register

__all__ = ["OpRestrictedCommand"]

#: what a restricted command's name may be (the node checks it again: it trusts no caller)
COMMAND_NAME_RE = re.compile(r"^[-_.a-zA-Z0-9]+\Z")


def _command(value: Any) -> None:
    if not COMMAND_NAME_RE.match(value) or value in (".", ".."):
        raise ValueError("a restricted command is a plain name of letters, digits, '-', '_' and '.'")


@register
@dataclass(kw_only=True)
class OpRestrictedCommand(OpCode):
    OP_ID: ClassVar[str] = "OP_RESTRICTED_COMMAND"
    SUMMARY_FIELD: ClassVar[str | None] = "command"
    use_locking: bool = _f(False, "Lock the nodes (shared) while the command runs")
    nodes: list[str] = _f(doc="Nodes to run the command on", check=ck.hostname_list)
    command: str = _f(doc="Name of a command in each node's restricted-commands directory", check=_command)

    def check_fields(self) -> None:
        if not self.nodes:
            raise ValueError("at least one node is needed")
