"""The node group LUs on a real ConfigManager: add, remove, rename, modify, assign nodes; Ganeti's errors."""

from __future__ import annotations

import pytest

from gnt import opcodes
from gnt.config.manager import ConfigManager
from gnt.errors import ECODE_EXISTS, ECODE_INVAL, ECODE_STATE, OpPrereqError
from gnt.group.logic import LUGroupAdd, LUGroupAssignNodes, LUGroupRemove, LUGroupRename, LUGroupSetParams
from gnt.group.opcodes import OpGroupAdd, OpGroupAssignNodes, OpGroupRemove, OpGroupRename, OpGroupSetParams
from tests.unit.lu.conftest import Harness


def _reloaded(harness: Harness) -> ConfigManager:
    fresh = ConfigManager(harness.cfg._writer)  # noqa: SLF001 - read back what was persisted
    fresh.load()
    return fresh


def _names(cfg: ConfigManager) -> list[str]:
    return sorted(g.name for g in cfg.groups.values())


def test_add_rename_modify_remove_persist(harness: Harness) -> None:
    harness.run(OpGroupAdd(group_name="rack2", alloc_policy="last_resort"), LUGroupAdd)
    assert _names(_reloaded(harness)) == ["default", "rack2"]
    assert harness.cfg.group("rack2").alloc_policy == "last_resort"
    assert harness.run(OpGroupRename(group_name="rack2", new_name="rack3"), LUGroupRename) == "rack3"
    changes = harness.run(
        OpGroupSetParams(group_name="rack3", alloc_policy="preferred", ipolicy={"vcpu-ratio": 2.0}), LUGroupSetParams
    )
    assert changes == [["alloc_policy", "preferred"], ["ipolicy", {"vcpu-ratio": 2.0}]]
    fresh = _reloaded(harness)
    assert _names(fresh) == ["default", "rack3"] and fresh.group("rack3").ipolicy == {"vcpu-ratio": 2.0}
    harness.run(OpGroupRemove(group_name="rack3"), LUGroupRemove)
    assert _names(_reloaded(harness)) == ["default"]


def test_add_of_an_existing_name_is_ganetis_already_exists(harness: Harness) -> None:
    uuid = harness.cfg.group("default").uuid
    with pytest.raises(
        OpPrereqError, match=f"^Desired group name 'default' already exists as a node group \\(UUID: {uuid}\\)$"
    ) as err:
        harness.run(OpGroupAdd(group_name="default"), LUGroupAdd)
    assert err.value.code == ECODE_EXISTS


def test_removing_a_group_with_nodes_or_the_last_group_is_refused(harness: Harness) -> None:
    serial = harness.cfg.serial
    with pytest.raises(
        OpPrereqError, match=r"^Group 'default' not empty, has the following node\(s\): node1, node2$"
    ) as err:
        harness.run(OpGroupRemove(group_name="default"), LUGroupRemove)
    assert err.value.code == ECODE_STATE
    harness.run(OpGroupAdd(group_name="spare"), LUGroupAdd)
    harness.run(OpGroupAssignNodes(group_name="spare", nodes=["node1", "node2"]), LUGroupAssignNodes)
    harness.run(OpGroupRemove(group_name="default"), LUGroupRemove)  # empty now
    assert _names(_reloaded(harness)) == ["spare"]
    assert harness.cfg.serial == serial + 3


def test_rename_to_an_existing_name_is_refused(harness: Harness) -> None:
    harness.run(OpGroupAdd(group_name="other"), LUGroupAdd)
    with pytest.raises(OpPrereqError, match="^Desired new name 'default' clashes with existing node group$"):
        harness.run(OpGroupRename(group_name="other", new_name="default"), LUGroupRename)


def test_modify_needs_a_change_and_std_within_bounds(harness: Harness) -> None:
    with pytest.raises(OpPrereqError, match="^Please pass at least one modification$") as err:
        harness.run(OpGroupSetParams(group_name="default"), LUGroupSetParams)
    assert err.value.code == ECODE_INVAL
    with pytest.raises(OpPrereqError, match="outside every min/max range"):
        harness.run(OpGroupSetParams(group_name="default", ipolicy={"std": {"memory-size": 999999}}), LUGroupSetParams)
    # a null value resets a node parameter to the cluster's
    harness.run(OpGroupSetParams(group_name="default", ndparams={"spindle_count": 4}), LUGroupSetParams)
    harness.run(OpGroupSetParams(group_name="default", ndparams={"spindle_count": None}), LUGroupSetParams)
    assert harness.cfg.group("default").ndparams == {}


def test_assign_nodes_refuses_to_split_a_mirrored_instance_without_force(harness: Harness) -> None:
    inst = harness.add_instance("mirrored", "node1", up=False)
    inst.secondary_nodes = [harness.cfg.node("node2").uuid]
    harness.run(OpGroupAdd(group_name="rack2"), LUGroupAdd)
    with pytest.raises(OpPrereqError, match="split by this change and --force was not given: mirrored$"):
        harness.run(OpGroupAssignNodes(group_name="rack2", nodes=["node2"]), LUGroupAssignNodes)
    assert harness.cfg.node("node2").group == harness.cfg.group("default").uuid
    harness.run(OpGroupAssignNodes(group_name="rack2", nodes=["node2"], force=True), LUGroupAssignNodes)
    assert _reloaded(harness).node("node2").group == harness.cfg.group("rack2").uuid
    assert any("will split the following instances: mirrored" in line for line in harness.log)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"OP_ID": "OP_GROUP_ADD", "group_name": "g", "alloc_policy": "sometimes"}, "Invalid allocation policy"),
        ({"OP_ID": "OP_GROUP_ADD", "group_name": "bad name"}, "not a valid host name"),
        ({"OP_ID": "OP_GROUP_ADD", "group_name": "g", "ipolicy": {"colour": 1}}, "Invalid keys in ipolicy: colour"),
        ({"OP_ID": "OP_GROUP_SET_PARAMS", "group_name": "g", "ipolicy": {"vcpu-ratio": -1}}, "positive number"),
        ({"OP_ID": "OP_GROUP_SET_PARAMS", "group_name": "g", "ipolicy": {"std": {"memory-size": "x"}}}, "integer"),
        ({"OP_ID": "OP_GROUP_ASSIGN_NODES", "group_name": "g"}, "Required parameter"),
        ({"OP_ID": "OP_GROUP_ADD", "group_name": "g", "diskparams": {"drbd": {"resync-rate": 0}}}, "from 1 to"),
        ({"OP_ID": "OP_GROUP_SET_PARAMS", "group_name": "g", "diskparams": {"plain": {"x": 1}}}, "template 'plain'"),
        ({"OP_ID": "OP_GROUP_SET_PARAMS", "group_name": "g", "hv_state": {"qemu": {}}}, "invalid hypervisor 'qemu'"),
    ],
)
def test_malformed_group_opcodes_are_refused_before_any_job(data: dict, message: str) -> None:
    with pytest.raises(OpPrereqError, match=message):
        opcodes.from_dict(data)
