"""Forthcoming instances (`gnt-instance add --forthcoming`, then `--commit`) through the LUs on the
in-process transport: a reservation is a config entry only (no RPC makes anything), its resources
count (allocator, drbd minors and ports, network addresses); its commit makes the real instance on
the reserved nodes and disks; every operation needing real disks refuses it; its removal leaves
nothing behind; a failed commit leaves the reservation as it was."""

from __future__ import annotations

from typing import Any

import pytest

from gnt import constants
from gnt import query as q
from gnt.alloc.iallocator import build_request
from gnt.alloc.rapi import MODEL_INSTANCE_FIELDS, model_from_rapi
from gnt.errors import ECODE_EXISTS, ECODE_INVAL, ECODE_NOENT, ECODE_STATE, OpExecError, OpPrereqError
from gnt.instance.create import LUInstanceCreate
from gnt.instance.disks import LUInstanceActivateDisks
from gnt.instance.drbd import logical
from gnt.instance.lifecycle import LUInstanceRemove, LUInstanceStartup
from gnt.instance.migrate import LUInstanceMigrate
from gnt.instance.query import FIELDS, InstanceQueryContext
from gnt.network.logic import LUNetworkAdd, LUNetworkConnect
from gnt.network.opcodes import OpNetworkAdd, OpNetworkConnect
from gnt.network.pool import AddressPool
from gnt.opcodes import (
    OpInstanceActivateDisks,
    OpInstanceMigrate,
    OpInstanceRemove,
    OpInstanceStartup,
)
from tests.unit.lu.conftest import FILE_DIR, Harness
from tests.unit.lu.test_instance_create import create
from tests.unit.lu.test_instance_drbd import in_sync
from tests.unit.lu.test_instance_plain import with_vg

#: what a node is asked while a reservation is checked: its facts, never to make anything
_READ_ONLY = {"node_info", "os_validate", "version"}


def made(harness: Harness) -> list[str]:
    """The calls that change a node (anything past reading its facts)."""
    return [n for node in harness.nodes.values() for n in node.names() if n not in _READ_ONLY]


def test_a_reservation_is_a_config_entry_only(harness: Harness) -> None:
    assert harness.run(create(forthcoming=True), LUInstanceCreate) == ["node1"]
    inst = harness.cfg.instance("inst1")
    assert inst.forthcoming and all(d.forthcoming for d in inst.disks)
    assert inst.admin_state == constants.ADMINST_DOWN  # a reservation does not run
    assert [d.size for d in inst.disks] == [64, 32]
    assert all(d.logical_id[1].startswith(f"{FILE_DIR}/inst1/") for d in inst.disks)
    assert made(harness) == []
    assert harness.nodes["node1"].disks == {} and harness.nodes["node1"].running == {}
    context = InstanceQueryContext(harness.cfg, {})
    assert FIELDS["forthcoming"].getter(inst, context) is True


def test_a_reservation_is_not_refused_for_memory_it_does_not_use_yet(harness: Harness) -> None:
    harness.nodes["node1"].memory_free = 64  # a start would not fit; a reservation starts nothing
    harness.run(create(forthcoming=True), LUInstanceCreate)
    assert harness.cfg.instance("inst1").forthcoming


def test_the_allocator_counts_a_reservation(harness: Harness) -> None:
    harness.cfg.cluster.ipolicy = dict(constants.IPOLICY_DEFAULTS)
    for name in ("node1", "node2"):
        with_vg(harness.nodes[name])  # a node_info the allocator's model reads (dom0 memory too)
    harness.nodes["node2"].memory_free = 3500  # node1 (4096 free) is the emptier node ...
    harness.run(create("big", beparams={"memory": 3800}, forthcoming=True, start=False), LUInstanceCreate)
    # ... until the reservation's 3800 MiB are counted: then only node2 holds another 3000
    nodes = harness.run(create("next", pnode=None, beparams={"memory": 3000}), LUInstanceCreate)
    assert nodes == ["node2"]
    # the allocator's model (and an external allocator's request) knows which one is only reserved
    fields = q.select(FIELDS, list(MODEL_INSTANCE_FIELDS))
    insts = sorted(harness.cfg.instances.values(), key=lambda i: i.name)
    rows = q.as_dicts(fields, q.evaluate(fields, insts, InstanceQueryContext(harness.cfg, {})))
    nodes_rows = [{"name": n, "mtotal": 8192, "mfree": 4096, "dtotal": 1000, "dfree": 1000} for n in ("node1", "node2")]
    model = model_from_rapi(nodes_rows, [dict(r) for r in rows])
    assert [(x.name, x.forthcoming) for x in model.instances] == [("big", True), ("next", False)]
    request = build_request(model, {"type": "allocate"})
    assert request["instances"]["big"]["forthcoming"] is True


