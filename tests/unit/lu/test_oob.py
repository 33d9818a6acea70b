"""LUOobCommand on a real ConfigManager with a real OOB program written by the test (it records its argv)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gnt import opcodes
from gnt.config.manager import ConfigManager
from gnt.errors import ECODE_INVAL, ECODE_STATE, HypervisorError, OpExecError, OpPrereqError
from gnt.node.logic import LUNodeSetParams
from gnt.node.powercycle import LUNodePowercycle
from gnt.oob import protocol
from gnt.oob.logic import LUOobCommand
from gnt.oob.opcodes import OpNodePowercycle, OpOobCommand
from gnt.opcodes import OpNodeSetParams
from tests.unit.lu.conftest import Harness

SCRIPT = """#!/bin/sh
# a test OOB program: records its argv, answers from ANSWERS/<command> and exits with ANSWERS/<command>.rc
dir=$(dirname "$0")
printf '%s\\n' "$*" >> "$dir/calls"
[ -f "$dir/answers/$1" ] && cat "$dir/answers/$1"
[ -f "$dir/answers/$1.rc" ] && exit "$(cat "$dir/answers/$1.rc")"
exit 0
"""


class Oob:
    """The test's OOB program: where it is, what it was asked, what it will answer."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "answers").mkdir(parents=True)
        self.path = root / "oob.sh"
        self.path.write_text(SCRIPT)
        self.path.chmod(0o755)

    def answer(self, command: str, payload: object = None, rc: int = 0, raw: str | None = None) -> None:
        text = raw if raw is not None else ("" if payload is None else json.dumps(payload))
        (self.root / "answers" / command).write_text(text)
        (self.root / "answers" / f"{command}.rc").write_text(str(rc))

    def calls(self) -> list[str]:
        calls = self.root / "calls"
        return calls.read_text().splitlines() if calls.exists() else []


@pytest.fixture
def oob(harness: Harness, tmp_path: Path) -> Oob:
    """node2 has the OOB program (set as a node parameter, as `gnt-node modify --node-parameters` does)."""
    program = Oob(tmp_path / "oob")
    harness.run(OpNodeSetParams(node_name="node2", ndparams={"oob_program": str(program.path)}), LUNodeSetParams)
    return program


def _reloaded(harness: Harness) -> ConfigManager:
    fresh = ConfigManager(harness.cfg._writer)  # noqa: SLF001 - read back what was persisted
    fresh.load()
    return fresh


def test_power_status_runs_program_as_argv_and_updates_powered(harness: Harness, oob: Oob) -> None:
    oob.answer("power-status", {"powered": False})
    result = harness.run(OpOobCommand(node_names=["node2"], command="power-status"), LUOobCommand)
    assert result == [[[0, "node2"], [0, {"powered": False}]]]
    assert oob.calls() == ["power-status node2"]
    assert _reloaded(harness).node("node2").powered is False


def test_node_without_program_is_unavailable_not_an_error(harness: Harness, oob: Oob) -> None:
    oob.answer("health", [["disk", "OK"]])
    result = harness.run(OpOobCommand(node_names=["node1", "node2"], command="health"), LUOobCommand)
    assert result == [[[0, "node1"], [protocol.RS_UNAVAIL, None]], [[0, "node2"], [0, [["disk", "OK"]]]]]
    assert oob.calls() == ["health node2"]


def test_health_warns_about_critical_items(harness: Harness, oob: Oob) -> None:
    oob.answer("health", [["fan", "CRITICAL"], ["psu", "OK"]])
    harness.run(OpOobCommand(node_names=["node2"], command="health"), LUOobCommand)
    assert " - WARNING: Item 'fan' on node 'node2' has status 'CRITICAL'" in harness.log


@pytest.mark.parametrize(
    ("command", "raw", "rc", "warning"),
    [
        ("health", '[["fan", "BROKEN"]]', 0, "health item 'fan' has invalid status 'BROKEN'"),
        ("health", '{"fan": "OK"}', 0, "command 'health' is expected to return a list"),
        ("power-status", "[]", 0, "power-status is expected to return a dict"),
        ("power-on", '"done"', 0, "power-on is expected to not return payload"),
        ("power-status", "not json", 0, "printed invalid JSON"),
        ("power-status", "boom", 3, "failed with reason 'exited with exit code 3'; output: boom"),
    ],
)
def test_bad_answer_is_nodata_with_a_warning(
    harness: Harness, oob: Oob, command: str, raw: str, rc: int, warning: str
) -> None:
    oob.answer(command, raw=raw, rc=rc)
    result = harness.run(OpOobCommand(node_names=["node2"], command=command), LUOobCommand)
    assert result == [[[0, "node2"], [protocol.RS_NODATA, None]]]
    assert any(warning in line for line in harness.log), harness.log
    assert _reloaded(harness).node("node2").powered is True


