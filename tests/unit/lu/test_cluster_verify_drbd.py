"""The DRBD part of verify-disks and of gnt-cluster verify through their LUs: one status read per
node whatever the number of disks, degraded/StandAlone/missing sides reported, re-activated or
reconnected; stopped instances' disks left alone."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gnt.cluster.logic import LUClusterVerify
from gnt.cluster.verify_disks import LUClusterVerifyDisks
from gnt.errors import RpcError, StorageError
from gnt.instance.create import LUInstanceCreate
from gnt.instance.drbd import logical
from gnt.opcodes import OpClusterVerify, OpClusterVerifyDisks
from tests.unit.lu.conftest import Harness
from tests.unit.lu.test_instance_drbd import create
from tests.unit.lu.test_instance_replace_disks import pair  # noqa: F401 - fixture

HEALTHY = {"cstate": "Connected", "disk": "UpToDate", "peer_disk": "UpToDate", "in_sync": True}


def with_minors(h: Harness) -> dict[str, dict[int, dict[str, Any] | None]]:
    """Node doubles answering drbd_minor_status (and drbd_status, with views) per minor from
    `states[node][minor]` (healthy by default)."""
    states: dict[str, dict[int, dict[str, Any] | None]] = {"node1": {}, "node2": {}, "node3": {}}
    for name in states:

        def by_minor(args: Any, name: str = name) -> list[dict[str, Any] | None]:
            return [states[name].get(m, HEALTHY) for m in args.minors]

        def status(args: Any, name: str = name) -> list[dict[str, Any] | None]:
            minors = [d.params["drbd"]["minor"] for d in args.disks]
            return [states[name].get(m, HEALTHY) for m in minors]

        h.nodes[name].do_drbd_minor_status = by_minor  # type: ignore[attr-defined]
        h.nodes[name].do_drbd_status = status  # type: ignore[attr-defined]
    return states


@pytest.fixture
def many(pair: Harness) -> Harness:  # noqa: F811
    for name in ("inst2", "inst3"):
        pair.run(create(name), LUInstanceCreate)
    return pair


def verify_disks(h: Harness) -> dict[str, Any]:
    return h.run(OpClusterVerifyDisks(), LUClusterVerifyDisks)  # type: ignore[no-any-return]


def test_one_status_read_per_node_whatever_the_number_of_disks(many: Harness) -> None:
    with_minors(many)
    for node in many.nodes.values():
        node.calls.clear()
    result = verify_disks(many)
    assert result["drbd_degraded"] == {} and result["drbd_node_errors"] == {}
    for name in ("node1", "node2"):
        (call,) = [a for n, a in many.nodes[name].calls if n == "drbd_minor_status"]
        node = many.cfg.node(name).uuid
        expected = sorted(logical(d).minor_on(node) for i in many.cfg.instances.values() for d in i.disks)
        assert sorted(call.minors) == expected and len(expected) == 6  # three instances, two disks each
        assert "drbd_status" not in many.nodes[name].names()  # no views built, sent or checked
    assert "drbd_minor_status" not in many.nodes["node3"].names()


def test_a_node_without_drbd_minor_status_is_asked_with_the_views(pair: Harness) -> None:  # noqa: F811
    """A node not upgraded yet answers "Unknown RPC procedure": it gets drbd_status, as before."""
    states = with_minors(pair)
    states["node2"][1] = None
    pair.nodes["node2"].fail["drbd_minor_status"] = RpcError("Unknown RPC procedure 'drbd_minor_status'")
    result = verify_disks(pair)
    assert result["drbd_node_errors"] == {}
    assert result["drbd_degraded"] == {"inst1": [["node2", "disk/1", "missing (no DRBD minor)"]]}
    (call,) = [a for n, a in pair.nodes["node2"].calls if n == "drbd_status"]
    assert [d.params["drbd"]["remote_ip"] for d in call.disks] == ["192.0.2.1", "192.0.2.1"]
    assert "drbd_status" not in pair.nodes["node1"].names()


def test_a_missing_secondary_side_is_reported_and_reassembled(pair: Harness) -> None:  # noqa: F811
    states = with_minors(pair)
    states["node2"][1] = None
    result = verify_disks(pair)
    assert result["drbd_degraded"] == {"inst1": [["node2", "disk/1", "missing (no DRBD minor)"]]}
    (assembled,) = [a for n, a in pair.nodes["node2"].calls if n == "blockdev_assemble"]
    assert assembled.disk.index == 1 and assembled.disk.params["drbd"]["primary"] is False
    assert result["drbd_reactivated"] == ["disk/1 of instance inst1 on node node2"]


def test_a_standalone_side_is_reconnected(pair: Harness) -> None:  # noqa: F811
    states = with_minors(pair)
    states["node1"][0] = {"cstate": "StandAlone", "disk": "UpToDate", "peer_disk": "DUnknown"}
    result = verify_disks(pair)
    assert result["drbd_degraded"]["inst1"] == [["node1", "disk/0", "degraded (not connected to its peer: StandAlone)"]]
    (relink,) = [a for n, a in pair.nodes["node1"].calls if n == "drbd_relink"]
    assert [d.params["drbd"]["remote_ip"] for d in relink.disks] == ["192.0.2.2"]
    assert any("Reconnected disk/0 of instance inst1 on node node1" in m for m in pair.log)


def test_a_detached_side_is_reattached_and_a_failure_reported(pair: Harness) -> None:  # noqa: F811
    states = with_minors(pair)
    states["node2"][0] = {"cstate": "Connected", "disk": "Diskless", "peer_disk": "UpToDate"}
    pair.nodes["node2"].fail["blockdev_assemble"] = StorageError("Can't open /dev/xenvg/x: no such device")
    result = verify_disks(pair)
    assert result["drbd_degraded"]["inst1"][0][2] == "faulty (its disk is Diskless, Connected)"
    assert result["drbd_activation_failed"] == ["inst1"]
    assert any("replace-disks" in m for m in pair.log)


def test_a_resync_is_progress_not_a_fault(pair: Harness) -> None:  # noqa: F811
    states = with_minors(pair)
    states["node2"][0] = {"cstate": "SyncTarget", "disk": "Inconsistent", "peer_disk": "UpToDate", "sync_percent": 40.5}
    result = verify_disks(pair)
    assert result["drbd_degraded"] == {}
    assert any("disk/0 of instance inst1 on node node2: resyncing (40.5% done)" in m for m in pair.log)


def test_a_stopped_instances_disks_are_not_judged(pair: Harness) -> None:  # noqa: F811
    states = with_minors(pair)
    states["node2"][0] = None
    inst = pair.cfg.instance("inst1")
    inst.admin_state, inst.disks_active = "down", False
    asyncio.run(pair.cfg.commit([inst]))
    result = verify_disks(pair)
    assert result["drbd_degraded"] == {} and "drbd_minor_status" not in pair.nodes["node2"].names()


def test_a_node_that_does_not_answer_is_reported(pair: Harness) -> None:  # noqa: F811
    with_minors(pair)
    pair.nodes["node2"].fail["drbd_minor_status"] = StorageError("The DRBD kernel module is not loaded on this node")
    result = verify_disks(pair)
    assert "not loaded" in result["drbd_node_errors"]["node2"]


def test_cluster_verify_reports_degraded_drbd_disks(pair: Harness) -> None:  # noqa: F811
    states = with_minors(pair)
    states["node2"][1] = {"cstate": "WFConnection", "disk": "UpToDate", "peer_disk": "DUnknown"}
    lu = LUClusterVerify(OpClusterVerify(), pair.ctx, lambda message, kind: pair.log.append(message))
    lu.errors = 0
    asyncio.run(lu._verify_drbd())  # the DRBD step of verify (the others need node_verify's facts)
    assert lu.errors == 1
    expected = "ERROR: instance inst1: disk/1 on node2 is degraded (not connected to its peer: WFConnection)"
    assert any(expected in m for m in pair.log)
    assert "blockdev_assemble" not in pair.nodes["node2"].names()  # verify only reports
