"""gnt-instance info / batch-create / change-group: the opcodes they send and what they print (fake client)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner

from gnt.errors import OpExecError
from gnt.instance import cli, cli_multi


def _info(name: str, run_state: str | None) -> dict[str, Any]:
    return {
        "name": name,
        "uuid": "u-" + name,
        "serial_no": 2,
        "ctime": 0,
        "mtime": 0,
        "config_state": "up",
        "run_state": run_state,
        "pnode": "node1",
        "pnode_group_name": "default",
        "pnode_group_uuid": "g1",
        "snodes": [],
        "os": "noop",
        "os_actual": {},
        "network_port": None,
        "hypervisor": "fake",
        "hv_actual": {},
        "be_actual": {"maxmem": 64, "vcpus": 1},
        "be_instance": {"maxmem": 64},
        "nics": [["n0", "nu", None, "aa:00:00:00:00:01", "bridged", "br0", "", None, None]],
        "disk_template": "diskless",
        "disks": [],
    }


class FakeClient:
    def __init__(self) -> None:
        self.ops: list[dict[str, Any]] = []


def invoke(monkeypatch: pytest.MonkeyPatch, client: FakeClient, result: Any, *args: str) -> Any:
    def run_ops(cl: Any, ops: list[dict[str, Any]], submit: bool = False, quiet: bool = False) -> Any:
        client.ops.extend(ops)
        return [result]

    monkeypatch.setattr(cli_multi, "client", lambda: client)
    monkeypatch.setattr(cli_multi, "run_ops", run_ops)
    return CliRunner().invoke(cli.main, list(args))


def test_info_runs_query_data_and_prints_ganetis_tree(monkeypatch: pytest.MonkeyPatch) -> None:
    client = FakeClient()
    result = invoke(monkeypatch, client, {"web1": _info("web1", "up")}, "info", "web1")
    assert result.exit_code == 0, result.output
    assert client.ops == [{"OP_ID": "OP_INSTANCE_QUERY_DATA", "instances": ["web1"], "static": False, "priority": 0}]
    assert "State: configured to be up, actual state is up" in result.output
    assert "group: default (UUID g1)" in result.output
    assert "maxmem: 64" in result.output and "vcpus: default (1)" in result.output
    assert "MAC: aa:00:00:00:00:01" in result.output


def test_info_static_all_shows_no_actual_state(monkeypatch: pytest.MonkeyPatch) -> None:
    client = FakeClient()
    data = {"b": _info("b", None), "a": _info("a", None)}
    result = invoke(monkeypatch, client, data, "info", "--static", "--all")
    assert result.exit_code == 0, result.output
    assert client.ops[0]["instances"] == [] and client.ops[0]["static"] is True
    assert "State: configured to be up\n" in result.output and "actual state" not in result.output
    assert result.output.index("Instance name: a") < result.output.index("Instance name: b")


@pytest.mark.parametrize(
    ("args", "message"),
    [((), "No instance selected. Use --all"), (("--all", "x"), "Cannot use --all if static names are given")],
)
def test_info_selection_errors_are_one_line(
    monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...], message: str
) -> None:
    client = FakeClient()
    result = invoke(monkeypatch, client, {}, "info", *args)
    assert result.exit_code != 0 and message in result.output and not client.ops
    assert "Traceback" not in result.output


def _batch(tmp_path: Any, content: str) -> str:
    path = tmp_path / "batch.json"
    path.write_text(content)
    return str(path)


def _creates(names: list[str]) -> str:
    return json.dumps([{"instance_name": n, "disk_template": "diskless", "os_type": "noop"} for n in names])


def test_batch_create_sends_multi_alloc_and_waits_for_each_job(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    client = FakeClient()
    waited: list[int] = []
    monkeypatch.setattr(cli_multi, "wait_job", lambda cl, job_id: waited.append(job_id))
    answer = {"allocatable": ["b1", "b2"], "failed": [], "jobs": [[True, 7], [True, 8]]}
    result = invoke(monkeypatch, client, answer, "batch-create", "-I", "hail", _batch(tmp_path, _creates(["b1", "b2"])))
    assert result.exit_code == 0, result.output
    (op,) = client.ops
    assert (op["OP_ID"], op["iallocator"]) == ("OP_INSTANCE_MULTI_ALLOC", "hail")
    assert [i["instance_name"] for i in op["instances"]] == ["b1", "b2"]
    assert waited == [7, 8] and result.output.endswith("All instances created successfully.\n")


def test_batch_create_counts_failed_allocations_and_jobs(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    client = FakeClient()

    def wait_job(cl: Any, job_id: int) -> None:
        raise OpExecError("disk full")

    monkeypatch.setattr(cli_multi, "wait_job", wait_job)
    answer = {"allocatable": ["b1"], "failed": ["b2"], "jobs": [[True, 7]]}
    result = invoke(monkeypatch, client, answer, "batch-create", _batch(tmp_path, _creates(["b1", "b2"])))
    assert result.exit_code == 1
    assert "Instance b2 could not be allocated" in result.output and "Instance b1: disk full" in result.output
    assert "There were 2 errors during the creation." in result.output


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "Can't parse the instance definition file"),
        ('{"a": 1}', "The instance definition file is not a list of objects"),
        ("[1]", "The instance definition file is not a list of objects"),
        ("[]", "defines no instance"),
        ('[{"instance_name": "a", "templat": "file"}]', "Unknown fields in definition 0: templat"),
    ],
)
def test_batch_create_bad_files_are_one_line_errors(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any, content: str, message: str
) -> None:
    client = FakeClient()
    result = invoke(monkeypatch, client, None, "batch-create", _batch(tmp_path, content))
    assert result.exit_code != 0 and message in result.output and not client.ops
    assert "Traceback" not in result.output


def test_batch_create_missing_file_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    client = FakeClient()
    result = invoke(monkeypatch, client, None, "batch-create", str(tmp_path / "nope.json"))
    assert result.exit_code != 0 and "Can't read the instance definition file" in result.output and not client.ops


def test_change_group_sends_ganetis_opcode_and_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    client = FakeClient()
    waited: list[int] = []
    monkeypatch.setattr(cli_multi, "wait_job", lambda cl, job_id: waited.append(job_id))
    args = ("change-group", "--to", "rack2", "--to", "rack3", "-I", "hail", "--early-release", "web1")
    result = invoke(monkeypatch, client, {"jobs": [[True, 9]]}, *args)
    assert result.exit_code == 0, result.output
    (op,) = client.ops
    assert (op["OP_ID"], op["instance_name"], op["target_groups"], op["iallocator"], op["early_release"]) == (
        "OP_INSTANCE_CHANGE_GROUP",
        "web1",
        ["rack2", "rack3"],
        "hail",
        True,
    )
    assert waited == [9] and result.output.endswith("Instance 'web1' changed group successfully.\n")


def test_change_group_without_to_leaves_the_choice_to_the_allocator(monkeypatch: pytest.MonkeyPatch) -> None:
    client = FakeClient()

    def wait_job(cl: Any, job_id: int) -> None:
        raise OpExecError("migration failed")

    monkeypatch.setattr(cli_multi, "wait_job", wait_job)
    result = invoke(monkeypatch, client, {"jobs": [[True, 9]]}, "change-group", "web1")
    assert client.ops[0]["target_groups"] is None
    assert result.exit_code == 1 and "There were 1 errors while changing group of instance 'web1'." in result.output