def test_commit_makes_the_reserved_instance_real_on_its_disks(harness: Harness) -> None:
    harness.run(create(forthcoming=True), LUInstanceCreate)
    reserved = harness.cfg.instance("inst1")
    uuid, lids = reserved.uuid, [list(d.logical_id) for d in reserved.disks]
    assert harness.run(create(pnode=None, commit=True), LUInstanceCreate) == ["node1"]
    inst = harness.cfg.instance("inst1")
    assert inst.uuid == uuid and not inst.forthcoming and not any(d.forthcoming for d in inst.disks)
    assert [d.logical_id for d in inst.disks] == lids
    node = harness.nodes["node1"]
    assert sorted(d.logical_id for d in node.disks.values()) == sorted(lids)
    assert "inst1" in node.running and inst.admin_state == constants.ADMINST_UP
    assert [n for n in node.names() if n not in _READ_ONLY] == [
        "blockdev_create",
        "blockdev_create",
        "instance_os_add",
        "instance_start",
    ]
    assert len(harness.cfg.instances) == 1


def test_commit_of_a_name_that_is_not_reserved_is_refused(harness: Harness) -> None:
    with pytest.raises(OpPrereqError, match="'inst1' is not in the cluster; --commit needs a forthcoming") as err:
        harness.run(create(commit=True), LUInstanceCreate)
    assert err.value.code == ECODE_NOENT
    harness.run(create(), LUInstanceCreate)  # a real one
    before = made(harness)
    with pytest.raises(OpPrereqError, match="'inst1' is not forthcoming but --commit was passed") as err:
        harness.run(create(commit=True), LUInstanceCreate)
    assert err.value.code == ECODE_STATE and made(harness) == before


def test_a_plain_add_of_a_reserved_name_points_at_commit(harness: Harness) -> None:
    harness.run(create(forthcoming=True), LUInstanceCreate)
    with pytest.raises(
        OpPrereqError, match=r"already in the cluster \(a forthcoming one: make it real with --commit"
    ) as err:
        harness.run(create(), LUInstanceCreate)
    assert err.value.code == ECODE_EXISTS


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"disks": [{"size": 64}]}, "is reserved as file, disks 64M, 32M; --commit asks for file, disks 64M"),
        ({"disk_template": "sharedfile"}, "--commit asks for sharedfile"),
        ({"pnode": "node2"}, "is reserved on node\\(s\\) node1; --commit cannot place it on node2"),
        ({"pnode": None, "iallocator": "hail"}, "do not give an iallocator"),
    ],
)
def test_commit_must_ask_for_what_was_reserved(harness: Harness, change: dict[str, Any], message: str) -> None:
    harness.run(create(forthcoming=True), LUInstanceCreate)
    with pytest.raises(OpPrereqError, match=message) as err:
        harness.run(create(commit=True, **change), LUInstanceCreate)
    assert err.value.code == ECODE_INVAL
    assert harness.cfg.instance("inst1").forthcoming and made(harness) == []


def test_a_failed_commit_leaves_the_reservation_as_it_was(harness: Harness) -> None:
    harness.run(create(forthcoming=True), LUInstanceCreate)
    uuid = harness.cfg.instance("inst1").uuid
    harness.nodes["node1"].fail["instance_os_add"] = OpExecError("the OS script failed")
    with pytest.raises(OpExecError, match="Could not add os"):
        harness.run(create(commit=True), LUInstanceCreate)
    inst = harness.cfg.instance("inst1")
    assert inst.uuid == uuid and inst.forthcoming and all(d.forthcoming for d in inst.disks)
    assert harness.nodes["node1"].disks == {}  # the disks the commit made are gone again
    del harness.nodes["node1"].fail["instance_os_add"]
    harness.run(create(commit=True), LUInstanceCreate)  # and it can be committed later
    assert not harness.cfg.instance("inst1").forthcoming


