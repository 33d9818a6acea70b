"""`gnt-node list-drbd NODE` prints the node's drbd minors as Ganeti's static table."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from gnt.node import cli as node_cli


class Master:
    def __init__(self, minors: list[list[Any]]) -> None:
        self.minors, self.asked = minors, []

    def get(self, path: str, **query: Any) -> Any:
        self.asked.append((path, query))
        return {"fields": [], "data": [[[0, "node1"], [0, self.minors]]]}


def test_list_drbd_prints_minor_instance_disk_role_and_peer(monkeypatch: pytest.MonkeyPatch) -> None:
    master = Master([[0, "inst1", 0, "primary", "node2"], [1, "inst2", 0, "secondary", "node3"]])
    monkeypatch.setattr(node_cli, "client", lambda: master)
    result = CliRunner().invoke(node_cli.main, ["list-drbd", "node1"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "Node  Minor Instance Disk Role      PeerNode",
        "node1 0     inst1    0    primary   node2",
        "node1 1     inst2    0    secondary node3",
    ]
    assert master.asked == [("/2/query/node", {"fields": "name,drbd_minors", "names": "node1"})]
    plain = CliRunner().invoke(node_cli.main, ["list-drbd", "--no-headers", "--separator", ":", "node1"])
    assert plain.output.splitlines()[0] == "node1:0:inst1:0:primary:node2"


def test_list_drbd_needs_a_node() -> None:
    result = CliRunner().invoke(node_cli.main, ["list-drbd"])
    assert result.exit_code == 2 and "Missing argument 'NODE'" in result.output
