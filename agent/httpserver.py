"""A minimal HTTP/1.1 server on asyncio streams, for the node daemon's RPC.

Why not aiohttp (which the master uses): a node daemon runs on every node, 50 of them on one
machine in a virtual cluster, and aiohttp's server costs ~15 MB of memory per process. Node RPC
needs very little of HTTP: `POST /<procedure>` with a JSON body of known length, a JSON answer,
keep-alive, over mutual TLS. Anything else gets a 4xx and the connection is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Awaitable, Callable

from gnt.node_certs import digest_der

log = logging.getLogger("gnt-noded")

#: (procedure, body, digest of the TLS peer's certificate or None) -> the JSON answer
Handler = Callable[[str, bytes, str | None], Awaitable[bytes]]
MAX_HEADER_BYTES = 16 * 1024
MAX_BODY_BYTES = 64 * 1024 * 1024
IDLE_TIMEOUT = 120.0
#: a body of announced length arrives at once from the master; a caller that stops short must not hold the connection
BODY_TIMEOUT = 30.0
REASONS = {
    200: "OK",
    400: "Bad Request",
    405: "Method Not Allowed",
    408: "Request Timeout",
    411: "Length Required",
    413: "Payload Too Large",
    500: "Internal Server Error",
}


class BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, bytes, bool] | None:
    """(path, body, keep_alive), or None when the client closed the connection between requests."""
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), IDLE_TIMEOUT)
    except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
        return None
    except asyncio.LimitOverrunError as err:
        raise BadRequest(400, "request header too large") from err
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest(400, "malformed request line")
    method, path, version = parts
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    if method != "POST":
        raise BadRequest(405, "only POST is served")
    if "chunked" in headers.get("transfer-encoding", "").lower() or "content-length" not in headers:
        raise BadRequest(411, "a Content-Length is required")
    length = int(headers["content-length"]) if headers["content-length"].isdigit() else -1
    if not 0 <= length <= MAX_BODY_BYTES:
        raise BadRequest(413, "request body too large")
    try:
        body = await asyncio.wait_for(reader.readexactly(length), BODY_TIMEOUT)
    except TimeoutError as err:
        raise BadRequest(408, f"request body incomplete after {BODY_TIMEOUT:g}s") from err
    keep_alive = headers.get("connection", "").lower() != "close" and version == "HTTP/1.1"
    return path, body, keep_alive


def _response(status: int, body: bytes, keep_alive: bool) -> bytes:
    head = (
        f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n"
    )
    return head.encode("latin-1") + body


def _peer_digest(writer: asyncio.StreamWriter) -> str | None:
    """The SHA-256 of the client's certificate (mutual TLS), or None on a plain connection."""
    sslobj = writer.get_extra_info("ssl_object")
    der = sslobj.getpeercert(binary_form=True) if sslobj is not None else None
    return digest_der(der) if der else None


async def _serve_connection(
    handler: Handler,
    open_writers: set[asyncio.StreamWriter],
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
) -> None:
    open_writers.add(writer)
    caller = _peer_digest(writer)
    try:
        while True:
            try:
                request = await _read_request(reader)
            except BadRequest as err:
                writer.write(_response(err.status, f'{{"error": "{err}"}}'.encode(), False))
                await writer.drain()
                return
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            if request is None:
                return
            path, body, keep_alive = request
            writer.write(_response(200, await handler(path.lstrip("/"), body, caller), keep_alive))
            await writer.drain()
            if not keep_alive:
                return
    except (ConnectionError, ssl.SSLError) as err:
        log.debug("connection dropped: %s", err)
    finally:
        open_writers.discard(writer)
        writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError, TimeoutError):
            await asyncio.wait_for(writer.wait_closed(), 5)


class Server:
    """A listening server and its open connections (closed together when the node re-arms)."""

    def __init__(self) -> None:
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()

    async def start(self, handler: Handler, address: str, port: int, ssl_context: ssl.SSLContext | None) -> None:
        """Listen on address:port; `handler(procedure, body)` returns the JSON answer's bytes."""
        tls = {"ssl": ssl_context, "ssl_handshake_timeout": 10} if ssl_context is not None else {}
        self.server = await asyncio.start_server(
            lambda r, w: _serve_connection(handler, self.writers, r, w),
            address,
            port,
            reuse_address=True,
            limit=MAX_HEADER_BYTES,
            **tls,
        )

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
        for writer in list(self.writers):
            writer.close()
        if self.server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.server.wait_closed(), 5)
