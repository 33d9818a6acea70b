"""`gnt-instance modify -t drbd -I ALLOCATOR` (and -t drbd with neither -n nor -I: the cluster's
default allocator, as Ganeti's CheckIAllocatorOrNode): the allocator picks the secondary with an
'allocate-secondary' request; -n and -I together, or -I without -t drbd, are refused before any
job exists; an allocator that finds no secondary changes nothing."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gnt import opcodes
from gnt.errors import ECODE_INVAL, ECODE_NORES, OpPrereqError
from gnt.instance import placement
from gnt.instance.create import LUInstanceCreate
from gnt.instance.lifecycle import LUInstanceSetParams
from gnt.jobs.locking import Level
from gnt.objects import Node, NodeGroup
from gnt.opcodes import OpInstanceSetParams
from tests.unit.lu.conftest import Harness
from tests.unit.lu.test_instance_convert import calls, convert, h  # noqa: F401 - fixture
from tests.unit.lu.test_instance_plain import create as create_plain
from tests.unit.lu.test_instance_plain import with_vg


def stopped(h: Harness, template: str) -> None:  # noqa: F811
    """A stopped plain instance inside the default instance policy (disks of at least 1 GiB), so
    the allocator weighs it as it would any instance."""
    h.run(create_plain(start=False, disks=[{"size": 1024}]), LUInstanceCreate)
    for node in h.nodes.values():
        node.calls.clear()


def test_the_allocator_picks_the_secondary(h: Harness) -> None:  # noqa: F811
    stopped(h, "plain")
    result = h.run(convert("drbd", iallocator="hail"), LUInstanceSetParams)
    assert ["disk_template", "drbd"] in result
    inst = h.cfg.instance("inst1")
    assert inst.disk_template == "drbd" and inst.secondary_nodes == [h.cfg.node("node2").uuid]
    assert calls(h, "node2", "blockdev_create")
    assert " - INFO: Using hail to choose new secondary" in h.log
    assert " - INFO: hail chose node2 as new secondary" in h.log


def test_without_n_or_i_the_clusters_default_allocator_picks_it(
    h: Harness,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stopped(h, "plain")
    asked: list[tuple[str | None, dict[str, Any]]] = []
    real = placement.run_iallocator

    async def spy(lu: Any, name: str | None, request: dict[str, Any]) -> Any:
        asked.append((name, request))
        return await real(lu, name, request)

    monkeypatch.setattr(placement, "run_iallocator", spy)
    h.run(convert("drbd"), LUInstanceSetParams)
    assert asked == [("hail", {"type": "allocate-secondary", "name": "inst1"})]
    assert h.cfg.instance("inst1").secondary_nodes == [h.cfg.node("node2").uuid]


def test_no_node_with_room_is_a_prerequisite_error_and_nothing_is_made(h: Harness) -> None:  # noqa: F811
    stopped(h, "plain")
    with_vg(h.nodes["node2"], free=500)
    with pytest.raises(OpPrereqError, match="Can't compute nodes using iallocator 'hail': no valid secondary") as err:
        h.run(convert("drbd", iallocator="hail"), LUInstanceSetParams)
    assert err.value.code == ECODE_NORES
    assert h.cfg.instance("inst1").disk_template == "plain"
    assert not calls(h, "node1", "blockdev_create") and not calls(h, "node2", "blockdev_create")


def test_an_answer_naming_the_primary_is_refused(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    stopped(h, "plain")

    async def primary(lu: Any, name: str | None, request: dict[str, Any]) -> Any:
        return "node1"

    monkeypatch.setattr(placement, "run_iallocator", primary)
    with pytest.raises(OpPrereqError, match="chose node1, which is not another node of the primary's node group"):
        h.run(convert("drbd", iallocator="hail"), LUInstanceSetParams)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"disk_template": "drbd", "remote_node": "node2", "iallocator": "hail"}, "Do not specify both"),
        ({"iallocator": "hail", "beparams": {"vcpus": 2}}, "only chooses the secondary node of a conversion"),
        ({"disk_template": "plain", "iallocator": "hail"}, "only chooses the secondary node of a conversion"),
    ],
)
def test_opcode_refusals_before_any_job(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(OpPrereqError, match=message) as err:
        opcodes.from_dict({"OP_ID": "OP_INSTANCE_SET_PARAMS", "instance_name": "inst1", **fields})
    assert err.value.code == ECODE_INVAL


def node_locks(h: Harness, op: OpInstanceSetParams) -> list[str]:  # noqa: F811
    lu = LUInstanceSetParams(op, h.ctx, lambda m, k: None)
    request = lu.declare_locks(Level.NODE)
    assert request is not None and not request.shared
    return list(request.names)


def test_the_allocator_conversion_locks_the_primarys_whole_group_a_named_one_only_its_nodes(
    h: Harness,  # noqa: F811
) -> None:
    stopped(h, "plain")
    group = h.cfg.node("node1").group
    other = NodeGroup(name="rack2")
    node3 = Node(name="node3", primary_ip="192.0.2.3", group=group)
    node4 = Node(name="node4", primary_ip="192.0.2.4", group=other.uuid)
    asyncio.run(h.cfg.commit([other, node3, node4]))
    assert node_locks(h, convert("drbd", iallocator="hail")) == ["node1", "node2", "node3"]
    assert node_locks(h, convert("drbd")) == ["node1", "node2", "node3"]
    assert node_locks(h, convert("drbd", remote_node="node2")) == ["node1", "node2"]
