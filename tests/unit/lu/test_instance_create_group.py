"""`gnt-instance add -g/--node-group`: the allocator places the new instance in that node group only,
and nodes given with -n must belong to it."""

from __future__ import annotations

import pytest

from gnt.errors import ECODE_INVAL, ECODE_NOENT, OpPrereqError
from gnt.group.logic import LUGroupAdd, LUGroupAssignNodes
from gnt.group.opcodes import OpGroupAdd, OpGroupAssignNodes
from gnt.instance.create import LUInstanceCreate
from gnt.opcodes import OpInstanceCreate
from tests.unit.lu.conftest import Harness
from tests.unit.lu.test_instance_multi_alloc import _full_node_info


@pytest.fixture
def two_groups(harness: Harness) -> Harness:
    """node1 in `default`, node2 in `rack2` (the allocator prefers node1 when left free)."""
    harness.run(OpGroupAdd(group_name="rack2"), LUGroupAdd)
    harness.run(OpGroupAssignNodes(group_name="rack2", nodes=["node2"]), LUGroupAssignNodes)
    _full_node_info(harness)
    return harness


def _create(h: Harness, name: str, **kw: object) -> str:
    op = OpInstanceCreate(
        instance_name=name,
        disk_template="diskless",
        os_type="noop",
        start=False,
        **kw,  # type: ignore[arg-type]
    )
    h.run(op, LUInstanceCreate)
    return h.cfg.node(h.cfg.instance(name).primary_node).name


def test_the_allocator_places_the_instance_in_the_named_group(two_groups: Harness) -> None:
    assert [_create(two_groups, f"free{i}", iallocator="hail") for i in range(2)] == ["node1", "node1"]
    assert [_create(two_groups, f"web{i}", iallocator="hail", group_name="rack2") for i in range(2)] == [
        "node2",
        "node2",
    ]
    assert _create(two_groups, "other", iallocator="hail", group_name="default") == "node1"


def test_a_node_outside_the_group_is_refused(two_groups: Harness) -> None:
    with pytest.raises(OpPrereqError, match=r"Node node1 is not in node group rack2 \(-g/--node-group\)") as err:
        _create(two_groups, "web1", pnode="node1", group_name="rack2")
    assert err.value.code == ECODE_INVAL and two_groups.cfg.find_instance("web1") is None
    assert _create(two_groups, "web2", pnode="node2", group_name="rack2") == "node2"


def test_an_unknown_group_is_refused(two_groups: Harness) -> None:
    with pytest.raises(OpPrereqError, match="Node group 'rack9' not known") as err:
        _create(two_groups, "web1", iallocator="hail", group_name="rack9")
    assert err.value.code == ECODE_NOENT and two_groups.cfg.find_instance("web1") is None
