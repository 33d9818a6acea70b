"""Opcodes of `gnt-cluster activate-master-ip`, `deactivate-master-ip` and `rename` (Ganeti's ids and fields)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from gnt import opchecks as ck
from gnt.opcodes import OpCode, _f, register

__all__ = ["OpClusterActivateMasterIp", "OpClusterDeactivateMasterIp", "OpClusterRename"]


@register
@dataclass(kw_only=True)
class OpClusterActivateMasterIp(OpCode):
    OP_ID: ClassVar[str] = "OP_CLUSTER_ACTIVATE_MASTER_IP"


@register
@dataclass(kw_only=True)
class OpClusterDeactivateMasterIp(OpCode):
    OP_ID: ClassVar[str] = "OP_CLUSTER_DEACTIVATE_MASTER_IP"


@register
@dataclass(kw_only=True)
class OpClusterRename(OpCode):
    OP_ID: ClassVar[str] = "OP_CLUSTER_RENAME"
    name: str = _f(doc="The cluster's new name (with a master IP: it must resolve, to the new master IP)",
                   check=ck.hostname)  # fmt: skip
