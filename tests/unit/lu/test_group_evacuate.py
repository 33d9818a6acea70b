"""OP_GROUP_EVACUATE on the in-process transport: every instance of the group gets the allocator's
change-group steps as its job; bad targets and unmovable groups are refused before any job."""

from __future__ import annotations

import pytest

from gnt.errors import ECODE_INVAL, ECODE_NORES, OpPrereqError
from gnt.group.evacuate import LUGroupEvacuate
from gnt.group.opcodes import OpGroupEvacuate
from gnt.opcodes import from_dict
from tests.unit.lu.conftest import Harness
from tests.unit.lu.test_instance_change_group import racks  # noqa: F401 - fixture


def test_every_instance_of_the_group_gets_a_move_job(racks: Harness) -> None:  # noqa: F811
    racks.add_instance("web1", "node1")
    racks.add_instance("web2", "node1", up=False)
    result = racks.run(OpGroupEvacuate(group_name="default"), LUGroupEvacuate)
    assert result == {"jobs": [[True, 100], [True, 101]]}
    steps = {job[0]["instance_name"]: job[0] for job in racks.queue.jobs}
    assert (steps["web1"]["OP_ID"], steps["web1"]["target_node"]) == ("OP_INSTANCE_MIGRATE", "node2")
    assert (steps["web2"]["OP_ID"], steps["web2"]["target_node"]) == ("OP_INSTANCE_FAILOVER", "node2")
    for job in racks.queue.jobs:
        from_dict(job[0])  # each submitted step is a valid opcode


def test_sequential_and_force_failover(racks: Harness) -> None:  # noqa: F811
    racks.add_instance("web1", "node1")
    racks.add_instance("web2", "node1")
    racks.run(OpGroupEvacuate(group_name="default", sequential=True, force_failover=True), LUGroupEvacuate)
    (job,) = racks.queue.jobs
    assert [op["OP_ID"] for op in job] == ["OP_INSTANCE_FAILOVER", "OP_INSTANCE_FAILOVER"]
    for op in job:
        from_dict(op)


def test_an_empty_group_submits_nothing(racks: Harness) -> None:  # noqa: F811
    assert racks.run(OpGroupEvacuate(group_name="rack2"), LUGroupEvacuate) == {"jobs": []}
    assert racks.queue.jobs == []


def test_unmovable_instances_are_refused_or_warned(racks: Harness) -> None:  # noqa: F811
    racks.add_instance("files1", "node1", template="file")
    with pytest.raises(OpPrereqError, match="Can't compute group evacuation using iallocator") as err:
        racks.run(OpGroupEvacuate(group_name="default"), LUGroupEvacuate)
    assert err.value.args[1] == ECODE_NORES and racks.queue.jobs == []
    racks.add_instance("web1", "node1")
    racks.run(OpGroupEvacuate(group_name="default"), LUGroupEvacuate)
    assert [job[0]["instance_name"] for job in racks.queue.jobs] == ["web1"]
    assert any("WARNING: Unable to evacuate instances files1" in line for line in racks.log)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"target_groups": ["default"]}, r"Group to be evacuated \(default\) can not be used as a destination group"),
        ({"target_groups": ["nowhere"]}, "Node group 'nowhere' not known"),
        ({"group_name": "nowhere"}, "Node group 'nowhere' not known"),
    ],
)
def test_bad_groups_are_refused(racks: Harness, fields: dict[str, object], message: str) -> None:  # noqa: F811
    racks.add_instance("web1", "node1")
    with pytest.raises(OpPrereqError, match=message):
        racks.run(OpGroupEvacuate(**{"group_name": "default", **fields}), LUGroupEvacuate)  # type: ignore[arg-type]
    assert racks.queue.jobs == []


def test_a_single_group_cluster_has_no_target(harness: Harness) -> None:
    harness.add_instance("web1", "node1")
    with pytest.raises(OpPrereqError, match="There are no possible target groups") as err:
        harness.run(OpGroupEvacuate(group_name="default"), LUGroupEvacuate)
    assert err.value.args[1] == ECODE_INVAL
