"""The tag opcodes, with Ganeti's ids and fields (`kind`, `name`, `tags`, `pattern`).

Declared here beside their logical units and registered into `gnt.opcodes.OPCODES`, which imports
this module, so RAPI bodies, `POST /2/jobs` and the CLI validate them like every other opcode.
Which kinds exist is the logical units' table (`gnt.tags.logic.KINDS`); a kind outside it is
refused at submission.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from gnt import opchecks as ck
from gnt.opcodes import OpCode, _f, register
from gnt.tags import syntax

__all__ = ["OpTagsDel", "OpTagsGet", "OpTagsSearch", "OpTagsSet"]


def _tags(value: Any) -> None:
    """Ganeti's tag rules as a field check: the RAPI answers 400 before any job exists."""
    if len(value) > syntax.MAX_TAGS_PER_OBJ:
        raise ValueError(f"Too many tags: {len(value)} given, an object holds at most {syntax.MAX_TAGS_PER_OBJ}")
    for tag in value:
        problem = syntax.tag_problem(tag)
        if problem is not None:
            raise ValueError(f"{problem}: {syntax.shown(tag)}")


@dataclass(kw_only=True)
class _TagsOpCode(OpCode):
    """An opcode on one object's tags: the object's name is required unless it is the cluster."""

    def check_fields(self) -> None:
        if getattr(self, "kind", None) != syntax.KIND_CLUSTER and not getattr(self, "name", None):
            raise ValueError(f"'name' is required for tags of kind {getattr(self, 'kind', '')!r}")


@register
@dataclass(kw_only=True)
class OpTagsGet(_TagsOpCode):
    OP_ID: ClassVar[str] = "OP_TAGS_GET"
    kind: str = _f(doc="Object kind: cluster, nodegroup, node or instance")
    name: str | None = _f(None, "Name of the object (none for the cluster)", ck.hostname)
    use_locking: bool = _f(False, "Read under the object's shared lock")

    def summary(self) -> str:
        """Ganeti's: the object's name, "None" for the cluster (TAGS_SET and TAGS_DEL show none)."""
        return f"TAGS_GET({self.name or 'None'})"


@register
@dataclass(kw_only=True)
class OpTagsSearch(OpCode):
    OP_ID: ClassVar[str] = "OP_TAGS_SEARCH"
    SUMMARY_FIELD: ClassVar[str | None] = "pattern"
    pattern: str = _f(doc="Regular expression searched in every tag of every object")


@register
@dataclass(kw_only=True)
class OpTagsSet(_TagsOpCode):
    OP_ID: ClassVar[str] = "OP_TAGS_SET"
    kind: str = _f(doc="Object kind: cluster, nodegroup, node or instance")
    name: str | None = _f(None, "Name of the object (none for the cluster)", ck.hostname)
    tags: list[str] = _f(doc="Tags to add", check=_tags)


@register
@dataclass(kw_only=True)
class OpTagsDel(_TagsOpCode):
    OP_ID: ClassVar[str] = "OP_TAGS_DEL"
    kind: str = _f(doc="Object kind: cluster, nodegroup, node or instance")
    name: str | None = _f(None, "Name of the object (none for the cluster)", ck.hostname)
    tags: list[str] = _f(doc="Tags to remove", check=_tags)
