"""Drbd instances through the LUs on the in-process transport: create on two nodes (each sent its
own view of each disk), ports and minors from the config, the initial sync followed in the job
log, rollback on both nodes when either fails halfway, remove, and secrets kept out of sight.

The node doubles answer behind the real dispatcher, so every drbd disk a node is sent passes the
node's own checks of its view (`DrbdView.parse`: minor, port, addresses, secret, confined LVs).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from gnt import serial as ser
from gnt.errors import ECODE_INVAL, ECODE_NORES, OpExecError, OpPrereqError
from gnt.instance import create as create_module
from gnt.instance.create import LUInstanceCreate
from gnt.instance.drbd import drbd_map, logical
from gnt.instance.lifecycle import LUInstanceRemove
from gnt.instance.query import FIELDS, InstanceQueryContext
from gnt.opcodes import OpInstanceCreate, OpInstanceRemove
from gnt.query import Offline, Unavailable
from gnt.runtime import InstanceSpec
from tests.unit.lu.conftest import FakeNode, Harness
from tests.unit.lu.test_instance_plain import vg_free, with_vg


def in_sync(args: Any) -> list[dict[str, Any]]:
    return [{"cstate": "Connected", "in_sync": True, "sync_percent": None} for _ in args.disks]


@pytest.fixture
def drbd(harness: Harness) -> Harness:
    harness.cfg.cluster.enabled_disk_templates = ["drbd", "plain"]
    for name in ("node1", "node2"):
        node = harness.nodes[name]
        with_vg(node)
        node.do_drbd_status = in_sync  # type: ignore[attr-defined]
    return harness


def create(name: str = "inst1", **kw: object) -> OpInstanceCreate:
    fields: dict[str, object] = {
        "instance_name": name,
        "disk_template": "drbd",
        "disks": [{"size": 512}, {"size": 256}],
        "os_type": "noop",
        "pnode": "node1",
        "snode": "node2",
        "beparams": {"memory": 128},
    }
    fields.update(kw)
    return OpInstanceCreate(**fields)  # type: ignore[arg-type]


def views(node: FakeNode) -> list[dict[str, Any]]:
    return [d.params["drbd"] for d in sorted(node.disks.values(), key=lambda d: d.index)]


def test_create_puts_each_disk_on_both_nodes_with_their_own_view(drbd: Harness) -> None:
    drbd.run(create(), LUInstanceCreate)
    inst = drbd.cfg.instance("inst1")
    n1, n2 = drbd.cfg.node("node1"), drbd.cfg.node("node2")
    assert inst.secondary_nodes == [n2.uuid]
    assert [d.logical_id for d in inst.disks] == [
        [n1.uuid, n2.uuid, "11000", "0", "0"],
        [n1.uuid, n2.uuid, "11001", "1", "1"],
    ]
    primary, secondary = views(drbd.nodes["node1"]), views(drbd.nodes["node2"])
    assert [(v["minor"], v["port"], v["primary"], v["local_ip"], v["remote_ip"]) for v in primary] == [
        (0, 11000, True, "192.0.2.1", "192.0.2.2"),
        (1, 11001, True, "192.0.2.1", "192.0.2.2"),
    ]
    assert [(v["primary"], v["local_ip"], v["remote_ip"]) for v in secondary] == [(False, "192.0.2.2", "192.0.2.1")] * 2
    disk0 = inst.disks[0]
    assert primary[0]["data"] == secondary[0]["data"] == ["xenvg", f"{disk0.uuid}.disk0_data"]
    assert primary[0]["meta"] == ["xenvg", f"{disk0.uuid}.disk0_meta"]
    assert primary[0]["secret"] == secondary[0]["secret"] == disk0.params["secret"]
    assert primary[0]["secret"] != primary[1]["secret"]  # one secret per disk
    order = [
        (name, c[1].disk.index)
        for name in ("node1", "node2")
        for c in drbd.nodes[name].calls
        if c[0] == "blockdev_create"
    ]
    assert sorted(order) == [("node1", 0), ("node1", 1), ("node2", 0), ("node2", 1)]
    # the OS is installed on the primary with the primary's view of the disks
    (os_add,) = [a for n, a in drbd.nodes["node1"].calls if n == "instance_os_add"]
    assert [d.params["drbd"]["primary"] for d in os_add.instance.disks] == [True, True]


def test_ports_and_minors_are_the_lowest_free_ones(drbd: Harness) -> None:
    drbd.run(create("inst1"), LUInstanceCreate)
    drbd.run(create("inst2", pnode="node2", snode="node1", disks=[{"size": 64}]), LUInstanceCreate)
    link = logical(drbd.cfg.instance("inst2").disks[0])
    assert (link.port, link.primary_minor, link.secondary_minor) == (11002, 2, 2)
    drbd.run(OpInstanceRemove(instance_name="inst1"), LUInstanceRemove)
    drbd.run(create("inst3", disks=[{"size": 64}]), LUInstanceCreate)
    link = logical(drbd.cfg.instance("inst3").disks[0])
    assert (link.port, link.primary_minor, link.secondary_minor) == (11000, 0, 0)  # given back by inst1


def test_the_allocator_picks_both_nodes(drbd: Harness) -> None:
    from gnt import constants

    drbd.cfg.cluster.ipolicy = dict(constants.IPOLICY_DEFAULTS)  # as gnt-cluster init sets it
    assert sorted(drbd.run(create(pnode=None, snode=None), LUInstanceCreate)) == ["node1", "node2"]
    inst = drbd.cfg.instance("inst1")
    assert len(inst.secondary_nodes) == 1 and inst.secondary_nodes[0] != inst.primary_node
    assert drbd.nodes["node1"].disks and drbd.nodes["node2"].disks


def test_each_disk_is_made_on_both_nodes_at_once(drbd: Harness) -> None:
    """The two sides of a disk are independent until they connect: each node's create waits here
    until the other node's create of the same disk has begun, which only a concurrent LU reaches
    (one node after the other, the first would wait for ever: the guard fails it instead)."""
    started = concurrent_sides(drbd)
    drbd.run(create(), LUInstanceCreate)
    assert list(started.values()) == [{"node1", "node2"}] * 2
    assert len(drbd.nodes["node1"].disks) == len(drbd.nodes["node2"].disks) == 2


def concurrent_sides(drbd: Harness) -> dict[str, set[str]]:
    """Each node's blockdev_create waits until the other node's create of the same disk has begun
    (only a caller making both sides at once gets there; in turn, the guard fails the first)."""
    started: dict[str, set[str]] = {}

    def side(name: str) -> Any:
        async def do_blockdev_create(args: Any) -> str:
            begun = started.setdefault(args.disk.uuid, set())
            begun.add(name)
            for _ in range(1000):  # a bounded wait for the peer's call, not a timing
                if len(begun) == 2:
                    break
                await asyncio.sleep(0)
            else:
                raise OpExecError(f"{name}: the other node's create of disk {args.disk.index} never began")
            drbd.nodes[name].disks[args.disk.uuid] = args.disk
            return "/dev/drbd"

        return do_blockdev_create

    for name in ("node1", "node2"):
        drbd.nodes[name].do_blockdev_create = side(name)  # type: ignore[method-assign]
    return started


def add_disk(drbd: Harness) -> Any:
    from gnt.instance.lifecycle import LUInstanceSetParams
    from gnt.opcodes import OpInstanceSetParams

    return drbd.run(OpInstanceSetParams(instance_name="inst1", disks=[["add", -1, {"size": 128}]]), LUInstanceSetParams)


def test_a_disk_added_to_a_drbd_instance_is_made_on_both_nodes_at_once(drbd: Harness) -> None:
    drbd.run(create(disks=[{"size": 64}], start=False), LUInstanceCreate)
    started = concurrent_sides(drbd)
    add_disk(drbd)
    assert list(started.values()) == [{"node1", "node2"}]
    inst = drbd.cfg.instance("inst1")
    assert len(inst.disks) == 2
    assert len(drbd.nodes["node1"].disks) == len(drbd.nodes["node2"].disks) == 2
    first, added = (logical(d) for d in inst.disks)
    assert added.port != first.port and (added.primary_minor, added.secondary_minor) == (1, 1)
    assert inst.disks[1].params["secret"] and inst.disks[1].params["secret"] != inst.disks[0].params["secret"]
    assert not create_module.drbd._reserved_ports  # the config holds them now
    shut = [c[1].disk.uuid for c in drbd.nodes["node1"].calls if c[0] == "blockdev_shutdown"]
    assert shut == [inst.disks[1].uuid]  # the instance is stopped: the new disk goes down again


def test_a_disk_add_that_does_not_fit_the_secondarys_volume_group_is_refused_before_anything(drbd: Harness) -> None:
    drbd.run(create(disks=[{"size": 64}], start=False), LUInstanceCreate)
    free = vg_free(drbd.nodes["node2"])
    with_vg(drbd.nodes["node1"], size=8192, free=8000)  # the primary has room: the secondary's check refuses
    from gnt.instance.lifecycle import LUInstanceSetParams
    from gnt.opcodes import OpInstanceSetParams

    op = OpInstanceSetParams(instance_name="inst1", disks=[["add", -1, {"size": free - 64}]])  # no room for meta
    with pytest.raises(OpPrereqError, match="target node node2 vg xenvg") as err:
        drbd.run(op, LUInstanceSetParams)
    assert err.value.code == ECODE_NORES
    assert len(drbd.cfg.instance("inst1").disks) == 1
    assert not [c for n in drbd.nodes.values() for c in n.calls if c[0] == "blockdev_create" and c[1].disk.index == 1]


@pytest.mark.parametrize("failing", ["node1", "node2"])
def test_a_disk_add_failing_on_one_node_leaves_it_on_neither(drbd: Harness, failing: str) -> None:
    drbd.run(create(disks=[{"size": 64}], start=False), LUInstanceCreate)
    before = {name: set(drbd.nodes[name].disks) for name in ("node1", "node2")}
    drbd.nodes[failing].fail["blockdev_create"] = OpExecError("lvcreate failed: insufficient free space")
    with pytest.raises(OpExecError, match=f"Can't create new disk 1 on node {failing}"):
        add_disk(drbd)
    assert len(drbd.cfg.instance("inst1").disks) == 1
    for name in ("node1", "node2"):
        assert set(drbd.nodes[name].disks) == before[name], name  # the other node's side was removed too
    assert not create_module.drbd._reserved_ports and not any(create_module.drbd._reserved_minors.values())


@pytest.mark.parametrize(("nth", "failing"), [(1, "node2"), (2, "node2"), (1, "node1"), (2, "node1")])
def test_a_node_failing_halfway_leaves_nothing_on_either_node(drbd: Harness, nth: int, failing: str) -> None:
    node = drbd.nodes[failing]
    node.fail["blockdev_create"] = OpExecError("lvcreate failed: insufficient free space")
    node.fail_on["blockdev_create"] = nth
    with pytest.raises(OpExecError, match=f"Can't create disk {nth - 1} of instance inst1 on node {failing}"):
        drbd.run(create(), LUInstanceCreate)
    assert drbd.nodes["node1"].disks == {} and drbd.nodes["node2"].disks == {}
    assert drbd.cfg.find_instance("inst1") is None
    removed = [c[1].disk for c in drbd.nodes["node2"].calls if c[0] == "blockdev_remove"]
    assert removed and all(d.params["drbd"]["primary"] is False for d in removed)  # each node with its own view
    drbd.run(create("inst2", disks=[{"size": 64}]), LUInstanceCreate)  # the failed job's reservations are free
    assert logical(drbd.cfg.instance("inst2").disks[0]).port == 11000


def test_the_initial_sync_is_followed_in_the_job_log(drbd: Harness) -> None:
    answers = iter(
        [
            [{"cstate": "SyncSource", "in_sync": False, "sync_percent": 41.2, "sync_eta": 3}, None],
            [{"cstate": "Connected", "in_sync": True, "sync_percent": None}] * 2,
        ]
    )
    drbd.nodes["node1"].do_drbd_status = lambda args: next(answers)  # type: ignore[attr-defined]
    create_module.SYNC_POLL_INTERVAL = 0
    try:
        drbd.run(create(), LUInstanceCreate)
    finally:
        create_module.SYNC_POLL_INTERVAL = 2.0
    assert "- device disk/0:  41.2% done, 3s remaining (estimated)" in drbd.log
    assert "- instance inst1's disks are in sync" in drbd.log


def test_a_pair_that_never_syncs_fails_the_job_and_leaves_nothing(drbd: Harness, monkeypatch: Any) -> None:
    monkeypatch.setattr(create_module, "SYNC_POLL_INTERVAL", 0)
    standalone = [{"cstate": "StandAlone", "in_sync": False, "sync_percent": None}]
    drbd.nodes["node1"].do_drbd_status = lambda args: standalone * len(args.disks)  # type: ignore[attr-defined]
    with pytest.raises(OpExecError, match=r"do not sync \(disk/0 StandAlone, disk/1 StandAlone\)"):
        drbd.run(create(), LUInstanceCreate)
    assert drbd.nodes["node1"].disks == {} and drbd.nodes["node2"].disks == {}
    assert drbd.cfg.find_instance("inst1") is None


def test_no_wait_for_sync_does_not_ask(drbd: Harness) -> None:
    drbd.run(create(wait_for_sync=False), LUInstanceCreate)
    assert "drbd_status" not in drbd.nodes["node1"].names()


def test_remove_takes_the_disks_off_both_nodes(drbd: Harness) -> None:
    drbd.run(create(), LUInstanceCreate)
    drbd.run(OpInstanceRemove(instance_name="inst1"), LUInstanceRemove)
    assert drbd.nodes["node1"].disks == {} and drbd.nodes["node2"].disks == {}
    assert drbd.cfg.find_instance("inst1") is None


def test_the_secondary_needs_room_for_data_and_metadata(drbd: Harness) -> None:
    with_vg(drbd.nodes["node2"], free=800)
    with pytest.raises(
        OpPrereqError, match="Not enough disk space on target node node2 vg xenvg: required 1024"
    ) as err:
        drbd.run(create(), LUInstanceCreate)
    assert err.value.code == ECODE_NORES
    assert drbd.nodes["node1"].disks == {} and vg_free(drbd.nodes["node1"]) == 4096


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"snode": "node1"}, "The secondary node cannot be the primary node"),
        ({"snode": None}, "The drbd template needs a secondary node"),
    ],
)
def test_bad_secondaries_are_refused(drbd: Harness, changes: dict[str, Any], message: str) -> None:
    with pytest.raises(OpPrereqError, match=message) as err:
        drbd.run(create(**changes), LUInstanceCreate)
    assert err.value.code == ECODE_INVAL
    assert drbd.nodes["node2"].disks == {}


def shown_value(field: Any, inst: Any, ctx: Any) -> Any:
    try:
        return field.getter(inst, ctx)
    except (Unavailable, Offline):  # a live field of a stopped instance
        return None


def test_secrets_stay_out_of_the_job_log_and_every_query_field(drbd: Harness) -> None:
    op = create()
    drbd.run(op, LUInstanceCreate)
    inst = drbd.cfg.instance("inst1")
    secrets = [d.params["secret"] for d in inst.disks]
    ctx = InstanceQueryContext(drbd.cfg, {"node1": {}, "node2": {}})
    shown = json.dumps([shown_value(field, inst, ctx) for field in FIELDS.values()], default=str)
    assert inst.disks[0].uuid in shown and "/dev/drbd0" in shown
    for secret in secrets:
        assert secret not in shown and secret not in " ".join(drbd.log)
        assert secret not in json.dumps(ser.to_dict(op))


def test_the_drbd_map_lists_each_nodes_minors(drbd: Harness) -> None:
    drbd.run(create(), LUInstanceCreate)
    found = drbd_map(list(drbd.cfg.instances.values()))
    n1, n2 = drbd.cfg.node("node1").uuid, drbd.cfg.node("node2").uuid
    assert found[n1] == [
        {"minor": 0, "instance": "inst1", "disk": 0, "role": "primary", "peer": n2},
        {"minor": 1, "instance": "inst1", "disk": 1, "role": "primary", "peer": n2},
    ]
    assert [e["role"] for e in found[n2]] == ["secondary", "secondary"]


def test_the_node_field_behind_list_drbd_names_peers(drbd: Harness) -> None:
    from gnt.node.query import FIELDS as NODE_FIELDS
    from gnt.node.query import NodeQueryContext

    drbd.run(create(), LUInstanceCreate)
    ctx = NodeQueryContext(drbd.cfg, {})
    getter = NODE_FIELDS["drbd_minors"].getter
    assert getter(drbd.cfg.node("node2"), ctx) == [
        [0, "inst1", 0, "secondary", "node1"],
        [1, "inst1", 1, "secondary", "node1"],
    ]
    assert getter(drbd.cfg.node("node1"), ctx)[0] == [0, "inst1", 0, "primary", "node2"]


def with_roles(drbd: Harness) -> dict[str, str]:
    """Node doubles that promote and demote like DRBD: no promotion while the peer is primary."""
    from gnt.errors import StorageError

    roles = {"node1": "primary", "node2": "secondary"}
    order: list[tuple[str, bool, bool]] = []

    def handler(name: str) -> Any:
        def set_role(args: Any) -> None:
            peer = "node2" if name == "node1" else "node1"
            if args.primary and roles[peer] == "primary":
                raise StorageError("Cannot make DRBD minor 0 primary: its peer is primary; demote it first")
            order.append((name, args.primary, args.force))
            roles[name] = "primary" if args.primary else "secondary"

        return set_role

    for name in ("node1", "node2"):
        drbd.nodes[name].do_drbd_set_role = handler(name)  # type: ignore[attr-defined]
    roles["order"] = order  # type: ignore[assignment]
    return roles


def test_failover_hands_the_primary_role_to_the_secondary(drbd: Harness) -> None:
    from gnt.instance.migrate import LUInstanceFailover
    from gnt.opcodes import OpInstanceFailover

    drbd.run(create(), LUInstanceCreate)
    roles = with_roles(drbd)
    drbd.run(OpInstanceFailover(instance_name="inst1"), LUInstanceFailover)  # no target: its secondary
    inst = drbd.cfg.instance("inst1")
    n1, n2 = drbd.cfg.node("node1").uuid, drbd.cfg.node("node2").uuid
    assert (inst.primary_node, inst.secondary_nodes) == (n2, [n1])
    assert roles["order"] == [("node1", False, False), ("node2", True, False)]  # demote first, never forced
    (start,) = [a for n, a in drbd.nodes["node2"].calls if n == "instance_start"]
    assert [d.params["drbd"]["primary"] for d in start.instance.disks] == [True, True]
    assert [d.params["drbd"]["local_ip"] for d in start.instance.disks] == ["192.0.2.2"] * 2
    assert drbd_map([inst])[n2][0]["role"] == "primary" and drbd_map([inst])[n1][0]["role"] == "secondary"


def test_failover_with_a_dead_primary_needs_ignore_consistency(drbd: Harness) -> None:
    from gnt.errors import RpcError
    from gnt.instance.migrate import LUInstanceFailover
    from gnt.opcodes import OpInstanceFailover

    drbd.run(create(), LUInstanceCreate)
    roles = with_roles(drbd)
    roles["node1"] = "unknown"  # the node is dead: DRBD on node2 sees its peer Unknown
    for name in ("instance_shutdown", "drbd_set_role"):
        drbd.nodes["node1"].fail[name] = RpcError("Error 7: node1 does not answer")
    with pytest.raises(OpExecError, match="Could not shutdown instance inst1 on node node1.*use --ignore-consistency"):
        drbd.run(OpInstanceFailover(instance_name="inst1"), LUInstanceFailover)
    assert drbd.cfg.instance("inst1").primary_node == drbd.cfg.node("node1").uuid
    drbd.run(OpInstanceFailover(instance_name="inst1", ignore_consistency=True), LUInstanceFailover)
    assert roles["order"] == [("node2", True, True)]  # forced: its peer is gone
    assert drbd.cfg.instance("inst1").primary_node == drbd.cfg.node("node2").uuid
    assert any("Could not demote the disks on node1" in line for line in drbd.log)
    assert any("please make sure node node1 is down" in line for line in drbd.log)


def test_failover_stops_when_the_source_cannot_be_demoted(drbd: Harness) -> None:
    from gnt.errors import StorageError
    from gnt.instance.migrate import LUInstanceFailover
    from gnt.opcodes import OpInstanceFailover

    drbd.run(create(), LUInstanceCreate)
    drbd.nodes["node1"].fail["drbd_set_role"] = StorageError("State change failed: (-12) Device is held open")
    drbd.nodes["node2"].do_drbd_set_role = lambda args: pytest.fail("promoted while the source is primary")  # type: ignore[attr-defined]
    with pytest.raises(OpExecError, match="Could not demote the disks of instance inst1 on node1: .*held open"):
        drbd.run(OpInstanceFailover(instance_name="inst1"), LUInstanceFailover)
    assert drbd.cfg.instance("inst1").primary_node == drbd.cfg.node("node1").uuid


def with_pair(drbd: Harness, state: dict[str, Any] | None = None) -> list[tuple[str, str, Any]]:
    """Node doubles that act like a DRBD pair: roles, the dual-primary window, status (`state`:
    the pair's roles and the nodes whose link allows two primaries, as a test sets them up)."""
    from gnt.errors import StorageError

    if state is None:
        state = {"node1": "primary", "node2": "secondary", "dual": set()}
    log: list[tuple[str, str, Any]] = []

    def peer(name: str) -> str:
        return "node2" if name == "node1" else "node1"

    def handlers(name: str) -> None:
        node = drbd.nodes[name]

        def set_role(args: Any) -> None:
            if args.primary and state[peer(name)] == "primary" and len(state["dual"]) < 2:
                raise StorageError("Cannot make DRBD minor 0 primary: its peer is primary; demote it first")
            log.append((name, "role", args.primary))
            state[name] = "primary" if args.primary else "secondary"

        def dual(args: Any) -> None:
            if not args.enabled and state[name] == state[peer(name)] == "primary":
                raise StorageError("both primary; demote one before leaving dual-primary")
            log.append((name, "dual", args.enabled))
            (state["dual"].add if args.enabled else state["dual"].discard)(name)

        def disconnect(args: Any) -> None:
            log.append((name, "disconnect", None))

        node.do_drbd_set_role = set_role  # type: ignore[attr-defined]
        node.do_drbd_dual_primary = dual  # type: ignore[attr-defined]
        node.do_drbd_disconnect = disconnect  # type: ignore[attr-defined]

    for name in ("node1", "node2"):
        handlers(name)
    return log


def running(drbd: Harness, name: str = "inst1") -> None:
    from gnt import serial

    drbd.nodes["node1"].running[name] = serial.from_dict(
        InstanceSpec,
        {"name": name, "uuid": drbd.cfg.instance(name).uuid, "hypervisor": "fake", "memory": 128, "vcpus": 1},
    )


def test_live_migration_opens_the_dual_primary_window_only_for_its_length(drbd: Harness) -> None:
    from gnt.instance.migrate import LUInstanceMigrate
    from gnt.opcodes import OpInstanceMigrate

    drbd.run(create(), LUInstanceCreate)
    running(drbd)
    log = with_pair(drbd)
    drbd.run(OpInstanceMigrate(instance_name="inst1"), LUInstanceMigrate)
    # both sides drop the link before either re-makes it with the other setting (DRBD 8.4 refuses a
    # peer whose two-primaries setting differs: re-made one side at a time, a side stays StandAlone)
    assert log == [
        ("node1", "disconnect", None), ("node2", "disconnect", None),
        ("node1", "dual", True), ("node2", "dual", True), ("node2", "role", True),  # the window opens
        ("node1", "role", False),
        ("node2", "disconnect", None), ("node1", "disconnect", None),
        ("node2", "dual", False), ("node1", "dual", False),  # and closes
    ]  # fmt: skip
    inst = drbd.cfg.instance("inst1")
    assert (inst.primary_node, inst.secondary_nodes) == (drbd.cfg.node("node2").uuid, [drbd.cfg.node("node1").uuid])
    (accept,) = [a for n, a in drbd.nodes["node2"].calls if n == "accept_instance"]
    assert [d.params["drbd"]["local_ip"] for d in accept.instance.disks] == ["192.0.2.2"] * 2  # the target's view


def test_a_failed_migration_ends_the_window_with_the_source_primary(drbd: Harness) -> None:
    from gnt.instance.migrate import LUInstanceMigrate
    from gnt.opcodes import OpInstanceMigrate

    drbd.run(create(), LUInstanceCreate)
    running(drbd)
    log = with_pair(drbd)
    drbd.nodes["node1"].migration = {"phase": "failed", "message": "target refused the memory"}
    with pytest.raises(OpExecError, match="Could not migrate instance inst1: target refused the memory"):
        drbd.run(OpInstanceMigrate(instance_name="inst1"), LUInstanceMigrate)
    assert log[-5:] == [
        ("node2", "role", False),
        ("node1", "disconnect", None), ("node2", "disconnect", None),
        ("node1", "dual", False), ("node2", "dual", False),
    ]  # fmt: skip
    assert drbd.cfg.instance("inst1").primary_node == drbd.cfg.node("node1").uuid


def test_the_window_asks_both_nodes_at_once_but_reconnects_only_after_both_disconnected(drbd: Harness) -> None:
    """Each step of re-making the link goes to both nodes in one round trip (the window is
    guest-visible time); no node reconnects before both have disconnected (DRBD 8.4 refuses a
    peer on the other two-primaries setting)."""
    import asyncio

    from gnt.instance.migrate import LUInstanceMigrate
    from gnt.opcodes import OpInstanceMigrate

    drbd.run(create(), LUInstanceCreate)
    running(drbd)
    log = with_pair(drbd)
    in_flight: dict[str, int] = {}
    most: dict[str, int] = {}

    def concurrent(name: str, verb: str) -> None:
        sync = getattr(drbd.nodes[name], f"do_drbd_{verb}")

        async def call(args: Any) -> None:
            in_flight[verb] = in_flight.get(verb, 0) + 1
            most[verb] = max(most.get(verb, 0), in_flight[verb])
            await asyncio.sleep(0.01)  # the other node's call arrives meanwhile if it was sent at once
            in_flight[verb] -= 1
            sync(args)

        setattr(drbd.nodes[name], f"do_drbd_{verb}", call)

    for name in ("node1", "node2"):
        for verb in ("disconnect", "dual_primary"):
            concurrent(name, verb)
    drbd.run(OpInstanceMigrate(instance_name="inst1"), LUInstanceMigrate)
    assert most == {"disconnect": 2, "dual_primary": 2}
    steps = [(verb, arg) for _, verb, arg in log]
    opening, closing = steps[:4], steps[6:]
    for window in (opening, closing):
        assert [v for v, _ in window] == ["disconnect", "disconnect", "dual", "dual"], log


def test_a_degraded_pair_is_not_migrated(drbd: Harness) -> None:
    from gnt.instance.migrate import LUInstanceMigrate
    from gnt.opcodes import OpInstanceMigrate

    drbd.run(create(), LUInstanceCreate)
    running(drbd)
    log = with_pair(drbd)
    drbd.nodes["node1"].do_drbd_status = lambda args: (
        [  # type: ignore[attr-defined]
            {"cstate": "SyncSource", "in_sync": False, "sync_percent": 40.0}
        ]
        * len(args.disks)
    )
    with pytest.raises(OpExecError, match=r"its disks are not in sync \(disk/0, disk/1\); wait for the resync"):
        drbd.run(OpInstanceMigrate(instance_name="inst1"), LUInstanceMigrate)
    assert [e for e in log if e[2] is True] == []  # no window opened, nothing promoted
    assert drbd.cfg.instance("inst1").primary_node == drbd.cfg.node("node1").uuid


def test_a_rollback_that_cannot_reach_the_nodes_records_both_sides_without_the_secret(drbd: Harness) -> None:
    from gnt.cluster import pending
    from gnt.errors import RpcError

    drbd.nodes["node1"].fail["blockdev_create"] = OpExecError("lvcreate failed")
    for name in ("node1", "node2"):
        drbd.nodes[name].fail["blockdev_remove"] = RpcError(f"Error while contacting node {name}")
    with pytest.raises(OpExecError, match="Can't create disk 0 of instance inst1 on node node1"):
        drbd.run(create(), LUInstanceCreate)
    recorded = pending.entries()
    assert sorted(e["node"] for e in recorded) == ["node1", "node2"]  # the same disk, one entry per node
    with open(pending.file_path()) as handle:
        text = handle.read()
    assert '"secret": "redacted"' in text
    (sent,) = [a.disk for n, a in drbd.nodes["node2"].calls if n == "blockdev_create"]
    assert sent.params["drbd"]["secret"] not in text

    class Lu:  # what pending.retry needs of an LU
        cfg, rpc, ctx = drbd.cfg, drbd.ctx.rpc, drbd.ctx

    for name in ("node1", "node2"):
        del drbd.nodes[name].fail["blockdev_remove"]
    done = asyncio.run(pending.retry(Lu()))
    assert len(done["removed"]) == 2 and pending.entries() == []
    assert drbd.nodes["node1"].disks == {} and drbd.nodes["node2"].disks == {}


def test_verify_knows_the_data_and_meta_volumes_on_both_nodes(drbd: Harness) -> None:
    from gnt import PROTOCOL_VERSION
    from gnt.cluster.logic import LUClusterVerify
    from gnt.opcodes import OpClusterVerify

    drbd.run(create(disks=[{"size": 64}]), LUInstanceCreate)
    (disk,) = drbd.cfg.instance("inst1").disks
    data, meta = (lv for _, lv in disk.params["children"])
    base = {"version": PROTOCOL_VERSION, "hypervisors": {}, "disk_files": [], "ssconf": {}}
    node1_lvs = [{"vg": "xenvg", "name": n, "size": 4, "phys": "/dev/vdb"} for n in (data, meta)]
    drbd.nodes["node1"].do_node_verify = lambda args: {**base, "volumes": node1_lvs}  # type: ignore[attr-defined]
    drbd.nodes["node2"].do_node_verify = lambda args: {**base, "volumes": node1_lvs[:1]}  # type: ignore[attr-defined]
    drbd.run(OpClusterVerify(), LUClusterVerify)
    errors = [line.strip() for line in drbd.log if "ERROR" in line and "volume" in line]
    assert errors == [f"- ERROR: instance inst1: volume xenvg/{meta} missing on node node2"]


def test_startup_sends_the_primary_its_view_of_the_disks(drbd: Harness) -> None:
    from gnt.instance.lifecycle import LUInstanceStartup
    from gnt.opcodes import OpInstanceStartup

    drbd.run(create(start=False), LUInstanceCreate)
    drbd.run(OpInstanceStartup(instance_name="inst1"), LUInstanceStartup)
    (start,) = [a for n, a in drbd.nodes["node1"].calls if n == "instance_start"]
    assert [(d.params["drbd"]["primary"], d.params["drbd"]["minor"]) for d in start.instance.disks] == [
        (True, 0),
        (True, 1),
    ]


def test_node_volumes_name_the_instance_of_both_sides_lvs(drbd: Harness) -> None:
    from gnt.node.storage import LUNodeQueryvols
    from gnt.opcodes import OpNodeQueryvols

    drbd.run(create(disks=[{"size": 64}]), LUInstanceCreate)
    (disk,) = drbd.cfg.instance("inst1").disks
    names = [lv for _, lv in disk.params["children"]]
    for name in ("node1", "node2"):  # what lvs would list on each node
        drbd.nodes[name].do_lv_list = lambda args, n=names: (
            [  # type: ignore[attr-defined]
                {"vg": "xenvg", "name": lv, "size": 64, "phys": "/dev/vdb"} for lv in n
            ]
            + [{"vg": "xenvg", "name": "stray", "size": 4, "phys": "/dev/vdb"}]
        )
    rows = drbd.run(OpNodeQueryvols(output_fields=["node", "name", "instance"]), LUNodeQueryvols)
    assert sorted(rows) == sorted(
        [[node, lv, "inst1"] for node in ("node1", "node2") for lv in names]
        + [["node1", "stray", "-"], ["node2", "stray", "-"]]
    )


def test_startup_brings_the_secondary_up_first_and_the_primary_waits_for_its_peer(drbd: Harness) -> None:
    from gnt.instance.lifecycle import LUInstanceStartup
    from gnt.opcodes import OpInstanceStartup

    drbd.run(create(start=False), LUInstanceCreate)
    drbd.run(OpInstanceStartup(instance_name="inst1"), LUInstanceStartup)
    assembled = [a.disk.params["drbd"]["primary"] for n, a in drbd.nodes["node2"].calls if n == "blockdev_assemble"]
    assert assembled == [False, False]  # the secondary's side of each disk, before the start
    (start,) = [a for n, a in drbd.nodes["node1"].calls if n == "instance_start"]
    assert [d.params["drbd"]["peer_down"] for d in start.instance.disks] == [False, False]


def test_a_stopped_instance_whose_secondary_is_down_starts_only_with_force(drbd: Harness) -> None:
    """Ganeti's startup --force: the secondaries' disks are ignored and the instance runs degraded;
    without it the start stops before the primary is touched, saying how to go on."""
    from gnt.errors import RpcError
    from gnt.instance.lifecycle import LUInstanceStartup
    from gnt.opcodes import OpInstanceStartup

    drbd.run(create(start=False), LUInstanceCreate)
    drbd.nodes["node2"].fail["blockdev_assemble"] = RpcError("Error 7: node node2 does not answer; is the node up?")
    with pytest.raises(OpExecError) as refused:
        drbd.run(OpInstanceStartup(instance_name="inst1"), LUInstanceStartup)
    message = str(refused.value)
    assert "cannot activate disk/0 on secondary node node2" in message and "is the node up?" in message
    assert "gnt-instance startup --force inst1" in message and "\n" not in message
    assert not [n for n, _ in drbd.nodes["node1"].calls if n == "instance_start"]

    drbd.run(OpInstanceStartup(instance_name="inst1", force=True), LUInstanceStartup)
    (start,) = [a for n, a in drbd.nodes["node1"].calls if n == "instance_start"]
    # the primary is told its peer is down: it promotes without waiting for (or seeing) the peer
    assert [d.params["drbd"]["peer_down"] for d in start.instance.disks] == [True, True]
    assert any("Cannot activate disk/0 on secondary node node2" in line and "degraded" in line for line in drbd.log)


def test_a_refused_start_takes_down_what_it_brought_up_on_the_secondary(drbd: Harness) -> None:
    from gnt.instance.lifecycle import LUInstanceStartup
    from gnt.opcodes import OpInstanceStartup

    drbd.run(create(start=False), LUInstanceCreate)
    drbd.nodes["node2"].fail["blockdev_assemble"] = OpExecError("attach failed: no such LV")
    drbd.nodes["node2"].fail_on["blockdev_assemble"] = 2  # disk 0 comes up, disk 1 does not
    with pytest.raises(OpExecError, match="cannot activate disk/1 on secondary node node2"):
        drbd.run(OpInstanceStartup(instance_name="inst1"), LUInstanceStartup)
    shut = [a.disk.index for n, a in drbd.nodes["node2"].calls if n == "blockdev_shutdown"]
    assert shut == [0]


def left_open() -> dict[str, Any]:
    """What a migration interrupted inside its window leaves: both sides primary, two allowed."""
    return {"node1": "primary", "node2": "primary", "dual": {"node1", "node2"}}


def test_migrate_cleanup_ends_an_open_window_with_the_running_side_the_only_primary(drbd: Harness) -> None:
    from gnt.instance.migrate import LUInstanceMigrate
    from gnt.opcodes import OpInstanceMigrate

    drbd.run(create(), LUInstanceCreate)
    running(drbd)  # the guest stayed on node1, the source
    state = left_open()
    log = with_pair(drbd, state)
    result = drbd.run(OpInstanceMigrate(instance_name="inst1", cleanup=True), LUInstanceMigrate)
    assert result == {"node": "node1"}
    assert (state["node1"], state["node2"], state["dual"]) == ("primary", "secondary", set())
    assert log == [
        ("node2", "role", False),
        ("node1", "disconnect", None), ("node2", "disconnect", None),
        ("node1", "dual", False), ("node2", "dual", False),
    ]  # fmt: skip
    assert drbd.cfg.instance("inst1").primary_node == drbd.cfg.node("node1").uuid


def test_migrate_cleanup_follows_a_guest_that_reached_the_target(drbd: Harness) -> None:
    """The guest runs on node2 but the config still says node1 (the master died after the
    transfer): the config moves to node2, node1 is demoted and the link back to one primary."""
    from gnt.instance.migrate import LUInstanceMigrate
    from gnt.opcodes import OpInstanceMigrate

    drbd.run(create(), LUInstanceCreate)
    running(drbd)
    drbd.nodes["node2"].running["inst1"] = drbd.nodes["node1"].running.pop("inst1")
    state = left_open()
    log = with_pair(drbd, state)
    assert drbd.run(OpInstanceMigrate(instance_name="inst1", cleanup=True), LUInstanceMigrate) == {"node": "node2"}
    inst = drbd.cfg.instance("inst1")
    n1, n2 = drbd.cfg.node("node1").uuid, drbd.cfg.node("node2").uuid
    assert (inst.primary_node, inst.secondary_nodes) == (n2, [n1])
    assert (state["node1"], state["node2"], state["dual"]) == ("secondary", "primary", set())
    assert log[0] == ("node1", "role", False)


def test_migrate_cleanup_of_a_guest_running_nowhere_still_leaves_one_primary(drbd: Harness) -> None:
    from gnt.instance.migrate import LUInstanceMigrate
    from gnt.opcodes import OpInstanceMigrate

    drbd.run(create(start=False), LUInstanceCreate)
    state = left_open()
    with_pair(drbd, state)
    with pytest.raises(OpExecError, match="runs on neither node1 nor node2; start it with gnt-instance startup"):
        drbd.run(OpInstanceMigrate(instance_name="inst1", cleanup=True), LUInstanceMigrate)
    assert (state["node1"], state["node2"], state["dual"]) == ("primary", "secondary", set())
    assert drbd.cfg.instance("inst1").primary_node == drbd.cfg.node("node1").uuid


def test_migrate_cleanup_of_a_pair_that_does_not_reconnect_says_so(drbd: Harness, monkeypatch: Any) -> None:
    from gnt.instance import drbd as drbd_module
    from gnt.instance.migrate import LUInstanceMigrate
    from gnt.opcodes import OpInstanceMigrate

    monkeypatch.setattr(drbd_module, "RECONNECT_TIMEOUT", 0.0)
    monkeypatch.setattr(drbd_module, "RECONNECT_POLL", 0.0)
    drbd.run(create(), LUInstanceCreate)
    running(drbd)
    with_pair(drbd, left_open())
    drbd.nodes["node1"].do_drbd_status = lambda args: [  # type: ignore[attr-defined]
        {"cstate": "StandAlone", "in_sync": False, "sync_percent": None} for _ in args.disks
    ]
    with pytest.raises(OpExecError, match=r"did not reconnect on node1 \(disk/0 StandAlone, disk/1 StandAlone\)"):
        drbd.run(OpInstanceMigrate(instance_name="inst1", cleanup=True), LUInstanceMigrate)
