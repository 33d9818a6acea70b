"""`gnt-instance modify -o OS [--force-variant]` through LUInstanceSetParams on the in-process transport."""

from __future__ import annotations

import pytest

from gnt.errors import ECODE_INVAL, OpExecError, OpPrereqError
from gnt.instance.lifecycle import LUInstanceSetParams
from gnt.opcodes import OpInstanceSetParams, from_dict
from tests.unit.lu.conftest import Harness


def _validations(harness: Harness) -> list[tuple[str, bool, dict[str, str]]]:
    calls = harness.nodes["node1"].calls
    return [(a.name, a.force_variant, dict(a.osparams)) for name, a in calls if name == "os_validate"]


def test_a_new_os_is_checked_on_the_primary_and_recorded(harness: Harness) -> None:
    harness.add_instance("inst1", "node1", up=True, os="noop")
    result = harness.run(OpInstanceSetParams(instance_name="inst1", os_name="rec+small"), LUInstanceSetParams)
    assert result == [["os_name", "rec+small"]]
    assert harness.cfg.instance("inst1").os == "rec+small"
    assert _validations(harness) == [("rec+small", False, {})]
    assert "instance_os_add" not in harness.nodes["node1"].names()  # no reinstall


def test_force_variant_reaches_the_node(harness: Harness) -> None:
    harness.add_instance("inst1", "node1", up=False, os="noop")
    harness.run(OpInstanceSetParams(instance_name="inst1", os_name="rec+huge", force_variant=True), LUInstanceSetParams)
    assert _validations(harness) == [("rec+huge", True, {})]


def test_an_os_the_primary_lacks_is_refused_and_nothing_changes(harness: Harness) -> None:
    harness.add_instance("inst1", "node1", up=False, os="noop")
    harness.nodes["node1"].fail["os_validate"] = OpExecError("Directory for OS nosuch not found in search path")
    with pytest.raises(OpPrereqError, match="OS 'nosuch' not in supported OS list for node node1") as err:
        harness.run(OpInstanceSetParams(instance_name="inst1", os_name="nosuch"), LUInstanceSetParams)
    assert err.value.code == ECODE_INVAL
    assert harness.cfg.instance("inst1").os == "noop"


def test_a_wrong_variant_comes_back_as_the_node_said(harness: Harness) -> None:
    harness.add_instance("inst1", "node1", up=False, os="noop")
    harness.nodes["node1"].fail["os_validate"] = OpPrereqError("OS name must include a variant", ECODE_INVAL)
    with pytest.raises(OpPrereqError, match="^OS name must include a variant$"):
        harness.run(OpInstanceSetParams(instance_name="inst1", os_name="rec"), LUInstanceSetParams)
    assert harness.cfg.instance("inst1").os == "noop"


def test_force_records_an_os_without_asking_the_node(harness: Harness) -> None:
    harness.add_instance("inst1", "node1", up=False, os="noop")
    harness.nodes["node1"].fail["os_validate"] = OpExecError("Directory for OS nosuch not found in search path")
    harness.run(OpInstanceSetParams(instance_name="inst1", os_name="nosuch", force=True), LUInstanceSetParams)
    assert harness.cfg.instance("inst1").os == "nosuch"


def test_new_os_parameters_are_validated_against_the_new_os(harness: Harness) -> None:
    harness.add_instance("inst1", "node1", up=False, os="noop")
    op = OpInstanceSetParams(instance_name="inst1", os_name="rec+small", osparams={"dhcp": "yes"})
    harness.run(op, LUInstanceSetParams)
    assert [v[0] for v in _validations(harness)] == ["rec+small", "rec+small"]
    assert _validations(harness)[1][2] == {"dhcp": "yes"}
    assert harness.cfg.instance("inst1").osparams == {"dhcp": "yes"}


def test_a_malformed_os_name_is_refused_at_submission() -> None:
    with pytest.raises(OpPrereqError, match="is not a valid OS name") as err:
        from_dict({"OP_ID": "OP_INSTANCE_SET_PARAMS", "instance_name": "inst1", "os_name": "../etc"})
    assert err.value.code == ECODE_INVAL
