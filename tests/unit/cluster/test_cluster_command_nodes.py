"""Which nodes gnt-cluster command and copyfile reach, and the bodies the master refuses (gnt.cluster.remote)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from gnt.cluster import remote
from gnt.config.manager import ConfigManager
from gnt.errors import OpPrereqError
from gnt.objects import Node


def names(nodes: list[Node]) -> list[str]:
    return [n.name for n in nodes]


def test_all_nodes_master_last_offline_skipped(cfg: ConfigManager) -> None:
    extra = Node(name="node0", primary_ip="192.0.2.9", group=cfg.default_group().uuid, offline=True)
    cfg.commit_sync([extra])
    chosen, skipped = remote.choose_nodes(cfg, [], None, skip_master=False)
    assert names(chosen) == ["node2", "node1"] and skipped == ["node0"]
    chosen, _ = remote.choose_nodes(cfg, [], None, skip_master=True)
    assert names(chosen) == ["node2"]


def test_named_nodes_and_groups(cfg: ConfigManager) -> None:
    assert names(remote.choose_nodes(cfg, ["node1", "node2", "node1"], None, False)[0]) == ["node2", "node1"]
    assert names(remote.choose_nodes(cfg, [], "default", False)[0]) == ["node2", "node1"]
    with pytest.raises(OpPrereqError, match="Node 'nope' not known"):
        remote.choose_nodes(cfg, ["nope"], None, False)
    with pytest.raises(OpPrereqError, match="Node group 'nope' not known"):
        remote.choose_nodes(cfg, [], "nope", False)
    with pytest.raises(OpPrereqError, match="not both"):
        remote.choose_nodes(cfg, ["node1"], "default", False)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "No command given"),
        ({"command": "  "}, "No command given"),
        ({"command": 5}, "No command given"),
        ({"command": "true", "timeout": 0}, "'timeout'"),
        ({"command": "true", "timeout": True}, "'timeout'"),
        ({"command": "true", "nodes": "node1"}, "'nodes'"),
        ({"command": "true", "group": ""}, "'group'"),
    ],
)
def test_command_bodies_refused(cfg: ConfigManager, body: dict[str, Any], message: str) -> None:
    with pytest.raises(OpPrereqError, match=message):
        asyncio.run(remote.run_command(SimpleNamespace(cfg=cfg), body))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"data": "eA=="}, "absolute path"),
        ({"path": "rel", "data": "eA=="}, "absolute path"),
        ({"path": "/x", "data": "not base64!"}, "not base64"),
        ({"path": "/x", "data": "eA==", "mode": 0o17777}, "'mode'"),
        ({"path": "/x", "data": "eA==", "mode": "644"}, "'mode'"),
    ],
)
def test_copyfile_bodies_refused(cfg: ConfigManager, body: dict[str, Any], message: str) -> None:
    with pytest.raises(OpPrereqError, match=message):
        asyncio.run(remote.copy_file(SimpleNamespace(cfg=cfg), body))
