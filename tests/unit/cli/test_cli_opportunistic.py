"""`--opportunistic-locking` on `gnt-instance add` and `gnt-backup import` reaches the opcode; with
-n instead of an allocator it is one line, exit 1 and no job (the master's check at submission)."""

from __future__ import annotations

import pytest

from gnt.backup.cli import main as backup_main
from gnt.instance.cli import main as instance_main
from tests.unit.cli.test_cli_ganeti_options import CheckingClient, only_op, recorder, run

__all__ = ["recorder"]

ADD = ["add", "-o", "noop", "-t", "diskless", "--no-nics", "--no-name-check", "--no-ip-check"]


@pytest.fixture
def master(recorder: CheckingClient, monkeypatch: pytest.MonkeyPatch) -> CheckingClient:
    monkeypatch.setattr("gnt.instance.cli.client", lambda: recorder)
    recorder.results = [["node1"]]
    return recorder


def test_add_sends_opportunistic_locking_with_the_allocator(master: CheckingClient) -> None:
    result = run(instance_main, *ADD, "-I", "hail", "--opportunistic-locking", "inst1")
    assert result.exit_code == 0, result.output
    op = only_op(master)
    assert op["opportunistic_locking"] is True and op["iallocator"] == "hail"


def test_add_without_the_flag_sends_false(master: CheckingClient) -> None:
    assert run(instance_main, *ADD, "-I", "hail", "inst1").exit_code == 0
    assert only_op(master)["opportunistic_locking"] is False


def test_import_sends_opportunistic_locking(master: CheckingClient) -> None:
    result = run(backup_main, "import", "-I", "hail", "--opportunistic-locking", "--src-node", "node2", "inst1")
    assert result.exit_code == 0, result.output
    assert only_op(master)["opportunistic_locking"] is True


def test_a_named_node_with_opportunistic_locking_is_one_line_and_no_job(master: CheckingClient) -> None:
    result = run(instance_main, *ADD, "-n", "node1", "--opportunistic-locking", "inst1")
    assert result.exit_code == 1
    (line,) = result.stderr.strip().splitlines()
    assert "Opportunistic locking is only available in combination with an instance allocator" in line
    assert master.submitted == []
