"""Bad CLI input is one Parameter Error line, exit 1, and no job (issue 7, "bad input")."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from gnt import opcodes
from gnt.instance import cli as instance_cli
from gnt.node import cli as node_cli

BASE = ["add", "-t", "file", "-o", "noop", "-n", "node1", "--no-name-check", "--no-ip-check", "--no-nics"]


class RecordingClient:
    """Stands in for the master: refuses malformed opcodes as it does (before any job exists), records the rest."""

    def __init__(self) -> None:
        self.submitted: list[Any] = []

    def submit(self, ops: list[dict[str, Any]]) -> int:
        for op in ops:
            opcodes.from_dict(op)  # raises OpPrereqError, as the master's submission does
        self.submitted.append(ops)
        return 1

    def request(self, method: str, path: str, body: Any = None) -> Any:
        return {"job_info": ["success"], "log_entries": []} if path.endswith("/wait") else [[]]

    def get(self, path: str, **query: Any) -> Any:
        return {"opresult": [None], "status": "success", "oplog": [[]]}


@pytest.fixture
def master(monkeypatch: pytest.MonkeyPatch) -> RecordingClient:
    fake = RecordingClient()
    monkeypatch.setattr(instance_cli, "client", lambda: fake)
    monkeypatch.setattr(node_cli, "client", lambda: fake)
    # a virtual cluster: gnt-node add builds its opcode without first reading the node's SSH host key
    monkeypatch.setenv("GNT_ROOTDIR", "/nonexistent/node1")
    return fake


def _refused(group: Any, argv: list[str], master: RecordingClient, needle: str) -> None:
    result = CliRunner().invoke(group, argv)
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Parameter Error: "), lines
    assert needle in lines[0]
    assert master.submitted == []  # no job


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--disk", "0:size=1G", "-B", "vcpus=99999999999999999999"], "64-bit integer"),
        (["--disk", "0:size=1G", "-B", "vcpus=5000"], "vcpus: 5000 is out of range"),
        (["--disk", "0:size=99999999999T"], "too large"),
        (["--disk", "0:size=1G", "--disk", "0:size=1G"], "Disk 0 given twice"),
        (["--disk", "0:size=1G", "-B", "memory=128M,memory=256M"], "'memory' given twice"),
        (["--disk", "0:size=1G", "-B", "memory=128M,maxmem=256M"], "either memory or maxmem"),
        (["--disk", "٣:size=1G"], "Invalid disk index"),
    ],
)
def test_instance_add_refuses_out_of_range_and_repeated_values(
    master: RecordingClient, extra: list[str], needle: str
) -> None:
    _refused(instance_cli.main, [*BASE, *extra, "inst1"], master, needle)


def test_instance_add_refuses_a_malformed_mac(master: RecordingClient) -> None:
    argv = ["add", "-t", "diskless", "-o", "noop", "-n", "node1", "--net", "0:mac=zz:zz", "inst1"]
    _refused(instance_cli.main, argv, master, "is not a MAC address")


def test_instance_add_refuses_the_same_primary_and_secondary(master: RecordingClient) -> None:
    argv = ["add", "-t", "drbd", "-o", "noop", "-n", "node1:node1", "--disk", "0:size=1G", "inst1"]
    _refused(instance_cli.main, argv, master, "must differ")


def test_instance_add_refuses_a_repeated_nic_index(master: RecordingClient) -> None:
    argv = ["add", "-t", "diskless", "-o", "noop", "-n", "node1", "--net", "0:mode=routed", "--net", "0:link=x", "i1"]
    _refused(instance_cli.main, argv, master, "NIC 0 given twice")


def test_node_add_refuses_a_path_as_name(master: RecordingClient) -> None:
    _refused(node_cli.main, ["add", "../../etc"], master, "is not a valid host name")


def test_a_valid_add_is_submitted(master: RecordingClient) -> None:
    argv = [*BASE, "--disk", "0:size=1G", "-B", "vcpus=2,memory=128M", "--submit", "inst1"]
    result = CliRunner().invoke(instance_cli.main, argv)
    assert result.exit_code == 0, result.output
    (ops,) = master.submitted
    assert ops[0]["beparams"] == {"vcpus": 2, "maxmem": 128, "minmem": 128}
    assert ops[0]["disks"] == [{"size": 1024}]


def test_control_characters_in_a_bad_value_stay_on_one_escaped_line(master: RecordingClient) -> None:
    argv = ["add", "-t", "diskless", "-o", "noop", "-n", "node1", "--net", "\n\x1b[31m:mode=routed", "inst1"]
    _refused(instance_cli.main, argv, master, "Invalid NIC index '\\n\\x1b[31m'")
