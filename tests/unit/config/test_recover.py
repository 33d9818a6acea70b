"""gnt-cluster recover-config: which replica it takes, and what it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from gnt.cluster import recover
from gnt.errors import GntError, OpPrereqError, RpcError
from gnt.rpc.client import RpcResult


def replica(serial: int, master: str = "node1") -> dict:
    nodes = {"u1": {"name": "node1"}, "u2": {"name": "node2"}}
    master_uuid = {"node1": "u1", "node2": "u2"}[master]
    return {"serial": serial, "objects": {"cluster": {"c": {"master_node": master_uuid}}, "node": nodes}}


def test_newest_usable_replica_wins() -> None:
    results = {
        "node2": RpcResult("node2", payload=replica(40)),
        "node3": RpcResult("node3", payload=replica(42)),
        "node4": RpcResult("node4", error=RpcError("connection refused")),
        "node5": RpcResult("node5", payload=None),
        "node6": RpcResult("node6", payload=replica(99, master="node2")),  # another cluster view: unusable
    }
    name, data, asked = recover._pick(results, "node1")
    assert (name, data["serial"]) == ("node3", 42)
    assert asked["node2"] == "serial 40" and asked["node5"] == "holds no replica"
    assert "names node2 as master" in asked["node6"] and "connection refused" in asked["node4"]


def test_no_usable_replica_is_an_error_listing_every_node() -> None:
    with pytest.raises(GntError, match="node2: holds no replica"):
        recover._pick({"node2": RpcResult("node2", payload=None)}, "node1")


@pytest.fixture
def ssconf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "node1"
    (root / "var/lib/gnt").mkdir(parents=True)
    monkeypatch.setenv("GNT_ROOTDIR", str(root))
    monkeypatch.setenv("GNT_HOSTNAME", "node1")
    files = {
        "master_node": "node1",
        "master_candidates": "node1\nnode2\nnode3",
        "node_primary_ips": "node1 127.0.0.1\nnode2 127.0.0.2\nnode3 127.0.0.3\nnode4 127.0.0.4",
    }
    for key, value in files.items():
        (root / f"var/lib/gnt/ssconf_{key}").write_text(value)
    return root


def test_sources_are_the_other_candidates_or_the_named_node(ssconf: Path) -> None:
    assert recover._sources("node1", None) == {"node2": "127.0.0.2", "node3": "127.0.0.3"}
    assert recover._sources("node1", "node4") == {"node4": "127.0.0.4"}
    with pytest.raises(OpPrereqError, match="name another node"):
        recover._sources("node1", "node1")
    with pytest.raises(OpPrereqError, match="not in this node's ssconf"):
        recover._sources("node1", "node9")


def test_a_healthy_config_is_not_replaced_without_force(ssconf: Path) -> None:
    from tests.unit.config.test_damaged_db import _config_db

    _config_db(ssconf / "var/lib/gnt/config.db", instances=1)
    with pytest.raises(OpPrereqError, match="is not damaged"):
        recover.recover_config()
