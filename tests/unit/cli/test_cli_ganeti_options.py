"""Ganeti options gnt's CLIs gained from the command tables (tests/unit/cli/test_commands_coverage.py):
each reaches its opcode field, and a bad value is one line and exit 1 with no job.

The client records what would be submitted and checks each opcode as the master does, so no
master is needed; the logical units' side is tested in tests/unit/lu/ and on a virtual cluster in
tests/integration/test_ganeti_options.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from gnt import opcodes
from gnt.backup.cli import main as backup_main
from gnt.cluster.cli import main as cluster_main
from gnt.debug.cli import main as debug_main
from gnt.group.cli import main as group_main
from gnt.jobs.cli import main as job_main
from gnt.node.cli import main as node_main
from gnt.os.cli import main as os_main

_MODULES = (
    "gnt.cluster.cli",
    "gnt.node.cli",
    "gnt.oob.cli",
    "gnt.node.restricted_cli",
    "gnt.debug.cli",
    "gnt.debug.submit",
    "gnt.group.cli",
    "gnt.backup.cli",
)


class CheckingClient:
    """Records submitted jobs; refuses a malformed opcode as the master would (OpPrereqError)."""

    def __init__(self) -> None:
        self.submitted: list[list[dict[str, Any]]] = []
        self.results: Any = None

    def submit(self, ops: list[dict[str, Any]]) -> int:
        for op in ops:
            opcodes.from_dict(op)
        self.submitted.append(ops)
        return 7

    def submit_many(self, jobs: list[list[dict[str, Any]]]) -> list[tuple[bool, Any]]:
        return [(True, self.submit(ops)) for ops in jobs]

    def request(self, method: str, path: str, body: Any = None, query: Any = None) -> Any:
        return {"status": "success", "job_info": ["success"], "log_entries": []}

    def get(self, path: str, **query: Any) -> Any:
        return {"opresult": self.results, "status": "success"}


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> CheckingClient:
    rec = CheckingClient()
    for module in _MODULES:
        monkeypatch.setattr(f"{module}.client", lambda rec=rec: rec, raising=False)
    return rec


def run(main: click.Group, *args: str) -> Any:
    return CliRunner().invoke(main, list(args))


def only_op(rec: CheckingClient) -> dict[str, Any]:
    (ops,) = rec.submitted
    (op,) = ops
    return op


def refused(result: Any, needle: str) -> None:
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], lines


# -- aliases ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("main", "alias", "target"),
    [
        (cluster_main, "show", "info"),
        (cluster_main, "masterfailover", "master-failover"),
        (node_main, "show", "info"),
        (job_main, "show", "info"),
        (os_main, "show", "info"),
        (debug_main, "allocator", "iallocator"),
    ],
)
def test_ganeti_aliases_run_the_command_they_name_and_stay_out_of_the_listing(
    main: click.Group, alias: str, target: str
) -> None:
    ctx = click.Context(main)
    assert main.get_command(ctx, alias) is main.commands[target]
    assert alias not in main.list_commands(ctx)
    usage = run(main, alias, "--help")
    assert usage.exit_code == 0
    assert usage.output.replace(f"main {alias} ", f"main {target} ", 1) == run(main, target, "--help").output


# -- --print-jobid ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["power", "--print-jobid", "--submit", "status", "node2"],
        ["powercycle", "--print-jobid", "--submit", "--yes", "node2"],
        ["restricted-command", "--print-jobid", "--submit", "hello", "node2"],
    ],
)
def test_print_jobid_prints_the_job_id_first(recorder: CheckingClient, args: list[str]) -> None:
    result = run(node_main, *args)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == ["7", "JobID: 7"]
    assert len(recorder.submitted) == 1


# -- gnt-node -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "op_id"), [("volumes", "OP_NODE_QUERYVOLS"), ("list-storage", "OP_NODE_QUERY_STORAGE")]
)
def test_node_queries_take_a_priority(recorder: CheckingClient, command: str, op_id: str) -> None:
    recorder.results = [[]]
    result = run(node_main, command, "--priority", "high", "node1")
    assert result.exit_code == 0, result.output
    op = only_op(recorder)
    assert op["OP_ID"] == op_id and op["priority"] == -10
    assert run(node_main, command, "--priority", "urgent").exit_code == 2


def test_node_add_sends_its_node_parameters(recorder: CheckingClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GNT_ROOTDIR", "/tmp/vc/node1")  # a virtual cluster: no SSH host key to confirm
    result = run(node_main, "add", "--node-parameters", "ssh_port=2222,oob_program=/bin/oob", "node4")
    assert result.exit_code == 0, result.output
    assert only_op(recorder)["ndparams"] == {"ssh_port": 2222, "oob_program": "/bin/oob"}


def test_node_add_refuses_a_bad_node_parameter_in_one_line(recorder: CheckingClient) -> None:
    refused(run(node_main, "add", "--node-parameters", "oob_program=relative/path", "node4"), "oob_program")
    assert recorder.submitted == []


def test_node_evacuate_early_release(recorder: CheckingClient) -> None:
    recorder.results = [{"jobs": []}]
    assert run(node_main, "evacuate", "-f", "--early-release", "-I", "hail", "node2").exit_code == 0
    assert only_op(recorder)["early_release"] is True
    recorder.submitted.clear()
    run(node_main, "evacuate", "-f", "-I", "hail", "node2")
    assert only_op(recorder)["early_release"] is False


def test_node_evacuate_ignore_soft_errors(recorder: CheckingClient) -> None:
    recorder.results = [{"jobs": []}]
    assert run(node_main, "evacuate", "-f", "--ignore-soft-errors", "node2").exit_code == 0
    assert only_op(recorder)["ignore_soft_errors"] is True
    recorder.submitted.clear()
    run(node_main, "evacuate", "-f", "node2")
    assert only_op(recorder)["ignore_soft_errors"] is False


# -- gnt-cluster --------------------------------------------------------------------------------


def test_cluster_destroy_takes_ganetis_second_spelling(recorder: CheckingClient) -> None:
    assert run(cluster_main, "destroy", "--ya-rly").exit_code == 0
    assert only_op(recorder)["OP_ID"] == "OP_CLUSTER_DESTROY"


def test_cluster_modify_mac_prefix_short_option_and_node_parameters(recorder: CheckingClient) -> None:
    result = run(cluster_main, "modify", "-m", "aa:00:01", "--node-parameters", "ssh_port=2022,exclusive_storage=no")
    assert result.exit_code == 0, result.output
    op = only_op(recorder)
    assert op["mac_prefix"] == "aa:00:01" and op["ndparams"] == {"ssh_port": 2022, "exclusive_storage": False}


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["-m", "zz:00:01"], "mac"),
        (["--node-parameters", "oob_program=relative"], "oob_program"),
    ],
)
def test_cluster_modify_refuses_bad_values_in_one_line(recorder: CheckingClient, args: list[str], needle: str) -> None:
    refused(run(cluster_main, "modify", *args), needle)
    assert recorder.submitted == []


def test_cluster_init_passes_allocator_node_parameters_and_mac_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    from gnt.cluster import bootstrap

    settings: list[dict[str, Any]] = []
    monkeypatch.setattr(bootstrap, "init_cluster", lambda name, opts: settings.append(opts))
    monkeypatch.setattr("gnt.cluster.cli.run_ops", lambda *a, **k: None)
    args = ["init", "-I", "hail", "--node-parameters", "ssh_port=2222", "-m", "aa:00:02", "cluster1"]
    assert run(cluster_main, *args).exit_code == 0
    (opts,) = settings
    assert opts["default_iallocator"] == "hail" and opts["ndparams"] == {"ssh_port": 2222}
    assert opts["mac_prefix"] == "aa:00:02"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--node-parameters", "oob_program=relative"], "Invalid --node-parameters: oob_program"),
        (["-I", "no-such-allocator"], "Unknown iallocator 'no-such-allocator'"),
    ],
)
def test_cluster_init_refuses_bad_values_before_writing_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], needle: str
) -> None:
    root = tmp_path / "node1"
    root.mkdir()
    monkeypatch.setenv("GNT_ROOTDIR", str(root))
    monkeypatch.setenv("GNT_HOSTNAME", "node1")
    monkeypatch.setattr("gnt.netutil.resolve", lambda name: "127.0.0.1")
    refused(run(cluster_main, "init", *args, "cluster1"), needle)
    assert [p for p in root.rglob("*") if p.is_file()] == []


def test_cluster_verify_disks_of_one_group(recorder: CheckingClient) -> None:
    recorder.results = [{}]
    assert run(cluster_main, "verify-disks", "-g", "rack2").exit_code == 0
    assert only_op(recorder)["group_name"] == "rack2"
    recorder.submitted.clear()
    run(cluster_main, "verify-disks")
    assert only_op(recorder)["group_name"] is None


# -- gnt-debug ----------------------------------------------------------------------------------


def test_debug_delay_no_locks(recorder: CheckingClient) -> None:
    run(debug_main, "delay", "-n", "node2", "0")
    assert only_op(recorder)["no_locks"] is False  # Ganeti locks the nodes it sleeps on by default
    recorder.submitted.clear()
    run(debug_main, "delay", "-l", "-n", "node2", "0")
    assert only_op(recorder)["no_locks"] is True


def test_debug_submit_job_dry_run_and_priority_set_every_opcode(recorder: CheckingClient, tmp_path: Path) -> None:
    job = tmp_path / "job.json"
    ops = [{"OP_ID": "OP_TEST_DELAY", "duration": 0}, {"OP_ID": "OP_TEST_DELAY", "duration": 0, "priority": 10}]
    job.write_text(json.dumps(ops))
    assert run(debug_main, "submit-job", "--dry-run", "--priority", "high", str(job)).exit_code == 0
    (sent,) = recorder.submitted
    assert [(op["dry_run"], op["priority"]) for op in sent] == [(True, -10), (True, -10)]
    recorder.submitted.clear()
    assert run(debug_main, "submit-job", str(job)).exit_code == 0  # without them: as the file says
    (sent,) = recorder.submitted
    assert [("dry_run" in op, op.get("priority")) for op in sent] == [(False, None), (False, 10)]
    assert run(debug_main, "submit-job", "--priority", "urgent", str(job)).exit_code == 2


# -- gnt-group, gnt-backup ----------------------------------------------------------------------


def test_group_assign_nodes_short_force(recorder: CheckingClient) -> None:
    assert run(group_main, "assign-nodes", "-f", "rack2", "node3").exit_code == 0
    assert only_op(recorder)["force"] is True


def test_backup_import_checks_and_os_size(recorder: CheckingClient) -> None:
    args = ["import", "-n", "node1", "--no-conflicts-check", "--ignore-ipolicy", "--identify-defaults", "-s", "2G"]
    assert run(backup_main, *args, "inst1").exit_code == 0
    op = only_op(recorder)
    assert op["conflicts_check"] is False and op["ignore_ipolicy"] is True and op["disks"] == [{"size": 2048}]
    assert op["identify_defaults"] is True
    recorder.submitted.clear()
    run(backup_main, "import", "-n", "node1", "inst1")
    op = only_op(recorder)
    assert op["conflicts_check"] is True and op["ignore_ipolicy"] is False and op["disks"] == []
    assert op["identify_defaults"] is False


def test_backup_import_node_group_reaches_the_opcode(recorder: CheckingClient) -> None:
    for spelling in ("-g", "--node-group"):
        recorder.submitted.clear()
        assert run(backup_main, "import", "-I", "hail", spelling, "rack2", "inst1").exit_code == 0
        assert only_op(recorder)["group_name"] == "rack2"
    recorder.submitted.clear()
    run(backup_main, "import", "-n", "node1", "inst1")
    assert only_op(recorder)["group_name"] is None


def test_backup_import_file_driver_is_add_s(recorder: CheckingClient) -> None:
    """The same field as `gnt-instance add --file-driver`: loop reaches the opcode, anything else is
    refused in add's one line before any job."""
    assert run(backup_main, "import", "-n", "node1", "--file-driver", "loop", "inst1").exit_code == 0
    assert only_op(recorder)["file_driver"] == "loop"
    recorder.submitted.clear()
    run(backup_main, "import", "-n", "node1", "inst1")
    assert only_op(recorder)["file_driver"] is None
    recorder.submitted.clear()
    result = run(backup_main, "import", "-n", "node1", "--file-driver", "blktap", "inst1")
    refused(result, "Parameter 'OP_INSTANCE_CREATE.file_driver' fails validation: 'blktap' is not one of loop")
    assert recorder.submitted == []


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["-s", "2G", "--disk", "0:size=1G"], "-s and --disk cannot be combined"),
        (["-s", "lots"], "lots"),
    ],
)
def test_backup_import_refuses_bad_os_size(recorder: CheckingClient, args: list[str], needle: str) -> None:
    refused(run(backup_main, "import", "-n", "node1", *args, "inst1"), needle)
    assert recorder.submitted == []