def test_timeout_kills_the_program_and_is_nodata(harness: Harness, oob: Oob) -> None:
    oob.path.write_text("#!/bin/sh\nexec sleep 30\n")
    result = harness.run(OpOobCommand(node_names=["node2"], command="power-status", timeout=1), LUOobCommand)
    assert result == [[[0, "node2"], [protocol.RS_NODATA, None]]]
    assert any("timeout after 1s" in line for line in harness.log)


def test_power_off_needs_offline_unless_ignore_status(harness: Harness, oob: Oob) -> None:
    with pytest.raises(OpPrereqError, match="Cannot power off node node2 because it is not marked offline") as err:
        harness.run(OpOobCommand(node_names=["node2"], command="power-off"), LUOobCommand)
    assert err.value.code == ECODE_STATE and oob.calls() == []
    result = harness.run(OpOobCommand(node_names=["node2"], command="power-off", ignore_status=True), LUOobCommand)
    assert result == [[[0, "node2"], [0, None]]]
    assert oob.calls() == ["power-off node2"]
    assert _reloaded(harness).node("node2").powered is False


def test_power_off_of_the_master_is_refused(harness: Harness, oob: Oob) -> None:
    for command in ("power-off", "power-cycle"):
        with pytest.raises(OpPrereqError, match="Operating on the master node node1 is not allowed") as err:
            harness.run(OpOobCommand(node_names=["node1"], command=command, ignore_status=True), LUOobCommand)
        assert err.value.code == ECODE_INVAL
    assert oob.calls() == []


def test_no_names_means_all_nodes_but_the_master_for_power_off(harness: Harness, oob: Oob) -> None:
    harness.run(OpNodeSetParams(node_name="node1", ndparams={"oob_program": str(oob.path)}), LUNodeSetParams)
    harness.run(OpOobCommand(command="power-cycle"), LUOobCommand)
    assert oob.calls() == ["power-cycle node2"]
    harness.run(OpOobCommand(command="power-status"), LUOobCommand)
    assert oob.calls()[1:] == ["power-status node1", "power-status node2"]


def test_unpowered_node_stays_offline_until_powered_on(harness: Harness, oob: Oob) -> None:
    harness.run(OpNodeSetParams(node_name="node2", offline=True), LUNodeSetParams)
    harness.run(OpOobCommand(node_names=["node2"], command="power-off"), LUOobCommand)
    with pytest.raises(OpPrereqError, match="Please power on node node2 first before you can reset offline state"):
        harness.run(OpNodeSetParams(node_name="node2", offline=False), LUNodeSetParams)
    harness.run(OpOobCommand(node_names=["node2"], command="power-on"), LUOobCommand)
    harness.run(OpNodeSetParams(node_name="node2", offline=False), LUNodeSetParams)
    node = _reloaded(harness).node("node2")
    assert node.powered is True and node.offline is False


def test_powered_flag_needs_oob_support(harness: Harness) -> None:
    with pytest.raises(OpPrereqError, match="does not support out-of-band handling"):
        harness.run(OpNodeSetParams(node_name="node2", powered=False), LUNodeSetParams)


def test_unknown_node_is_refused(harness: Harness, oob: Oob) -> None:
    with pytest.raises(OpPrereqError, match="Node 'node9' not known"):
        harness.run(OpOobCommand(node_names=["node9"], command="health"), LUOobCommand)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"OP_ID": "OP_OOB_COMMAND", "command": "reboot"}, "is not one of power-on"),
        ({"OP_ID": "OP_OOB_COMMAND", "command": "health", "timeout": 0}, "OP_OOB_COMMAND.timeout"),
        ({"OP_ID": "OP_NODE_SET_PARAMS", "node_name": "n", "ndparams": {"oob_program": "oob.sh"}}, "absolute"),
        ({"OP_ID": "OP_NODE_SET_PARAMS", "node_name": "n", "ndparams": {"oob_program": "/a/../b"}}, "normalised"),
        ({"OP_ID": "OP_NODE_SET_PARAMS", "node_name": "n", "ndparams": {"oob_program": "/bin/x y"}}, "whitespace"),
        ({"OP_ID": "OP_NODE_SET_PARAMS", "node_name": "n", "ndparams": {"oob_program": 5}}, "string"),
    ],
)
def test_bad_opcodes_are_refused_at_submission(data: dict, message: str) -> None:
    with pytest.raises(OpPrereqError, match=message):
        opcodes.from_dict(data)


