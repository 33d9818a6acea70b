"""LUInstanceCreate on the in-process transport: happy path, prerequisites, and rollback."""

from __future__ import annotations

import pytest

from gnt.errors import ECODE_EXISTS, ECODE_NORES, ECODE_STATE, OpExecError, OpPrereqError
from gnt.instance.create import LUInstanceCreate
from gnt.opcodes import OpInstanceCreate
from tests.unit.lu.conftest import FILE_DIR, Harness


def create(name: str = "inst1", **kw: object) -> OpInstanceCreate:
    fields: dict[str, object] = {
        "instance_name": name,
        "disk_template": "file",
        "disks": [{"size": 64}, {"size": 32}],
        "os_type": "noop",
        "pnode": "node1",
        "beparams": {"memory": 128},
    }
    fields.update(kw)
    return OpInstanceCreate(**fields)  # type: ignore[arg-type]


def test_create_makes_disks_on_the_node_installs_starts_and_commits(harness: Harness) -> None:
    node = harness.nodes["node1"]
    assert harness.run(create(), LUInstanceCreate) == ["node1"]
    inst = harness.cfg.instance("inst1")
    assert inst.admin_state == "up" and inst.primary_node == harness.cfg.node("node1").uuid
    assert sorted(d.size for d in node.disks.values()) == [32, 64]
    assert all(d.logical_id[1].startswith(f"{FILE_DIR}/inst1/") for d in node.disks.values())
    assert "inst1" in node.running
    assert [n for n in node.names() if n != "node_info"] == [
        "os_validate",
        "blockdev_create",
        "blockdev_create",
        "instance_os_add",
        "instance_start",
    ]
    assert harness.nodes["node2"].calls == []


def test_create_refuses_an_existing_name(harness: Harness) -> None:
    harness.add_instance("inst1", "node2")
    with pytest.raises(OpPrereqError) as err:
        harness.run(create(), LUInstanceCreate)
    assert err.value.code == ECODE_EXISTS
    assert harness.nodes["node1"].disks == {}


def test_create_refuses_a_template_the_cluster_does_not_enable(harness: Harness) -> None:
    harness.cfg.cluster.enabled_disk_templates = ["diskless"]
    with pytest.raises(OpPrereqError, match="Disk template 'file' is not enabled") as err:
        harness.run(create(), LUInstanceCreate)
    assert err.value.code == ECODE_STATE


def test_create_refuses_a_hypervisor_the_cluster_does_not_enable(harness: Harness) -> None:
    with pytest.raises(OpPrereqError, match=r"Selected hypervisor \(kvm\) not enabled"):
        harness.run(create(hypervisor="kvm"), LUInstanceCreate)


def test_create_refuses_an_offline_primary_node(harness: Harness) -> None:
    harness.cfg.node("node1").offline = True
    with pytest.raises(OpPrereqError, match="Can't use offline node node1"):
        harness.run(create(), LUInstanceCreate)


def test_create_refuses_an_os_the_node_does_not_have(harness: Harness) -> None:
    harness.nodes["node1"].fail["os_validate"] = OpExecError("Directory for OS noop not found")
    with pytest.raises(OpExecError, match="OS Parameters validation failed on node node1"):
        harness.run(create(), LUInstanceCreate)
    assert harness.nodes["node1"].disks == {}


def test_create_refuses_when_memory_does_not_fit(harness: Harness) -> None:
    harness.nodes["node1"].memory_free = 64
    with pytest.raises(OpPrereqError, match="Not enough memory on node node1") as err:
        harness.run(create(), LUInstanceCreate)
    assert err.value.code == ECODE_NORES
    assert harness.nodes["node1"].disks == {}


def test_a_failed_start_removes_the_disks_and_the_config_entry(harness: Harness) -> None:
    node = harness.nodes["node1"]
    node.fail["instance_start"] = OpExecError("qemu died")
    with pytest.raises(OpExecError, match="Could not start instance inst1: qemu died"):
        harness.run(create(), LUInstanceCreate)
    assert node.disks == {}
    assert harness.cfg.find_instance("inst1") is None
    assert "instance_shutdown" in node.names()  # whatever the failed start left is stopped first


def test_a_failed_os_install_removes_the_disks_and_the_config_entry(harness: Harness) -> None:
    node = harness.nodes["node1"]
    node.fail["instance_os_add"] = OpExecError("create script failed")
    with pytest.raises(OpExecError, match="Could not add os for instance inst1"):
        harness.run(create(), LUInstanceCreate)
    assert node.disks == {} and harness.cfg.find_instance("inst1") is None
    assert "instance_start" not in node.names()


def test_a_failed_second_disk_removes_the_first_and_commits_nothing(harness: Harness) -> None:
    node = harness.nodes["node1"]
    node.fail["blockdev_create"] = OpExecError("disk full")
    node.fail_on = {"blockdev_create": 2}
    with pytest.raises(OpExecError, match="Can't create disk 1 of instance inst1 on node node1: disk full"):
        harness.run(create(), LUInstanceCreate)
    assert node.disks == {}
    assert harness.cfg.find_instance("inst1") is None
    assert node.names().count("blockdev_remove") == 2  # the first disk, and whatever the failed one left


def test_create_on_a_node_whose_daemon_is_down_fails_and_leaves_nothing(harness: Harness) -> None:
    harness.ctx.rpc.transport.nodes.pop("node1")  # type: ignore[attr-defined]
    with pytest.raises(OpExecError, match="OS Parameters validation failed on node node1: .*no daemon"):
        harness.run(create(), LUInstanceCreate)
    assert harness.cfg.find_instance("inst1") is None
