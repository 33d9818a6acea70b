"""Opcode validation (shared by the CLI and RAPI), summaries and the JSON round trip."""

from __future__ import annotations

import re
from typing import Any

import pytest

from gnt import opcodes
from gnt.errors import ECODE_INVAL, OpPrereqError
from gnt.opcodes import OpInstanceCreate, OpNodeAdd, OpTestDelay


def _rejects(data: dict[str, Any], match: str) -> OpPrereqError:
    with pytest.raises(OpPrereqError, match=match) as info:
        opcodes.from_dict(data)
    assert info.value.code == ECODE_INVAL
    return info.value


def test_from_dict_builds_the_declared_class() -> None:
    op = opcodes.from_dict({"OP_ID": "OP_TEST_DELAY", "duration": 0.5, "on_nodes": ["n1"]})
    assert isinstance(op, OpTestDelay)
    assert op.duration == 0.5
    assert op.on_nodes == ["n1"]
    assert op.on_master is True


def test_from_dict_rejects_non_dict() -> None:
    _rejects(["OP_TEST_DELAY"], "must be a JSON object")  # type: ignore[arg-type]


def test_from_dict_rejects_unknown_op_id() -> None:
    _rejects({"OP_ID": "OP_NO_SUCH_THING"}, "Unknown opcode 'OP_NO_SUCH_THING'")


def test_from_dict_rejects_missing_op_id() -> None:
    _rejects({"duration": 1}, "Unknown opcode 'None'")
    _rejects({"OP_ID": ["OP_TEST_DELAY"]}, re.escape("Unknown opcode '['OP_TEST_DELAY']'"))  # was a TypeError (500)
    _rejects({"OP_ID": {"a": 1}}, re.escape("Unknown opcode '{'a': 1}'"))


def test_from_dict_rejects_unknown_field() -> None:
    _rejects({"OP_ID": "OP_TEST_DELAY", "duration": 1, "speed": 3}, "Parameter 'speed' is not valid for OP_TEST_DELAY")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("duration", "1"),  # str for float
        ("duration", True),  # bool for float
        ("repeat", True),  # bool for int
        ("repeat", 1.5),  # float for int
        ("on_master", 1),  # int for bool
        ("on_nodes", "node1"),  # str for list
        ("comment", 5),  # int for str | None
        ("depends", {"1": []}),  # dict for list | None
    ],
)
def test_from_dict_rejects_wrong_types(field: str, value: Any) -> None:
    data = {"OP_ID": "OP_TEST_DELAY", "duration": 1.0, field: value}
    _rejects(data, rf"Parameter 'OP_TEST_DELAY\.{field}' fails validation")


def test_from_dict_accepts_int_for_float_field() -> None:
    op = opcodes.from_dict({"OP_ID": "OP_TEST_DELAY", "duration": 2})
    assert op.duration == 2


def test_from_dict_accepts_none_for_optional_field() -> None:
    op = opcodes.from_dict({"OP_ID": "OP_NODE_ADD", "node_name": "n1", "group": None})
    assert isinstance(op, OpNodeAdd)
    assert op.group is None


def test_from_dict_rejects_missing_required_field() -> None:
    _rejects({"OP_ID": "OP_TEST_DELAY"}, r"Required parameter 'OP_TEST_DELAY\.duration' missing")


def test_from_dict_names_the_first_missing_field_of_instance_create() -> None:
    _rejects({"OP_ID": "OP_INSTANCE_CREATE"}, r"Required parameter 'OP_INSTANCE_CREATE\.instance_name' missing")


@pytest.mark.parametrize("priority", [-21, 20, 100])
def test_from_dict_rejects_priority_out_of_range(priority: int) -> None:
    _rejects({"OP_ID": "OP_TEST_DELAY", "duration": 0, "priority": priority}, rf"Priority {priority} out of range")


@pytest.mark.parametrize("priority", [-20, 0, 19])
def test_from_dict_accepts_priority_bounds(priority: int) -> None:
    assert opcodes.from_dict({"OP_ID": "OP_TEST_DELAY", "duration": 0, "priority": priority}).priority == priority


