"""LUInstanceSetParams on the in-process transport: `--disk add|remove --hotplug` into a running
instance (and what a failure undoes), `-m/--runtime-memory` ballooning, and `--new-primary`."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gnt.errors import ECODE_INVAL, ECODE_NORES, ECODE_STATE, HypervisorError, OpExecError, OpPrereqError
from gnt.instance.lifecycle import LUInstanceSetParams
from gnt.opcodes import OpInstanceSetParams
from tests.unit.lu.conftest import Harness
from tests.unit.lu.test_instance_disks import disks, two_disk_instance  # noqa: F401 - fixture


def op(name: str = "inst1", **kw: Any) -> OpInstanceSetParams:
    return OpInstanceSetParams(instance_name=name, **kw)


def hotplugs(h: Harness, node: str = "node1") -> list[tuple[str, str]]:
    return [
        (a.action, a.disk.uuid if a.disk else a.nic.uuid) for n, a in h.nodes[node].calls if n == "instance_hotplug"
    ]


# -- disk hotplug -------------------------------------------------------------------------------------


def test_disk_add_with_hotplug_plugs_the_new_disk_into_the_running_instance(disks: Harness) -> None:  # noqa: F811
    two_disk_instance(disks, up=True)
    disks.run(op(disks=[["add", -1, {"size": 32}]], hotplug=True), LUInstanceSetParams)
    new = disks.cfg.instance("inst1").disks[2]
    assert hotplugs(disks) == [("add", new.uuid)] and new.uuid in disks.nodes["node1"].disks


def test_disk_add_without_hotplug_still_needs_the_instance_stopped(disks: Harness) -> None:  # noqa: F811
    two_disk_instance(disks, up=True)
    with pytest.raises(OpPrereqError, match="cannot add or remove disks without hotplug"):
        disks.run(op(disks=[["add", -1, {"size": 32}]]), LUInstanceSetParams)


def test_a_failed_disk_hotplug_removes_the_new_disk_and_changes_nothing(disks: Harness) -> None:  # noqa: F811
    uuids = [d.uuid for d in two_disk_instance(disks, up=True).disks]
    disks.nodes["node1"].fail["instance_hotplug"] = HypervisorError("blockdev-add failed")
    with pytest.raises(OpExecError, match="Could not hotplug \\(add\\) disk of instance inst1: .*blockdev-add failed"):
        disks.run(op(disks=[["add", -1, {"size": 32}]], hotplug=True), LUInstanceSetParams)
    assert [d.uuid for d in disks.cfg.instance("inst1").disks] == uuids
    assert set(disks.nodes["node1"].disks) == set(uuids)  # the new disk's storage is gone again


def test_disk_remove_with_hotplug_takes_it_out_before_removing_its_storage(disks: Harness) -> None:  # noqa: F811
    gone = two_disk_instance(disks, up=True).disks[1].uuid
    disks.run(op(disks=[["remove", -1, {}]], hotplug=True), LUInstanceSetParams)
    names = disks.nodes["node1"].names()
    assert hotplugs(disks) == [("remove", gone)] and names.index("instance_hotplug") < names.index("blockdev_remove")
    assert gone not in disks.nodes["node1"].disks and len(disks.cfg.instance("inst1").disks) == 1


def test_a_disk_the_guest_will_not_release_stays(disks: Harness) -> None:  # noqa: F811
    uuids = [d.uuid for d in two_disk_instance(disks, up=True).disks]
    disks.nodes["node1"].fail["instance_hotplug"] = HypervisorError("the guest did not release device disk1-dev")
    with pytest.raises(OpExecError, match="did not release"):
        disks.run(op(disks=[["remove", -1, {}]], hotplug=True), LUInstanceSetParams)
    assert [d.uuid for d in disks.cfg.instance("inst1").disks] == uuids and set(disks.nodes["node1"].disks) == set(
        uuids
    )


def test_a_failed_disk_hotplug_after_a_nic_hotplug_takes_the_nic_out_again(disks: Harness) -> None:  # noqa: F811
    uuids = [d.uuid for d in two_disk_instance(disks, up=True).disks]
    node = disks.nodes["node1"]
    node.fail["instance_hotplug"] = HypervisorError("blockdev-add failed")
    node.fail_on["instance_hotplug"] = 2  # the NIC goes in, the disk does not
    with pytest.raises(OpExecError, match="blockdev-add failed"):
        disks.run(op(disks=[["add", -1, {"size": 32}]], nics=[["add", -1, {}]], hotplug=True), LUInstanceSetParams)
    calls = hotplugs(disks)
    assert [c[0] for c in calls] == ["add", "add", "remove"] and calls[2] == ("remove", calls[0][1])
    inst = disks.cfg.instance("inst1")
    assert [d.uuid for d in inst.disks] == uuids and inst.nics == [] and set(node.disks) == set(uuids)


def test_a_failure_after_a_disk_hotplug_takes_the_disk_out_before_removing_it(disks: Harness) -> None:  # noqa: F811
    uuids = [d.uuid for d in two_disk_instance(disks, up=True).disks]
    node = disks.nodes["node1"]
    node.fail["instance_balloon_memory"] = HypervisorError("No balloon device")
    with pytest.raises(OpExecError, match="No balloon device"):
        disks.run(op(disks=[["add", -1, {"size": 32}]], runtime_mem=128, hotplug=True), LUInstanceSetParams)
    calls = hotplugs(disks)
    assert [c[0] for c in calls] == ["add", "remove"] and calls[0][1] == calls[1][1]
    names = node.names()
    assert names.index("blockdev_remove") > len(names) - 1 - names[::-1].index("instance_hotplug")
    assert [d.uuid for d in disks.cfg.instance("inst1").disks] == uuids and set(node.disks) == set(uuids)


# -- runtime memory -----------------------------------------------------------------------------------


@pytest.fixture
def ballooned(harness: Harness) -> Harness:
    harness.add_instance("inst1", "node1", beparams={"minmem": 64, "maxmem": 256})
    return harness


def balloons(h: Harness) -> list[int]:
    return [a.memory for n, a in h.nodes["node1"].calls if n == "instance_balloon_memory"]


def test_runtime_memory_balloons_the_running_instance(ballooned: Harness) -> None:
    result = ballooned.run(op(runtime_mem=96), LUInstanceSetParams)
    assert balloons(ballooned) == [96] and result == [["runtime_memory", "96"]]


@pytest.mark.parametrize("memory", [32, 512])
def test_runtime_memory_outside_minmem_maxmem_is_refused_unless_forced(ballooned: Harness, memory: int) -> None:
    with pytest.raises(OpPrereqError, match="must have memory between 64 and 256 MB of memory unless --force") as e:
        ballooned.run(op(runtime_mem=memory), LUInstanceSetParams)
    assert e.value.code == ECODE_INVAL and balloons(ballooned) == []
    ballooned.nodes["node1"].memory_free = 4096
    ballooned.run(op(runtime_mem=memory, force=True), LUInstanceSetParams)
    assert balloons(ballooned) == [memory]


def test_runtime_memory_growth_needs_free_memory_on_the_node(ballooned: Harness) -> None:
    ballooned.nodes["node1"].memory_free = 50
    with pytest.raises(OpPrereqError, match="Not enough memory on node node1 for ballooning memory") as err:
        ballooned.run(op(runtime_mem=256), LUInstanceSetParams)
    assert err.value.code == ECODE_NORES


def test_runtime_memory_of_a_stopped_instance_is_refused(harness: Harness) -> None:
    harness.add_instance("inst1", "node1", up=False)
    with pytest.raises(OpPrereqError, match="Instance inst1 is not running") as err:
        harness.run(op(runtime_mem=96), LUInstanceSetParams)
    assert err.value.code == ECODE_STATE


def test_a_failed_balloon_is_a_job_error(ballooned: Harness) -> None:
    ballooned.nodes["node1"].fail["instance_balloon_memory"] = HypervisorError("No balloon device")
    with pytest.raises(OpExecError, match="Could not change the memory of instance inst1: .*No balloon device"):
        ballooned.run(op(runtime_mem=96, beparams={"vcpus": 2}), LUInstanceSetParams)
    assert ballooned.cfg.instance("inst1").beparams.get("vcpus") is None  # nothing else changed either


# -- new primary --------------------------------------------------------------------------------------


def test_new_primary_of_a_stopped_sharedfile_instance(harness: Harness) -> None:
    harness.add_instance("inst1", "node1", template="sharedfile", up=False)
    result = harness.run(op(pnode="node2"), LUInstanceSetParams)
    assert harness.cfg.instance("inst1").primary_node == harness.cfg.node("node2").uuid
    assert result == [["pnode", "node2"]]


def test_new_primary_of_a_running_instance_is_refused_unless_forced(harness: Harness) -> None:
    harness.add_instance("inst1", "node1", template="sharedfile", up=True)
    with pytest.raises(OpPrereqError, match="Instance is still running on node1") as err:
        harness.run(op(pnode="node2"), LUInstanceSetParams)
    assert err.value.code == ECODE_STATE
    assert harness.cfg.instance("inst1").primary_node == harness.cfg.node("node1").uuid


def test_new_primary_of_a_drbd_instance_is_refused(harness: Harness) -> None:
    inst = harness.add_instance("inst1", "node1", up=False)
    inst.disk_template = "drbd"
    asyncio.run(harness.cfg.commit([inst]))
    with pytest.raises(OpPrereqError, match="mirrored with its secondary node: change its primary node with"):
        harness.run(op(pnode="node2"), LUInstanceSetParams)


def test_new_primary_must_be_online(harness: Harness) -> None:
    harness.add_instance("inst1", "node1", template="file", up=False)
    node = harness.cfg.node("node2")
    node.offline = True
    asyncio.run(harness.cfg.commit([node]))
    with pytest.raises(OpPrereqError, match="Can't use offline new primary node node2"):
        harness.run(op(pnode="node2"), LUInstanceSetParams)


def test_new_primary_unknown_node(harness: Harness) -> None:
    harness.add_instance("inst1", "node1", template="file", up=False)
    with pytest.raises(OpPrereqError, match="node9"):
        harness.run(op(pnode="node9"), LUInstanceSetParams)


def test_no_changes_is_refused(harness: Harness) -> None:
    harness.add_instance("inst1", "node1", up=False)
    with pytest.raises(OpPrereqError, match="No changes submitted"):
        harness.run(op(hotplug=True), LUInstanceSetParams)


def test_info_shows_the_runtime_memory_of_a_running_instance(harness: Harness) -> None:
    from gnt.instance.cli_multi import info_tree
    from gnt.instance.multi_opcodes import OpInstanceQueryData
    from gnt.instance.query_data import LUInstanceQueryData

    harness.add_instance("inst1", "node1")
    harness.add_instance("db1", "node2", up=False)
    harness.nodes["node1"].running["inst1"].memory = 96  # as after modify -m 96
    result = harness.run(OpInstanceQueryData(instances=["inst1", "db1"]), LUInstanceQueryData)
    assert (result["inst1"]["runtime_memory"], result["db1"]["runtime_memory"]) == (96, None)
    assert info_tree(result["inst1"])["Runtime memory"] == "96MiB"
    assert "Runtime memory" not in info_tree(result["db1"])


def test_a_failed_disk_add_leaves_the_other_changes_out_of_the_config(disks: Harness) -> None:  # noqa: F811
    from gnt.errors import StorageError

    two_disk_instance(disks)
    disks.nodes["node1"].fail["blockdev_create"] = StorageError("no space left")
    with pytest.raises(OpExecError, match="no space left"):
        disks.run(op(disks=[["add", -1, {"size": 32}]], beparams={"vcpus": 2}), LUInstanceSetParams)
    inst = disks.cfg.instance("inst1")
    assert inst.beparams.get("vcpus") is None and len(inst.disks) == 2
