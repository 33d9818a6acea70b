"""The master's OS checks: blacklisted OSes, per-OS cluster parameters, and how node refusals read."""

from __future__ import annotations

import pytest

from gnt.errors import ECODE_STATE, OpExecError, OpPrereqError
from gnt.instance.common import build_spec
from gnt.instance.create import LUInstanceCreate
from gnt.instance.lifecycle import LUInstanceSetParams
from gnt.opcodes import OpInstanceCreate, OpInstanceSetParams
from tests.unit.lu.conftest import Harness


def create(os_type: str = "noop", **kw: object) -> OpInstanceCreate:
    fields: dict[str, object] = {
        "instance_name": "inst1",
        "disk_template": "file",
        "disks": [{"size": 64}],
        "os_type": os_type,
        "pnode": "node1",
        "beparams": {"memory": 128},
    }
    fields.update(kw)
    return OpInstanceCreate(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("no_install", [False, True])
def test_create_refuses_a_blacklisted_os_before_touching_a_node(harness: Harness, no_install: bool) -> None:
    harness.cfg.cluster.blacklisted_os = ["debootstrap"]
    message = "^Guest OS 'debootstrap\\+default' is not allowed for installation$"
    with pytest.raises(OpPrereqError, match=message) as err:
        harness.run(create("debootstrap+default", no_install=no_install), LUInstanceCreate)
    assert err.value.code == ECODE_STATE
    assert "blockdev_create" not in harness.nodes["node1"].names()
    assert harness.cfg.find_instance("inst1") is None


def test_a_hidden_os_is_still_installable(harness: Harness) -> None:
    harness.cfg.cluster.hidden_os = ["noop"]
    harness.run(create(), LUInstanceCreate)
    assert harness.cfg.find_instance("inst1") is not None


def test_create_sends_the_filled_os_parameters_and_force_variant_to_the_node(harness: Harness) -> None:
    cluster = harness.cfg.cluster
    cluster.osparams = {"deb": {"dhcp": "no", "suite": "any"}, "deb+small": {"suite": "bookworm"}}
    harness.run(create("deb+small", osparams={"dhcp": "yes"}, force_variant=True), LUInstanceCreate)
    (args,) = [a for name, a in harness.nodes["node1"].calls if name == "os_validate"]
    assert (args.name, args.osparams, args.force_variant) == (
        "deb+small",
        {"dhcp": "yes", "suite": "bookworm"},
        True,
    )
    # the OS scripts get the same parameters; the config keeps only the instance's own
    inst = harness.cfg.instance("inst1")
    assert inst.osparams == {"dhcp": "yes"}
    assert build_spec(harness.cfg, inst).osparams == {"dhcp": "yes", "suite": "bookworm"}
    (add,) = [a for name, a in harness.nodes["node1"].calls if name == "instance_os_add"]
    assert add.instance.osparams == {"dhcp": "yes", "suite": "bookworm"}


def test_per_os_hypervisor_parameters_sit_between_the_cluster_and_the_instance(harness: Harness) -> None:
    cluster = harness.cfg.cluster
    cluster.hvparams = {"fake": {"a": 1, "b": 1, "c": 1}}
    cluster.os_hvp = {"deb": {"fake": {"b": 2, "c": 2}}, "other": {"fake": {"a": 9}}}
    inst = harness.add_instance("inst9", "node1", os="deb+small", hvparams={"c": 3})
    hv = build_spec(harness.cfg, inst).hvparams
    assert (hv["a"], hv["b"], hv["c"]) == (1, 2, 3)


def test_a_wrong_variant_reads_as_the_node_said_it_other_refusals_name_the_node(harness: Harness) -> None:
    node = harness.nodes["node1"]
    node.fail["os_validate"] = OpPrereqError("OS name must include a variant")
    with pytest.raises(OpPrereqError, match="^OS name must include a variant$"):
        harness.run(create("deb"), LUInstanceCreate)
    node.fail["os_validate"] = OpExecError("The following parameters are not supported by the OS noop: x")
    with pytest.raises(OpExecError, match="^OS Parameters validation failed on node node1: The following parameters"):
        harness.run(create(osparams={"x": "1"}), LUInstanceCreate)
    assert harness.cfg.find_instance("inst1") is None and node.disks == {}


def test_modify_os_parameters_are_checked_by_the_os_and_refusal_changes_nothing(harness: Harness) -> None:
    harness.add_instance("inst2", "node1", os="noop", osparams={"a": "1"})
    node = harness.nodes["node1"]
    node.fail["os_validate"] = OpExecError("OS validation script failed (exited with exit code 1)")
    op = OpInstanceSetParams(instance_name="inst2", osparams={"b": "2"})
    with pytest.raises(OpExecError, match="OS Parameters validation failed on node node1"):
        harness.run(op, LUInstanceSetParams)
    assert harness.cfg.instance("inst2").osparams == {"a": "1"}
    (args,) = [a for name, a in node.calls if name == "os_validate"]
    assert args.osparams == {"a": "1", "b": "2"}
    del node.fail["os_validate"]
    harness.run(op, LUInstanceSetParams)
    assert harness.cfg.instance("inst2").osparams == {"a": "1", "b": "2"}


def _os_entry(name: str, variants: list[str] | None = None) -> dict[str, object]:
    return {"name": name, "path": f"/srv/gnt/os/{name}", "valid": True, "message": "", "variants": variants or [],
            "parameters": [["dhcp", "DHCP"]], "api_versions": [20]}  # fmt: skip


def test_os_diagnose_returns_ganetis_fields_and_filters(harness: Harness) -> None:
    from gnt.os.logic import LUOsDiagnose
    from gnt.os.opcodes import OpOsDiagnose

    for name in ("node1", "node2"):
        harness.nodes[name].do_os_diagnose = lambda args: [_os_entry("deb", ["default"]), _os_entry("noop")]  # type: ignore[attr-defined]
    harness.cfg.cluster.blacklisted_os = ["noop"]
    assert harness.run(OpOsDiagnose(output_fields=["name", "variants"]), LUOsDiagnose) == [["deb", ["default"]]]
    rows = harness.run(OpOsDiagnose(output_fields=["name", "blacklisted"], names=["noop"]), LUOsDiagnose)
    assert rows == [["noop", True]]


def test_os_diagnose_refuses_unknown_fields_at_submission() -> None:
    from gnt.opcodes import from_dict

    with pytest.raises(OpPrereqError, match="Unknown output fields selected: bogus"):
        from_dict({"OP_ID": "OP_OS_DIAGNOSE", "output_fields": ["name", "bogus"]})


def test_cluster_set_params_changes_per_os_settings(harness: Harness) -> None:
    from gnt.cluster.logic import LUClusterSetParams
    from gnt.opcodes import OpClusterSetParams

    cluster = harness.cfg.cluster
    cluster.osparams = {"deb": {"dhcp": "no", "old": "1"}}
    cluster.hidden_os = ["noop"]
    op = OpClusterSetParams(
        osparams={"deb": {"dhcp": "yes", "old": "default"}},
        os_hvp={"deb": {"fake": {"migration_mode": "live"}}},
        hidden_os=[["remove", "noop"], ["remove", "absent"]],
        blacklisted_os=[["add", "deb"]],
    )
    harness.run(op, LUClusterSetParams)
    cluster = harness.cfg.cluster
    assert cluster.osparams == {"deb": {"dhcp": "yes"}}
    assert cluster.os_hvp == {"deb": {"fake": {"migration_mode": "live"}}}
    assert (cluster.hidden_os, cluster.blacklisted_os) == ([], ["deb"])
    assert "OS absent not found in hidden, ignoring" in harness.log
    # the new parameters were put to the OS on each node, which may lack it (required=False)
    calls = [a for n in ("node1", "node2") for name, a in harness.nodes[n].calls if name == "os_validate"]
    assert [(a.name, a.osparams, a.required) for a in calls] == [("deb", {"dhcp": "yes"}, False)] * 2


def test_cluster_set_params_refuses_what_the_os_refuses_and_changes_nothing(harness: Harness) -> None:
    from gnt.cluster.logic import LUClusterSetParams
    from gnt.opcodes import OpClusterSetParams

    harness.nodes["node2"].fail["os_validate"] = OpExecError(
        "The following parameters are not supported by the OS deb: x"
    )
    with pytest.raises(OpExecError, match="OS Parameters validation failed on node node2: The following parameters"):
        harness.run(OpClusterSetParams(osparams={"deb": {"x": "1"}}), LUClusterSetParams)
    assert harness.cfg.cluster.osparams == {}
    with pytest.raises(OpPrereqError, match="Unknown hypervisor parameter"):
        harness.run(OpClusterSetParams(os_hvp={"deb": {"fake": {"bogus": 1}}}), LUClusterSetParams)


def test_malformed_per_os_changes_never_become_a_job() -> None:
    from gnt.opcodes import from_dict

    for bad in (
        {"hidden_os": [["toggle", "noop"]]},
        {"blacklisted_os": [["add", "../x"]]},
        {"osparams": {"deb": {"a": {"nested": 1}}}},
        {"os_hvp": {"deb": {"kvm": "x"}}},
    ):
        with pytest.raises(OpPrereqError):
            from_dict({"OP_ID": "OP_CLUSTER_SET_PARAMS", **bad})
