"""gnt-instance options of Ganeti 3.0's commands.txt that gnt lacked: each sends what Ganeti's would
(checked by the opcode as the master checks a submission) or changes what is printed."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from gnt import opcodes
from gnt.instance import cli as instance_cli
from gnt.instance import cli_multi


class Jobs:
    """run_ops stand-in: records the opcodes (after the master's submission check) and answers `result`."""

    def __init__(self, result: Any = None) -> None:
        self.ops: list[dict[str, Any]] = []
        self.result = result

    def __call__(self, cl: Any, ops: list[dict[str, Any]], submit: bool = False, quiet: bool = False) -> Any:
        for op in ops:
            opcodes.from_dict(op)
        self.ops.extend(ops)
        return [self.result]


def _run(monkeypatch: pytest.MonkeyPatch, jobs: Jobs, *args: str) -> Any:
    for module in (instance_cli, cli_multi):
        monkeypatch.setattr(module, "client", lambda: object())
        monkeypatch.setattr(module, "run_ops", jobs)
    return CliRunner().invoke(instance_cli.main, list(args))


def _info(port: int | None) -> dict[str, Any]:
    """test_cli_multi's info row, as a kvm instance with a port, two NICs and two plain disks."""
    from tests.unit.cli.test_cli_multi import _info as base_row

    return base_row("web1", "up") | {
        "uuid": "u1",
        "serial_no": 3,
        "network_port": port,
        "hypervisor": "kvm",
        "be_actual": {"maxmem": 128, "vcpus": 2, "auto_balance": True},
        "be_instance": {"vcpus": 2},
        "nics": [["n0", "nu", None, "aa:00:00:00:00:01", "bridged", "br0", "", None, None]] * 2,
        "disk_template": "plain",
        "disks": [
            {"size": size, "mode": "rw", "logical_id": ["vg", f"lv{i}"], "path": f"/dev/vg/lv{i}"}
            | {"name": None, "uuid": f"d{i}"}
            for i, size in enumerate((1024, 512))
        ],
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1, "I"), (4, "IV"), (9, "IX"), (14, "XIV"), (1994, "MCMXCIV"), (4999, "MMMMCMXCIX"), (5000, 5000), (0, 0)],
)
def test_to_roman_writes_what_roman_numerals_can(value: int, expected: Any) -> None:
    assert cli_multi.to_roman(value) == expected


@pytest.mark.parametrize("value", [None, "x", 2.5, True, -3])
def test_to_roman_leaves_what_is_not_a_positive_integer(value: Any) -> None:
    assert cli_multi.to_roman(value) is value


def test_info_roman_writes_indices_port_and_backend_numbers_in_roman(monkeypatch: pytest.MonkeyPatch) -> None:
    jobs = Jobs({"web1": _info(1234)})
    plain = _run(monkeypatch, jobs, "info", "web1")
    roman = _run(monkeypatch, jobs, "info", "--roman", "web1")
    assert plain.exit_code == 0 and roman.exit_code == 0, (plain.output, roman.output)
    assert "Allocated network port: 1234" in plain.output and "vcpus: 2" in plain.output
    assert "Allocated network port: MCCXXXIV" in roman.output
    assert "vcpus: II" in roman.output and "maxmem: default (CXXVIII)" in roman.output
    assert "memory: default (CXXVIII)" in roman.output
    assert "disk/I: plain, size 512M" in roman.output and "nic/I:" in roman.output
    # index 0 has no Roman numeral (Ganeti leaves it too), nor do booleans
    assert "disk/0: plain, size 1.0G" in roman.output and "auto_balance: default (True)" in roman.output


def test_info_priority_is_the_query_jobs_priority(monkeypatch: pytest.MonkeyPatch) -> None:
    jobs = Jobs({"web1": _info(None)})
    result = _run(monkeypatch, jobs, "info", "--priority", "high", "web1")
    assert result.exit_code == 0, result.output
    assert jobs.ops[0]["priority"] == -10


def test_console_accepts_ganetis_priority(monkeypatch: pytest.MonkeyPatch) -> None:
    class Client:
        def get(self, path: str) -> dict[str, Any]:
            return {"command": ["true", "console"], "node": "node1", "node_ip": "127.0.0.1"}

    monkeypatch.setattr(instance_cli, "client", lambda: Client())
    monkeypatch.setattr("gnt.paths.is_virtual", lambda: True)
    result = CliRunner().invoke(instance_cli.main, ["console", "--priority", "low", "--show-cmd", "web1"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "true console"


def test_failover_cleanup_reaches_the_opcode(monkeypatch: pytest.MonkeyPatch) -> None:
    jobs = Jobs()
    result = _run(monkeypatch, jobs, "failover", "-f", "--cleanup", "web1")
    assert result.exit_code == 0, result.output
    assert jobs.ops[0]["OP_ID"] == "OP_INSTANCE_FAILOVER" and jobs.ops[0]["cleanup"] is True


@pytest.mark.parametrize(("argv", "allowed"), [([], True), (["--no-runtime-changes"], False)])
def test_migrate_no_runtime_changes_forbids_ballooning(
    monkeypatch: pytest.MonkeyPatch, argv: list[str], allowed: bool
) -> None:
    jobs = Jobs()
    result = _run(monkeypatch, jobs, "migrate", "-f", *argv, "web1")
    assert result.exit_code == 0, result.output
    assert jobs.ops[0]["allow_runtime_changes"] is allowed


def test_migrate_ignore_hvversions_reaches_the_opcode(monkeypatch: pytest.MonkeyPatch) -> None:
    jobs = Jobs()
    result = _run(monkeypatch, jobs, "migrate", "-f", "--ignore-hvversions", "web1")
    assert result.exit_code == 0, result.output
    assert jobs.ops[0]["ignore_hvversions"] is True


def test_add_node_group_reaches_the_opcode(monkeypatch: pytest.MonkeyPatch) -> None:
    jobs = Jobs()
    argv = ["add", "-t", "diskless", "-o", "noop", "-I", "hail", "-g", "rack2", "--no-name-check", "--no-ip-check"]
    result = _run(monkeypatch, jobs, *argv, "web1")
    assert result.exit_code == 0, result.output
    assert jobs.ops[0]["group_name"] == "rack2" and jobs.ops[0]["iallocator"] == "hail"


_ADD = ["add", "-t", "file", "--disk", "0:size=1G", "-o", "noop", "-n", "node1", "--no-name-check", "--no-ip-check"]


def test_add_file_driver_loop_reaches_the_opcode(monkeypatch: pytest.MonkeyPatch) -> None:
    jobs = Jobs()
    result = _run(monkeypatch, jobs, *_ADD, "--file-driver", "loop", "web1")
    assert result.exit_code == 0, result.output
    assert jobs.ops[0]["file_driver"] == "loop"


def test_add_file_driver_other_than_loop_is_refused_before_any_job(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ganeti's blktap drivers need Xen's blktap, which gnt does not drive: refused, not ignored."""
    jobs = Jobs()
    result = _run(monkeypatch, jobs, *_ADD, "--file-driver", "blktap", "web1")
    assert result.exit_code == 1 and not jobs.ops
    assert "Parameter 'OP_INSTANCE_CREATE.file_driver' fails validation: 'blktap' is not one of loop" in result.output
