"""The instance policy outside the allocator: `add -n`, `modify` (-B, --disk), `migrate` and
`failover` to a node of another group refuse an instance the policy does not allow, with
Ganeti's messages, unless --ignore-ipolicy; and `gnt-cluster modify` keeps std inside the bounds."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest

from gnt import constants
from gnt.cluster.logic import LUClusterSetParams
from gnt.errors import OpPrereqError
from gnt.instance.create import LUInstanceCreate
from gnt.instance.lifecycle import LUInstanceSetParams
from gnt.instance.migrate import LUInstanceFailover, LUInstanceMigrate
from gnt.ipolicy import spec_violations
from gnt.objects import NodeGroup
from gnt.opcodes import (
    OpClusterSetParams,
    OpInstanceCreate,
    OpInstanceFailover,
    OpInstanceMigrate,
    OpInstanceSetParams,
)
from tests.unit.lu.conftest import Harness


def _bounds(**high: int) -> list[dict[str, dict[str, int]]]:
    pair = copy.deepcopy(constants.IPOLICY_DEFAULTS["minmax"][0])  # type: ignore[index]
    pair["max"].update({k.replace("_", "-"): v for k, v in high.items()})
    return [pair]


def _small_group(h: Harness) -> NodeGroup:
    """node2 moves to group `small`, whose instances may have at most 64 MiB of memory."""
    group = NodeGroup(name="small", ipolicy={"minmax": _bounds(memory_size=64)})
    node2 = h.cfg.node("node2")
    node2.group = group.uuid
    asyncio.run(h.cfg.commit([group, node2]))
    return group


def _cluster_policy(h: Harness, **high: int) -> None:
    h.cfg.cluster.ipolicy = {**h.cfg.cluster.ipolicy, "minmax": _bounds(**high)}
    asyncio.run(h.cfg.commit([h.cfg.cluster]))


def create(**kw: Any) -> OpInstanceCreate:
    fields: dict[str, Any] = {
        "instance_name": "inst1",
        "disk_template": "file",
        "disks": [{"size": 64}],
        "os_type": "noop",
        "pnode": "node1",
        "beparams": {"memory": 512},
        "start": False,
    }
    return OpInstanceCreate(**{**fields, **kw})


def test_spec_violations_name_each_value_out_of_range() -> None:
    policy = {"disk-templates": ["file"], "minmax": _bounds(memory_size=256, disk_size=100)}
    found = spec_violations(policy, memory=512, cpus=1, disks=[50, 200], nics=1, spindles=1, template="plain")
    assert found == [
        "Disk template plain is not allowed (allowed templates: file)",
        "memory-size value 512 is not in range [4, 256]",
        "disk-size/1 value 200 is not in range [0, 100]",
    ]


def test_add_on_a_named_node_is_refused_outside_the_policy(harness: Harness) -> None:
    _cluster_policy(harness, memory_size=256)
    group = harness.cfg.group("default")
    with pytest.raises(OpPrereqError) as err:
        harness.run(create(), LUInstanceCreate)
    assert err.value.message == (
        f"Instance allocation to group default ({group.uuid}) violates policy:"
        " memory-size value 512 is not in range [4, 256]"
    )
    assert err.value.code == "wrong_input" and harness.cfg.find_instance("inst1") is None
    assert "blockdev_create" not in harness.nodes["node1"].names()


def test_add_with_ignore_ipolicy_goes_ahead(harness: Harness) -> None:
    _cluster_policy(harness, memory_size=256)
    harness.run(create(ignore_ipolicy=True), LUInstanceCreate)
    assert harness.cfg.find_instance("inst1") is not None


def test_modify_memory_vcpus_and_disks_is_checked(harness: Harness) -> None:
    harness.add_instance("inst1", "node1", template="file", up=False)
    _cluster_policy(harness, memory_size=256, cpu_count=2, disk_size=100)
    for change, needle in [
        ({"beparams": {"memory": 512}}, "memory-size value 512 is not in range [4, 256]"),
        ({"beparams": {"vcpus": 4}}, "cpu-count value 4 is not in range [1, 2]"),
        ({"disks": [["add", -1, {"size": 200}]]}, "disk-size/1 value 200 is not in range [0, 100]"),
    ]:
        with pytest.raises(OpPrereqError, match="violates policy: " + needle.replace("[", r"\[")):
            harness.run(OpInstanceSetParams(instance_name="inst1", **change), LUInstanceSetParams)
    assert harness.cfg.instance("inst1").beparams == {} and len(harness.cfg.instance("inst1").disks) == 1
    harness.run(OpInstanceSetParams(instance_name="inst1", beparams={"memory": 200}), LUInstanceSetParams)
    harness.run(
        OpInstanceSetParams(instance_name="inst1", beparams={"memory": 512}, ignore_ipolicy=True), LUInstanceSetParams
    )
    assert harness.cfg.instance("inst1").beparams["maxmem"] == 512


@pytest.mark.parametrize(
    ("op_class", "lu_class"), [(OpInstanceMigrate, LUInstanceMigrate), (OpInstanceFailover, LUInstanceFailover)]
)
def test_move_to_a_group_whose_policy_refuses_the_instance(harness: Harness, op_class: Any, lu_class: Any) -> None:
    harness.add_instance("inst1", "node1", template="sharedfile")
    _small_group(harness)
    with pytest.raises(OpPrereqError) as err:
        harness.run(op_class(instance_name="inst1", target_node="node2"), lu_class)
    assert err.value.message == (
        "Instance inst1 does not meet target node group's (small) instance policy:"
        " memory-size value 128 is not in range [4, 64]"
    )
    assert harness.cfg.instance("inst1").primary_node == harness.cfg.node("node1").uuid
    harness.run(op_class(instance_name="inst1", target_node="node2", ignore_ipolicy=True), lu_class)
    assert harness.cfg.instance("inst1").primary_node == harness.cfg.node("node2").uuid
    assert any("WARNING: Instance inst1 does not meet target node group's (small)" in m for m in harness.log)


def test_cluster_modify_refuses_std_outside_the_bounds_and_merges_std(harness: Harness) -> None:
    with pytest.raises(OpPrereqError, match="std specs .* are outside every min/max range"):
        harness.run(OpClusterSetParams(ipolicy={"std": {"memory-size": 65536}}), LUClusterSetParams)
    harness.run(OpClusterSetParams(ipolicy={"std": {"memory-size": 256}}), LUClusterSetParams)
    std = harness.cfg.cluster.ipolicy["std"]
    assert std["memory-size"] == 256 and std["cpu-count"] == 1  # the other std keys kept


def test_cluster_modify_refuses_bounds_a_group_std_falls_outside(harness: Harness) -> None:
    group = harness.cfg.group("default")
    group.ipolicy = {"std": {"memory-size": 1024}}
    asyncio.run(harness.cfg.commit([group]))
    with pytest.raises(OpPrereqError, match="in node group default"):
        harness.run(OpClusterSetParams(ipolicy={"minmax": _bounds(memory_size=512)}), LUClusterSetParams)


def test_cluster_modify_refuses_a_malformed_policy() -> None:
    from gnt.opcodes import from_dict

    with pytest.raises(OpPrereqError, match="Invalid keys in ipolicy: colour"):
        from_dict({"OP_ID": "OP_CLUSTER_SET_PARAMS", "ipolicy": {"colour": 1}})
