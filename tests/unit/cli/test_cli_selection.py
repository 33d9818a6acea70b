"""Which instances startup/shutdown/reboot select (Ganeti's modes), and when they ask first."""

from __future__ import annotations

from typing import Any

import pytest

from gnt.errors import OpPrereqError, ParameterError
from gnt.instance import selection
from gnt.instance.selection import run_on_selection, select_instances

NODES = {  # name -> (primaries, secondaries, tags)
    "node1": (["a", "b"], ["d"], ["rack:1"]),
    "node2": (["d"], ["a", "b"], ["rack:2", "ssd"]),
    "node3": ([], [], ["ssd"]),
}
INSTANCES = {"a": ["web"], "b": [], "d": ["web", "db"]}


class FakeClient:
    """Answers the two queries selection makes, and records submitted jobs."""

    def __init__(self) -> None:
        self.jobs: list[list[dict[str, Any]]] = []

    def get(self, path: str, fields: str, names: str | None = None) -> dict[str, Any]:
        table: dict[str, Any]
        if path == "/2/query/node":
            table = {n: {"name": n, "pinst_list": p, "sinst_list": s, "tags": t} for n, (p, s, t) in NODES.items()}
        else:
            table = {n: {"name": n, "tags": t} for n, t in INSTANCES.items()}
        wanted = names.split(",") if names else sorted(table)
        for name in wanted:
            if name not in table:
                raise OpPrereqError(f"{'Node' if 'node' in path else 'Instance'} '{name}' not known", "unknown_entity")
        return {"data": [[[0, table[n][f]] for f in fields.split(",")] for n in wanted]}

    def submit_many(self, jobs: list[list[dict[str, Any]]]) -> list[tuple[bool, Any]]:
        self.jobs.extend(jobs)
        return [(True, 10 + i) for i, _ in enumerate(jobs)]


@pytest.mark.parametrize(
    ("mode", "args", "expected"),
    [
        ("instances", ["d", "a", "d"], ["d", "a"]),
        ("cluster", [], ["a", "b", "d"]),
        ("nodes", ["node1"], ["a", "b", "d"]),
        ("nodes", ["node1", "node2"], ["a", "b", "d"]),  # an instance on both named nodes: once
        ("nodes-pri", ["node2"], ["d"]),
        ("nodes-sec", ["node2"], ["a", "b"]),
        ("nodes-by-tags", ["ssd"], ["d", "a", "b"]),
        ("nodes-pri-by-tags", ["rack:1", "nope"], ["a", "b"]),
        ("nodes-sec-by-tags", ["rack:1"], ["d"]),
        ("instances-by-tags", ["web"], ["a", "d"]),
        ("instances-by-tags", ["db", "web"], ["a", "d"]),
        ("nodes-pri-by-tags", ["no-such"], []),
    ],
)
def test_modes_select_like_ganeti(mode: str, args: list[str], expected: list[str]) -> None:
    assert select_instances(FakeClient(), mode, args) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("mode", "args", "message"),
    [
        ("cluster", ["x"], "Cluster filter mode takes no arguments"),
        ("nodes", [], "No node names passed"),
        ("nodes-sec-by-tags", [], "No node tags passed"),
        ("instances", [], "No instance names passed"),
        ("instances-by-tags", [], "No instance tags passed"),
        ("instances", ["zz"], "Instance 'zz' not known"),
        ("nodes", ["node9"], "Node 'node9' not known"),
    ],
)
def test_bad_selections_are_prereq_errors(mode: str, args: list[str], message: str) -> None:
    with pytest.raises(OpPrereqError, match=message):
        select_instances(FakeClient(), mode, args)  # type: ignore[arg-type]


def _op(name: str) -> dict[str, Any]:
    return {"OP_ID": "OP_INSTANCE_STARTUP", "instance_name": name}


def test_one_named_instance_needs_no_confirmation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(selection, "wait_job", lambda cl, job_id: None)
    cl = FakeClient()
    run_on_selection(cl, "startup", ("a",), None, False, False, _op)  # type: ignore[arg-type]
    assert cl.jobs == [[_op("a")]]


def test_several_without_a_terminal_are_refused_before_submitting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    cl = FakeClient()
    with pytest.raises(ParameterError, match="The startup would operate on 2 instance.*--force-multiple"):
        run_on_selection(cl, "startup", ("web",), "instances-by-tags", False, False, _op)  # type: ignore[arg-type]
    assert cl.jobs == []


@pytest.mark.parametrize(("answer", "submitted"), [("y\n", 2), ("n\n", 0)])
def test_on_a_terminal_the_question_lists_the_instances(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], answer: str, submitted: int
) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(answer))
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr(selection, "wait_job", lambda cl, job_id: None)
    cl = FakeClient()
    try:
        run_on_selection(cl, "shutdown", ("node2",), "nodes-sec", False, False, _op)  # type: ignore[arg-type]
    except SystemExit as stop:
        assert stop.code == 1 and submitted == 0
    out = capsys.readouterr().out
    assert "The shutdown will operate on 2 instances.\nAffected instances:\n  a\n  b\nDo you want to continue?" in out
    assert len(cl.jobs) == submitted


def test_an_empty_cluster_is_not_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    cl = FakeClient()
    cl.get = lambda *a, **k: {"data": []}  # type: ignore[method-assign]
    run_on_selection(cl, "reboot", (), "cluster", True, False, _op)  # type: ignore[arg-type]
    assert capsys.readouterr().out == "Cluster is empty, no instances to reboot\n"
