"""Golden tests: instance spec + node facts -> the exact xl config text, and xl's command lines.

Each tests/golden/xen/*.json holds the inputs and the expected output. To accept a deliberate
change, run with GNT_UPDATE_GOLDEN=1 and review the diff.
"""

from __future__ import annotations

import os

import pytest

from backends.xen import xl
from backends.xen.config import XenFacts, build_config, disk_vdev
from gnt.errors import HypervisorError
from gnt.runtime import DiskSpec, InstanceSpec, NicSpec
from gnt.serial import from_dict
from tests.golden_cases import case_paths, check_case

GOLDEN = os.path.join(os.path.dirname(__file__), "..", "..", "golden", "xen")


def _output(case: dict) -> object:
    if case["kind"] == "commands":
        return xl.commands(case["name"], case["config"], case["hvm"], case["target"], case["port"])
    spec = from_dict(InstanceSpec, case["spec"])
    return build_config(spec, XenFacts(**case["facts"])).splitlines()


@pytest.mark.parametrize("path", case_paths(GOLDEN), ids=os.path.basename)
def test_golden_case(path: str) -> None:
    check_case(path, _output)


def _spec(hv: str = "xen-pvm", **params: object) -> InstanceSpec:
    return InstanceSpec("vm1", "u-1", hv, 128, 1, hvparams={"kernel_path": "/boot/k", **params})


def test_xm_is_refused_with_the_way_out() -> None:
    with pytest.raises(HypervisorError, match="xen_cmd 'xm' is not supported.*xen_cmd=xl"):
        build_config(_spec(xen_cmd="xm"), XenFacts())


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"cpu_mask": "0-1:2"}, "2 entries for 1 vCPUs"),
        ({"cpu_mask": "first"}, "cpu_mask 'first'"),
        ({"reboot_behavior": "panic"}, "reboot_behavior must be one of"),
        ({"cpu_cap": "lots"}, "cpu_cap must be a whole number"),
        ({"blockdev_prefix": "x1"}, "blockdev_prefix"),
        ({"kernel_path": ""}, "needs kernel_path"),
    ],
)
def test_pvm_bad_parameters_are_refused(params: dict, message: str) -> None:
    spec = _spec(**params)
    spec.disks = [DiskSpec("d", 0, 1, "plain")]
    with pytest.raises(HypervisorError, match=message):
        build_config(spec, XenFacts(["/dev/vg/lv"]))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"boot_order": "cx"}, "boot_order 'cx'"),
        ({"nic_type": "virtio"}, "nic_type must be one of"),
        ({"vif_type": "tap"}, "vif_type must be ioemu or vif"),
        ({"disk_type": "scsi"}, "disk_type must be paravirtual or ioemu"),
    ],
)
def test_hvm_bad_parameters_are_refused(params: dict, message: str) -> None:
    spec = _spec("xen-hvm", **params)
    spec.disks = [DiskSpec("d", 0, 1, "plain")]
    spec.nics = [NicSpec("n", "aa:00:00:00:00:01", link="br0")]
    with pytest.raises(HypervisorError, match=message):
        build_config(spec, XenFacts(["/dev/vg/lv"]))


def test_routed_nic_without_address_and_openvswitch_are_refused() -> None:
    spec = _spec()
    spec.nics = [NicSpec("n", "aa:00:00:00:00:01", mode="routed")]
    with pytest.raises(HypervisorError, match="routed NIC .* needs an IP"):
        build_config(spec, XenFacts())
    spec.nics = [NicSpec("n", "aa:00:00:00:00:01", mode="openvswitch")]
    with pytest.raises(HypervisorError, match="not supported by the xen hypervisors"):
        build_config(spec, XenFacts())


def test_a_disk_path_with_a_comma_is_refused() -> None:
    spec = _spec()
    spec.disks = [DiskSpec("d", 0, 1, "file")]
    with pytest.raises(HypervisorError, match="comma"):
        build_config(spec, XenFacts(["/srv/a,b"]))


def test_disk_count_and_paths_must_match() -> None:
    spec = _spec()
    spec.disks = [DiskSpec("d", 0, 1, "plain")]
    with pytest.raises(HypervisorError, match="1 disks but 0 paths"):
        build_config(spec, XenFacts([]))


def test_vdev_names_go_past_z_like_linux() -> None:
    assert [disk_vdev("xvd", i) for i in (0, 1, 25, 26, 27, 51, 52)] == [
        "xvda",
        "xvdb",
        "xvdz",
        "xvdaa",
        "xvdab",
        "xvdaz",
        "xvdba",
    ]


def test_strings_are_quoted_so_a_quote_cannot_end_the_value() -> None:
    text = build_config(_spec(kernel_args='ro init="/bin/sh"'), XenFacts())
    assert 'extra = "ro init=\\"/bin/sh\\""' in text.splitlines()
