"""The built-in allocator's 'allocate-secondary' request (Ganeti's IAReqInstanceAllocateSecondary,
for `gnt-instance modify -t drbd -I`): a secondary for a plain instance, its primary kept."""

from __future__ import annotations

import pytest

from gnt.alloc import Instance, allocate, build_request, generate_cluster, process_request
from gnt.alloc.allocate import allocate_secondary
from gnt.errors import OpPrereqError


def plain_cluster(nodes: int = 4):  # type: ignore[no-untyped-def]
    m = generate_cluster(nodes, seed=5, per_node=(1, 2))
    allocate(m, Instance("p1", 1024, 2048, 1, "running", -1, -1, "plain"))
    return m


def test_the_secondary_is_another_node_of_the_primarys_group_and_the_model_is_unchanged() -> None:
    m = plain_cluster()
    idx = m.inst_index["p1"]
    before = (m.instances[idx].pnode, m.instances[idx].snode, m.f_dsk.copy(), m.free_mem().copy())
    node = allocate_secondary(m, "p1")
    inst = m.instances[idx]
    assert node != m.nodes[inst.pnode].name and node in {n.name for n in m.nodes}
    assert (inst.pnode, inst.snode, inst.template) == (before[0], -1, "plain")
    assert (m.f_dsk == before[2]).all() and (m.free_mem() == before[3]).all()


def test_a_node_without_room_for_the_mirror_is_never_chosen() -> None:
    m = plain_cluster(3)
    inst = m.instances[m.inst_index["p1"]]
    others = [i for i in range(len(m.nodes)) if i != inst.pnode]
    m.f_dsk[others[0]] = 100  # too little disk for the 2 GiB mirror half
    assert allocate_secondary(m, "p1") == m.nodes[others[1]].name
    m.f_dsk[others[1]] = 100
    with pytest.raises(OpPrereqError, match="no valid secondary node for instance p1") as err:
        allocate_secondary(m, "p1")
    assert err.value.code == "insufficient_resources"


def test_only_a_plain_instance_gets_a_secondary() -> None:
    m = plain_cluster()
    allocate(m, Instance("d1", 512, 1024, 1, "running", -1, -1, "drbd"))
    with pytest.raises(OpPrereqError, match="has disk template drbd; only plain instances"):
        allocate_secondary(m, "d1")
    with pytest.raises(OpPrereqError, match="unknown instance 'nope'"):
        allocate_secondary(m, "nope")


def test_the_request_answers_one_node_name() -> None:
    m = plain_cluster()
    answer = process_request(build_request(m, {"type": "allocate-secondary", "name": "p1"}))
    assert answer["success"] is True, answer
    assert isinstance(answer["result"], str) and answer["result"] in {n.name for n in m.nodes}
    assert answer["info"] == f"new secondary {answer['result']}"