def test_powercycle_asks_the_node_with_the_default_hypervisor(harness: Harness) -> None:
    harness.nodes["node2"].do_node_powercycle = lambda args: "Reboot scheduled in 5 seconds"  # type: ignore[attr-defined]
    result = harness.run(OpNodePowercycle(node_name="node2"), LUNodePowercycle)
    assert result == "Reboot scheduled in 5 seconds"
    (call,) = [args for name, args in harness.nodes["node2"].calls if name == "node_powercycle"]
    assert call.hypervisor == harness.cfg.cluster.default_hypervisor


def test_powercycle_of_the_master_needs_force(harness: Harness) -> None:
    with pytest.raises(OpPrereqError, match="The node is the master and the force parameter was not set"):
        harness.run(OpNodePowercycle(node_name="node1"), LUNodePowercycle)
    assert "node_powercycle" not in harness.nodes["node1"].names()
    harness.run(OpNodePowercycle(node_name="node1", force=True), LUNodePowercycle)
    assert "node_powercycle" in harness.nodes["node1"].names()


def test_powercycle_failure_is_a_job_error(harness: Harness) -> None:
    harness.nodes["node2"].fail["node_powercycle"] = HypervisorError("Hypervisor 'xen-pvm' is not available")
    with pytest.raises(OpExecError, match="Failed to schedule the reboot"):
        harness.run(OpNodePowercycle(node_name="node2"), LUNodePowercycle)


def test_test_jqueue_logs_each_message_then_succeeds_or_fails(harness: Harness) -> None:
    from gnt.debug.jqueue import LUTestJqueue
    from gnt.debug.opcodes import OpTestJqueue

    assert harness.run(OpTestJqueue(log_messages=["a", "", "b|c"]), LUTestJqueue) is True
    assert [line for line in harness.log if line.startswith("TESTMSG=")] == ["TESTMSG=a", "TESTMSG=", "TESTMSG=b|c"]
    with pytest.raises(OpExecError, match="^Opcode failure was requested$"):
        harness.run(OpTestJqueue(fail=True), LUTestJqueue)
    with pytest.raises(OpPrereqError, match="not supported"):
        opcodes.from_dict({"OP_ID": "OP_TEST_JQUEUE", "notify_exec": True})


def test_restricted_command_sends_only_the_name_and_reports_per_node(harness: Harness) -> None:
    from gnt.node.restricted import LURestrictedCommand
    from gnt.node.restricted_opcodes import OpRestrictedCommand

    harness.nodes["node1"].do_restricted_command = lambda args: f"ran {args.command}\n"  # type: ignore[attr-defined]
    harness.nodes["node2"].fail["restricted_command"] = OpExecError("Executing command 'hello' failed")
    result = harness.run(OpRestrictedCommand(command="hello", nodes=["node2", "node1"]), LURestrictedCommand)
    assert result == [
        [False, "Command 'hello' on node 'node2' failed: Executing command 'hello' failed"],
        [True, "ran hello\n"],
    ]
    for bad in ("../x", "a b", "", ".."):
        with pytest.raises(OpPrereqError, match="restricted command is a plain name"):
            opcodes.from_dict({"OP_ID": "OP_RESTRICTED_COMMAND", "command": bad, "nodes": ["node1"]})
    with pytest.raises(OpPrereqError, match="at least one node"):
        opcodes.from_dict({"OP_ID": "OP_RESTRICTED_COMMAND", "command": "x", "nodes": []})


@pytest.mark.parametrize(("command", "shared"), [("health", True), ("power-status", True), ("power-on", False)])
def test_oob_locks_are_shared_only_for_reads(harness: Harness, command: str, shared: bool) -> None:
    from gnt.jobs.locking import ALL, Level

    lu = LUOobCommand(OpOobCommand(command=command), harness.ctx, lambda m, k: None)
    request = lu.declare_locks(Level.NODE)
    assert request is not None and request.names == ALL and request.shared is shared
    named = LUOobCommand(OpOobCommand(command=command, node_names=["node2"]), harness.ctx, lambda m, k: None)
    assert named.declare_locks(Level.NODE).names == ["node2"]  # type: ignore[union-attr]
