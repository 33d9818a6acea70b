"""CLI-side checks of the OOB, powercycle, restricted-command and gnt-debug commands: refused before any job.

The client is replaced by one that records what would be submitted, so these need no master.
"""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from gnt.cluster.cli import main as cluster_main
from gnt.debug.cli import main as debug_main
from gnt.node.cli import main as node_main


class RecordingClient:
    def __init__(self, results: Any = None) -> None:
        self.submitted: list[list[dict[str, Any]]] = []
        self.results = results

    def submit(self, ops: list[dict[str, Any]]) -> int:
        self.submitted.append(ops)
        return 7

    def request(self, method: str, path: str, body: Any = None, query: Any = None) -> Any:
        return {"status": "success", "job_info": ["success"], "log_entries": []}

    def get(self, path: str, **query: Any) -> Any:
        return {"opresult": self.results, "status": "success"}


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> RecordingClient:
    rec = RecordingClient()
    for module in ("gnt.oob.cli", "gnt.oob.epo", "gnt.debug.cli", "gnt.node.restricted_cli", "gnt.node.cli"):
        monkeypatch.setattr(f"{module}.client", lambda rec=rec: rec, raising=False)
    return rec


def _run(main: Any, *args: str) -> Any:
    return CliRunner().invoke(main, list(args))


@pytest.mark.parametrize(
    ("main", "args", "message", "code"),
    [
        (node_main, ["power", "ping", "node2"], "power subcommand ping not supported.", 1),
        (node_main, ["power", "-f", "cycle"], "Please provide at least one node for this command", 1),
        (node_main, ["power", "off", "node2"], "use -f/--force", 1),
        (node_main, ["power", "--oob-timeout", "0", "status"], "is not in the range", 2),
        (node_main, ["powercycle", "node2"], "use --yes", 1),
        (node_main, ["restricted-command", "hello"], "Node group or node names must be given", 1),
        (cluster_main, ["epo", "--groups", "--all"], "Only one of --groups or --all are allowed", 1),
        (cluster_main, ["epo", "--all", "node2"], "Arguments in combination with --all are not allowed", 1),
        (cluster_main, ["epo", "-f"], "Please name the nodes", 1),
        (debug_main, ["iallocator", "--nics", "a/b/c/d", "n1"], "Invalid --nics entry", 1),
        (debug_main, ["iallocator", "--memory", "lots", "n1"], "is not a valid size", 1),
        (debug_main, ["submit-job"], "Please give at least one file of opcodes", 1),
        (debug_main, ["submit-job", "--job-repeat", "0", "x.json"], "is not in the range", 2),
        (debug_main, ["locks", "--interval", "0"], "is not in the range", 2),
    ],
)
def test_refused_before_any_job(recorder: RecordingClient, main: Any, args: list[str], message: str, code: int) -> None:
    result = _run(main, *args)
    assert result.exit_code == code, result.output
    assert message in result.output
    assert recorder.submitted == []


def test_power_off_marks_the_nodes_offline_in_the_same_job(recorder: RecordingClient) -> None:
    recorder.results = [None, None, [[[0, "node2"], [0, None]], [[0, "node3"], [3, None]]]]
    result = _run(node_main, "power", "-f", "--power-delay", "0", "off", "node2", "node3")
    (ops,) = recorder.submitted
    assert [op["OP_ID"] for op in ops] == ["OP_NODE_SET_PARAMS", "OP_NODE_SET_PARAMS", "OP_OOB_COMMAND"]
    assert ops[0]["offline"] is True and ops[2]["node_names"] == ["node2", "node3"] and ops[2]["command"] == "power-off"
    assert result.output.splitlines()[-3:] == ["Node  Status", "node2 invoked", "node3 (unavail)"]
    assert result.exit_code == 1  # a node without OOB is an error, as in Ganeti


def test_power_off_with_ignore_status_only_runs_the_oob_command(recorder: RecordingClient) -> None:
    recorder.results = [[[[0, "node2"], [0, None]]]]
    result = _run(node_main, "power", "-f", "--ignore-status", "off", "node2")
    assert result.exit_code == 0, result.output
    assert [op["OP_ID"] for op in recorder.submitted[0]] == ["OP_OOB_COMMAND"]
    assert recorder.submitted[0][0]["ignore_status"] is True


class EpoClient(RecordingClient):
    """Answers the node query with: node1 master, node2 OOB-powered, node3 without OOB, node4 offline+unpowered."""

    ROWS = [
        ["node1", True, ["i-master"], [], True, False],
        ["node2", False, ["i2"], [], True, False],
        ["node3", False, ["i3"], [], None, False],
        ["node4", False, ["i4"], [], False, True],
    ]

    def __init__(self) -> None:
        super().__init__()
        self.many: list[list[list[dict[str, Any]]]] = []

    def get(self, path: str, **query: Any) -> Any:
        if path == "/2/query/node":
            names = (query.get("names") or "").split(",")
            cells = [[[0 if v is not None else 3, v] for v in row] for row in self.ROWS if row[0] in names]
            return {"data": cells}
        oob = self.submitted[-1][-1]
        return {"status": "success", "opresult": [[[[0, n], [0, None]] for n in oob["node_names"]]]}

    def submit_many(self, jobs: list[list[dict[str, Any]]]) -> list[tuple[bool, Any]]:
        self.many.append(jobs)
        return [(True, 100 + i) for i, _ in enumerate(jobs)]


def test_epo_picks_nodes_and_instances_as_ganeti(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = EpoClient()
    monkeypatch.setattr("gnt.oob.epo.client", lambda: fake)
    monkeypatch.setattr("gnt.oob.epo.wait_job", lambda cl, job, quiet=False: None)
    result = _run(cluster_main, "epo", "-f", "node2", "node3", "node4")
    assert result.exit_code == 0, result.output
    assert "Node node3 does not support out-of-band handling" in result.output
    # instances on online nodes are stopped without remembering; node4 is offline: its instance is left
    (jobs,) = fake.many
    assert [(j[0]["OP_ID"], j[0]["instance_name"], j[0]["no_remember"]) for j in jobs] == [
        ("OP_INSTANCE_SHUTDOWN", "i2", True),
        ("OP_INSTANCE_SHUTDOWN", "i3", True),
    ]
    # only node2 is powered off (node3 has no OOB, node4 is offline and already unpowered)
    (oob,) = [ops[0] for ops in fake.submitted if ops[0]["OP_ID"] == "OP_OOB_COMMAND"]
    assert oob["node_names"] == ["node2"] and oob["command"] == "power-off" and oob["ignore_status"] is True
    master = _run(cluster_main, "epo", "-f", "node1", "node2")
    assert master.exit_code == 1 and "node1 is the master node" in master.output
