"""The master's RPC client: calls node daemons in parallel with per-call timeouts.

A node that is down, slow or presents the wrong certificate yields an error *result* for that
node with a clear message; it never hangs the job or the other nodes' calls.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import aiohttp

from gnt import certs
from gnt.errors import GntError, RpcError

DEFAULT_TIMEOUT = 60.0
CONNECT_TIMEOUT = 5.0


@dataclass
class Target:
    """Where a node daemon listens."""

    name: str
    address: str
    offline: bool = False


@dataclass
class RpcResult:
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


class RpcClient:
    def __init__(self, pem_path: str, port: int) -> None:
        self._pem_path = pem_path
        self.port = port
        self._session: aiohttp.ClientSession | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            ctx = certs.client_context(self._pem_path)
            connector = aiohttp.TCPConnector(ssl=ctx, limit=0, limit_per_host=16, keepalive_timeout=30)
            self._session = aiohttp.ClientSession(connector=connector)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def call(
        self, node: Target, procedure: str, args: dict[str, Any] | None = None, timeout: float = DEFAULT_TIMEOUT
    ) -> RpcResult:
        if node.offline:
            return RpcResult(node.name, error=RpcError(f"Node {node.name} is marked offline"))
        url = f"https://{node.address}:{self.port}/{procedure}"
        limits = aiohttp.ClientTimeout(total=timeout, sock_connect=min(CONNECT_TIMEOUT, timeout))
        try:
            async with self._get_session().post(url, json=args or {}, timeout=limits) as resp:
                if resp.status != 200:
                    text = (await resp.text())[:200]
                    return RpcResult(node.name, error=RpcError(f"Node {node.name}: HTTP {resp.status}: {text}"))
                body = await resp.json()
        except TimeoutError:
            return RpcResult(
                node.name, error=RpcError(f"Node {node.name} did not answer '{procedure}' in {timeout:g}s")
            )
        except (aiohttp.ClientSSLError, ssl.SSLError) as err:
            return RpcResult(
                node.name,
                error=RpcError(
                    f"TLS handshake with node {node.name} ({node.address}) failed: {_short(err)};"
                    " it does not hold this cluster's certificate"
                ),
            )
        except (aiohttp.ClientError, OSError) as err:
            return RpcResult(
                node.name,
                error=RpcError(
                    f"Error while contacting node {node.name} ({node.address}): {_short(err)};"
                    " is gnt-noded running there?"
                ),
            )
        if body.get("ok"):
            return RpcResult(node.name, payload=body.get("result"))
        return RpcResult(node.name, error=GntError.from_dict(body.get("error", {})))

    async def call_many(
        self,
        nodes: Iterable[Target],
        procedure: str,
        args: dict[str, Any] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> dict[str, RpcResult]:
        nodes = list(nodes)
        results = await asyncio.gather(*(self.call(n, procedure, args, timeout) for n in nodes))
        return {r.node: r for r in results}


def _short(err: BaseException) -> str:
    text = str(err) or type(err).__name__
    if "Connect call failed" in text or "Cannot connect" in text:
        return "connection refused"
    return text.splitlines()[0][:200]
