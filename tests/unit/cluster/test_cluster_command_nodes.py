"""Which nodes gnt-cluster command and copyfile reach (gnt.cluster.remote_run.choose_nodes), and that no
node daemon procedure runs a caller's command or writes a caller's path any more."""

from __future__ import annotations

from typing import Any

import pytest

from gnt.cluster import remote_run
from gnt.errors import OpPrereqError
from gnt.rpc import procedures


def row(name: str, group: str = "default", master: bool = False, offline: bool = False) -> dict[str, Any]:
    return {"name": name, "pip": f"192.0.2.{len(name)}", "sip": None, "offline": offline, "group": group,
            "master": master, "ndparams": {"ssh_port": 2222}}  # fmt: skip


ROWS = [row("node1", master=True), row("node2"), row("node0", offline=True), row("node3", group="other")]
GROUPS = ["default", "other"]


def names(rows: list[dict[str, Any]]) -> list[str]:
    return [r["name"] for r in rows]


def test_all_nodes_master_last_offline_skipped() -> None:
    chosen, skipped = remote_run.choose_nodes(ROWS, [], None, GROUPS, skip_master=False)
    assert names(chosen) == ["node2", "node3", "node1"] and skipped == ["node0"]
    chosen, _ = remote_run.choose_nodes(ROWS, [], None, GROUPS, skip_master=True)
    assert names(chosen) == ["node2", "node3"]


def test_named_nodes_and_groups() -> None:
    assert names(remote_run.choose_nodes(ROWS, ["node1", "node2", "node1"], None, GROUPS, False)[0]) == [
        "node2",
        "node1",
    ]
    assert names(remote_run.choose_nodes(ROWS, [], "default", GROUPS, False)[0]) == ["node2", "node1"]
    with pytest.raises(OpPrereqError, match="Node 'nope' not known"):
        remote_run.choose_nodes(ROWS, ["nope"], None, GROUPS, False)
    with pytest.raises(OpPrereqError, match="Node group 'nope' not known"):
        remote_run.choose_nodes(ROWS, [], "nope", GROUPS, False)
    with pytest.raises(OpPrereqError, match="not both"):
        remote_run.choose_nodes(ROWS, ["node1"], "default", GROUPS, False)


def test_target_uses_primary_ip_or_replication_network_and_ssh_port() -> None:
    node = {**row("node2"), "sip": "198.51.100.2"}
    assert remote_run.target_of(node) == remote_run.NodeTarget("node2", "192.0.2.5", 2222)
    assert remote_run.target_of(node, replication_network=True).address == "198.51.100.2"


def test_no_node_procedure_runs_commands_or_writes_caller_paths() -> None:
    """The security rule: a node daemon trusts the certificate, never its arguments."""
    assert "node_command" not in procedures.TABLE and "node_write_file" not in procedures.TABLE
