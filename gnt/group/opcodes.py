"""The node group opcodes, with Ganeti's ids and fields (`group_name`, `new_name`, `alloc_policy`,
`ipolicy`, `ndparams`, `diskparams`, `nodes`, `force`).

Registered into `gnt.opcodes.OPCODES` (which imports this module), so the RAPI, `POST /2/jobs`
and `gnt-group` validate them alike before any job exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from gnt import diskparams as dp
from gnt import ipolicy
from gnt import opchecks as ck
from gnt import resstate as rs
from gnt.oob.protocol import ndparams_check
from gnt.opcodes import OpCode, _f, register

__all__ = [
    "ALLOC_POLICIES",
    "OpGroupAdd",
    "OpGroupAssignNodes",
    "OpGroupEvacuate",
    "OpGroupRemove",
    "OpGroupRename",
    "OpGroupSetParams",
    "check_ipolicy",
]

#: Ganeti's allocation policies: new instances go to preferred groups first, last_resort ones only
#: when nothing else fits, never to unallocable ones
ALLOC_POLICIES = ("preferred", "last_resort", "unallocable")
ISPEC_KEYS = ipolicy.ISPEC_KEYS


def _alloc_policy(value: Any) -> None:
    if value is not None and value not in ALLOC_POLICIES:
        raise ValueError(f"Invalid allocation policy {value!r}; expected one of {', '.join(ALLOC_POLICIES)}")


def check_ipolicy(value: Any) -> None:
    """Ganeti's instance policy shape (one definition in `gnt.ipolicy`, shared with the cluster's)."""
    ipolicy.check_ipolicy(value)


@register
@dataclass(kw_only=True)
class OpGroupAdd(OpCode):
    OP_ID: ClassVar[str] = "OP_GROUP_ADD"
    SUMMARY_FIELD: ClassVar[str | None] = "group_name"
    group_name: str = _f(doc="Name of the new node group", check=ck.hostname)
    alloc_policy: str | None = _f(None, "preferred, last_resort or unallocable", _alloc_policy)
    ndparams: dict[str, Any] | None = _f(None, "Node parameters of the group's nodes", ndparams_check)
    ipolicy: dict[str, Any] | None = _f(None, "Instance policy (overrides the cluster's)", check_ipolicy)
    diskparams: dict[str, dict[str, Any]] | None = _f(
        None, "Disk parameters per template (over the cluster's, for disks of the group's nodes)", ck.diskparams
    )
    hv_state: dict[str, Any] | None = _f(
        None, "Static hypervisor state {hypervisor: {mem_total: MiB, ...}} of the group's nodes", rs.check_hv_state
    )
    disk_state: dict[str, Any] | None = _f(
        None, "Static disk state {plain: {vg: {disk_total: MiB, ...}}} of the group's nodes", rs.check_disk_state
    )


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
    ndparams: dict[str, Any] | None = _f(
        None, "Node parameters to change (null values reset to the cluster's)", ndparams_check
    )
    ipolicy: dict[str, Any] | None = _f(None, "Instance policy keys to change", check_ipolicy)
    diskparams: dict[str, dict[str, Any]] | None = _f(
        None, "Disk parameters to change per template (default or null resets to the cluster's)", dp.check_changes
    )
    hv_state: dict[str, Any] | None = _f(
        None, "Hypervisor state keys to change (default or null resets to the cluster's)", rs.check_hv_state_changes
    )
    disk_state: dict[str, Any] | None = _f(
        None, "Disk state keys to change (default or null resets to the cluster's)", rs.check_disk_state_changes
    )


@register
@dataclass(kw_only=True)
class OpGroupAssignNodes(OpCode):
    OP_ID: ClassVar[str] = "OP_GROUP_ASSIGN_NODES"
    SUMMARY_FIELD: ClassVar[str | None] = "group_name"
    group_name: str = _f(doc="Node group the nodes move to", check=ck.hostname)
    nodes: list[str] = _f(doc="Nodes to move", check=ck.hostname_list)
    force: bool = _f(False, "Move even if a mirrored instance ends up split across groups")


@register
@dataclass(kw_only=True)
class OpGroupEvacuate(OpCode):
    OP_ID: ClassVar[str] = "OP_GROUP_EVACUATE"
    SUMMARY_FIELD: ClassVar[str | None] = "group_name"
    group_name: str = _f(doc="Node group to move every instance off", check=ck.hostname)
    early_release: bool = _f(False, "Release locks early while replacing disks")
    iallocator: str | None = _f(None, "Allocator choosing the new nodes")
    target_groups: list[str] | None = _f(None, "Groups to move to (default: every other group)")
    sequential: bool = _f(False, "Run the moves one after another (one job), not in parallel")
    force_failover: bool = _f(False, "Fail instances over where they could be migrated")
