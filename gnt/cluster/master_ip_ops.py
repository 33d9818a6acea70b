"""Opcodes of `gnt-cluster activate-master-ip` and `deactivate-master-ip` (Ganeti's ids, no fields)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from gnt.opcodes import OpCode, register

__all__ = ["OpClusterActivateMasterIp", "OpClusterDeactivateMasterIp"]


@register
@dataclass(kw_only=True)
class OpClusterActivateMasterIp(OpCode):
    OP_ID: ClassVar[str] = "OP_CLUSTER_ACTIVATE_MASTER_IP"


@register
@dataclass(kw_only=True)
class OpClusterDeactivateMasterIp(OpCode):
    OP_ID: ClassVar[str] = "OP_CLUSTER_DEACTIVATE_MASTER_IP"
