"""`gnt-node volumes` and `list-storage` print the job's rows as Ganeti's tables; `--vg-name` reaches the opcode."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from gnt import opcodes
from gnt.cluster import cli as cluster_cli
from gnt.node import cli as node_cli

ROWS = [
    ["node1", "/dev/vdb", "xenvg", "4f0c.disk0", 1024, "inst1"],
    ["node2", "/dev/vdb", "xenvg", "stray", 4, "-"],
]


class Master:
    """Answers every job with `rows` and records the opcodes."""

    def __init__(self, rows: list[list[Any]]) -> None:
        self.rows, self.ops = rows, []

    def submit(self, ops: list[dict[str, Any]]) -> int:
        for op in ops:
            opcodes.from_dict(op)  # raises OpPrereqError, as the master's submission does
        self.ops.extend(ops)
        return 7

    def request(self, method: str, path: str, body: Any = None) -> Any:
        return {"job_info": ["success"], "log_entries": []}

    def get(self, path: str, **query: Any) -> Any:
        return {"status": "success", "opstatus": ["success"], "opresult": [self.rows]}


def _use(monkeypatch: pytest.MonkeyPatch, module: Any, rows: list[list[Any]]) -> Master:
    master = Master(rows)
    monkeypatch.setattr(module, "client", lambda: master)
    return master


def test_volumes_prints_ganetis_columns_with_human_sizes(monkeypatch: pytest.MonkeyPatch) -> None:
    master = _use(monkeypatch, node_cli, ROWS)
    result = CliRunner().invoke(node_cli.main, ["volumes"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "Node  PhysDev  VG    Name       Size Instance",
        "node1 /dev/vdb xenvg 4f0c.disk0 1.0G inst1",
        "node2 /dev/vdb xenvg stray        4M -",
    ]
    assert master.ops[0]["OP_ID"] == "OP_NODE_QUERYVOLS"
    assert master.ops[0]["output_fields"] == ["node", "phys", "vg", "name", "size", "instance"]


def test_volumes_with_fields_separator_and_units(monkeypatch: pytest.MonkeyPatch) -> None:
    master = _use(monkeypatch, node_cli, [["node1", "4f0c.disk0", 1024]])
    result = CliRunner().invoke(
        node_cli.main, ["volumes", "-o", "node,name,size", "--separator=|", "--no-headers", "node1"]
    )
    assert result.exit_code == 0, result.output
    assert result.output == "node1|4f0c.disk0|1024\n"
    assert master.ops[0]["nodes"] == ["node1"]


def test_list_storage_prints_size_used_free_and_allocatable(monkeypatch: pytest.MonkeyPatch) -> None:
    _use(monkeypatch, node_cli, [["node1", "lvm-vg", "xenvg", 4092, 1024, 3068, True]])
    result = CliRunner().invoke(node_cli.main, ["list-storage", "-t", "lvm-vg", "--units=m", "--separator=:"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "Node:Type:Name:Size:Used:Free:Allocatable",
        "node1:lvm-vg:xenvg:4092:1024:3068:Y",
    ]


def test_modify_vg_name_reaches_the_opcode(monkeypatch: pytest.MonkeyPatch) -> None:
    master = _use(monkeypatch, cluster_cli, [None])
    result = CliRunner().invoke(cluster_cli.main, ["modify", "--vg-name", "gntvg"])
    assert result.exit_code == 0, result.output
    assert master.ops[0]["OP_ID"] == "OP_CLUSTER_SET_PARAMS" and master.ops[0]["vg_name"] == "gntvg"


def test_modify_refuses_a_vg_name_lvm_would_read_as_an_option(monkeypatch: pytest.MonkeyPatch) -> None:
    master = _use(monkeypatch, cluster_cli, [None])
    result = CliRunner().invoke(cluster_cli.main, ["modify", "--vg-name=-ay"])
    assert result.exit_code == 1 and "invalid volume group name '-ay'" in result.output
    assert master.ops == []


def test_modify_reserved_lvs_splits_and_clears(monkeypatch: pytest.MonkeyPatch) -> None:
    master = _use(monkeypatch, cluster_cli, [None])
    assert CliRunner().invoke(cluster_cli.main, ["modify", "--reserved-lvs", "xenvg/swap.*,xenvg/root"]).exit_code == 0
    assert CliRunner().invoke(cluster_cli.main, ["modify", "--reserved-lvs", ""]).exit_code == 0
    assert [op["reserved_lvs"] for op in master.ops] == [["xenvg/swap.*", "xenvg/root"], []]


def test_modify_storage_needs_a_change_and_sends_the_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    master = _use(monkeypatch, node_cli, [None])
    result = CliRunner().invoke(node_cli.main, ["modify-storage", "node1", "lvm-pv", "/dev/sdb"])
    assert result.exit_code == 1 and "Nothing to change" in result.output and master.ops == []
    argv = ["modify-storage", "--allocatable=no", "node1", "lvm-pv", "/dev/sdb"]
    assert CliRunner().invoke(node_cli.main, argv).exit_code == 0
    assert master.ops[0]["OP_ID"] == "OP_NODE_MODIFY_STORAGE" and master.ops[0]["changes"] == {"allocatable": False}
    assert CliRunner().invoke(node_cli.main, ["repair-storage", "node1", "lvm-vg", "xenvg"]).exit_code == 0
    assert master.ops[1]["OP_ID"] == "OP_REPAIR_NODE_STORAGE" and master.ops[1]["name"] == "xenvg"