def test_backup_export_long_sleep_reaches_the_opcode(recorder: CheckingClient) -> None:
    recorder.results = [[True, [True]]]
    assert run(backup_main, "export", "-n", "node2", "--long-sleep", "inst1").exit_code == 0
    assert only_op(recorder)["long_sleep"] is True


def test_backup_export_zeroing_is_refused_in_one_line(recorder: CheckingClient) -> None:
    refused(run(backup_main, "export", "-n", "node2", "--zero-free-space", "inst1"), "zeroing free space")
    args = ["export", "-n", "node2", "--zeroing-timeout-fixed", "10", "inst1"]
    refused(run(backup_main, *args), "need --zero-free-space")
    assert recorder.submitted == []
    assert run(backup_main, "export", "-n", "node2", "--zeroing-timeout-per-mib", "-1", "inst1").exit_code == 2


def test_node_migrate_no_runtime_changes(recorder: CheckingClient) -> None:
    recorder.results = [{"jobs": []}]
    assert run(node_main, "migrate", "-f", "--no-runtime-changes", "node2").exit_code == 0
    assert only_op(recorder)["allow_runtime_changes"] is False
    recorder.submitted.clear()
    run(node_main, "migrate", "-f", "node2")
    assert only_op(recorder)["allow_runtime_changes"] is True