@pytest.mark.parametrize(
    ("op", "summary"),
    [
        # Ganeti's job summaries show doubles as Haskell's `show` does: fixed for 0.1 <= x < 10^7
        (OpTestDelay(duration=0.001), "TEST_DELAY(1.0e-3)"),
        (OpTestDelay(duration=0.00125), "TEST_DELAY(1.25e-3)"),
        (OpTestDelay(duration=0.05), "TEST_DELAY(5.0e-2)"),
        (OpTestDelay(duration=0.1), "TEST_DELAY(0.1)"),
        (OpTestDelay(duration=1.0), "TEST_DELAY(1.0)"),
        (OpTestDelay(duration=2.5), "TEST_DELAY(2.5)"),
        (OpTestDelay(duration=10.0), "TEST_DELAY(10.0)"),
        (OpTestDelay(duration=1234567.5), "TEST_DELAY(1234567.5)"),
        (OpTestDelay(duration=1.0e7), "TEST_DELAY(1.0e7)"),
        (OpTestDelay(duration=0.0), "TEST_DELAY(0.0)"),
        (OpTestDelay(duration=2), "TEST_DELAY(2.0)"),  # an int from JSON in a float field
        (
            OpInstanceCreate(instance_name="inst1.example.com", disk_template="plain"),
            "INSTANCE_CREATE(inst1.example.com)",
        ),
        (opcodes.OpClusterVerify(), "CLUSTER_VERIFY"),
    ],
)
def test_summary_formats_like_ganeti(op: opcodes.OpCode, summary: str) -> None:
    assert op.summary() == summary


#: required fields whose values are a choice the generic ones above do not satisfy
_REQUIRED_CHOICES: dict[str, dict[str, object]] = {
    "OP_OOB_COMMAND": {"command": "health"},
    "OP_TEST_ALLOCATOR": {"direction": "in", "mode": "allocate", "name": "x"},
    "OP_RESTRICTED_COMMAND": {"command": "uptime"},
}


@pytest.mark.parametrize("cls", list(opcodes.OPCODES.values()), ids=lambda c: c.OP_ID)
def test_to_dict_round_trips_through_from_dict(cls: type[opcodes.OpCode]) -> None:
    required = {
        name: ("x" if name.endswith(("name", "node")) or name == "disk_template" else 1.0)
        for name in (
            "duration",
            "node_name",
            "instance_name",
            "new_name",
            "disk_template",
            "group_name",
            "network_name",
            "name",
            "target_node",
        )
        if name in {f for f in opcodes.field_docs(cls)}
    }
    tag_fields = {"kind": "cluster", "tags": ["t"], "pattern": "^t", "mode": "replace_auto", "nodes": ["n"]}
    required.update({k: v for k, v in tag_fields.items() if k in opcodes.field_docs(cls)})
    required.update({name: 1 for name in ("disk", "amount") if name in opcodes.field_docs(cls)})
    network_fields = {"network": "10.0.0.0/24", "network_mode": "bridged", "network_link": "br0"}
    required.update({k: v for k, v in network_fields.items() if k in opcodes.field_docs(cls)})
    required.update({"output_fields": ["name"]} if "output_fields" in opcodes.field_docs(cls) else {})
    required.update(_REQUIRED_CHOICES.get(cls.OP_ID, {}))
    op = cls(**required, comment="why", reason=[["cli", "test", 1]])  # type: ignore[arg-type]
    data = op.to_dict()
    assert data["OP_ID"] == cls.OP_ID
    back = opcodes.from_dict(data)
    assert back == op


def test_mutable_defaults_are_not_shared_between_instances() -> None:
    a, b = OpTestDelay(duration=1), OpTestDelay(duration=1)
    a.on_nodes.append("n1")
    assert b.on_nodes == []


def test_field_docs_cover_every_field() -> None:
    docs = opcodes.field_docs(OpTestDelay)
    assert docs["duration"] == "Seconds to sleep"
    assert all(docs.values())


# --- value ranges declared with the fields (issue 7) ----------------------------------------------

