"""OP_INSTANCE_CHANGE_GROUP on the in-process transport: the allocator's moves become one job."""

from __future__ import annotations

from typing import Any

import pytest

from gnt.errors import ECODE_INVAL, ECODE_NOENT, ECODE_NORES, OpPrereqError
from gnt.group.logic import LUGroupAdd, LUGroupAssignNodes
from gnt.group.opcodes import OpGroupAdd, OpGroupAssignNodes
from gnt.instance import placement
from gnt.instance.change_group import LUInstanceChangeGroup
from gnt.instance.multi_opcodes import OpInstanceChangeGroup
from gnt.opcodes import from_dict
from tests.unit.lu.conftest import Harness
from tests.unit.lu.test_instance_multi_alloc import _full_node_info


@pytest.fixture
def racks(harness: Harness) -> Harness:
    """node1 in `default`, node2 in `rack2`; the node doubles answer what the allocator reads."""
    harness.run(OpGroupAdd(group_name="rack2"), LUGroupAdd)
    harness.run(OpGroupAssignNodes(group_name="rack2", nodes=["node2"]), LUGroupAssignNodes)
    _full_node_info(harness)
    return harness


def test_a_running_diskless_instance_migrates_to_the_other_group(racks: Harness) -> None:
    racks.add_instance("web1", "node1")
    result = racks.run(OpInstanceChangeGroup(instance_name="web1", iallocator="hail"), LUInstanceChangeGroup)
    assert result == {"jobs": [[True, 100]]}
    ((op,),) = racks.queue.jobs
    assert (op["OP_ID"], op["instance_name"], op["target_node"]) == ("OP_INSTANCE_MIGRATE", "web1", "node2")
    from_dict(op)  # the submitted step is a valid opcode
    assert any("Moving instance web1 to group rack2" in line for line in racks.log)


def test_a_stopped_instance_fails_over_to_a_named_group(racks: Harness) -> None:
    racks.add_instance("web1", "node1", up=False)
    racks.run(OpInstanceChangeGroup(instance_name="web1", target_groups=["rack2"]), LUInstanceChangeGroup)
    ((op,),) = racks.queue.jobs
    assert (op["OP_ID"], op["target_node"]) == ("OP_INSTANCE_FAILOVER", "node2")


def test_a_file_instance_cannot_change_group(racks: Harness) -> None:
    racks.add_instance("web1", "node1", template="file")
    with pytest.raises(OpPrereqError, match="Can't compute solution for changing group of instance 'web1'") as err:
        racks.run(OpInstanceChangeGroup(instance_name="web1"), LUInstanceChangeGroup)
    assert err.value.args[1] == ECODE_NORES and racks.queue.jobs == []


@pytest.mark.parametrize(
    ("fields", "message", "code"),
    [
        ({"target_groups": ["default"]}, "Can't use group(s) 'default' as targets, they are used by", ECODE_INVAL),
        ({"target_groups": ["nowhere"]}, "Node group 'nowhere' not known", ECODE_NOENT),
        ({"instance_name": "nope"}, "Instance 'nope' not known", ECODE_NOENT),
    ],
)
def test_bad_targets_are_refused_before_the_allocator(
    racks: Harness, monkeypatch: pytest.MonkeyPatch, fields: dict[str, Any], message: str, code: str
) -> None:
    racks.add_instance("web1", "node1")
    asked: list[Any] = []
    monkeypatch.setattr(placement, "run_iallocator", lambda *args: asked.append(args))
    with pytest.raises(OpPrereqError, match=message.replace("(", r"\(").replace(")", r"\)")) as err:
        racks.run(OpInstanceChangeGroup(**{"instance_name": "web1", **fields}), LUInstanceChangeGroup)
    assert err.value.args[1] == code and not asked and racks.queue.jobs == []


def test_a_single_group_cluster_has_no_target(harness: Harness) -> None:
    harness.add_instance("web1", "node1")
    with pytest.raises(OpPrereqError, match="There are no possible target groups"):
        harness.run(OpInstanceChangeGroup(instance_name="web1"), LUInstanceChangeGroup)
    assert harness.queue.jobs == []


def test_hooks_see_the_target_groups(racks: Harness) -> None:
    racks.add_instance("web1", "node1")
    lu = LUInstanceChangeGroup(OpInstanceChangeGroup(instance_name="web1"), racks.ctx, lambda *a: None)
    lu.check_prereq()
    env = lu.hooks_env()
    assert lu.HPATH == "instance-change-group" and env["TARGET_GROUPS"] == "rack2"
    assert env["INSTANCE_NAME"] == "web1"
