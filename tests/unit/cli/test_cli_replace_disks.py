"""`gnt-instance replace-disks`: each mode flag becomes OP_INSTANCE_REPLACE_DISKS' mode; Ganeti's
one-mode-only rule and bad --disks are one-line errors before any job."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from gnt.instance import cli as instance_cli
from tests.unit.cli.test_cli_storage import Master


@pytest.fixture
def master(monkeypatch: pytest.MonkeyPatch) -> Master:
    found = Master([None])
    monkeypatch.setattr(instance_cli, "client", lambda: found)
    return found


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["-s"], {"mode": "replace_on_secondary", "disks": []}),
        (["-p", "--disks", "0,2"], {"mode": "replace_on_primary", "disks": [0, 2]}),
        (
            ["-n", "node3", "--early-release"],
            {"mode": "replace_new_secondary", "remote_node": "node3", "early_release": True},
        ),
        (["-I", "hail"], {"mode": "replace_new_secondary", "iallocator": "hail"}),
        (["-a"], {"mode": "replace_auto"}),
    ],
)
def test_each_mode_reaches_the_opcode(master: Master, args: list[str], expected: dict[str, Any]) -> None:
    result = CliRunner().invoke(instance_cli.main, ["replace-disks", *args, "inst1"])
    assert result.exit_code == 0, result.output
    (op,) = master.ops
    assert op["OP_ID"] == "OP_INSTANCE_REPLACE_DISKS" and op["instance_name"] == "inst1"
    assert {k: op[k] for k in expected} == expected


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "One and only one of the -p, -s, -a, -n and -I options must be passed"),
        (["-p", "-s"], "One and only one of the -p, -s, -a, -n and -I options must be passed"),
        (["-s", "--disks", "0,x"], "Invalid disk index passed: 'x'"),
        (["-n", "node3", "-I", "hail"], "One and only one of the -p, -s, -a, -n and -I options must be passed"),
    ],
)
def test_bad_combinations_are_one_line_errors(master: Master, args: list[str], message: str) -> None:
    result = CliRunner().invoke(instance_cli.main, ["replace-disks", *args, "inst1"])
    assert result.exit_code != 0
    assert message in result.output and "Traceback" not in result.output
    assert master.ops == []


def test_modify_disk_template_reaches_the_opcode(master: Master) -> None:
    master.rows = [["disk_template", "drbd"]]
    result = CliRunner().invoke(
        instance_cli.main, ["modify", "-t", "drbd", "-n", "node2", "--no-wait-for-sync", "inst1"]
    )
    assert result.exit_code == 0, result.output
    assert " - disk_template -> drbd" in result.output
    (op,) = master.ops
    assert (op["OP_ID"], op["disk_template"], op["remote_node"], op["wait_for_sync"]) == (
        "OP_INSTANCE_SET_PARAMS", "drbd", "node2", False
    )  # fmt: skip
