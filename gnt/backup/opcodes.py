"""The opcodes of `gnt-instance move` and `gnt-backup`, with Ganeti's ids and fields.

Declared apart from their logical units (which pull in the job layer) and registered into
`gnt.opcodes.OPCODES`, which imports this module, so the CLI, RAPI bodies and `POST /2/jobs`
validate them like every other opcode.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from gnt import compression, constants
from gnt import opchecks as ck
from gnt.opcodes import OpCode, _f, register

__all__ = ["COMPRESSIONS", "OpBackupExport", "OpBackupPrepare", "OpBackupQuery", "OpBackupRemove", "OpInstanceMove"]

#: transport compressions of node-to-node disk streams (Ganeti's `--compress`/`--transport-compression`)
COMPRESSIONS = compression.TRANSPORTS
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
    compress: str = _f("none", "Transport compression (none or one of the cluster's compression tools)", _compression)


#: Ganeti's export modes; only local exports (to a node of this cluster) are implemented
EXPORT_MODES = ("local", "remote")


def _no_zeroing(value: Any) -> None:
    if value:
        raise ValueError("zeroing free space before an export is not supported")


@register
@dataclass(kw_only=True)
class OpBackupQuery(OpCode):
    OP_ID: ClassVar[str] = "OP_BACKUP_QUERY"
    nodes: list[str] = _f([], "Nodes whose exports to list (all when empty)", ck.hostname_list)
    use_locking: bool = _f(False, "Unused; kept for Ganeti compatibility")


@register
@dataclass(kw_only=True)
class OpBackupPrepare(OpCode):
    OP_ID: ClassVar[str] = "OP_BACKUP_PREPARE"
    SUMMARY_FIELD: ClassVar[str | None] = "instance_name"
    instance_name: str = _f(doc="Instance to prepare an export of", check=ck.hostname)
    mode: str = _f(doc="Export mode (local; remote is not supported)")


@register
@dataclass(kw_only=True)
class OpBackupExport(OpCode):
    OP_ID: ClassVar[str] = "OP_BACKUP_EXPORT"
    SUMMARY_FIELD: ClassVar[str | None] = "instance_name"
    instance_name: str = _f(doc="Instance to export", check=ck.hostname)
    target_node: str = _f(doc="Node whose export directory receives the export", check=ck.hostname)
    shutdown: bool = _f(True, "Shut the instance down for a consistent copy (restarted afterwards)")
    shutdown_timeout: int = _f(constants.DEFAULT_SHUTDOWN_TIMEOUT, "Seconds for a clean shutdown", _TIMEOUT)
    remove_instance: bool = _f(False, "Remove the instance once exported")
    ignore_remove_failures: bool = _f(False, "Go on if removing the instance fails")
    mode: str = _f("local", "Export mode (local; remote is not supported)")
    compress: str = _f("none", "Transport compression (none or one of the cluster's compression tools)", _compression)
    long_sleep: bool = _f(False, "Allow a long shutdown for the copy: gnt cannot snapshot, so it always does")
    zero_free_space: bool = _f(False, "Not supported: zeroing needs a helper instance", _no_zeroing)
    zeroing_timeout_fixed: int | None = _f(None, "Unused (no zeroing); kept for Ganeti compatibility")
    zeroing_timeout_per_mib: float | None = _f(None, "Unused (no zeroing); kept for Ganeti compatibility")
    x509_key_name: list[Any] | None = _f(None, "Remote mode only (not supported)")
    destination_x509_ca: str | None = _f(None, "Remote mode only (not supported)")

    def check_fields(self) -> None:
        if self.remove_instance and not self.shutdown:
            raise ValueError("Can not remove instance without shutting it down before")


@register
@dataclass(kw_only=True)
class OpBackupRemove(OpCode):
    OP_ID: ClassVar[str] = "OP_BACKUP_REMOVE"
    SUMMARY_FIELD: ClassVar[str | None] = "instance_name"
    instance_name: str = _f(doc="Instance whose exports to remove (on every node)", check=ck.hostname)
