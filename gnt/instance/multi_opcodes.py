"""The opcodes of `gnt-instance info`, `batch-create` and `change-group`, with Ganeti's ids and fields.

Declared beside their logical units (`gnt.instance.query_data`, `gnt.instance.multi_alloc`,
`gnt.instance.change_group`) and registered into `gnt.opcodes.OPCODES`, which imports this module,
so RAPI bodies, `POST /2/jobs` and the CLI validate them like every other opcode.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from gnt import opchecks as ck
from gnt.opcodes import OpCode, _f, register

__all__ = ["OpInstanceChangeGroup", "OpInstanceMultiAlloc", "OpInstanceQueryData"]

#: more instances than this in one multi-allocation is refused (each becomes a job)
MAX_MULTI_ALLOC = 1000


def _instance_bodies(value: Any) -> None:
    """Each entry an OP_INSTANCE_CREATE body (a JSON object); the LU checks their fields."""
    if not isinstance(value, list):
        raise ValueError("must be a list of instance definitions")
    if len(value) > MAX_MULTI_ALLOC:
        raise ValueError(f"at most {MAX_MULTI_ALLOC} instances in one allocation, got {len(value)}")
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            raise ValueError(f"instance {index} must be an object")


@register
@dataclass(kw_only=True)
class OpInstanceQueryData(OpCode):
    OP_ID: ClassVar[str] = "OP_INSTANCE_QUERY_DATA"
    instances: list[str] = _f([], "Instances to describe (empty: all)", ck.hostname_list)
    use_locking: bool = _f(False, "Take shared instance locks while reading")
    static: bool = _f(False, "Only the configuration: no node is asked for live state")


@register
@dataclass(kw_only=True)
class OpInstanceMultiAlloc(OpCode):
    OP_ID: ClassVar[str] = "OP_INSTANCE_MULTI_ALLOC"
    instances: list[dict[str, Any]] = _f([], "OP_INSTANCE_CREATE bodies, placed together", _instance_bodies)
    iallocator: str | None = _f(None, "Allocator placing the instances (cluster default when empty)")
    opportunistic_locking: bool = _f(False, "Lock only free nodes when allocating")


@register
@dataclass(kw_only=True)
class OpInstanceChangeGroup(OpCode):
    OP_ID: ClassVar[str] = "OP_INSTANCE_CHANGE_GROUP"
    SUMMARY_FIELD: ClassVar[str | None] = "instance_name"
    instance_name: str = _f(doc="Instance to move to another node group", check=ck.hostname)
    iallocator: str | None = _f(None, "Allocator choosing the new nodes")
    target_groups: list[str] | None = _f(None, "Groups to choose from (default: every other group)")
    early_release: bool = _f(False, "Release locks early")