def test_master_failover_takes_ignore_offline_nodes(monkeypatch: pytest.MonkeyPatch) -> None:
    from gnt.cluster import bootstrap

    calls: list[bool] = []
    monkeypatch.setattr(bootstrap, "master_failover", lambda no_voting: calls.append(no_voting) or "node1")
    result = run(cluster_main, "master-failover", "--ignore-offline-nodes")
    assert result.exit_code == 0 and "Master role moved from node1" in result.output
    assert calls == [False]


def test_cluster_init_takes_the_flags_gnt_always_honours(monkeypatch: pytest.MonkeyPatch) -> None:
    from gnt.cluster import bootstrap

    settings: list[dict[str, Any]] = []
    monkeypatch.setattr(bootstrap, "init_cluster", lambda name, opts: settings.append(opts))
    monkeypatch.setattr("gnt.cluster.cli.run_ops", lambda *a, **k: None)
    assert run(cluster_main, "init", "--no-etc-hosts", "--no-ssh-init", "cluster1").exit_code == 0
    assert len(settings) == 1


def test_roman_numerals() -> None:
    from gnt.cli.roman import romanize, to_roman

    assert [to_roman(n) for n in (1, 4, 9, 14, 40, 90, 400, 1994, 3999)] == [
        "I",
        "IV",
        "IX",
        "XIV",
        "XL",
        "XC",
        "CD",
        "MCMXCIV",
        "MMMCMXCIX",
    ]
    tree = {"a": 10, "b": [0, -3, 4000, 5000, True, "7"], "c": {"d": 2.5, "e": 3}}
    assert romanize(tree) == {"a": "X", "b": [0, -3, "MMMM", 5000, True, "7"], "c": {"d": 2.5, "e": "III"}}
    with pytest.raises(ValueError, match="no Roman numeral"):
        to_roman(0)
