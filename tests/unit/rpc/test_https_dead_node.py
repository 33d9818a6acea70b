"""The HTTPS transport against nodes that are down: the error says which kind of down, and a kept-alive
connection to a node that lost power fails in seconds, not after the whole procedure timeout."""

from __future__ import annotations

import asyncio
import errno
import socket
from pathlib import Path

import aiohttp
import pytest

from gnt import certs
from gnt.rpc import https
from gnt.rpc.https import HttpsTransport
from gnt.rpc.transport import Target


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize(
    ("err", "expected"),
    [
        (OSError(errno.EHOSTUNREACH, "No route to host"), "host unreachable; is the node up?"),
        (aiohttp.ClientOSError(errno.ETIMEDOUT, "Connection timed out"), "connection timed out; is the node up?"),
        (OSError(errno.ECONNREFUSED, "Connect call failed"), "connection refused; is gnt-noded running there?"),
        (aiohttp.ServerDisconnectedError(), "Server disconnected; is gnt-noded running there?"),
    ],
)
def test_the_reason_names_a_dead_host_apart_from_a_missing_daemon(err: BaseException, expected: str) -> None:
    assert https._why(err) == expected


def test_a_wrapped_os_error_is_read_through() -> None:
    outer = aiohttp.ClientError("Cannot connect to host 192.168.77.2:1811")
    outer.__cause__ = OSError(errno.EHOSTUNREACH, "No route to host")
    assert https._why(outer) == "host unreachable; is the node up?"


def test_a_refused_connection_on_a_live_host_asks_for_the_daemon(tmp_path: Path) -> None:
    pem = tmp_path / "server.pem"
    certs.write_pem(str(pem), certs.generate_pem("cluster.example.com"))

    async def call() -> object:
        transport = HttpsTransport(str(pem), _closed_port())
        try:
            return await transport.call(Target("node9", "127.0.0.1"), "version", {}, 10)
        finally:
            await transport.close()

    result = asyncio.run(call())
    assert str(result.error) == (
        "Error while contacting node node9 (127.0.0.1): connection refused; is gnt-noded running there?"
    )


@pytest.mark.skipif(not hasattr(socket, "TCP_USER_TIMEOUT"), reason="TCP_USER_TIMEOUT is Linux-only")
def test_pooled_connections_give_up_on_unacknowledged_data(tmp_path: Path) -> None:
    """The option is set on the very socket a call uses (a fresh one and a reused one alike)."""
    from aiohttp import web

    pem = tmp_path / "server.pem"
    certs.write_pem(str(pem), certs.generate_pem("cluster.example.com"))

    async def scenario() -> list[int]:
        async def slow(request: web.Request) -> web.StreamResponse:
            response = web.StreamResponse()  # headers first, body later: the call holds its connection
            await response.prepare(request)
            await asyncio.sleep(0.05)
            await response.write_eof(b"{}")
            return response

        app = web.Application()
        app.router.add_post("/version", slow)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=certs.server_context(str(pem)))
        await site.start()
        port = runner.addresses[0][1]
        transport = HttpsTransport(str(pem), port)
        seen = []
        try:
            for _ in range(2):
                async with transport._get_session().post(f"https://127.0.0.1:{port}/version", json={}) as resp:
                    sock = resp.connection.transport.get_extra_info("socket")
                    seen.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT))
                    await resp.read()
        finally:
            await transport.close()
            await runner.cleanup()
        return seen

    assert asyncio.run(scenario()) == [int(https.UNACKED_TIMEOUT * 1000)] * 2


def test_a_connect_that_gets_no_answer_says_the_node_may_be_down(tmp_path: Path, monkeypatch) -> None:
    """A powered-off host on the same network answers no SYN: that is a connect timeout, not a slow
    procedure (the message used to name the procedure's 30 s, which never ran)."""
    pem = tmp_path / "server.pem"
    certs.write_pem(str(pem), certs.generate_pem("cluster.example.com"))
    monkeypatch.setattr(https, "CONNECT_TIMEOUT", 0.5)
    with socket.socket() as full:
        full.bind(("127.0.0.1", 0))
        full.listen(0)  # never accepted: once its queue holds one connection, further SYNs are dropped
        port = full.getsockname()[1]
        fillers = []
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)

        async def call() -> object:
            transport = HttpsTransport(str(pem), port)
            try:
                return await transport.call(Target("node9", "127.0.0.1"), "version", {}, 30)
            finally:
                await transport.close()

        try:
            result = asyncio.run(call())
        finally:
            for filler in fillers:
                filler.close()
    assert str(result.error) == (
        "Error while contacting node node9 (127.0.0.1): no answer to connecting within 0.5s; is the node up?"
    )
