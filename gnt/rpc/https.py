"""The production transport: JSON over HTTPS with mutual TLS, to every node in parallel.

A node that is down, slow or presents the wrong certificate yields an error *result* for that
node with a clear message; it never hangs the job or the other nodes' calls.
"""

from __future__ import annotations

import ssl
from typing import Any

import aiohttp

from gnt import certs
from gnt.errors import RpcError
from gnt.rpc.transport import RpcResult, Target, offline_result, result_from_body

CONNECT_TIMEOUT = 5.0


class HttpsTransport:
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

    async def call(self, target: Target, procedure: str, payload: dict[str, Any], timeout: float) -> RpcResult:
        if target.offline:
            return offline_result(target)
        name = target.name
        url = f"https://{target.address}:{self.port}/{procedure}"
        limits = aiohttp.ClientTimeout(total=timeout, sock_connect=min(CONNECT_TIMEOUT, timeout))
        try:
            async with self._get_session().post(url, json=payload, timeout=limits) as resp:
                if resp.status != 200:
                    text = (await resp.text())[:200]
                    return RpcResult(name, error=RpcError(f"Node {name}: HTTP {resp.status}: {text}"))
                body = await resp.json()
        except TimeoutError:
            return RpcResult(name, error=RpcError(f"Node {name} did not answer '{procedure}' in {timeout:g}s"))
        except (aiohttp.ClientSSLError, ssl.SSLError) as err:
            return RpcResult(
                name,
                error=RpcError(
                    f"TLS handshake with node {name} ({target.address}) failed: {_short(err)};"
                    " it does not hold this cluster's certificate"
                ),
            )
        except (aiohttp.ClientError, OSError, ValueError) as err:
            return RpcResult(
                name,
                error=RpcError(
                    f"Error while contacting node {name} ({target.address}): {_short(err)}; is gnt-noded running there?"
                ),
            )
        return result_from_body(name, body)


def _short(err: BaseException) -> str:
    text = str(err) or type(err).__name__
    if "Connect call failed" in text or "Cannot connect" in text:
        return "connection refused"
    return text.splitlines()[0][:200]
