"""Ganeti's per-index instance fields (`disk.size/0`, `nic.ip/1`, `nic.bridge/0`, ...)."""

from __future__ import annotations

from typing import Any

from gnt import query
from gnt.instance.query import FIELDS, InstanceQueryContext
from gnt.objects import Nic, new_uuid
from tests.unit.lu.conftest import Harness


def _values(harness: Harness, name: str, fields: list[str]) -> list[Any]:
    inst = harness.cfg.instance(name)
    rows = query.evaluate(query.select(FIELDS, fields), [inst], InstanceQueryContext(harness.cfg, {}))
    return rows[0]


def test_each_disk_and_nic_is_reachable_by_its_index(harness: Harness) -> None:
    nics = [
        Nic(uuid=new_uuid(), mac="aa:00:00:00:00:01", ip="192.0.2.5"),
        Nic(uuid=new_uuid(), mac="aa:00:00:00:00:02", nicparams={"mode": "routed", "link": "100"}),
    ]
    harness.add_instance("inst1", "node1", template="file", nics=nics)
    disk = harness.cfg.instance("inst1").disks[0]
    fields = ["disk.size/0", "disk.uuid/0", "nic.mac/0", "nic.ip/0", "nic.mac/1", "nic.mode/1", "nic.link/1"]
    assert _values(harness, "inst1", fields) == [
        [query.RS_NORMAL, 64], [0, disk.uuid], [0, "aa:00:00:00:00:01"], [0, "192.0.2.5"],
        [0, "aa:00:00:00:00:02"], [0, "routed"], [0, "100"],
    ]  # fmt: skip


def test_an_index_past_the_last_disk_or_nic_is_unavailable_not_an_error(harness: Harness) -> None:
    harness.add_instance("inst1", "node1", template="file", nics=[Nic(uuid=new_uuid(), mac="aa:00:00:00:00:01")])
    assert (
        _values(harness, "inst1", ["disk.size/1", "nic.mac/1", "disk.size/15", "nic.ip/7"])
        == [[query.RS_UNAVAIL, None]] * 4
    )


def test_a_bridge_is_the_link_of_a_bridged_nic_only(harness: Harness) -> None:
    nics = [
        Nic(uuid=new_uuid(), mac="aa:00:00:00:00:01"),
        Nic(uuid=new_uuid(), mac="aa:00:00:00:00:02", nicparams={"mode": "routed", "link": "100"}),
    ]
    harness.add_instance("inst1", "node1", nics=nics)
    bridge = harness.cfg.cluster.nicparams.get("default", {}).get("link", "gnt-br0")
    assert _values(harness, "inst1", ["nic.bridge/0", "nic.bridge/1", "nic.bridges"]) == [
        [0, bridge], [0, None], [0, [bridge, None]]
    ]  # fmt: skip


def test_indexes_stop_where_ganetis_limits_do() -> None:
    assert "disk.size/15" in FIELDS and "disk.size/16" not in FIELDS
    assert "nic.network.name/7" in FIELDS and "nic.mac/8" not in FIELDS
    assert FIELDS["disk.size/0"].title == "Disk/0" and FIELDS["nic.ip/2"].doc == "IP address of 3rd network interface"
