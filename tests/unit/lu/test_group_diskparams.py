"""A node group's own disk parameters (`gnt-group add/modify -D`): stored on the group, checked by the
cluster's declarations (nothing written on a refusal), and taken by the disks of instances whose
primary node is in the group, over the cluster's, wherever their specs are sent to the nodes."""

from __future__ import annotations

from typing import Any

import pytest

from gnt import opcodes
from gnt.cluster.logic import LUClusterSetParams
from gnt.config.manager import ConfigManager
from gnt.errors import OpPrereqError
from gnt.group.logic import LUGroupAdd, LUGroupAssignNodes, LUGroupSetParams
from gnt.group.opcodes import OpGroupAdd, OpGroupAssignNodes, OpGroupSetParams
from gnt.opcodes import OpClusterSetParams
from tests.unit.lu.conftest import Harness
from tests.unit.lu.test_instance_drbd import drbd  # the drbd-ready cluster fixture

__all__ = ["drbd"]


def _reloaded(harness: Harness) -> ConfigManager:
    fresh = ConfigManager(harness.cfg._writer)  # noqa: SLF001 - read back what was persisted
    fresh.load()
    return fresh


def test_add_stores_the_groups_own_parameters(harness: Harness) -> None:
    harness.run(OpGroupAdd(group_name="rack2", diskparams={"drbd": {"resync-rate": 2000}}), LUGroupAdd)
    assert _reloaded(harness).group("rack2").diskparams == {"drbd": {"resync-rate": 2000}}


def test_modify_changes_resets_and_reports_the_groups_parameters(harness: Harness) -> None:
    harness.run(OpGroupAdd(group_name="rack2"), LUGroupAdd)
    changes = harness.run(
        OpGroupSetParams(group_name="rack2", diskparams={"drbd": {"resync-rate": 3000}}), LUGroupSetParams
    )
    assert changes == [["diskparams", {"drbd": {"resync-rate": 3000}}]]
    assert _reloaded(harness).group("rack2").diskparams == {"drbd": {"resync-rate": 3000}}
    harness.run(OpGroupSetParams(group_name="rack2", diskparams={"drbd": {"resync-rate": "default"}}), LUGroupSetParams)
    assert _reloaded(harness).group("rack2").diskparams == {}
    assert harness.cfg.cluster.diskparams == {}  # the cluster's are not touched


@pytest.mark.parametrize(
    ("op_id", "params", "message"),
    [
        ("OP_GROUP_ADD", {"plain": {"stripes": 2}}, "no disk parameters for disk template 'plain'"),
        ("OP_GROUP_ADD", {"drbd": {"c-plan-ahead": 0}}, r"unknown drbd disk parameter 'c-plan-ahead' \(known:"),
        ("OP_GROUP_SET_PARAMS", {"drbd": {"resync-rate": 0}}, "resync-rate must be an integer from 1 to"),
        ("OP_GROUP_SET_PARAMS", {"drbd": {"resync-rate": "fast"}}, "resync-rate must be an integer"),
        ("OP_GROUP_SET_PARAMS", {"drbd": [1]}, r"expected dict\[str, dict\[str, Any\]\] \| None"),
    ],
)
def test_bad_parameters_are_refused_as_the_clusters_are_and_nothing_is_written(
    harness: Harness, op_id: str, params: dict[str, Any], message: str
) -> None:
    serial = harness.cfg.serial
    with pytest.raises(OpPrereqError, match=message) as group_err:
        opcodes.from_dict({"OP_ID": op_id, "group_name": "g", "alloc_policy": "last_resort", "diskparams": params})
    with pytest.raises(OpPrereqError) as cluster_err:
        opcodes.from_dict({"OP_ID": "OP_CLUSTER_SET_PARAMS", "diskparams": params})
    assert str(group_err.value).split("fails validation: ")[1] == str(cluster_err.value).split("fails validation: ")[1]
    assert harness.cfg.serial == serial and harness.cfg.group("default").alloc_policy == "preferred"