@pytest.mark.parametrize(
    ("op", "lu"),
    [
        (OpInstanceStartup(instance_name="inst1"), LUInstanceStartup),
        (OpInstanceActivateDisks(instance_name="inst1"), LUInstanceActivateDisks),
        (OpInstanceMigrate(instance_name="inst1", target_node="node2"), LUInstanceMigrate),
    ],
)
def test_operations_needing_disks_refuse_a_reservation(harness: Harness, op: Any, lu: Any) -> None:
    harness.run(create(forthcoming=True, disk_template="sharedfile"), LUInstanceCreate)
    with pytest.raises(OpPrereqError, match="'inst1' is forthcoming .*gnt-instance add --commit") as err:
        harness.run(op, lu)
    assert err.value.code == ECODE_STATE and made(harness) == []


def _network(harness: Harness) -> None:
    harness.run(OpNetworkAdd(network_name="net1", network="10.9.0.0/28"), LUNetworkAdd)
    connect = OpNetworkConnect(network_name="net1", group_name="default", network_mode="bridged", network_link="br0")
    harness.run(connect, LUNetworkConnect)


def test_removing_a_reservation_removes_only_its_config_entry_and_addresses(harness: Harness) -> None:
    _network(harness)
    harness.run(create(forthcoming=True, nics=[{"network": "net1", "ip": "pool"}]), LUInstanceCreate)
    pool = AddressPool(harness.cfg.network("net1"))
    assert pool.instance_reservations() == ["10.9.0.1"]
    harness.run(OpInstanceRemove(instance_name="inst1"), LUInstanceRemove)
    assert harness.cfg.find_instance("inst1") is None
    assert AddressPool(harness.cfg.network("net1")).instance_reservations() == []
    assert made(harness) == []  # no shutdown, no disk removal: there was nothing on the nodes


def test_commit_keeps_the_reserved_address(harness: Harness) -> None:
    _network(harness)
    nic = {"network": "net1", "ip": "pool"}
    harness.run(create(forthcoming=True, nics=[nic]), LUInstanceCreate)
    harness.run(create("other", nics=[nic], disks=[{"size": 8}]), LUInstanceCreate)  # takes the next one
    harness.run(create(commit=True, nics=[nic]), LUInstanceCreate)
    assert harness.cfg.instance("inst1").nics[0].ip == "10.9.0.1"
    assert harness.cfg.instance("other").nics[0].ip == "10.9.0.2"
    assert AddressPool(harness.cfg.network("net1")).instance_reservations() == ["10.9.0.1", "10.9.0.2"]


def test_a_reserved_drbd_instance_holds_its_minors_and_ports_until_committed(harness: Harness) -> None:
    harness.cfg.cluster.enabled_disk_templates = ["drbd", "plain"]
    for name in ("node1", "node2"):
        with_vg(harness.nodes[name])
        harness.nodes[name].do_drbd_status = in_sync  # type: ignore[attr-defined]
    drbd = {"disk_template": "drbd", "snode": "node2", "disks": [{"size": 256}]}
    harness.run(create("res", forthcoming=True, **drbd), LUInstanceCreate)
    held = logical(harness.cfg.instance("res").disks[0])
    assert made(harness) == []
    harness.run(create("real", **drbd), LUInstanceCreate)
    other = logical(harness.cfg.instance("real").disks[0])
    assert (other.port, other.primary_minor) != (held.port, held.primary_minor)  # the reservation's are taken
    harness.run(create("res", commit=True, **{**drbd, "snode": None}), LUInstanceCreate)  # -n pnode is enough
    committed = harness.cfg.instance("res")
    assert committed.secondary_nodes == [harness.cfg.node("node2").uuid]
    link = logical(committed.disks[0])
    assert (link.port, link.primary_minor, link.secondary_minor) == (
        held.port,
        held.primary_minor,
        held.secondary_minor,
    )
    assert len(harness.nodes["node2"].disks) == 2  # both instances' disks, each made once


def test_evacuating_a_node_leaves_its_reservations_with_a_warning(harness: Harness) -> None:
    from gnt.instance.migrate import LUNodeEvacuate
    from gnt.opcodes import OpNodeEvacuate

    harness.add_instance("up1", "node1")
    harness.run(create("res", forthcoming=True), LUInstanceCreate)
    harness.run(OpNodeEvacuate(node_name="node1", remote_node="node2"), LUNodeEvacuate)
    assert [j[0]["instance_name"] for j in harness.queue.jobs] == ["up1"]  # no job bound to be refused
    assert any("Forthcoming instance(s) res stay reserved on node node1" in m for m in harness.log)
