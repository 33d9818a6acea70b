"""OP_EXTSTORAGE_DIAGNOSE on the in-process transport: per-node and per-group status as Ganeti's."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gnt.errors import OpPrereqError
from gnt.extstorage.logic import LUExtStorageDiagnose
from gnt.extstorage.opcodes import OpExtStorageDiagnose
from gnt.objects import Node, NodeGroup
from tests.unit.lu.conftest import Harness

FIELDS = ["name", "node_status", "nodegroup_status", "parameters"]


def _entry(name: str, valid: bool = True, params: list[list[str]] | None = None) -> dict[str, Any]:
    message = "" if valid else "missing script 'grow'"
    path = f"/srv/gnt/extstorage/{name}"
    return {"name": name, "path": path, "valid": valid, "message": message, "parameters": params or [["pool", "Pool"]]}


def test_a_provider_valid_on_every_node_of_a_group_is_valid_for_it(harness: Harness) -> None:
    harness.nodes["node1"].do_extstorage_diagnose = lambda a: [_entry("rbd"), _entry("zfs")]  # type: ignore[attr-defined]
    harness.nodes["node2"].do_extstorage_diagnose = lambda a: [_entry("rbd", valid=False)]  # type: ignore[attr-defined]
    rows = harness.run(OpExtStorageDiagnose(output_fields=FIELDS), LUExtStorageDiagnose)
    by_name = {row[0]: row for row in rows}
    assert sorted(by_name) == ["rbd", "zfs"]
    _, status, groups, params = by_name["rbd"]
    assert status["node1"] == [["/srv/gnt/extstorage/rbd", True, "", [["pool", "Pool"]]]]
    assert status["node2"][0][1:3] == [False, "missing script 'grow'"]
    assert groups == {"default": False} and params == []
    assert by_name["zfs"][1]["node2"] == []  # node2 has no zfs at all
    assert by_name["zfs"][2] == {"default": False}


def test_group_status_is_per_group_and_parameters_are_those_all_valid_nodes_share(harness: Harness) -> None:
    cfg = harness.cfg
    rack = NodeGroup(name="rack2")
    node2 = cfg.node("node2")
    node2.group = rack.uuid
    asyncio.run(cfg.commit([rack, node2]))
    harness.nodes["node1"].do_extstorage_diagnose = lambda a: [_entry("rbd", params=[["pool", "Pool"], ["x", ""]])]  # type: ignore[attr-defined]
    harness.nodes["node2"].do_extstorage_diagnose = lambda a: [_entry("rbd", valid=False)]  # type: ignore[attr-defined]
    rows = harness.run(OpExtStorageDiagnose(output_fields=["nodegroup_status", "parameters"]), LUExtStorageDiagnose)
    assert rows == [[{"default": True, "rack2": False}, [["pool", "Pool"], ["x", ""]]]]


def test_offline_nodes_are_not_asked_and_unknown_names_are_refused(harness: Harness) -> None:
    cfg = harness.cfg
    node2: Node = cfg.node("node2")
    node2.offline = True
    asyncio.run(cfg.commit([node2]))
    harness.nodes["node1"].do_extstorage_diagnose = lambda a: [_entry("rbd")]  # type: ignore[attr-defined]
    rows = harness.run(OpExtStorageDiagnose(output_fields=["name", "nodegroup_status"]), LUExtStorageDiagnose)
    assert rows == [["rbd", {"default": True}]]
    assert "extstorage_diagnose" not in harness.nodes["node2"].names()
    with pytest.raises(OpPrereqError, match="Some items were not found: nosuch"):
        harness.run(OpExtStorageDiagnose(output_fields=["name"], names=["nosuch"]), LUExtStorageDiagnose)


def test_unknown_fields_are_refused_at_submission() -> None:
    from gnt.opcodes import from_dict

    with pytest.raises(OpPrereqError, match="Unknown output fields selected: bogus"):
        from_dict({"OP_ID": "OP_EXTSTORAGE_DIAGNOSE", "output_fields": ["name", "bogus"]})
