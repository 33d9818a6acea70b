"""The master's typed RPC client, derived from the procedure table (gnt.rpc.procedures).

An LU writes `await self.rpc.instance_start(target, InstanceStartArgs(spec))` or
`await self.rpc.call_many(targets, proc.NODE_INFO, NodeInfoArgs(...))`: the procedure's name,
timeout and argument record come from its declaration, never from the call site. The client
encodes the record once and hands it to a transport (gnt.rpc.transport); calls to many nodes run
in parallel, and a node that fails is an error result for that node, never an exception.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from gnt import serial
from gnt.rpc.procedures import TABLE, Procedure
from gnt.rpc.transport import RpcResult, Target, Transport

__all__ = ["RpcClient", "RpcResult", "Target"]

A = TypeVar("A")


class RpcClient:
    """Typed calls to node daemons over one transport.

    Besides `call`/`call_many`, every procedure in the table is a method of the same name:
    `rpc.node_info(target, args)`.
    """

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    @classmethod
    def https(cls, pem_path: str, port: int) -> RpcClient:
        """The production client: mutual TLS with the cluster certificate."""
        from gnt.rpc.https import HttpsTransport

        return cls(HttpsTransport(pem_path, port))

    async def close(self) -> None:
        await self.transport.close()

    async def call(self, target: Target, proc: Procedure[A], args: A, *, timeout: float | None = None) -> RpcResult:
        _check(proc, args)
        payload = serial.to_dict(args)
        return await self.transport.call(target, proc.name, payload, timeout or proc.timeout_for(args))

    async def call_many(
        self, targets: Iterable[Target], proc: Procedure[A], args: A, *, timeout: float | None = None
    ) -> dict[str, RpcResult]:
        """The same call to every target, in parallel; one result per node name."""
        _check(proc, args)
        payload = serial.to_dict(args)
        limit = timeout or proc.timeout_for(args)
        results = await asyncio.gather(*(self.transport.call(t, proc.name, payload, limit) for t in targets))
        return {r.node: r for r in results}

    if TYPE_CHECKING:

        def __getattr__(self, name: str) -> Callable[..., Awaitable[RpcResult]]: ...


def _check(proc: Procedure[Any], args: Any) -> None:
    if type(args) is not proc.args:
        raise TypeError(f"RPC {proc.name} takes a {proc.args.__name__}, not a {type(args).__name__}")


def _method(proc: Procedure[Any]) -> Callable[..., Awaitable[RpcResult]]:
    async def method(self: RpcClient, target: Target, args: Any = None, *, timeout: float | None = None) -> RpcResult:
        return await self.call(target, proc, proc.args() if args is None else args, timeout=timeout)

    method.__name__ = proc.name
    method.__doc__ = f"Call `{proc.name}` ({proc.args.__name__}) on one node. {proc.doc}".strip()
    return method


for _proc in TABLE.values():
    setattr(RpcClient, _proc.name, _method(_proc))
