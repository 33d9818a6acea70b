"""Static resource state through the logical units: cluster, group and node modify store it (resets
included), a node add takes its own, and the allocator and the start check count a node's memory
under it (gnt.resstate)."""

from __future__ import annotations

import pytest

from gnt.cluster.logic import LUClusterSetParams
from gnt.config.manager import ConfigManager
from gnt.errors import ECODE_NORES, OpPrereqError
from gnt.group.logic import LUGroupAdd, LUGroupAssignNodes, LUGroupSetParams
from gnt.group.opcodes import OpGroupAdd, OpGroupAssignNodes, OpGroupSetParams
from gnt.instance.create import LUInstanceCreate
from gnt.node.logic import LUNodeSetParams
from gnt.opcodes import OpClusterSetParams, OpInstanceCreate, OpNodeSetParams
from tests.unit.lu.conftest import Harness
from tests.unit.lu.test_instance_multi_alloc import _full_node_info

#: the node doubles' memory (_full_node_info): 8192 total, 512 for the node, 4096 free
TOTAL, DOM0, FREE = 8192, 512, 4096
#: a mem_total under which nothing is left for instances: the 3584 MiB the doubles use beyond dom0 and
#: free memory stay in use, whatever the admin says the total is
TIGHT = DOM0 + (TOTAL - DOM0 - FREE) + 256


def _reloaded(harness: Harness) -> ConfigManager:
    fresh = ConfigManager(harness.cfg._writer)  # noqa: SLF001 - read back what was persisted
    fresh.load()
    return fresh


def _place(h: Harness, name: str, memory: int = 1024, **kw: object) -> str:
    op = OpInstanceCreate(
        instance_name=name,
        disk_template="diskless",
        os_type="noop",
        start=False,
        iallocator="hail",
        beparams={"memory": memory},
        **kw,  # type: ignore[arg-type]
    )
    h.run(op, LUInstanceCreate)
    return h.cfg.node(h.cfg.instance(name).primary_node).name


def test_node_modify_stores_merges_and_resets_the_state(harness: Harness) -> None:
    op = OpNodeSetParams(
        node_name="node2",
        hv_state={"fake": {"mem_total": 4096, "mem_node": 1024}},
        disk_state={"plain": {"xenvg": {"disk_reserved": 2048}}},
    )
    changes = harness.run(op, LUNodeSetParams)
    assert ["hv_state", "{'fake': {'mem_node': 1024, 'mem_total': 4096}}"] in changes
    harness.run(OpNodeSetParams(node_name="node2", hv_state={"fake": {"mem_node": "default"}}), LUNodeSetParams)
    node = _reloaded(harness).node("node2")
    assert node.hv_state_static == {"fake": {"mem_total": 4096}}
    assert node.disk_state_static == {"plain": {"xenvg": {"disk_reserved": 2048}}}


def test_a_state_alone_is_a_modification(harness: Harness) -> None:
    with pytest.raises(OpPrereqError, match="Please pass at least one modification"):
        harness.run(OpNodeSetParams(node_name="node2"), LUNodeSetParams)
    harness.run(
        OpGroupSetParams(group_name="default", disk_state={"plain": {"vg": {"disk_total": 9}}}), LUGroupSetParams
    )
    assert harness.cfg.group("default").disk_state_static == {"plain": {"vg": {"disk_total": 9}}}


def test_group_add_and_cluster_modify_store_theirs(harness: Harness) -> None:
    harness.run(OpGroupAdd(group_name="rack2", hv_state={"kvm": {"cpu_node": 2}}), LUGroupAdd)
    harness.run(OpClusterSetParams(hv_state={"kvm": {"mem_node": 2048}}), LUClusterSetParams)
    harness.run(OpClusterSetParams(disk_state={"plain": {"xenvg": {"disk_overhead": 10}}}), LUClusterSetParams)
    fresh = _reloaded(harness)
    assert fresh.group("rack2").hv_state_static == {"kvm": {"cpu_node": 2}}
    assert fresh.cluster.hv_state_static == {"kvm": {"mem_node": 2048}}
    assert fresh.cluster.disk_state_static == {"plain": {"xenvg": {"disk_overhead": 10}}}


def test_the_allocator_keeps_off_a_node_whose_mem_total_leaves_no_room(harness: Harness) -> None:
    _full_node_info(harness)
    harness.run(OpNodeSetParams(node_name="node1", hv_state={"fake": {"mem_total": TIGHT}}), LUNodeSetParams)
    assert [_place(harness, f"i{n}") for n in range(3)] == ["node2", "node2", "node2"]


def test_the_clusters_state_reaches_every_node_and_a_node_may_lift_it(harness: Harness) -> None:
    _full_node_info(harness)
    harness.run(OpClusterSetParams(hv_state={"fake": {"mem_total": TIGHT}}), LUClusterSetParams)
    with pytest.raises(OpPrereqError, match="Can't compute nodes using iallocator 'hail'") as err:
        _place(harness, "big")
    assert err.value.code == ECODE_NORES and harness.cfg.find_instance("big") is None
    harness.run(OpNodeSetParams(node_name="node1", hv_state={"fake": {"mem_total": 0}}), LUNodeSetParams)
    assert _place(harness, "big") == "node1"  # 0: unknown, the live total again


def test_a_groups_state_reaches_its_nodes_only(harness: Harness) -> None:
    _full_node_info(harness)
    harness.run(OpGroupAdd(group_name="rack2", hv_state={"fake": {"mem_total": TIGHT}}), LUGroupAdd)
    harness.run(OpGroupAssignNodes(group_name="rack2", nodes=["node1"]), LUGroupAssignNodes)
    assert _place(harness, "a") == "node2"
    with pytest.raises(OpPrereqError, match="Can't compute nodes"):
        _place(harness, "b", group_name="rack2")


def test_the_start_check_counts_memory_under_the_state(harness: Harness) -> None:
    _full_node_info(harness)
    harness.run(OpNodeSetParams(node_name="node1", hv_state={"fake": {"mem_total": TIGHT}}), LUNodeSetParams)
    op = OpInstanceCreate(
        instance_name="pinned", disk_template="diskless", os_type="noop", pnode="node1", beparams={"memory": 512}
    )
    with pytest.raises(OpPrereqError, match="Not enough memory on node node1.*available 256 MiB") as err:
        harness.run(op, LUInstanceCreate)
    assert err.value.code == ECODE_NORES
