"""Secondary (replication) IPs: Ganeti's homing rules on add and modify, the node's own check,
DRBD instances guarding the address, and migration traffic going over it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gnt.errors import OpPrereqError
from gnt.instance.create import LUInstanceCreate
from gnt.node.logic import LUNodeAdd, LUNodeSetParams
from gnt.opcodes import OpNodeAdd, OpNodeSetParams
from tests.unit.lu.conftest import Harness
from tests.unit.lu.test_instance_drbd import create, running, with_pair


def owns(*addresses: str) -> Any:
    """A node_has_ip_address handler: this node owns exactly `addresses`."""
    return lambda args: args.address in addresses


@pytest.fixture
def dual(harness: Harness) -> Harness:
    """A dual-homed cluster: node1 10.0.0.1, node2 10.0.0.2 on the replication network."""
    for name, address in (("node1", "10.0.0.1"), ("node2", "10.0.0.2")):
        harness.cfg.node(name).secondary_ip = address
        harness.nodes[name].do_node_has_ip_address = owns(address)  # type: ignore[attr-defined]
    asyncio.run(harness.cfg.commit(list(harness.cfg.nodes.values())))
    return harness


@pytest.mark.parametrize(
    ("dual_homed", "secondary", "message"),
    [
        (False, "10.0.0.3", "The master has no secondary ip but the new node has one"),
        (True, None, "The master has a secondary ip but the new node doesn't have one"),
        (True, "10.0.0.2", "conflict with existing node node2"),
    ],
)
def test_add_follows_the_masters_homing(
    harness: Harness, dual_homed: bool, secondary: str | None, message: str
) -> None:
    if dual_homed:
        for name, address in (("node1", "10.0.0.1"), ("node2", "10.0.0.2")):
            harness.cfg.node(name).secondary_ip = address
    op = OpNodeAdd(node_name="node3", primary_ip="192.0.2.3", secondary_ip=secondary, node_setup=False)
    with pytest.raises(OpPrereqError, match=message):
        harness.run(op, LUNodeAdd)
    assert harness.cfg.find_node("node3") is None


def test_modify_on_a_single_homed_cluster_needs_force_on_the_master(harness: Harness) -> None:
    with pytest.raises(OpPrereqError, match="single-homed cluster requires the --force option"):
        harness.run(OpNodeSetParams(node_name="node2", secondary_ip="10.0.0.2"), LUNodeSetParams)
    harness.nodes["node1"].do_node_has_ip_address = owns("10.0.0.1")  # type: ignore[attr-defined]
    harness.run(OpNodeSetParams(node_name="node1", secondary_ip="10.0.0.1", force=True), LUNodeSetParams)
    assert harness.cfg.node("node1").secondary_ip == "10.0.0.1"
    assert any("single-homed to multi-homed" in line for line in harness.log)


def test_modify_moves_the_address_the_node_owns(dual: Harness) -> None:
    dual.nodes["node2"].do_node_has_ip_address = owns("10.0.0.22")  # type: ignore[attr-defined]
    changes = dual.run(OpNodeSetParams(node_name="node2", secondary_ip="10.0.0.22"), LUNodeSetParams)
    assert changes == [["secondary_ip", "10.0.0.22"]]
    assert dual.cfg.node("node2").secondary_ip == "10.0.0.22"
    assert ("node_has_ip_address") in dual.nodes["node2"].names()


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("10.0.0.99", "Node claims it doesn't have the secondary ip you gave \\(10.0.0.99\\)"),
        ("192.0.2.2", "same as the primary IP on a multi-homed cluster"),
        ("10.0.0.1", "conflict with existing node node1"),
    ],
)
def test_modify_refusals_change_nothing(dual: Harness, address: str, message: str) -> None:
    serial = dual.cfg.serial
    with pytest.raises(OpPrereqError, match=message):
        dual.run(OpNodeSetParams(node_name="node2", secondary_ip=address), LUNodeSetParams)
    assert dual.cfg.serial == serial and dual.cfg.node("node2").secondary_ip == "10.0.0.2"


@pytest.fixture
def dual_drbd(dual: Harness) -> Harness:
    from tests.unit.lu.test_instance_drbd import in_sync
    from tests.unit.lu.test_instance_plain import with_vg

    dual.cfg.cluster.enabled_disk_templates = ["drbd", "plain"]
    for name in ("node1", "node2"):
        with_vg(dual.nodes[name])
        dual.nodes[name].do_drbd_status = in_sync  # type: ignore[attr-defined]
    dual.run(create(), LUInstanceCreate)
    return dual


def test_drbd_replicates_over_the_secondary_ips(dual_drbd: Harness) -> None:
    disk = next(iter(dual_drbd.nodes["node1"].disks.values()))
    assert (disk.params["drbd"]["local_ip"], disk.params["drbd"]["remote_ip"]) == ("10.0.0.1", "10.0.0.2")


def test_a_running_drbd_instance_pins_the_address(dual_drbd: Harness) -> None:
    dual_drbd.cfg.instance("inst1").admin_state = "up"
    dual_drbd.nodes["node2"].do_node_has_ip_address = owns("10.0.0.22")  # type: ignore[attr-defined]
    with pytest.raises(OpPrereqError, match="Instance inst1 is running, cannot change secondary ip"):
        dual_drbd.run(OpNodeSetParams(node_name="node2", secondary_ip="10.0.0.22"), LUNodeSetParams)


def test_an_offline_node_with_drbd_instances_keeps_its_address(dual_drbd: Harness) -> None:
    dual_drbd.cfg.node("node2").offline = True
    with pytest.raises(OpPrereqError, match="offline node has instances \\(inst1\\) configured to use it"):
        dual_drbd.run(OpNodeSetParams(node_name="node2", secondary_ip="10.0.0.22"), LUNodeSetParams)


def test_live_migration_goes_to_the_targets_secondary_ip(dual_drbd: Harness) -> None:
    from gnt.instance.migrate import LUInstanceMigrate
    from gnt.opcodes import OpInstanceMigrate

    dual_drbd.cfg.instance("inst1").admin_state = "up"
    running(dual_drbd)
    with_pair(dual_drbd)
    dual_drbd.run(OpInstanceMigrate(instance_name="inst1"), LUInstanceMigrate)
    (accept,) = [a for n, a in dual_drbd.nodes["node2"].calls if n == "accept_instance"]
    (start,) = [a for n, a in dual_drbd.nodes["node1"].calls if n == "migrate_instance"]
    assert accept.target_address == start.target_address == "10.0.0.2"
