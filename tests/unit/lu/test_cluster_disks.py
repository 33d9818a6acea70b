"""gnt-cluster repair-disk-sizes and the LVM part of verify-disks through their LUs."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gnt.cluster.disk_sizes import LUClusterRepairDiskSizes
from gnt.cluster.verify_disks import LUClusterVerifyDisks
from gnt.errors import OpPrereqError, StorageError
from gnt.instance.create import LUInstanceCreate
from gnt.opcodes import OpClusterRepairDiskSizes, OpClusterVerifyDisks
from tests.unit.lu.conftest import FakeNode, Harness
from tests.unit.lu.test_instance_disks import two_disk_instance, with_blockdevs
from tests.unit.lu.test_instance_plain import create, plain  # noqa: F401 - fixture


def with_lv_status(node: FakeNode) -> None:
    node.inactive = set()  # type: ignore[attr-defined]
    with_blockdevs(node)
    assemble = node.do_blockdev_assemble  # type: ignore[attr-defined]

    def lv_status(args: Any) -> list[dict[str, Any]]:
        return [
            {"vg": d.logical_id[0], "name": d.logical_id[1], "size": d.size, "active": d.uuid not in node.inactive}  # type: ignore[attr-defined]
            for d in node.disks.values()
            if d.dev_type == "plain" and d.logical_id[0] in args.vg_names
        ]

    def activate(args: Any) -> str:
        node.inactive.discard(args.disk.uuid)  # type: ignore[attr-defined]
        return str(assemble(args))

    node.do_lv_status = lv_status  # type: ignore[attr-defined]
    node.do_blockdev_assemble = activate  # type: ignore[attr-defined]


@pytest.fixture
def lvm(plain: Harness) -> Harness:  # noqa: F811
    for node in plain.nodes.values():
        with_lv_status(node)
    return plain


def verify(h: Harness) -> dict[str, Any]:
    return h.run(OpClusterVerifyDisks(), LUClusterVerifyDisks)  # type: ignore[no-any-return]


# -- verify-disks: plain volumes ----------------------------------------------------------------


def test_verify_disks_asks_each_node_once_whatever_the_number_of_disks(lvm: Harness) -> None:
    for name in ("inst1", "inst2", "inst3"):
        lvm.run(create(name), LUInstanceCreate)
    result = verify(lvm)
    assert result["missing"] == {} and result["node_errors"] == {} and result["activated"] == []
    assert lvm.nodes["node1"].names().count("lv_status") == 1
    assert "lv_status" not in lvm.nodes["node2"].names()  # it holds no plain disk


def test_verify_disks_reports_missing_volumes(lvm: Harness) -> None:
    lvm.run(create(), LUInstanceCreate)
    gone = lvm.cfg.instance("inst1").disks[1]
    del lvm.nodes["node1"].disks[gone.uuid]
    result = verify(lvm)
    assert result["missing"] == {"inst1": [["node1", f"xenvg/{gone.uuid}.disk1"]]}
    assert "Instance inst1 has missing logical volumes:" in "\n".join(lvm.log)
    assert f"  node1 /dev/xenvg/{gone.uuid}.disk1" in lvm.log
    assert any("replace or recreate disks" in line for line in lvm.log)


def test_verify_disks_activates_inactive_volumes_of_instances_that_should_run(lvm: Harness) -> None:
    lvm.run(create("up"), LUInstanceCreate)
    lvm.run(create("down", start=False), LUInstanceCreate)
    node = lvm.nodes["node1"]
    node.inactive.update(node.disks)  # type: ignore[attr-defined]  # as after a reboot
    result = verify(lvm)
    up = lvm.cfg.instance("up")
    assert result["activated"] == [f"disk {i} of instance up on node node1" for i in range(2)]
    assert node.inactive == {d.uuid for d in lvm.cfg.instance("down").disks}  # type: ignore[attr-defined]
    assert {a.disk.uuid for n, a in node.calls if n == "blockdev_assemble"} == {d.uuid for d in up.disks}


def test_verify_disks_reports_an_activation_that_fails(lvm: Harness) -> None:
    lvm.run(create(), LUInstanceCreate)
    node = lvm.nodes["node1"]
    node.inactive.update(node.disks)  # type: ignore[attr-defined]
    node.fail["blockdev_assemble"] = StorageError("PV missing")
    result = verify(lvm)
    assert result["activation_failed"] == ["inst1"] and result["activated"] == []
    assert any("Could not activate disk 0 of instance inst1 on node node1: PV missing" in x for x in lvm.log)


def test_verify_disks_reports_nodes_it_cannot_read(lvm: Harness) -> None:
    lvm.run(create(), LUInstanceCreate)
    lvm.nodes["node1"].fail["lv_status"] = StorageError("lvs not found")
    result = verify(lvm)
    assert result["node_errors"] == {"node1": "lvs not found"} and result["missing"] == {}


def test_verify_disks_skips_offline_nodes(lvm: Harness) -> None:
    lvm.run(create(), LUInstanceCreate)
    node = lvm.cfg.node("node1")
    node.offline = True
    asyncio.run(lvm.cfg.commit([node]))
    result = verify(lvm)
    assert result["node_errors"] == {"node1": "node is offline"}
    assert "lv_status" not in lvm.nodes["node1"].names()


def test_verify_disks_without_plain_disks_asks_no_node(harness: Harness) -> None:
    two_disk_instance(harness)
    result = verify(harness)
    assert result["missing"] == {} and "lv_status" not in harness.nodes["node1"].names()


# -- repair-disk-sizes --------------------------------------------------------------------------


@pytest.fixture
def sized(harness: Harness) -> Harness:
    for node in harness.nodes.values():
        with_blockdevs(node)
    return harness


def test_repair_disk_sizes_corrects_what_differs(sized: Harness) -> None:
    inst = two_disk_instance(sized)
    two_disk_instance(sized, "inst2", node="node2")
    sized.nodes["node1"].disks[inst.disks[1].uuid].size = 132  # LVM rounded it up to whole extents
    result = sized.run(OpClusterRepairDiskSizes(), LUClusterRepairDiskSizes)
    assert result == [["inst1", 1, 132]]
    assert [d.size for d in sized.cfg.instance("inst1").disks] == [64, 132]
    assert any(
        "Disk 1 of instance inst1 has mismatched size, correcting: recorded 128, actual 132" in x for x in sized.log
    )
    assert sized.nodes["node1"].names().count("blockdev_info") == 1


def test_repair_disk_sizes_of_named_instances_only(sized: Harness) -> None:
    two_disk_instance(sized)
    other = two_disk_instance(sized, "inst2", node="node2")
    sized.nodes["node2"].disks[other.disks[0].uuid].size = 80
    assert sized.run(OpClusterRepairDiskSizes(instances=["inst1"]), LUClusterRepairDiskSizes) == []
    assert "blockdev_info" not in sized.nodes["node2"].names()
    assert sized.cfg.instance("inst2").disks[0].size == 64


def test_repair_disk_sizes_refuses_an_unknown_instance(sized: Harness) -> None:
    with pytest.raises(OpPrereqError, match="nosuch"):
        sized.run(OpClusterRepairDiskSizes(instances=["nosuch"]), LUClusterRepairDiskSizes)


def test_repair_disk_sizes_skips_missing_disks_and_offline_nodes(sized: Harness) -> None:
    inst = two_disk_instance(sized)
    two_disk_instance(sized, "inst2", node="node2")
    del sized.nodes["node1"].disks[inst.disks[0].uuid]
    node2 = sized.cfg.node("node2")
    node2.offline = True
    asyncio.run(sized.cfg.commit([node2]))
    assert sized.run(OpClusterRepairDiskSizes(), LUClusterRepairDiskSizes) == []
    log = "\n".join(sized.log)
    assert "Disk 0 of instance inst1 not found on node node1" in log
    assert "Primary node node2 of instance inst2 is offline" in log
    assert [d.size for d in sized.cfg.instance("inst1").disks] == [64, 128]


# -- recreate-disks -I: the allocator picks the new node --------------------------------------------


def test_recreate_disks_with_an_allocator_moves_them_where_there_is_room(lvm: Harness) -> None:
    from gnt import constants
    from gnt.instance.disks import LUInstanceRecreateDisks
    from gnt.opcodes import OpInstanceRecreateDisks
    from tests.unit.lu.test_instance_plain import with_vg

    lvm.cfg.cluster.ipolicy = dict(constants.IPOLICY_DEFAULTS)
    lvm.run(create(start=False), LUInstanceCreate)
    with_vg(lvm.nodes["node1"], free=100)  # node1's VG is nearly full now
    lvm.run(OpInstanceRecreateDisks(instance_name="inst1", iallocator="hail"), LUInstanceRecreateDisks)
    inst = lvm.cfg.instance("inst1")
    assert lvm.cfg.node_name(inst.primary_node) == "node2"
    assert {d.uuid for d in inst.disks} <= set(lvm.nodes["node2"].disks)
    assert any("Selected new nodes for the disks of inst1 via iallocator hail: node2" in x for x in lvm.log)


def test_repair_disk_sizes_goes_on_when_a_node_does_not_answer(sized: Harness) -> None:
    one = two_disk_instance(sized)
    other = two_disk_instance(sized, "inst2", node="node2")
    sized.nodes["node1"].fail["blockdev_info"] = StorageError("daemon restarting")
    sized.nodes["node1"].disks[one.disks[0].uuid].size = 70
    sized.nodes["node2"].disks[other.disks[0].uuid].size = 80
    assert sized.run(OpClusterRepairDiskSizes(), LUClusterRepairDiskSizes) == [["inst2", 0, 80]]
    assert sized.cfg.instance("inst1").disks[0].size == 64
    assert any("Failure in blockdev_info call to node node1, ignoring: daemon restarting" in x for x in sized.log)


def test_verify_disks_of_one_group_checks_only_its_instances(lvm: Harness) -> None:
    """`gnt-cluster verify-disks -g GROUP`: instances with no node in the group are left alone."""
    from gnt.objects import NodeGroup

    lvm.run(create(), LUInstanceCreate)  # on node1, in the default group
    rack = NodeGroup(name="rack2")
    node2 = lvm.cfg.node("node2")
    node2.group = rack.uuid
    asyncio.run(lvm.cfg.commit([rack, node2]))
    gone = lvm.cfg.instance("inst1").disks[1]
    del lvm.nodes["node1"].disks[gone.uuid]
    other = lvm.run(OpClusterVerifyDisks(group_name="rack2"), LUClusterVerifyDisks)
    assert other["missing"] == {} and "lv_status" not in lvm.nodes["node1"].names()
    own = lvm.run(OpClusterVerifyDisks(group_name="default"), LUClusterVerifyDisks)
    assert own["missing"] == {"inst1": [["node1", f"xenvg/{gone.uuid}.disk1"]]}


def test_verify_disks_refuses_an_unknown_group(lvm: Harness) -> None:
    with pytest.raises(OpPrereqError, match="Node group 'rack9' not known"):
        lvm.run(OpClusterVerifyDisks(group_name="rack9"), LUClusterVerifyDisks)
