"""A small HTTP client for the master's unix socket (stdlib only, so the CLI starts fast)."""

from __future__ import annotations

import json
import os
import socket
import urllib.parse
from typing import Any

from gnt import paths
from gnt.errors import ApiError, GntError, JobQueueError


class _Connection:
    """One keep-alive HTTP/1.1 connection to the master's unix socket.

    The stdlib's http.client costs ~23 ms of imports (email, ssl) on every CLI start; the master
    socket needs only requests with a JSON body and answers with a Content-Length.
    """

    def __init__(self, path: str, timeout: float) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buffer = b""

    def close(self) -> None:
        self.sock.close()

    def exchange(self, method: str, path: str, payload: bytes | None) -> tuple[int, bytes]:
        head = f"{method} {path} HTTP/1.1\r\nHost: localhost\r\n"
        if payload is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
        self.sock.sendall(head.encode() + b"\r\n" + (payload or b""))
        header = self._read_until(b"\r\n\r\n").decode("latin-1")
        lines = header.split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        if "chunked" in fields.get("transfer-encoding", ""):
            return status, self._read_chunked()
        return status, self._read_exactly(int(fields.get("content-length", "0")))

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("the master daemon closed the connection")
        self.buffer += data

    def _read_until(self, marker: bytes) -> bytes:
        while marker not in self.buffer:
            self._fill()
        data, _, self.buffer = self.buffer.partition(marker)
        return data

    def _read_exactly(self, length: int) -> bytes:
        while len(self.buffer) < length:
            self._fill()
        data, self.buffer = self.buffer[:length], self.buffer[length:]
        return data

    def _read_chunked(self) -> bytes:
        body = b""
        while True:
            size = int(self._read_until(b"\r\n").split(b";")[0], 16)
            if size == 0:
                self._read_until(b"\r\n")
                return body
            body += self._read_exactly(size)
            self._read_exactly(2)


def _not_master_error() -> GntError:
    try:
        with open(paths.ssconf_file("master_node")) as handle:
            master = handle.read().strip()
    except OSError:
        return GntError("Cluster not initialized or this machine is not part of a cluster")
    if master != paths.hostname():
        return GntError(f"This is not the master node, please connect to node '{master}' and rerun the command")
    from gnt import startup_error

    reason = startup_error.read("gnt-masterd")
    if reason:
        return GntError(f"The master daemon refused to start: {reason}")
    return GntError(
        "Cannot communicate with the master daemon; is gnt-masterd running? (start it with"
        " gnt-masterd, or the vcluster's start-all)"
    )


class Client:
    def __init__(self, socket_path: str | None = None, timeout: float = 120.0) -> None:
        self.path = socket_path or paths.master_socket()
        self.timeout = timeout
        self._conn: _Connection | None = None

    def request(self, method: str, path: str, body: Any = None, query: dict[str, Any] | None = None) -> Any:
        if query:
            path += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        payload = json.dumps(body).encode() if body is not None else None
        while True:
            reused = self._conn is not None
            try:
                if self._conn is None:
                    self._conn = _Connection(self.path, self.timeout)
                status, data = self._conn.exchange(method, path, payload)
                break
            except (OSError, ValueError, IndexError) as err:
                if self._conn is not None:
                    self._conn.close()
                self._conn = None
                # only a kept-alive connection the master had already closed is worth a second try;
                # anything else might have reached the master, and a job must not be submitted twice
                if not reused or not os.path.exists(self.path):
                    raise _not_master_error() from err
        value = json.loads(data) if data else None
        if status >= 400:
            raise _error_from(status, value)
        return value

    def get(self, path: str, **query: Any) -> Any:
        return self.request("GET", path, query=query or None)

    def submit(self, ops: list[dict[str, Any]]) -> int:
        return int(self.request("POST", "/2/jobs", {"ops": ops}))

    def submit_many(self, jobs: list[list[dict[str, Any]]]) -> list[tuple[bool, Any]]:
        return [tuple(x) for x in self.request("POST", "/2/jobs", {"jobs": jobs})]  # type: ignore[misc]


def _error_from(status: int, body: Any) -> GntError:
    if isinstance(body, dict):
        cls = body.get("error_class")
        if cls:
            args = body.get("error_args") or [body.get("explain", "")]
            return GntError.from_dict({"class": cls, "message": args[0], "args": args[1:]})
        if status == 404 and "Job" in str(body.get("explain")):
            return JobQueueError(str(body.get("explain")))
        return ApiError(str(body.get("explain") or body.get("message")), status)
    return ApiError(f"HTTP {status}", status)
