"""gnt-group's options become Ganeti's opcodes; bad input is one Parameter Error line and no job."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from gnt.group import cli as group_cli
from tests.unit.cli.test_cli_bad_input import RecordingClient


@pytest.fixture
def master(monkeypatch: pytest.MonkeyPatch) -> RecordingClient:
    fake = RecordingClient()
    monkeypatch.setattr(group_cli, "client", lambda: fake)
    return fake


def _op(master: RecordingClient, argv: list[str]) -> dict[str, Any]:
    result = CliRunner().invoke(group_cli.main, [*argv, "--submit"])
    assert result.exit_code == 0, result.output
    ((op,),) = master.submitted
    return op


def test_add_with_policy_options(master: RecordingClient) -> None:
    op = _op(
        master,
        [
            "add",
            "--alloc-policy=last_resort",
            "-N",
            "spindle_count=2",
            "--ipolicy-std-specs=memory-size=256,cpu-count=2",
            "--ipolicy-bounds-specs=min:memory-size=64,cpu-count=1,disk-count=0,disk-size=0,nic-count=0,"
            "spindle-use=0//max:memory-size=4096,cpu-count=4,disk-count=4,disk-size=10240,nic-count=4,spindle-use=4",
            "--ipolicy-disk-templates=file,diskless",
            "--ipolicy-vcpu-ratio=2.5",
            "rack2",
        ],
    )
    assert op["OP_ID"] == "OP_GROUP_ADD" and op["group_name"] == "rack2" and op["alloc_policy"] == "last_resort"
    assert op["ndparams"] == {"spindle_count": 2}
    policy = op["ipolicy"]
    assert policy["std"] == {"memory-size": 256, "cpu-count": 2} and policy["vcpu-ratio"] == 2.5
    assert policy["minmax"][0]["max"]["memory-size"] == 4096 and policy["disk-templates"] == ["file", "diskless"]


def test_assign_rename_remove(master: RecordingClient) -> None:
    op = _op(master, ["assign-nodes", "--force", "rack2", "node3", "node4"])
    assert (op["OP_ID"], op["nodes"], op["force"]) == ("OP_GROUP_ASSIGN_NODES", ["node3", "node4"], True)


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["modify", "rack2"], "Please give at least one of the parameters."),
        (["modify", "--alloc-policy=often", "rack2"], "Invalid allocation policy 'often'"),
        (["modify", "--ipolicy-std-specs=colour=1", "rack2"], "Invalid key 'colour'"),
        (["modify", "--ipolicy-std-specs=cpu-count=lots", "rack2"], "a non-negative integer"),
        (["modify", "--ipolicy-bounds-specs=min:memory-size=1", "rack2"], "both min and max are needed"),
        (["modify", "--ipolicy-vcpu-ratio=fast", "rack2"], "expected a number"),
        (["modify", "--ipolicy-disk-templates=floppy", "rack2"], "ipolicy disk-templates must be a list of"),
        (["add", "bad/name"], "not a valid host name"),
        (["list", "-F", "name =="], "Invalid query filter: expected value, found the end"),
        (["add", "-D", "drbd:resync-rate=0", "rack2"], "drbd disk parameter resync-rate must be an integer from 1 to"),
        (["modify", "-D", "drbd:c-plan-ahead=0", "rack2"], "unknown drbd disk parameter 'c-plan-ahead'"),
        (["modify", "-D", "plain:stripes=2", "rack2"], "no disk parameters for disk template 'plain'"),
        (["add", "-D", "drbd:resync-rate=default", "rack2"], "resync-rate must be an integer"),  # nothing to reset
    ],
)
def test_bad_input_is_one_line_and_no_job(master: RecordingClient, argv: list[str], needle: str) -> None:
    result = CliRunner().invoke(group_cli.main, argv)
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], lines
    assert master.submitted == []


def test_disk_parameters_become_the_opcodes_diskparams(master: RecordingClient) -> None:
    op = _op(master, ["add", "-D", "drbd:resync-rate=20480", "rack2"])
    assert op["OP_ID"] == "OP_GROUP_ADD" and op["diskparams"] == {"drbd": {"resync-rate": 20480}}
    master.submitted.clear()
    op = _op(master, ["modify", "--disk-parameters", "drbd:resync-rate=default", "rack2"])
    assert op["OP_ID"] == "OP_GROUP_SET_PARAMS" and op["diskparams"] == {"drbd": {"resync-rate": "default"}}


class _QueryClient:
    """Answers `/2/query/group` from a real config through the query fields, as the master does."""

    def __init__(self, cfg: Any) -> None:
        self.cfg = cfg

    def get(self, path: str, fields: str, names: str | None = None) -> Any:
        from gnt import query
        from gnt.group import query as gq

        groups = [g for g in self.cfg.groups.values() if names is None or g.name in names.split(",")]
        selected = query.select(gq.FIELDS, fields.split(","))
        return {"data": query.evaluate(selected, groups, gq.GroupQueryContext(self.cfg))}


def test_info_shows_the_groups_own_disk_parameters_and_the_inherited_ones_as_default(
    cfg: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg.cluster.diskparams = {"drbd": {"resync-rate": 1000}}
    cfg.group("default").diskparams = {"drbd": {"resync-rate": 2000}}
    monkeypatch.setattr(group_cli, "client", lambda: _QueryClient(cfg))
    result = CliRunner().invoke(group_cli.main, ["info", "default"])
    assert result.exit_code == 0, result.output
    assert "  Disk parameters: \n    drbd: \n      resync-rate: 2000\n" in result.output
    cfg.group("default").diskparams = {}
    result = CliRunner().invoke(group_cli.main, ["info", "default"])
    assert "  Disk parameters: \n    drbd: \n      resync-rate: default (1000)\n" in result.output
