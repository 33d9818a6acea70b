"""`gnt-instance modify -t plain|drbd` through LUInstanceSetParams on the in-process transport:
both directions, nothing half-converted on failure (the primary's data LV always kept), Ganeti's
refusals."""

from __future__ import annotations

from typing import Any

import pytest

from gnt.errors import ECODE_INVAL, ECODE_STATE, OpExecError, OpPrereqError, StorageError
from gnt.instance import blockdevs
from gnt.instance.create import LUInstanceCreate
from gnt.instance.drbd import logical
from gnt.instance.lifecycle import LUInstanceSetParams
from gnt.opcodes import OpInstanceSetParams
from tests.unit.lu.conftest import Harness
from tests.unit.lu.test_instance_drbd import create as create_drbd
from tests.unit.lu.test_instance_plain import create as create_plain
from tests.unit.lu.test_instance_plain import with_vg
from tests.unit.lu.test_instance_replace_disks import in_sync, infos


@pytest.fixture
def h(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> Harness:
    harness.cfg.cluster.enabled_disk_templates = ["drbd", "plain"]
    for name in ("node1", "node2"):
        node = harness.nodes[name]
        with_vg(node)
        node.do_drbd_status = in_sync  # type: ignore[attr-defined]
        node.do_blockdev_info = infos  # type: ignore[attr-defined]
    monkeypatch.setattr(blockdevs, "SYNC_POLL", 0)
    return harness


def stopped(h: Harness, template: str) -> Any:
    op = create_plain(start=False) if template == "plain" else create_drbd(start=False)
    h.run(op, LUInstanceCreate)
    for node in h.nodes.values():
        node.calls.clear()
    return h.cfg.instance("inst1")


def convert(template: str, **kw: Any) -> OpInstanceSetParams:
    return OpInstanceSetParams(instance_name="inst1", disk_template=template, **kw)


def calls(h: Harness, node: str, name: str) -> list[Any]:
    return [a for n, a in h.nodes[node].calls if n == name]


def test_plain_to_drbd_keeps_the_data_lv_and_mirrors_it(h: Harness) -> None:
    inst = stopped(h, "plain")
    data_lvs = [list(d.logical_id) for d in inst.disks]
    result = h.run(convert("drbd", remote_node="node2"), LUInstanceSetParams)
    assert ["disk_template", "drbd"] in result
    inst = h.cfg.instance("inst1")
    n1, n2 = h.cfg.node("node1").uuid, h.cfg.node("node2").uuid
    assert inst.disk_template == "drbd" and inst.secondary_nodes == [n2]
    assert [d.dev_type for d in inst.disks] == ["drbd", "drbd"]
    assert [logical(d).primary for d in inst.disks] == [n1, n1]
    assert [d.params["children"][0] for d in inst.disks] == data_lvs  # the primary's data LV is the drbd data
    for name, primary in (("node1", True), ("node2", False)):
        views = [a.disk.params["drbd"] for a in calls(h, name, "blockdev_create")]
        assert [v["data"] for v in views] == data_lvs and [v["primary"] for v in views] == [primary] * 2
    names = h.nodes["node1"].names()
    assert names.index("blockdev_create") < names.index("drbd_status") < names.index("blockdev_shutdown")


def test_the_secondary_is_created_before_the_primary(h: Harness) -> None:
    stopped(h, "plain")
    order: list[str] = []
    for name in ("node1", "node2"):
        real = h.nodes[name].do_blockdev_create

        def create(args: Any, name: str = name, real: Any = real) -> str:
            order.append(name)
            return str(real(args))

        h.nodes[name].do_blockdev_create = create  # type: ignore[method-assign]
    h.run(convert("drbd", remote_node="node2"), LUInstanceSetParams)
    assert order == ["node2", "node2", "node1", "node1"]


def test_a_failed_conversion_to_drbd_leaves_the_plain_instance_as_it_was(h: Harness) -> None:
    inst = stopped(h, "plain")
    before = [(d.dev_type, list(d.logical_id)) for d in inst.disks]
    h.nodes["node1"].fail["blockdev_create"] = StorageError("Failure: (114) Lower device is already claimed")
    h.nodes["node1"].fail_on["blockdev_create"] = 2
    with pytest.raises(OpExecError, match="Can't create disk/1 of instance inst1 on node node1"):
        h.run(convert("drbd", remote_node="node2"), LUInstanceSetParams)
    inst = h.cfg.instance("inst1")
    assert [(d.dev_type, d.logical_id) for d in inst.disks] == before and inst.disk_template == "plain"
    assert inst.secondary_nodes == []
    # node2's new LVs removed; on node1 only the minors went down and the meta LVs were removed
    assert len(calls(h, "node2", "blockdev_remove")) == 2
    removed = [a.disk for a in calls(h, "node1", "blockdev_remove")]
    assert [d.dev_type for d in removed] == ["plain", "plain"]
    assert all(d.logical_id[1].endswith("_meta") for d in removed)
    assert len(calls(h, "node1", "blockdev_shutdown")) == 2


def test_a_mirror_that_never_syncs_is_not_committed(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    stopped(h, "plain")
    monkeypatch.setattr(blockdevs, "SYNC_STALL_POLLS", 2)
    h.nodes["node1"].do_drbd_status = lambda args: [  # type: ignore[attr-defined]
        {"cstate": "StandAlone", "disk": "UpToDate", "in_sync": False, "sync_percent": None} for _ in args.disks
    ]
    with pytest.raises(OpExecError, match=r"do not sync \(disk/0 StandAlone"):
        h.run(convert("drbd", remote_node="node2"), LUInstanceSetParams)
    assert h.cfg.instance("inst1").disk_template == "plain"
    # the ports and minors are free again
    h.nodes["node1"].do_drbd_status = in_sync  # type: ignore[attr-defined]
    h.run(convert("drbd", remote_node="node2"), LUInstanceSetParams)
    assert logical(h.cfg.instance("inst1").disks[0]).port == 11000


def test_drbd_to_plain_keeps_the_primarys_data_lv(h: Harness) -> None:
    inst = stopped(h, "drbd")
    data_lvs = [list(d.params["children"][0]) for d in inst.disks]
    h.run(convert("plain"), LUInstanceSetParams)
    inst = h.cfg.instance("inst1")
    assert inst.disk_template == "plain" and inst.secondary_nodes == []
    assert [(d.dev_type, d.logical_id, d.params) for d in inst.disks] == [("plain", lv, {}) for lv in data_lvs]
    removed = [a.disk for a in calls(h, "node1", "blockdev_remove")]
    assert [d.logical_id[1].endswith("_meta") and d.dev_type == "plain" for d in removed] == [True, True]
    assert [a.disk.dev_type for a in calls(h, "node2", "blockdev_remove")] == ["drbd", "drbd"]
    # shut down on both nodes before the config changed
    assert calls(h, "node1", "blockdev_shutdown") and calls(h, "node2", "blockdev_shutdown")


def test_drbd_to_plain_refused_when_the_primary_cannot_shut_its_side_down(h: Harness) -> None:
    stopped(h, "drbd")
    h.nodes["node1"].fail["blockdev_shutdown"] = StorageError("Device is held open by someone")
    with pytest.raises(OpExecError, match="Cannot convert instance inst1 to plain"):
        h.run(convert("plain"), LUInstanceSetParams)
    assert h.cfg.instance("inst1").disk_template == "drbd"
    assert calls(h, "node1", "blockdev_remove") == [] and calls(h, "node2", "blockdev_remove") == []


@pytest.mark.parametrize(
    ("template", "fields", "message", "code"),
    [
        ("plain", {"disk_template": "plain"}, "Instance already has disk template plain", ECODE_INVAL),
        ("plain", {"disk_template": "drbd", "remote_node": "node1"}, "is the same as the primary node", ECODE_INVAL),
        ("plain", {"disk_template": "file"}, "Unsupported disk template conversion from plain to file", ECODE_INVAL),
        (
            "plain",
            {"disk_template": "drbd", "remote_node": "node2", "disks": [["add", -1, {"size": 64}]]},
            "Disk template conversion and other disk changes not supported at the same time",
            ECODE_INVAL,
        ),
        ("drbd", {"disk_template": "plain", "remote_node": "node2"}, "only given when converting to drbd", ECODE_INVAL),
    ],
)
def test_ganetis_refusals(h: Harness, template: str, fields: dict[str, Any], message: str, code: str) -> None:
    stopped(h, template)
    with pytest.raises(OpPrereqError, match=message) as err:
        h.run(OpInstanceSetParams(instance_name="inst1", **fields), LUInstanceSetParams)
    assert err.value.code == code
    assert not calls(h, "node2", "blockdev_create")


def test_a_running_instance_is_refused(h: Harness) -> None:
    h.run(create_plain(), LUInstanceCreate)
    with pytest.raises(OpPrereqError, match="cannot change disk template") as err:
        h.run(convert("drbd", remote_node="node2"), LUInstanceSetParams)
    assert err.value.code == ECODE_STATE


def test_a_secondary_without_room_is_refused(h: Harness) -> None:
    stopped(h, "plain")
    with_vg(h.nodes["node2"], free=500)
    with pytest.raises(OpPrereqError, match="Not enough disk space on target node node2"):
        h.run(convert("drbd", remote_node="node2"), LUInstanceSetParams)


def test_the_new_secondary_is_locked_with_the_instances_nodes(h: Harness) -> None:
    from gnt.jobs.locking import Level

    stopped(h, "plain")
    lu = LUInstanceSetParams(convert("drbd", remote_node="node2"), h.ctx, lambda m, k: None)
    request = lu.declare_locks(Level.NODE)
    assert request is not None and sorted(request.names) == ["node1", "node2"] and not request.shared
