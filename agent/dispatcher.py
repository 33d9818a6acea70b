"""The node side of the procedure table: every call is checked against its declaration first.

Order, for each call: the procedure must be in the table (gnt.rpc.procedures) and served here;
its arguments are decoded strictly into the declared record (gnt.rpc.records); names, declared
path arguments and every disk's paths are confined (gnt.confine); only then does the handler
run, and it receives the typed record. A refusal is a typed error in the answer and a warning in
the node's log, never a traceback. The same class serves HTTPS (agent.server) and the in-process
transport of unit tests (with the node's real handlers, or test doubles).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from agent import callers
from gnt import confine
from gnt.errors import GntError, RpcArgumentError, RpcError
from gnt.rpc import protocol, records
from gnt.rpc.procedures import TABLE, NameKind, Procedure
from gnt.runtime import DiskSpec, InstanceSpec

log = logging.getLogger("gnt-noded")

Handler = Callable[[Any], Awaitable[Any]]
DiskPaths = Callable[[DiskSpec], list[str]]

_NAME_CHECKS: dict[NameKind, Callable[[str, str], None]] = {
    NameKind.INSTANCE: confine.check_instance_name,
    NameKind.OS: confine.check_os_name,
    NameKind.HYPERVISOR: confine.check_hypervisor,
}


def storage_disk_paths(disk: DiskSpec) -> list[str]:
    """Ask the disk's storage driver which node paths its logical_id names (confined there)."""
    import storage

    return storage.get(disk.dev_type).node_paths(disk)


class Dispatcher:
    """Checks and runs node procedures; `handlers` maps a procedure name to its handler."""

    def __init__(self, handlers: dict[str, Handler], disk_paths: DiskPaths = storage_disk_paths) -> None:
        unknown = set(handlers) - set(TABLE)
        if unknown:
            raise ValueError(f"handlers for undeclared procedures: {', '.join(sorted(unknown))}")
        self.handlers = handlers
        self.disk_paths = disk_paths

    async def call(self, name: str, raw: Any, caller: str | None = None) -> Any:
        """Run one call; raises the typed error a caller would get back.

        `caller` is the digest of the TLS peer's certificate (None in-process): agent.callers decides
        whether it may call this procedure, before its arguments are even decoded.
        """
        proc = TABLE.get(name)
        handler = self.handlers.get(name)
        if proc is None or handler is None:
            log.warning("refused unknown RPC procedure %r", name[:100])
            raise RpcError(f"Unknown RPC procedure '{name[:100]}'")
        callers.check(proc, caller)
        try:
            args = records.decode(proc.args, {} if raw is None else raw)
        except RpcArgumentError as err:
            log.warning("refused %s: %s", name, err)
            raise RpcArgumentError(f"{name}: {err}") from None
        with confine.one_call():  # the node's lists read once for the check and the handler
            self.check(proc, args)
            return await handler(args)

    async def answer(self, name: str, raw: Any, caller: str | None = None) -> dict[str, Any]:
        """The wire answer for one call (gnt.rpc.protocol): errors travel back typed."""
        try:
            return protocol.ok(await self.call(name, raw, caller))
        except GntError as err:
            return protocol.failure(err)
        except Exception as err:  # noqa: BLE001 - reported to the master, logged here
            log.exception("procedure %s failed", name)
            return protocol.failure(GntError(f"{type(err).__name__}: {err}"))

    async def http(self, name: str, body: bytes, caller: str | None = None) -> bytes:
        """agent.httpserver's handler: JSON bytes in, JSON bytes out; `caller` is the peer certificate's digest."""
        try:
            raw = json.loads(body) if body else {}
        except (ValueError, RecursionError):
            answer = protocol.failure(RpcArgumentError(f"{name[:100]}: the request body is not valid JSON"))
        else:
            answer = await self.answer(name, raw, caller)
        return json.dumps(answer).encode()

    def check(self, proc: Procedure[Any], args: Any) -> None:
        """Names, declared paths and disk paths of one decoded call (see gnt.confine)."""
        for field, kind in proc.names:
            for value in _values(getattr(args, field)):
                if value or kind is not NameKind.INSTANCE:
                    _NAME_CHECKS[kind](value, f"{proc.name}.{field}")
        for field in proc.paths:
            for value in _values(getattr(args, field)):
                confine.storage_path(value, f"{proc.name}.{field}")
        spec = getattr(args, "instance", None)
        disks: list[DiskSpec] = []
        if isinstance(spec, InstanceSpec):
            confine.check_instance_name(spec.name, f"{proc.name}.instance")
            confine.check_hypervisor(spec.hypervisor, f"{proc.name}.instance")
            disks.extend(spec.disks)
        disk = getattr(args, "disk", None)
        if isinstance(disk, DiskSpec):
            disks.append(disk)
        disks.extend(getattr(args, "disks", None) or [])
        for d in disks:
            d.path = None  # filled in by this node when it assembles the disk, never taken from the caller
            self.disk_paths(d)


def _values(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
