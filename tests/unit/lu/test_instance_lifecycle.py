"""Instance remove, startup and shutdown LUs on the in-process transport."""

from __future__ import annotations

import pytest

from gnt.errors import ECODE_NOENT, ECODE_NORES, ECODE_STATE, OpExecError, OpPrereqError
from gnt.instance.lifecycle import LUInstanceRemove, LUInstanceShutdown, LUInstanceStartup
from gnt.opcodes import OpInstanceRemove, OpInstanceShutdown, OpInstanceStartup
from tests.unit.lu.conftest import Harness


def test_remove_stops_the_guest_removes_disks_and_the_config_entry(harness: Harness) -> None:
    harness.add_instance("inst1", "node1", template="file")
    node = harness.nodes["node1"]
    harness.run(OpInstanceRemove(instance_name="inst1"), LUInstanceRemove)
    assert harness.cfg.find_instance("inst1") is None
    assert node.disks == {} and node.running == {}
    assert node.names() == ["instance_shutdown", "blockdev_remove"]


def test_remove_of_an_unknown_instance_is_a_prerequisite_error(harness: Harness) -> None:
    with pytest.raises(OpPrereqError) as err:
        harness.run(OpInstanceRemove(instance_name="nosuch"), LUInstanceRemove)
    assert err.value.code == ECODE_NOENT


def test_remove_keeps_the_config_entry_when_a_disk_cannot_be_removed(harness: Harness) -> None:
    harness.add_instance("inst1", "node1", template="file")
    harness.nodes["node1"].fail["blockdev_remove"] = OpExecError("busy")
    with pytest.raises(OpExecError, match="Could not remove disk 0 of instance inst1: busy"):
        harness.run(OpInstanceRemove(instance_name="inst1"), LUInstanceRemove)
    assert harness.cfg.find_instance("inst1") is not None


def test_remove_with_ignore_failures_removes_the_entry_and_warns(harness: Harness) -> None:
    harness.add_instance("inst1", "node1", template="file")
    harness.nodes["node1"].fail["blockdev_remove"] = OpExecError("busy")
    harness.run(OpInstanceRemove(instance_name="inst1", ignore_failures=True), LUInstanceRemove)
    assert harness.cfg.find_instance("inst1") is None
    assert any("WARNING" in line and "busy" in line for line in harness.log)


def test_startup_starts_the_guest_and_remembers_it_is_up(harness: Harness) -> None:
    harness.add_instance("inst1", "node1", up=False)
    harness.run(OpInstanceStartup(instance_name="inst1"), LUInstanceStartup)
    assert "inst1" in harness.nodes["node1"].running
    assert harness.cfg.instance("inst1").admin_state == "up"


def test_startup_of_a_running_instance_only_says_so(harness: Harness) -> None:
    harness.add_instance("inst1", "node1")
    harness.run(OpInstanceStartup(instance_name="inst1"), LUInstanceStartup)
    assert "instance_start" not in harness.nodes["node1"].names()
    assert any("already running" in line for line in harness.log)


def test_startup_refuses_an_offline_instance(harness: Harness) -> None:
    inst = harness.add_instance("inst1", "node1", up=False)
    inst.admin_state = "offline"
    with pytest.raises(OpPrereqError, match="marked offline") as err:
        harness.run(OpInstanceStartup(instance_name="inst1"), LUInstanceStartup)
    assert err.value.code == ECODE_STATE


def test_startup_refuses_an_offline_primary_node(harness: Harness) -> None:
    harness.add_instance("inst1", "node1", up=False)
    harness.cfg.node("node1").offline = True
    with pytest.raises(OpPrereqError, match="Can't use offline primary node node1"):
        harness.run(OpInstanceStartup(instance_name="inst1"), LUInstanceStartup)


def test_startup_refuses_when_memory_does_not_fit(harness: Harness) -> None:
    harness.add_instance("inst1", "node1", up=False)
    harness.nodes["node1"].memory_free = 16
    with pytest.raises(OpPrereqError) as err:
        harness.run(OpInstanceStartup(instance_name="inst1"), LUInstanceStartup)
    assert err.value.code == ECODE_NORES
    assert "instance_start" not in harness.nodes["node1"].names()


def test_startup_asks_for_the_instance_and_the_free_memory_at_once(harness: Harness) -> None:
    """Both prerequisite questions are in flight together (one round trip, not two)."""
    import asyncio

    harness.add_instance("inst1", "node1", up=False)
    node = harness.nodes["node1"]
    in_flight, most = [0], [0]
    for name in ("instance_info", "node_info"):
        answer = getattr(node, f"do_{name}")

        async def slow(args: object, answer: object = answer) -> object:
            in_flight[0] += 1
            most[0] = max(most[0], in_flight[0])
            await asyncio.sleep(0.01)
            in_flight[0] -= 1
            return answer(args)  # type: ignore[operator]

        setattr(node, f"do_{name}", slow)
    harness.run(OpInstanceStartup(instance_name="inst1"), LUInstanceStartup)
    assert most[0] == 2 and "inst1" in node.running


def test_startup_of_a_running_instance_ignores_the_memory_answer(harness: Harness) -> None:
    harness.add_instance("inst1", "node1")
    harness.nodes["node1"].memory_free = 16
    harness.nodes["node1"].fail["node_info"] = OpExecError("xl info timed out")
    harness.run(OpInstanceStartup(instance_name="inst1"), LUInstanceStartup)
    assert any("already running" in line for line in harness.log)


def test_startup_reports_a_node_failure(harness: Harness) -> None:
    harness.add_instance("inst1", "node1", up=False)
    harness.nodes["node1"].fail["instance_start"] = OpExecError("no kernel")
    with pytest.raises(OpExecError, match="Could not start instance inst1: no kernel"):
        harness.run(OpInstanceStartup(instance_name="inst1"), LUInstanceStartup)


def test_shutdown_stops_the_guest_and_remembers_it_is_down(harness: Harness) -> None:
    harness.add_instance("inst1", "node1")
    harness.run(OpInstanceShutdown(instance_name="inst1", timeout=5), LUInstanceShutdown)
    assert harness.nodes["node1"].running == {}
    assert harness.cfg.instance("inst1").admin_state == "down"
    (call,) = [args for name, args in harness.nodes["node1"].calls if name == "instance_shutdown"]
    assert call.timeout == 5


def test_shutdown_refuses_an_offline_primary_unless_told_to_ignore_it(harness: Harness) -> None:
    harness.add_instance("inst1", "node1")
    harness.cfg.node("node1").offline = True
    with pytest.raises(OpPrereqError, match="offline primary node"):
        harness.run(OpInstanceShutdown(instance_name="inst1"), LUInstanceShutdown)
    harness.run(OpInstanceShutdown(instance_name="inst1", ignore_offline_nodes=True), LUInstanceShutdown)
    assert harness.cfg.instance("inst1").admin_state == "down"
    assert harness.nodes["node1"].calls == []


def test_shutdown_reports_a_node_failure(harness: Harness) -> None:
    harness.add_instance("inst1", "node1")
    harness.nodes["node1"].fail["instance_shutdown"] = OpExecError("stuck")
    with pytest.raises(OpExecError, match="Could not shutdown instance inst1: stuck"):
        harness.run(OpInstanceShutdown(instance_name="inst1"), LUInstanceShutdown)
