"""OP_OS_DIAGNOSE, with Ganeti's id and fields (gnt-os list, diagnose and info are queries of it).

Registered into `gnt.opcodes.OPCODES`, which imports this module last; per-OS settings are changed
by OP_CLUSTER_SET_PARAMS (`os_hvp`, `osparams`, `hidden_os`, `blacklisted_os`), as in Ganeti.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from gnt.opcodes import OpCode, _f, register

__all__ = ["FIELDS", "OpOsDiagnose"]

#: the fields an OS query may ask for (Ganeti's OS_FIELDS, without `trusted`)
FIELDS = (
    "name",
    "valid",
    "hidden",
    "blacklisted",
    "variants",
    "parameters",
    "api_versions",
    "node_status",
    "os_hvp",
    "osparams",
)


def _fields(value: Any) -> None:
    unknown = [f for f in value or [] if f not in FIELDS]
    if unknown:
        raise ValueError(f"Unknown output fields selected: {', '.join(map(str, unknown))}")


@register
@dataclass(kw_only=True)
class OpOsDiagnose(OpCode):
    OP_ID: ClassVar[str] = "OP_OS_DIAGNOSE"
    output_fields: list[str] = _f(["name"], "Fields of each OS to return, in order", _fields)
    names: list[str] = _f([], "Only these OSes (all when empty)")
