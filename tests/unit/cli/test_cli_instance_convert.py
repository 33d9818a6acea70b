"""`gnt-instance modify -t drbd -I ALLOCATOR`: -I reaches the opcode's iallocator; -n with -I, or
-I without -t drbd, is one line on stderr, exit 1 and no job."""

from __future__ import annotations

from click.testing import CliRunner

from gnt.instance import cli as instance_cli
from tests.unit.cli.test_cli_instance_modify import Master, master

__all__ = ["master"]


def modify(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(instance_cli.main, ["modify", *args])


def test_modify_i_sends_the_allocator(master: Master) -> None:
    for spelling in ("-I", "--iallocator"):
        master.ops.clear()
        result = modify("-t", "drbd", spelling, "hail", "inst1")
        assert result.exit_code == 0, result.output
        (op,) = master.ops
        assert op["disk_template"] == "drbd" and op["iallocator"] == "hail" and op["remote_node"] is None


def test_modify_n_and_i_together_are_refused_in_one_line(master: Master) -> None:
    result = modify("-t", "drbd", "-n", "node2", "-I", "hail", "inst1")
    assert result.exit_code == 1
    (line,) = result.stderr.strip().splitlines()
    assert "Do not specify both, iallocator and node" in line
    assert master.ops == []


def test_modify_i_without_a_drbd_conversion_is_refused(master: Master) -> None:
    for args in (["-I", "hail"], ["-t", "plain", "-I", "hail"]):
        result = modify(*args, "inst1")
        assert result.exit_code == 1 and "only chooses the secondary node of a conversion to drbd" in result.stderr
    assert master.ops == []
