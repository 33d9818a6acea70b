"""A small HTTP client for the master's unix socket (stdlib only, so the CLI starts fast)."""

from __future__ import annotations

import http.client
import json
import os
import socket
import urllib.parse
from typing import Any

from gnt import paths
from gnt.errors import ApiError, GntError, JobQueueError


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


def _not_master_error() -> GntError:
    try:
        with open(paths.ssconf_file("master_node")) as handle:
            master = handle.read().strip()
    except OSError:
        return GntError("Cluster not initialized or this machine is not part of a cluster")
    if master != paths.hostname():
        return GntError(f"This is not the master node, please connect to node '{master}' and rerun the command")
    return GntError(
        "Cannot communicate with the master daemon; is gnt-masterd running? (start it with"
        " gnt-masterd, or the vcluster's start-all)"
    )


class Client:
    def __init__(self, socket_path: str | None = None, timeout: float = 120.0) -> None:
        self.path = socket_path or paths.master_socket()
        self.timeout = timeout
        self._conn: _UnixConnection | None = None

    def request(self, method: str, path: str, body: Any = None, query: dict[str, Any] | None = None) -> Any:
        if query:
            path += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        payload = json.dumps(body) if body is not None else None
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        for attempt in (0, 1):
            if self._conn is None:
                if not os.path.exists(self.path):
                    raise _not_master_error()
                self._conn = _UnixConnection(self.path, self.timeout)
            try:
                self._conn.request(method, path, body=payload, headers=headers)
                resp = self._conn.getresponse()
                data = resp.read()
                break
            except (ConnectionError, http.client.HTTPException, FileNotFoundError) as err:
                self._conn.close()
                self._conn = None
                if attempt:
                    raise _not_master_error() from err
        value = json.loads(data) if data else None
        if resp.status >= 400:
            raise _error_from(resp.status, value)
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
