"""OP_INSTANCE_QUERY_DATA on the in-process transport: Ganeti's info dict, static and live."""

from __future__ import annotations

import pytest

from gnt.errors import ECODE_NOENT, OpExecError, OpPrereqError
from gnt.instance.multi_opcodes import OpInstanceQueryData
from gnt.instance.query_data import LUInstanceQueryData
from gnt.opcodes import from_dict
from tests.unit.lu.conftest import Harness


def test_live_info_reports_run_state_and_ganetis_keys(harness: Harness) -> None:
    harness.add_instance("web1", "node1", template="file", os="noop")
    harness.add_instance("db1", "node2", up=False)
    result = harness.run(OpInstanceQueryData(instances=["web1", "db1"]), LUInstanceQueryData)
    assert set(result) == {"web1", "db1"}
    web = result["web1"]
    assert (web["config_state"], web["run_state"], web["pnode"], web["os"]) == ("up", "up", "node1", "noop")
    assert web["pnode_group_name"] == "default" and web["pnode_group_uuid"] == harness.cfg.node("node1").group
    assert web["disk_template"] == "file" and web["disks"][0]["iv_name"] == "disk/0" and web["disks"][0]["size"] == 64
    assert web["be_actual"]["maxmem"] > 0 and web["be_instance"] == {}
    assert (result["db1"]["config_state"], result["db1"]["run_state"]) == ("down", "down")
    assert [n for n, _ in harness.nodes["node1"].calls].count("instance_info") == 1


def test_static_info_asks_no_node(harness: Harness) -> None:
    harness.add_instance("web1", "node1")
    result = harness.run(OpInstanceQueryData(instances=["web1"], static=True), LUInstanceQueryData)
    assert result["web1"]["run_state"] is None
    assert "instance_info" not in harness.nodes["node1"].names()


def test_no_names_means_every_instance(harness: Harness) -> None:
    for name in ("b1", "a1"):
        harness.add_instance(name, "node1", up=False)
    result = harness.run(OpInstanceQueryData(static=True), LUInstanceQueryData)
    assert list(result) == ["a1", "b1"]


def test_unknown_instance_is_a_prereq_error(harness: Harness) -> None:
    with pytest.raises(OpPrereqError, match="Instance 'nope' not known") as err:
        harness.run(OpInstanceQueryData(instances=["nope"]), LUInstanceQueryData)
    assert err.value.args[1] == ECODE_NOENT


def test_unreachable_primary_fails_the_live_query(harness: Harness) -> None:
    harness.add_instance("web1", "node1")
    harness.nodes["node1"].fail["instance_info"] = OpExecError("hypervisor down")
    with pytest.raises(OpExecError, match="Error checking node node1"):
        harness.run(OpInstanceQueryData(instances=["web1"]), LUInstanceQueryData)


def test_bad_names_refused_by_the_opcode() -> None:
    with pytest.raises((OpPrereqError, ValueError)):
        from_dict({"OP_ID": "OP_INSTANCE_QUERY_DATA", "instances": ["bad name!"]})


def test_use_locking_takes_shared_instance_locks_only(harness: Harness) -> None:
    from gnt.jobs.locking import ALL, Level

    lu = LUInstanceQueryData(OpInstanceQueryData(instances=["b", "a"], use_locking=True), harness.ctx, print)
    request = lu.declare_locks(Level.INSTANCE)
    assert request is not None and request.names == ["a", "b"] and request.shared
    everything = LUInstanceQueryData(OpInstanceQueryData(use_locking=True), harness.ctx, print)
    assert everything.declare_locks(Level.INSTANCE).names == ALL  # type: ignore[union-attr]
    assert LUInstanceQueryData(OpInstanceQueryData(), harness.ctx, print).declare_locks(Level.INSTANCE) is None
    assert lu.declare_locks(Level.NODE) is None
