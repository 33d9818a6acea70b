"""OP_EXTSTORAGE_DIAGNOSE, with Ganeti's id and fields (gnt-storage diagnose and info are queries of it).

Registered into `gnt.opcodes.OPCODES`, which imports this module last.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from gnt.opcodes import OpCode, _f, register

__all__ = ["FIELDS", "OpExtStorageDiagnose"]

#: the fields an ExtStorage query may ask for (Ganeti's EXTSTORAGE_FIELDS)
FIELDS = ("name", "node_status", "nodegroup_status", "parameters")


def _fields(value: Any) -> None:
    unknown = [f for f in value or [] if f not in FIELDS]
    if unknown:
        raise ValueError(f"Unknown output fields selected: {', '.join(map(str, unknown))}")


@register
@dataclass(kw_only=True)
class OpExtStorageDiagnose(OpCode):
    OP_ID: ClassVar[str] = "OP_EXTSTORAGE_DIAGNOSE"
    output_fields: list[str] = _f(["name"], "Fields of each ExtStorage provider to return, in order", _fields)
    names: list[str] = _f([], "Only these providers (all when empty)")
