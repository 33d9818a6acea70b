"""`gnt-node migrate --migration-mode/--ignore-ipolicy` (Ganeti 3.0's options) reach every
instance's migration job."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from gnt import opcodes
from gnt.node import cli as node_cli


class Master:
    def __init__(self) -> None:
        self.ops: list[dict[str, Any]] = []

    def submit(self, ops: list[dict[str, Any]]) -> int:
        for op in ops:
            opcodes.from_dict(op)  # checked as the master's submission checks it
        self.ops.extend(ops)
        return 3

    def request(self, method: str, path: str, body: Any = None) -> Any:
        return {"job_info": ["success"], "log_entries": []}

    def get(self, path: str, **query: Any) -> Any:
        return {"status": "success", "opstatus": ["success"], "opresult": [{"jobs": []}]}


@pytest.fixture
def master(monkeypatch: pytest.MonkeyPatch) -> Master:
    fake = Master()
    monkeypatch.setattr(node_cli, "client", lambda: fake)
    return fake


def test_migration_mode_and_ignore_ipolicy_go_into_the_opcode(master: Master) -> None:
    argv = ["migrate", "-f", "--migration-mode", "non-live", "--ignore-ipolicy", "node2"]
    result = CliRunner().invoke(node_cli.main, argv)
    assert result.exit_code == 0, result.output
    (op,) = master.ops
    assert (op["OP_ID"], op["mode"], op["ignore_ipolicy"]) == ("OP_NODE_MIGRATE", "non-live", True)


def test_non_live_and_migration_mode_are_one_choice(master: Master) -> None:
    result = CliRunner().invoke(node_cli.main, ["migrate", "-f", "--non-live", "--migration-mode", "live", "node2"])
    assert result.exit_code != 0 and "Only one of --non-live and --migration-mode" in result.output
    assert master.ops == []