def test_a_modify_refused_for_another_field_leaves_the_disk_parameters_as_they_were(harness: Harness) -> None:
    harness.run(OpGroupSetParams(group_name="default", diskparams={"drbd": {"resync-rate": 2000}}), LUGroupSetParams)
    serial = harness.cfg.serial
    op = OpGroupSetParams(
        group_name="default", diskparams={"drbd": {"resync-rate": 9000}}, ipolicy={"std": {"memory-size": 999999}}
    )
    with pytest.raises(OpPrereqError, match="outside every min/max range"):
        harness.run(op, LUGroupSetParams)
    assert harness.cfg.group("default").diskparams == {"drbd": {"resync-rate": 2000}}
    assert harness.cfg.serial == serial


# -- the disks take them -------------------------------------------------------------------------


def _create(harness: Harness) -> None:
    from gnt.instance.create import LUInstanceCreate
    from gnt.opcodes import OpInstanceCreate

    op = OpInstanceCreate(
        instance_name="inst1", disk_template="drbd", disks=[{"size": 64}], os_type="noop", pnode="node1",
        snode="node2", beparams={"memory": 128}, start=False,
    )  # fmt: skip
    harness.run(op, LUInstanceCreate)


def _assembled_rates(harness: Harness) -> list[int]:
    """Activate the instance's disks; the resync rate each node's view of each disk carried."""
    from gnt.instance.disks import LUInstanceActivateDisks
    from gnt.opcodes import OpInstanceActivateDisks

    for node in harness.nodes.values():
        node.calls.clear()
    harness.run(OpInstanceActivateDisks(instance_name="inst1"), LUInstanceActivateDisks)
    return [
        a.disk.params["drbd"]["resync_rate"]
        for name in ("node1", "node2")
        for n, a in harness.nodes[name].calls
        if n == "blockdev_assemble"
    ]


def test_a_groups_rate_overlays_the_clusters_on_its_instances_disks(drbd: Harness) -> None:
    from tests.unit.lu.test_instance_drbd import views

    drbd.run(OpClusterSetParams(diskparams={"drbd": {"resync-rate": 1000}}), LUClusterSetParams)
    drbd.run(OpGroupAdd(group_name="rack2", diskparams={"drbd": {"resync-rate": 2000}}), LUGroupAdd)
    drbd.run(OpGroupAssignNodes(group_name="rack2", nodes=["node1", "node2"]), LUGroupAssignNodes)
    _create(drbd)
    assert [v["resync_rate"] for n in ("node1", "node2") for v in views(drbd.nodes[n])] == [2000, 2000]
    assert "resync_rate" not in drbd.cfg.instance("inst1").disks[0].params  # the group's, not copied


def test_a_group_change_reaches_the_disks_the_next_time_they_are_sent(drbd: Harness) -> None:
    drbd.run(OpClusterSetParams(diskparams={"drbd": {"resync-rate": 1000}}), LUClusterSetParams)
    _create(drbd)
    assert _assembled_rates(drbd) == [1000, 1000]  # the default group sets none: the cluster's
    drbd.run(OpGroupSetParams(group_name="default", diskparams={"drbd": {"resync-rate": 4000}}), LUGroupSetParams)
    assert _assembled_rates(drbd) == [4000, 4000]
    drbd.run(OpClusterSetParams(diskparams={"drbd": {"resync-rate": 500}}), LUClusterSetParams)
    assert _assembled_rates(drbd) == [4000, 4000]  # the group's own value wins over the cluster's
    drbd.run(OpGroupSetParams(group_name="default", diskparams={"drbd": {"resync-rate": None}}), LUGroupSetParams)
    assert _assembled_rates(drbd) == [500, 500]


def test_moving_the_nodes_to_another_group_gives_its_disks_that_groups_rate(drbd: Harness) -> None:
    _create(drbd)
    drbd.run(OpGroupAdd(group_name="rack2", diskparams={"drbd": {"resync-rate": 7000}}), LUGroupAdd)
    drbd.run(OpGroupAssignNodes(group_name="rack2", nodes=["node1", "node2"]), LUGroupAssignNodes)
    assert _assembled_rates(drbd) == [7000, 7000]
