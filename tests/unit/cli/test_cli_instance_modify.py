"""`gnt-instance modify --net/--hotplug/-m/--new-primary` build the opcode Ganeti's CLI would;
malformed values are one usage error and no job."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from gnt import opcodes
from gnt.instance import cli as instance_cli
from gnt.instance.cli import parse_disk_changes, parse_nic_changes
from gnt.instance.lifecycle import LUInstanceSetParams


class Master:
    """Takes the job (checked as the master's submission checks it) and answers it with no changes."""

    def __init__(self) -> None:
        self.ops: list[dict[str, Any]] = []

    def submit(self, ops: list[dict[str, Any]]) -> int:
        for op in ops:
            LUInstanceSetParams.check_opcode(opcodes.from_dict(op))
        self.ops.extend(ops)
        return 7

    def request(self, method: str, path: str, body: Any = None) -> Any:
        return {"job_info": ["success"], "log_entries": []}

    def get(self, path: str, **query: Any) -> Any:
        return {"status": "success", "opstatus": ["success"], "opresult": [[["nic.1", "add"]]]}


@pytest.fixture
def master(monkeypatch: pytest.MonkeyPatch) -> Master:
    fake = Master()
    monkeypatch.setattr(instance_cli, "client", lambda: fake)
    return fake


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("add", ["add", "-1", {}]),
        (
            "add:mac=aa:00:00:00:00:01,ip=pool,network=net1",
            ["add", "-1", {"mac": "aa:00:00:00:00:01", "ip": "pool", "network": "net1"}],
        ),
        ("1:add,link=br1", ["add", "1", {"link": "br1"}]),
        ("remove", ["remove", "-1", {}]),
        ("eth1:remove", ["remove", "eth1", {}]),
        ("0:modify,ip=192.0.2.3", ["modify", "0", {"ip": "192.0.2.3"}]),
        ("0:ip=192.0.2.3", ["modify", "0", {"ip": "192.0.2.3"}]),
        ("9f1c-uuid:mac=generate", ["modify", "9f1c-uuid", {"mac": "generate"}]),
    ],
)
def test_net_values_as_ganeti_writes_them(value: str, expected: list[Any]) -> None:
    assert parse_nic_changes((value,)) == [expected]


def test_modify_sends_nics_hotplug_runtime_memory_and_new_primary(master: Master) -> None:
    argv = ["modify", "--net", "add:network=net1,ip=pool", "--net", "eth0:remove", "--hotplug", "-m", "512M"]
    result = CliRunner().invoke(instance_cli.main, [*argv, "--new-primary", "node2", "--no-conflicts-check", "inst1"])
    assert result.exit_code == 0, result.output
    (op,) = master.ops
    assert op["nics"] == [["add", "-1", {"network": "net1", "ip": "pool"}], ["remove", "eth0", {}]]
    assert (op["hotplug"], op["hotplug_if_possible"], op["runtime_mem"], op["pnode"]) == (True, False, 512, "node2")
    assert op["conflicts_check"] is False
    assert "Modified instance inst1" in result.output and " - nic.1 -> add" in result.output


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--net", "0:add,remove"], "Cannot add and remove a NIC at the same time"),
        (["--net", "0:remove,ip=1.2.3.4"], "Not accepting parameters on removal"),
        (["--net", "eth0:add"], "Invalid NIC index 'eth0'"),
        (["--net", "0:modify"], "Nothing to change for NIC 0"),
        (["--net", "add:mode=tunnel"], "Invalid NIC mode 'tunnel'"),
        (["--net", "add:mac=zz"], "Invalid MAC address 'zz'"),
        (["--net", "add:ip=300.1.1.1"], "Invalid IP address '300.1.1.1'"),
        (["--net", "add:colour=red"], "Unknown NIC parameter(s): colour"),
        (["--hotplug", "--hotplug-if-possible", "--net", "add"], "cannot be combined"),
        (["-m", "lots"], "runtime memory"),
    ],
)
def test_bad_modify_values_are_one_error_and_no_job(master: Master, argv: list[str], message: str) -> None:
    result = CliRunner().invoke(instance_cli.main, ["modify", *argv, "inst1"])
    assert result.exit_code != 0 and message in result.output, result.output
    assert master.ops == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("add:size=1G", ["add", -1, {"size": 1024}]),
        ("2:add,size=64M,name=data", ["add", 2, {"size": 64, "name": "data"}]),
        ("remove", ["remove", -1, {}]),
        ("data:remove", ["remove", "data", {}]),
        ("1:modify,mode=ro,name=x", ["modify", 1, {"mode": "ro", "name": "x"}]),
        ("0:mode=ro", ["modify", 0, {"mode": "ro"}]),
        ("detach", ["detach", -1, {}]),
        ("9f1c-uuid:detach", ["detach", "9f1c-uuid", {}]),
        ("attach:name=data", ["attach", -1, {"name": "data"}]),
        ("0:attach,uuid=9f1c-uuid", ["attach", 0, {"uuid": "9f1c-uuid"}]),
    ],
)
def test_disk_values_as_ganeti_writes_them(value: str, expected: list[Any]) -> None:
    assert parse_disk_changes((value,)) == [expected]


def test_modify_sends_the_os_disk_changes_and_force_variant(master: Master) -> None:
    argv = ["modify", "-o", "debootstrap+default", "--force-variant", "--disk", "0:mode=ro", "--disk", "1:detach"]
    result = CliRunner().invoke(instance_cli.main, [*argv, "inst1"])
    assert result.exit_code == 0, result.output
    (op,) = master.ops
    assert (op["os_name"], op["force_variant"]) == ("debootstrap+default", True)
    assert op["disks"] == [["modify", 0, {"mode": "ro"}], ["detach", 1, {}]]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--disk", "modify:mode=ro"], "Which disk to modify?"),
        (["--disk", "0:attach,detach"], "Cannot attach and detach a disk at the same time"),
        (["--disk", "data:attach,name=x"], "Invalid disk index 'data'"),
        (["--disk", "0:detach,name=x"], "No settings should be passed when removing or detaching a disk"),
        (["--disk", "0:modify"], "Nothing to change for disk 0"),
        (["--disk", "0:size=2G"], "Disk size change not possible, use grow-disk"),
        (["--disk", "attach:name=a,uuid=b"], "Only one argument is permitted in attach op"),
        (["-o", "bad os"], "is not a valid OS name"),
    ],
)
def test_bad_disk_and_os_values_are_one_error_and_no_job(master: Master, argv: list[str], message: str) -> None:
    result = CliRunner().invoke(instance_cli.main, ["modify", *argv, "inst1"])
    assert result.exit_code != 0 and message in result.output, result.output
    assert master.ops == []


def test_print_jobid_puts_the_job_id_first_as_ganeti_does(master: Master) -> None:
    result = CliRunner().invoke(instance_cli.main, ["modify", "--print-jobid", "-B", "vcpus=2", "inst1"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "7" and "Modified instance inst1" in result.output
    result = CliRunner().invoke(instance_cli.main, ["modify", "--submit", "--print-jobid", "-B", "vcpus=2", "inst1"])
    assert result.output.splitlines() == ["7", "JobID: 7"]
    result = CliRunner().invoke(instance_cli.main, ["modify", "--submit", "-B", "vcpus=2", "inst1"])
    assert result.output.splitlines() == ["JobID: 7"]  # not asked: not printed (nor remembered from before)
