"""The /2/networks resources: Ganeti's paths, bodies and aliases become OP_NETWORK_*; malformed is a 400."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.api.conftest import ADMIN, RapiServer


def test_network_reads_before_any_network(rapi_server: RapiServer) -> None:
    assert rapi_server.call("GET", "/2/networks", user=None) == (200, [])
    assert rapi_server.call("GET", "/2/networks?bulk=1", user=None) == (200, [])
    status, answer = rapi_server.call("GET", "/2/networks/nonesuch", user=None)
    assert status == 404 and answer["explain"] == "Network 'nonesuch' not found"
    status, answer = rapi_server.call("GET", "/2/query/network?fields=name,free_count", user=ADMIN)
    assert status == 200 and answer["data"] == []
    status, answer = rapi_server.call("GET", "/2/query/network/fields", user=None)
    assert status == 200
    assert {"name": "map", "title": "Map", "kind": "text", "doc": "Actual mapping"} in answer["fields"]


def test_network_writes_become_ganetis_opcodes(rapi_server: RapiServer) -> None:
    def op(method: str, path: str, body: object = None) -> dict[str, Any]:
        status, job_id = rapi_server.call(method, path, body, user=ADMIN)
        assert status == 200, job_id
        return rapi_server.master.queue.get(job_id).ops[0]

    added = op("POST", "/2/networks?dry-run=1", {"name": "net1", "network": "192.0.2.0/24", "gateway": None})
    assert added["OP_ID"] == "OP_NETWORK_ADD" and added["network_name"] == "net1" and added["dry_run"] is True
    assert op("DELETE", "/2/networks/net1")["OP_ID"] == "OP_NETWORK_REMOVE"
    modified = op("PUT", "/2/networks/net1/modify", {"add_reserved_ips": ["192.0.2.7"]})
    assert (modified["OP_ID"], modified["network_name"], modified["add_reserved_ips"]) == (
        "OP_NETWORK_SET_PARAMS",
        "net1",
        ["192.0.2.7"],
    )
    body = {"group_name": "default", "network_mode": "bridged", "network_link": "br0", "network_vlan": ""}
    connected = op("PUT", "/2/networks/net1/connect", body)
    assert connected["OP_ID"] == "OP_NETWORK_CONNECT" and connected["network_link"] == "br0"
    assert op("PUT", "/2/networks/net1/disconnect", {"group_name": "default"})["OP_ID"] == "OP_NETWORK_DISCONNECT"
    tagged = op("PUT", "/2/networks/net1/tags?tag=a")
    assert (tagged["OP_ID"], tagged["kind"], tagged["tags"]) == ("OP_TAGS_SET", "network", ["a"])


@pytest.mark.parametrize(
    ("method", "path", "body", "message"),
    [
        ("POST", "/2/networks", {"name": "n", "network_name": "n", "network": "192.0.2.0/24"}, "give only one"),
        ("POST", "/2/networks", {"network_name": "n", "network": "192.0.2.0/33"}, "is not an IPv4 network"),
        ("POST", "/2/networks", {"network_name": "n"}, "network"),
        ("PUT", "/2/networks/n/connect", {"group_name": "default", "network_mode": "bridged"}, "network_link"),
        ("PUT", "/2/networks/n/modify", {"add_reserved_ips": ["x"]}, "is not an IPv4 address"),
        ("PUT", "/2/networks/n/modify", {"gateway": "192.0.2.1", "remove_reserved_ips": ["192.0.2.2"]}, "at once"),
    ],
)
def test_malformed_network_writes_are_400_and_change_nothing(
    rapi_server: RapiServer, method: str, path: str, body: dict[str, Any], message: str
) -> None:
    before = rapi_server.state()
    status, answer = rapi_server.call(method, path, body, user=ADMIN)
    assert status == 400 and message in answer["explain"], answer
    assert rapi_server.state() == before
