"""gnt.rapi.client without a server: Ganeti's argument checks and query encoding."""

from __future__ import annotations

from typing import Any

import pytest

from gnt.rapi import client
from gnt.rapi._transport import base_url, encode_query


def test_query_encoding_is_ganetis() -> None:
    assert encode_query([("bulk", True), ("dry-run", False), ("reason", None), ("tag", "a b")]) == (
        "bulk=1&dry-run=0&reason=&tag=a+b"
    )
    with pytest.raises(ValueError, match="Invalid query data type 'list'"):
        encode_query([("tag", ["x"])])


def test_ipv6_hosts_are_bracketed() -> None:
    assert base_url("::1", 5080) == "https://[::1]:5080"
    assert base_url("cluster.example.com", 5080) == "https://cluster.example.com:5080"


def test_credentials_must_come_in_pairs() -> None:
    with pytest.raises(client.Error, match="Password not specified"):
        client.GanetiRapiClient("127.0.0.1", username="admin")
    with pytest.raises(client.Error, match="without username"):
        client.GanetiRapiClient("127.0.0.1", password="x")


class Recorder:
    """A transport that answers one canned reply and records the request."""

    def __init__(self, status: int, answer: Any) -> None:
        self.reply = (status, answer)
        self.sent: list[tuple[Any, ...]] = []

    def send(self, method: str, path: str, query: Any, body: Any) -> tuple[int, Any]:
        self.sent.append((method, path, query, body))
        return self.reply


def test_errors_carry_the_http_status_and_ganetis_message() -> None:
    rapi = client.GanetiRapiClient("127.0.0.1")
    rapi._transport = Recorder(404, {"code": 404, "message": "Not Found", "explain": "Instance 'x' not known"})  # type: ignore[assignment]
    with pytest.raises(client.GanetiApiError) as info:
        rapi.GetInstance("x")
    assert info.value.code == 404 and str(info.value) == "404 Not Found: Instance 'x' not known"


def test_create_instance_sends_a_version_1_body_and_refuses_clashing_keywords() -> None:
    rapi = client.GanetiRapiClient("127.0.0.1")
    recorder = rapi._transport = Recorder(200, 17)  # type: ignore[assignment]
    assert rapi.CreateInstance("create", "web1", "diskless", [], [], os="noop", dry_run=True) == 17
    ((method, path, query, body),) = recorder.sent
    assert (method, path, query) == ("POST", "/2/instances", [("dry-run", 1)])
    assert body == {"__version__": 1, "mode": "create", "name": "web1", "disk_template": "diskless",
                    "disks": [], "nics": [], "os": "noop"}  # fmt: skip
    with pytest.raises(client.GanetiApiError, match="__version__"):
        rapi.CreateInstance("create", "web1", "diskless", [], [], **{"__version__": 2})
