"""The node daemon's minimal HTTP server: what it serves, and what it refuses."""

from __future__ import annotations

import asyncio
import json

import pytest

from agent import httpserver
from agent.httpserver import Server


async def _echo(name: str, body: bytes, caller: str | None = None) -> bytes:
    return json.dumps({"procedure": name, "args": json.loads(body or b"{}")}).encode()


async def _exchange(raw: bytes, reads: int = 1) -> list[bytes]:
    server = Server()
    await server.start(_echo, "127.0.0.1", 0, None)
    assert server.server is not None
    port = server.server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    await writer.drain()
    answers = []
    for _ in range(reads):
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        length = int(
            next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
        )
        answers.append(head + await reader.readexactly(length))
    writer.close()
    await server.close()
    return answers


def _post(path: str, body: bytes, extra: str = "") -> bytes:
    return f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


def test_post_is_dispatched_with_its_json_body() -> None:
    (answer,) = asyncio.run(_exchange(_post("/node_info", b'{"a": 1}')))
    assert answer.startswith(b"HTTP/1.1 200 OK")
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1]) == {"procedure": "node_info", "args": {"a": 1}}


def test_keep_alive_serves_several_requests_on_one_connection() -> None:
    answers = asyncio.run(_exchange(_post("/a", b"{}") + _post("/b", b"{}"), reads=2))
    assert [json.loads(a.split(b"\r\n\r\n", 1)[1])["procedure"] for a in answers] == ["a", "b"]


def test_get_is_refused_with_405() -> None:
    (answer,) = asyncio.run(_exchange(b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n"))
    assert answer.startswith(b"HTTP/1.1 405")


def test_missing_length_and_chunked_bodies_are_refused_with_411() -> None:
    (answer,) = asyncio.run(_exchange(b"POST /x HTTP/1.1\r\nHost: x\r\n\r\n"))
    assert answer.startswith(b"HTTP/1.1 411")
    (answer,) = asyncio.run(_exchange(b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"))
    assert answer.startswith(b"HTTP/1.1 411")


def test_garbage_request_line_is_a_400() -> None:
    (answer,) = asyncio.run(_exchange(b"HELLO\r\n\r\n"))
    assert answer.startswith(b"HTTP/1.1 400")


def test_oversized_body_is_refused_with_413() -> None:
    (answer,) = asyncio.run(_exchange(b"POST /x HTTP/1.1\r\nContent-Length: 999999999999\r\n\r\n"))
    assert answer.startswith(b"HTTP/1.1 413")


def test_a_body_shorter_than_its_length_is_a_408_not_a_held_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 7 re-test: a Content-Length larger than the body kept the node's connection open for ever."""
    monkeypatch.setattr(httpserver, "BODY_TIMEOUT", 0.2)
    (answer,) = asyncio.run(_exchange(b"POST /version HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"))
    assert answer.startswith(b"HTTP/1.1 408")
    assert b"Connection: close" in answer
