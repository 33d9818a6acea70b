"""Parameters that used to be stored or used unchecked: node parameters, hypervisor paths, startup -H."""

from __future__ import annotations

from typing import Any

import pytest

from gnt import opcodes
from gnt.cluster.logic import LUClusterSetParams
from gnt.errors import OpPrereqError
from gnt.instance.lifecycle import LUInstanceStartup
from gnt.opcodes import OpClusterSetParams, OpInstanceStartup
from tests.unit.lu.conftest import Harness


@pytest.mark.parametrize(
    ("op_id", "name_field"),
    [("OP_NODE_SET_PARAMS", "node_name"), ("OP_GROUP_SET_PARAMS", "group_name"), ("OP_CLUSTER_SET_PARAMS", None)],
)
@pytest.mark.parametrize(
    ("ndparams", "match"),
    [
        ({"bogus": 1}, "Unknown node parameter 'bogus'"),
        ({"ssh_port": 99999}, "ssh_port must be a port from 1 to 65535"),
        ({"ssh_port": "22"}, "ssh_port must be an integer"),
        ({"spindle_count": 0}, "spindle_count must be at least 1"),
        ({"exclusive_storage": 1}, "exclusive_storage must be a boolean"),
        ({"ovs_name": "../sw"}, "Invalid NIC link"),
        ({"oob_program": "relative"}, "normalised absolute path"),
    ],
)
def test_node_parameters_are_refused_at_submission(
    op_id: str, name_field: str | None, ndparams: dict[str, Any], match: str
) -> None:
    data: dict[str, Any] = {"OP_ID": op_id, "ndparams": ndparams}
    if name_field:
        data[name_field] = "node2" if name_field == "node_name" else "default"
    with pytest.raises(OpPrereqError, match=match):
        opcodes.from_dict(data)


def test_node_parameters_ganeti_accepts_pass_and_null_resets_a_groups() -> None:
    good = {"ssh_port": 2222, "spindle_count": 3, "exclusive_storage": False, "cpu_speed": 1.5, "oob_program": ""}
    assert opcodes.from_dict({"OP_ID": "OP_NODE_SET_PARAMS", "node_name": "node2", "ndparams": good}).ndparams == good
    reset = {"OP_ID": "OP_GROUP_SET_PARAMS", "group_name": "default", "ndparams": {"ssh_port": None}}
    assert opcodes.from_dict(reset).ndparams == {"ssh_port": None}


@pytest.mark.parametrize("value", ["relative/vmlinuz", "/boot/vm linuz", "vmlinuz"])
def test_a_hypervisor_path_must_be_absolute(harness: Harness, value: str) -> None:
    with pytest.raises(OpPrereqError, match="kernel_path must be an absolute path"):
        harness.run(OpClusterSetParams(hvparams={"kvm": {"kernel_path": value}}), LUClusterSetParams)
    assert harness.cfg.cluster.hvparams.get("kvm", {}).get("kernel_path") != value


def test_an_empty_hypervisor_path_means_none(harness: Harness) -> None:
    harness.run(OpClusterSetParams(hvparams={"kvm": {"initrd_path": ""}}), LUClusterSetParams)
    assert harness.cfg.cluster.hvparams["kvm"]["initrd_path"] == ""


def test_startup_refuses_an_unknown_temporary_hypervisor_parameter(harness: Harness) -> None:
    harness.add_instance("inst1", "node1", up=False)
    with pytest.raises(OpPrereqError, match="Unknown hypervisor parameter"):
        harness.run(OpInstanceStartup(instance_name="inst1", hvparams={"bogus": 1}), LUInstanceStartup)
    assert harness.cfg.instance("inst1").admin_state == "down" and "inst1" not in harness.nodes["node1"].running


@pytest.mark.parametrize("field", ["file_storage_dir", "shared_file_storage_dir"])
def test_a_file_storage_directory_the_nodes_refuse_is_not_stored(harness: Harness, field: str) -> None:
    """Stored, it would fail every file disk, and each failed create would leave a clean-up pending for ever."""
    before = getattr(harness.cfg.cluster, field)
    with pytest.raises(OpPrereqError, match="directory /etc cannot be used: .* outside this node's allowed"):
        harness.run(OpClusterSetParams(**{field: "/etc"}), LUClusterSetParams)
    assert getattr(harness.cfg.cluster, field) == before


def test_a_relative_file_storage_directory_is_refused(harness: Harness) -> None:
    with pytest.raises(OpPrereqError, match="must be a normalised absolute path, not 'srv/x'"):
        harness.run(OpClusterSetParams(file_storage_dir="srv/x"), LUClusterSetParams)


def test_a_file_storage_directory_inside_the_allowed_ones_is_stored(harness: Harness) -> None:
    from tests.unit.lu.conftest import FILE_DIR

    harness.run(OpClusterSetParams(file_storage_dir=f"{FILE_DIR}/sub"), LUClusterSetParams)
    assert harness.cfg.cluster.file_storage_dir == f"{FILE_DIR}/sub"
