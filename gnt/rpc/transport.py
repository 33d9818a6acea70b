"""How an RPC reaches a node: one small interface and the transports behind it.

`Transport.call(target, procedure, payload, timeout)` sends one already-encoded call and returns
an `RpcResult`; it never raises for a node's failure (a dead, slow or refusing node is an error
result for that node). The typed client (`gnt.rpc.client.RpcClient`) encodes records and fans
out; a transport only moves bytes or dicts:

- `HttpsTransport` (gnt.rpc.https): JSON over HTTPS with mutual TLS, in production.
- `InProcessTransport`: hands the payload to a node dispatcher in this process (no sockets),
  through a JSON round trip so what a handler sees is exactly what it would see over the wire.
  Unit tests of logical units run on it.
- `RecordingTransport`: records every call and answers from a script; for tests that check
  what an LU asked of which node.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from gnt.errors import GntError, RpcError
from gnt.rpc import records
from gnt.rpc.procedures import TABLE


@dataclass
class Target:
    """Where a node daemon listens."""

    name: str
    address: str
    offline: bool = False
    #: the node certificates (SHA-256 digests) the node may present; empty: any the cluster CA signed
    #: (a node not in the config yet, or one whose certificate the cluster has not learnt)
    cert_digests: tuple[str, ...] = ()


@dataclass
class RpcResult:
    """One node's answer: a JSON payload, or the error it raised (or that reaching it raised)."""

    node: str
    payload: Any = None
    error: GntError | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None

    def get(self, what: str = "") -> Any:
        """The payload, or raise the node's error (prefixed with `what` and the node)."""
        if self.error is not None:
            prefix = f"{what} on node {self.node}: " if what else ""
            err = type(self.error)(prefix + self.error.message, *self.error.args[1:])
            raise err from self.error
        return self.payload


def offline_result(target: Target) -> RpcResult:
    return RpcResult(target.name, error=RpcError(f"Node {target.name} is marked offline"))


def result_from_body(node: str, body: Any) -> RpcResult:
    """Turn a wire answer (see gnt.rpc.protocol) into a result."""
    if not isinstance(body, dict):
        return RpcResult(node, error=RpcError(f"Node {node} answered with a malformed body"))
    if body.get("ok"):
        return RpcResult(node, payload=body.get("result"))
    error = body.get("error")
    return RpcResult(node, error=GntError.from_dict(error if isinstance(error, dict) else {}))


class Transport(Protocol):
    async def call(self, target: Target, procedure: str, payload: dict[str, Any], timeout: float) -> RpcResult: ...

    async def close(self) -> None: ...


#: a node dispatcher as the in-process transport sees it: (procedure, JSON args) -> wire answer
Dispatch = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]


class InProcessTransport:
    """Calls node dispatchers directly: `nodes` maps a node name to its dispatcher.

    A node missing from `nodes` behaves like a node whose daemon is down.
    """

    def __init__(self, nodes: dict[str, Dispatch]) -> None:
        self.nodes = nodes

    async def call(self, target: Target, procedure: str, payload: dict[str, Any], timeout: float) -> RpcResult:
        if target.offline:
            return offline_result(target)
        dispatch = self.nodes.get(target.name)
        if dispatch is None:
            return RpcResult(target.name, error=RpcError(f"Error while contacting node {target.name}: no daemon"))
        wire = json.loads(json.dumps(payload))
        body = await dispatch(procedure, wire)
        return result_from_body(target.name, json.loads(json.dumps(body)))

    async def close(self) -> None:
        return None


@dataclass
class Call:
    """One call a RecordingTransport saw, with its arguments decoded into the declared record."""

    node: str
    procedure: str
    args: Any
    timeout: float


Answer = Callable[[Call], Any]


@dataclass
class RecordingTransport:
    """Records calls and answers them from `script`: procedure name -> payload, or a callable
    taking the `Call`; an answer that is (or a callable that raises) a GntError becomes that node's
    error result. Arguments are decoded against the table, so a call the node would refuse fails
    here too (with the node's RpcArgumentError).
    """

    script: dict[str, Any] = field(default_factory=dict)
    default: Any = None
    calls: list[Call] = field(default_factory=list)

    async def call(self, target: Target, procedure: str, payload: dict[str, Any], timeout: float) -> RpcResult:
        if target.offline:
            return offline_result(target)
        try:
            decl = TABLE.get(procedure)
            if decl is None:
                raise RpcError(f"Unknown RPC procedure '{procedure}'")
            call = Call(target.name, procedure, records.decode(decl.args, json.loads(json.dumps(payload))), timeout)
            self.calls.append(call)
            answer = self.script.get(procedure, self.default)
            if callable(answer):
                answer = answer(call)
            if isinstance(answer, GntError):
                raise answer
        except GntError as err:
            return RpcResult(target.name, error=err)
        return RpcResult(target.name, payload=json.loads(json.dumps(answer)))

    def names(self) -> list[str]:
        """The procedures called, in order."""
        return [c.procedure for c in self.calls]

    def to(self, procedure: str) -> list[Call]:
        return [c for c in self.calls if c.procedure == procedure]

    async def close(self) -> None:
        return None
