"""The node group opcodes, with Ganeti's ids and fields (`group_name`, `new_name`, `alloc_policy`,
`ipolicy`, `ndparams`, `nodes`, `force`).

Registered into `gnt.opcodes.OPCODES` (which imports this module), so the RAPI, `POST /2/jobs`
and `gnt-group` validate them alike before any job exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from gnt import constants
from gnt import opchecks as ck
from gnt.opcodes import OpCode, _f, register

__all__ = [
    "ALLOC_POLICIES",
    "OpGroupAdd",
    "OpGroupAssignNodes",
    "OpGroupRemove",
    "OpGroupRename",
    "OpGroupSetParams",
    "check_ipolicy",
]

#: Ganeti's allocation policies: new instances go to preferred groups first, last_resort ones only
#: when nothing else fits, never to unallocable ones
ALLOC_POLICIES = ("preferred", "last_resort", "unallocable")
ISPEC_KEYS = ("memory-size", "cpu-count", "disk-count", "disk-size", "nic-count", "spindle-use")
_IPOLICY_KEYS = ("minmax", "std", "disk-templates", "vcpu-ratio", "spindle-ratio")


def _alloc_policy(value: Any) -> None:
    if value is not None and value not in ALLOC_POLICIES:
        raise ValueError(f"Invalid allocation policy {value!r}; expected one of {', '.join(ALLOC_POLICIES)}")


def _ispec(value: Any, what: str) -> dict[str, int]:
    if not isinstance(value, dict):
        raise ValueError(f"{what} must be an object of {', '.join(ISPEC_KEYS)}")
    for key, item in value.items():
        if key not in ISPEC_KEYS:
            raise ValueError(f"Invalid key {key!r} in {what}; expected {', '.join(ISPEC_KEYS)}")
        if not isinstance(item, int) or isinstance(item, bool) or item < 0:
            raise ValueError(f"{what} {key} must be a non-negative integer, not {item!r}")
    return value


def check_ipolicy(value: Any) -> None:
    """Ganeti's instance policy shape: min <= max in every minmax pair, ratios positive, known templates."""
    if value is None:
        return
    unknown = sorted(set(value) - set(_IPOLICY_KEYS))
    if unknown:
        raise ValueError(f"Invalid keys in ipolicy: {', '.join(unknown)}; expected {', '.join(_IPOLICY_KEYS)}")
    if "std" in value:
        _ispec(value["std"], "ipolicy std")
    if "minmax" in value:
        pairs = value["minmax"]
        if not isinstance(pairs, list) or not pairs:
            raise ValueError("ipolicy minmax must be a non-empty list of {min, max}")
        for pair in pairs:
            if not isinstance(pair, dict) or set(pair) != {"min", "max"}:
                raise ValueError("each ipolicy minmax entry must be {min, max}")
            low, high = _ispec(pair["min"], "ipolicy min"), _ispec(pair["max"], "ipolicy max")
            if set(low) != set(ISPEC_KEYS) or set(high) != set(ISPEC_KEYS):
                raise ValueError(f"ipolicy min and max must each give all of {', '.join(ISPEC_KEYS)}")
            wrong = [k for k in ISPEC_KEYS if low[k] > high[k]]
            if wrong:
                raise ValueError(f"Invalid ipolicy: min {wrong[0]} {low[wrong[0]]} is above max {high[wrong[0]]}")
    for ratio in ("vcpu-ratio", "spindle-ratio"):
        if ratio in value:
            item = value[ratio]
            if not isinstance(item, (int, float)) or isinstance(item, bool) or not 0 < item <= 1e6:
                raise ValueError(f"ipolicy {ratio} must be a positive number, not {item!r}")
    if "disk-templates" in value:
        templates = value["disk-templates"]
        if not isinstance(templates, list) or any(t not in constants.DISK_TEMPLATES_AVAILABLE for t in templates):
            known = ", ".join(constants.DISK_TEMPLATES_AVAILABLE)
            raise ValueError(f"ipolicy disk-templates must be a list of {known}, not {templates!r}")


