"""The OS query: per-node answers merged as Ganeti's OsQuery, and the rows OP_OS_DIAGNOSE returns."""

from __future__ import annotations

import pytest

from gnt.errors import OpPrereqError, RpcError
from gnt.objects import Cluster
from gnt.os import query
from gnt.rpc.transport import RpcResult


def entry(name: str, path: str, valid: bool = True, variants: list[str] | None = None, **kw: object) -> dict:
    return {
        "name": name,
        "path": path,
        "valid": valid,
        "message": kw.get("message", ""),
        "variants": variants or [],
        "parameters": kw.get("parameters", []),
        "api_versions": kw.get("api_versions", [20]),
    }


def results() -> dict[str, RpcResult]:
    return {
        "node1": RpcResult(
            "node1",
            [
                entry("deb", "/srv/gnt/os/deb", variants=["default", "small"], parameters=[["dhcp", "DHCP"]]),
                entry("noop", "/srv/gnt/os/noop"),
                entry("noop", "/usr/share/ganeti/os/noop", api_versions=[5, 10]),  # shadowed
                entry("half", "/srv/gnt/os/half"),
            ],
        ),
        "node2": RpcResult(
            "node2",
            [
                entry("deb", "/srv/gnt/os/deb", variants=["default"], parameters=[["dhcp", "DHCP"]]),
                entry("noop", "/srv/gnt/os/noop"),
                entry("half", "/srv/gnt/os/half", valid=False, message="missing script 'verify'"),
            ],
        ),
        "node3": RpcResult("node3", error=RpcError("connection refused")),  # left out, not invalidating
    }


def test_merge_keeps_search_order_per_node_and_agrees_across_nodes() -> None:
    cluster = Cluster(hidden_os=["noop"], osparams={"deb": {"dhcp": "no"}})
    infos = {i["name"]: i for i in query.merge(results(), cluster)}
    assert sorted(infos) == ["deb", "half", "noop"]
    deb = infos["deb"]
    assert deb["valid"] and deb["variants"] == ["default"]  # the variants both nodes have
    assert deb["parameters"] == [["dhcp", "DHCP"]] and deb["osparams"] == {"dhcp": "no"}
    assert sorted(deb["node_status"]) == ["node1", "node2"]
    noop = infos["noop"]
    assert noop["hidden"] and noop["valid"]
    assert [e[0] for e in noop["node_status"]["node1"]] == ["/srv/gnt/os/noop", "/usr/share/ganeti/os/noop"]
    assert not infos["half"]["valid"] and infos["half"]["variants"] == []


def test_an_os_missing_on_a_node_is_invalid() -> None:
    answers = results()
    answers["node2"] = RpcResult("node2", [])
    infos = {i["name"]: i for i in query.merge(answers, Cluster())}
    assert not infos["deb"]["valid"] and infos["deb"]["node_status"]["node2"] == []


def test_select_hides_hidden_blacklisted_and_invalid_unless_asked() -> None:
    infos = query.merge(results(), Cluster(hidden_os=["noop"], blacklisted_os=["deb"]))
    assert query.select(infos, ["name"], []) == []
    assert query.select(infos, ["name", "hidden"], []) == [["noop", True]]
    assert query.select(infos, ["name", "valid", "hidden", "blacklisted"], ["half"]) == [["half", False, False, False]]
    with pytest.raises(OpPrereqError, match="Some items were not found: nosuch"):
        query.select(infos, ["name"], ["nosuch"])


def test_listed_names_expand_variants_like_ganeti() -> None:
    infos = query.merge(results(), Cluster())
    assert query.listed_names(infos) == ["deb+default", "noop"]
    assert query.os_names("x", []) == ["x"]
