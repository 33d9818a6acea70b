"""HTTPS requests for the RAPI client, on urllib3 (pooled keep-alive connections, TLS, timeouts).

Kept apart from the client's methods so tests, or another HTTP library, can stand in for it: the
client only needs `send(method, path, query, body) -> (status, decoded JSON or None)`.
"""

from __future__ import annotations

import json
import socket
import ssl
import urllib.parse
from typing import Any

import urllib3

__all__ = ["Transport", "encode_query"]


def encode_query(query: list[tuple[str, Any]]) -> str:
    """Ganeti's query encoding: booleans as 0/1, None as empty; lists and dicts are refused."""
    pairs = []
    for name, value in query:
        if value is None:
            value = ""
        elif isinstance(value, bool):
            value = int(value)
        elif isinstance(value, (list, tuple, dict)):
            raise ValueError(f"Invalid query data type {type(value).__name__!r}")
        pairs.append((name, value))
    return urllib.parse.urlencode(pairs)


def base_url(host: str, port: int) -> str:
    try:
        socket.inet_pton(socket.AF_INET6, host)
        return f"https://[{host}]:{port}"
    except OSError:
        return f"https://{host}:{port}"


class Transport:
    """One pool of HTTPS connections to the RAPI, with basic auth when a user is given.

    TLS is verified against `cafile` (the cluster's rapi.pem) or the system's CAs; the RAPI
    certificate is self-signed for the cluster name, so `verify_hostname=False` is the usual
    companion of `cafile`. `verify=False` turns verification off (Ganeti's client default: an
    explicit choice here).
    """

    def __init__(
        self,
        host: str,
        port: int,
        username: str | None,
        password: str | None,
        *,
        cafile: str | None = None,
        verify: bool = True,
        verify_hostname: bool = True,
        timeout: float = 60.0,
    ) -> None:
        self.base = base_url(host, port)
        context = ssl.create_default_context(cafile=cafile)
        if not verify or not verify_hostname:
            context.check_hostname = False
        if not verify:
            context.verify_mode = ssl.CERT_NONE
        self.headers = {"Accept": "application/json", "Content-Type": "application/json"}
        self.headers["User-Agent"] = "gnt RAPI client"
        if username is not None:
            self.headers.update(urllib3.make_headers(basic_auth=f"{username}:{password}"))
        # urllib3 checks the host name itself too: the context's check_hostname alone does not turn it off
        hostname: dict[str, Any] = {} if verify and verify_hostname else {"assert_hostname": False}
        self.pool = urllib3.PoolManager(
            ssl_context=context, retries=False, timeout=urllib3.Timeout(total=timeout), **hostname
        )

    def send(self, method: str, path: str, query: list[tuple[str, Any]] | None, body: Any) -> tuple[int, Any]:
        url = self.base + path + (("?" + encode_query(query)) if query else "")
        data = json.dumps(body, sort_keys=True).encode() if body is not None else None
        response = self.pool.request(method, url, body=data, headers=self.headers)
        return response.status, (json.loads(response.data) if response.data else None)

    def close(self) -> None:
        self.pool.clear()