def _unsupported(what: str, instead: str) -> ck.Check:
    """Ganeti's field, taken only empty: a value gnt would ignore is refused rather than dropped."""

    def check(value: Any) -> None:
        if value:
            raise ValueError(f"{what} are not supported per node group; {instead}")

    return check


_DISKPARAMS = _unsupported("disk parameters", "set them cluster-wide with gnt-cluster modify -D")
_HV_STATE = _unsupported("hypervisor states", "gnt reads them from the nodes")
_DISK_STATE = _unsupported("disk states", "gnt reads them from the nodes")


@register
@dataclass(kw_only=True)
class OpGroupAdd(OpCode):
    OP_ID: ClassVar[str] = "OP_GROUP_ADD"
    SUMMARY_FIELD: ClassVar[str | None] = "group_name"
    group_name: str = _f(doc="Name of the new node group", check=ck.hostname)
    alloc_policy: str | None = _f(None, "preferred, last_resort or unallocable", _alloc_policy)
    ndparams: dict[str, Any] | None = _f(None, "Node parameters of the group's nodes")
    ipolicy: dict[str, Any] | None = _f(None, "Instance policy (overrides the cluster's)", check_ipolicy)
    diskparams: dict[str, Any] | None = _f(
        None, "Ganeti's field; only empty (disk parameters are cluster-wide)", _DISKPARAMS
    )
    hv_state: dict[str, Any] | None = _f(None, "Ganeti's field; only empty", _HV_STATE)
    disk_state: dict[str, Any] | None = _f(None, "Ganeti's field; only empty", _DISK_STATE)


@register
@dataclass(kw_only=True)
class OpGroupRemove(OpCode):
    OP_ID: ClassVar[str] = "OP_GROUP_REMOVE"
    SUMMARY_FIELD: ClassVar[str | None] = "group_name"
    group_name: str = _f(doc="Node group to remove (it must hold no node)", check=ck.hostname)


@register
@dataclass(kw_only=True)
class OpGroupRename(OpCode):
    OP_ID: ClassVar[str] = "OP_GROUP_RENAME"
    SUMMARY_FIELD: ClassVar[str | None] = "group_name"
    group_name: str = _f(doc="Node group to rename", check=ck.hostname)
    new_name: str = _f(doc="Its new name", check=ck.hostname)


@register
@dataclass(kw_only=True)
class OpGroupSetParams(OpCode):
    OP_ID: ClassVar[str] = "OP_GROUP_SET_PARAMS"
    SUMMARY_FIELD: ClassVar[str | None] = "group_name"
    group_name: str = _f(doc="Node group to modify", check=ck.hostname)
    alloc_policy: str | None = _f(None, "preferred, last_resort or unallocable", _alloc_policy)
    ndparams: dict[str, Any] | None = _f(None, "Node parameters to change (null values reset to the cluster's)")
    ipolicy: dict[str, Any] | None = _f(None, "Instance policy keys to change", check_ipolicy)
    diskparams: dict[str, Any] | None = _f(
        None, "Ganeti's field; only empty (disk parameters are cluster-wide)", _DISKPARAMS
    )
    hv_state: dict[str, Any] | None = _f(None, "Ganeti's field; only empty", _HV_STATE)
    disk_state: dict[str, Any] | None = _f(None, "Ganeti's field; only empty", _DISK_STATE)


@register
@dataclass(kw_only=True)
class OpGroupAssignNodes(OpCode):
    OP_ID: ClassVar[str] = "OP_GROUP_ASSIGN_NODES"
    SUMMARY_FIELD: ClassVar[str | None] = "group_name"
    group_name: str = _f(doc="Node group the nodes move to", check=ck.hostname)
    nodes: list[str] = _f(doc="Nodes to move", check=ck.hostname_list)
    force: bool = _f(False, "Move even if a mirrored instance ends up split across groups")