_CREATE = {"OP_ID": "OP_INSTANCE_CREATE", "instance_name": "inst1", "disk_template": "file"}


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        ({"beparams": {"vcpus": 99999999999999999999}}, "does not fit a 64-bit integer"),
        ({"beparams": {"vcpus": 4097}}, "vcpus: 4097 is out of range"),
        ({"beparams": {"maxmem": "99999999999T"}}, "too large"),
        ({"disks": [{"size": 2**45}]}, "too large"),
        ({"disks": [{"size": 1024, "colour": "red"}]}, "unknown parameter 'colour'"),
        ({"disks": [{"size": 1024}] * 17}, "at most 16"),
        ({"nics": [{"mac": "zz:zz"}]}, "is not a MAC address"),
        ({"nics": [{"ip": "300.1.1.1"}]}, "is not an IP address"),
        ({"pnode": "../../etc"}, "is not a valid host name"),
        ({"instance_name": "a b"}, "is not a valid host name"),
        ({"instance_name": "inst1\n"}, "is not a valid host name"),
        ({"pnode": "node1\n"}, "is not a valid host name"),
        ({"nics": [{"mac": "aa:00:00:12:34:56\n"}]}, "is not a MAC address"),
        ({"nics": [{"link": "br\n0"}]}, "holds whitespace or control characters"),
        ({"nics": [{"link": "../../etc"}]}, "Invalid NIC link"),
        ({"nics": [{"link": "-o"}]}, "Invalid NIC link"),
        ({"nics": [{"name": "eth 0"}]}, "holds whitespace or control characters"),
        ({"pnode": "node1", "snode": "node1"}, "must differ"),
        ({"file_storage_dir": "/etc"}, "must be relative to the cluster's file storage directory"),
        ({"file_storage_dir": "../x"}, "must not contain '..'"),
        ({"file_storage_dir": "a/../../x"}, "must not contain '..'"),
        ({"file_storage_dir": ""}, "must be a non-empty relative path"),
        ({"file_storage_dir": "a//b"}, "is not a normalised relative path"),
        ({"file_storage_dir": "./a"}, "is not a normalised relative path"),
        ({"file_storage_dir": "a/b\n"}, "is not a normalised relative path"),
        ({"forthcoming": True, "commit": True}, "mutually exclusive"),
        ({"tags": [5]}, "expected list"),
        ({"tags": ["a$(touch /tmp/x)"]}, "is not a valid tag"),
        ({"tags": ["ok", "x" * 129]}, "is not a valid tag"),
        ({"tags": [""]}, "is not a valid tag"),
        ({"tags": ["t"] * 4097}, "at most 4096 tags"),
        ({"osparams": {"a=b": "1"}}, "is not a valid OS parameter name"),
        ({"osparams": {"x\0": "1"}}, "is not a valid OS parameter name"),
        ({"osparams": {"k": "v\0"}}, "is not a valid value"),
    ],
)
def test_create_fields_carry_ranges(extra: dict[str, Any], match: str) -> None:
    _rejects({**_CREATE, **extra}, match)


@pytest.mark.parametrize("mac", ["auto", "generate", "aa:00:00:12:34:56", "AA:00:00:12:34:5F"])
def test_create_accepts_well_formed_macs(mac: str) -> None:
    assert opcodes.from_dict({**_CREATE, "nics": [{"mac": mac}]}).nics == [{"mac": mac}]


@pytest.mark.parametrize("duration", [float("inf"), float("nan"), 1e308])
def test_delay_duration_is_finite_and_bounded(duration: float) -> None:
    _rejects({"OP_ID": "OP_TEST_DELAY", "duration": duration}, "duration' fails validation")


def test_node_add_name_and_ips_are_checked() -> None:
    _rejects({"OP_ID": "OP_NODE_ADD", "node_name": "../../etc"}, "is not a valid host name")
    _rejects({"OP_ID": "OP_NODE_ADD", "node_name": "node9", "primary_ip": "x"}, "is not an IP address")
    op = opcodes.from_dict({"OP_ID": "OP_NODE_ADD", "node_name": "node9.example.com"})
    assert op.node_name == "node9.example.com"


def test_cluster_counts_and_mac_prefix_are_checked() -> None:
    _rejects({"OP_ID": "OP_CLUSTER_SET_PARAMS", "max_running_jobs": 0}, "out of range")
    _rejects({"OP_ID": "OP_CLUSTER_SET_PARAMS", "mac_prefix": "aa:00"}, "not a MAC prefix")


@pytest.mark.parametrize(
    ("nicparams", "match"),
    [
        ({"mode": "bogus"}, "Invalid NIC mode 'bogus'"),
        ({"colour": "red"}, "Unknown NIC parameter"),
        ({"link": "../x"}, "Invalid NIC link"),
        ({"vlan": ":99999"}, "Invalid VLAN"),
        ("mode=routed", "expected dict"),
    ],
)
def test_cluster_default_nic_parameters_are_checked_like_a_nics(nicparams: Any, match: str) -> None:
    """Every NIC without its own value takes these: a bad one would reach every instance's next start."""
    _rejects({"OP_ID": "OP_CLUSTER_SET_PARAMS", "nicparams": nicparams}, match)


def test_cluster_default_nic_parameters_accept_what_ganeti_does() -> None:
    params = {"mode": "routed", "link": "", "vlan": ".100"}
    assert opcodes.from_dict({"OP_ID": "OP_CLUSTER_SET_PARAMS", "nicparams": params}).nicparams == params
