"""Tables and values as Ganeti's list commands print them."""

from __future__ import annotations

import time

import pytest

from gnt.cli import output


def test_table_aligns_text_left_and_numbers_right() -> None:
    lines = output.table(
        ["Node", "DTotal", "Pinst", "Tags"],
        [["node1", "100.0G", "0", "a"], ["node10", "5.0G", "12", "bb"]],
        [False, True, True, False],
        None,
    )
    assert lines == [
        "Node   DTotal Pinst Tags",
        "node1  100.0G     0 a",
        "node10   5.0G    12 bb",
    ]


def test_table_does_not_pad_the_last_text_column() -> None:
    assert output.table(["Name", "X"], [["a", "long value"]], [False, False], None) == ["Name X", "a    long value"]


def test_table_with_separator_prints_raw_cells() -> None:
    lines = output.table(["Node", "Pinst"], [["node1", "0"], ["node10", "12"]], [False, True], "|")
    assert lines == ["Node|Pinst", "node1|0", "node10|12"]


def test_table_without_headers() -> None:
    assert output.table(None, [["a", "1"]], [False, True], None) == ["a 1"]
    assert output.table(None, [], [False], None) == []
    assert output.table(None, [["a", "1"]], [False, True], ":") == ["a:1"]


@pytest.mark.parametrize(
    ("kind", "value", "units", "text"),
    [
        ("bool", True, "h", "Y"),
        ("bool", False, "h", "N"),
        ("unit", 2048, "h", "2.0G"),
        ("unit", 2048, "m", "2048"),
        ("unit", 512, "h", "512M"),
        ("text", ["a", None, "b"], "h", "a,-,b"),
        ("other", {"b": 2, "a": 1}, "h", "a=1,b=2"),
        ("number", 5, "h", "5"),
        ("text", None, "h", "-"),
    ],
)
def test_format_value(kind: str, value: object, units: str, text: str) -> None:
    assert output.format_value(kind, value, units) == text


def test_format_value_timestamps_in_local_time() -> None:
    ts = 1795230789.5
    assert output.format_value("timestamp", ts, "h") == time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


@pytest.mark.parametrize(("status", "text"), [(1, "??"), (2, "?"), (3, "-"), (4, "*"), (9, "?")])
def test_format_cell_marks_missing_values_like_ganeti(status: int, text: str) -> None:
    assert output.format_cell("number", [status, None], "h") == text


def test_print_query_aligns_and_uses_human_units(capsys: pytest.CaptureFixture[str]) -> None:
    result = {
        "fields": [
            {"name": "name", "title": "Node", "kind": "text"},
            {"name": "mtotal", "title": "MTotal", "kind": "unit"},
        ],
        "data": [[[0, "node1"], [0, 4096]], [[0, "node2"], [2, None]]],
    }
    output.print_query(result, no_headers=False, separator=None, units=None)
    assert capsys.readouterr().out.splitlines() == ["Node  MTotal", "node1   4.0G", "node2      ?"]
    output.print_query(result, no_headers=True, separator="|", units=None)
    assert capsys.readouterr().out.splitlines() == ["node1|4096", "node2|?"]  # raw output defaults to MiB


def test_print_fields_lists_name_title_description(capsys: pytest.CaptureFixture[str]) -> None:
    output.print_fields([{"name": "name", "title": "Node", "doc": "Node name"}], None, False)
    assert capsys.readouterr().out.splitlines() == ["Name Title Description", "name Node  Node name"]


def test_print_tree_indents_nested_values(capsys: pytest.CaptureFixture[str]) -> None:
    output.print_tree({"Instance name": "inst1", "Disks": [{"size": "1G", "mode": "rw"}], "Tags": []})
    assert capsys.readouterr().out.splitlines() == [
        "Instance name: inst1",
        "Disks: ",
        "  - size: 1G",
        "    mode: rw",
        "Tags: ",
    ]


def test_list_v_spells_out_why_a_value_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ganeti's -v of list commands: (offline), (unavail), ... instead of the one-character marks."""
    from click.testing import CliRunner

    from gnt.cli import common
    from gnt.node import cli as node_cli

    class Answer:
        def get(self, path: str, **query: object) -> dict[str, object]:
            fields = [{"name": n, "title": n.title(), "kind": "text"} for n in ("name", "mfree", "dfree", "pinst_cnt")]
            return {"fields": fields, "data": [[[0, "node1"], [4, None], [3, None], [2, None]]]}

    monkeypatch.setattr(common, "client", lambda: Answer())
    plain = CliRunner().invoke(node_cli.main, ["list", "--no-headers", "-o", "name,mfree,dfree,pinst_cnt"])
    assert plain.exit_code == 0, plain.output
    assert plain.output.split() == ["node1", "*", "-", "?"]
    verbose = CliRunner().invoke(node_cli.main, ["list", "-v", "--no-headers", "-o", "name,mfree,dfree,pinst_cnt"])
    assert verbose.output.split() == ["node1", "(offline)", "(unavail)", "(nodata)"]
