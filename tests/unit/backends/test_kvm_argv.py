"""Golden tests: instance spec + node facts -> the exact QEMU argv and NIC plumbing commands.

Each tests/golden/kvm/*.json holds the inputs and the expected output. To accept a deliberate
change, run with GNT_UPDATE_GOLDEN=1 and review the diff.
"""

from __future__ import annotations

import os

import pytest

from backends.kvm import DEFAULT_HVPARAMS, build_argv
from backends.kvm.argv import Facts, RunPaths
from backends.kvm.netplumb import plumb_commands, tap_name, unplumb_commands
from gnt.errors import HypervisorError
from gnt.runtime import DiskSpec, InstanceSpec, NicSpec
from gnt.serial import from_dict
from tests.golden_cases import case_paths, check_case

GOLDEN = os.path.join(os.path.dirname(__file__), "..", "..", "golden", "kvm")


def _facts(data: dict) -> Facts:
    data = dict(data)
    return Facts(paths=RunPaths(data.pop("run_dir")), **data)


def _output(case: dict) -> object:
    spec = from_dict(InstanceSpec, case["spec"])
    if case["kind"] == "argv":
        return build_argv(spec, _facts(case["facts"]))
    return {
        tap: {"plumb": plumb_commands(nic, tap), "unplumb": unplumb_commands(tap)}
        for nic, tap in zip(spec.nics, case["facts"]["taps"], strict=True)
    }


@pytest.mark.parametrize("path", case_paths(GOLDEN), ids=os.path.basename)
def test_golden_case(path: str) -> None:
    check_case(path, _output)


def _spec(**hv: object) -> InstanceSpec:
    return InstanceSpec("vm1", "u-1", "kvm", 128, 1, hvparams=dict(hv))


def test_unknown_boot_order_is_rejected() -> None:
    with pytest.raises(HypervisorError, match="boot_order"):
        build_argv(_spec(boot_order="usb"), Facts(RunPaths("/r")))


def test_kvm_flag_overrides_probe() -> None:
    assert "pc,accel=kvm" in build_argv(_spec(kvm_flag="enabled"), Facts(RunPaths("/r"), accel="tcg"))
    assert "pc,accel=tcg" in build_argv(_spec(kvm_flag="disabled"), Facts(RunPaths("/r"), accel="kvm"))


def test_missing_disk_facts_are_an_error() -> None:
    spec = _spec()
    spec.disks = [DiskSpec("d", 0, 1, "file")]
    with pytest.raises(HypervisorError, match="disk"):
        build_argv(spec, Facts(RunPaths("/r")))


def test_routed_nic_needs_ip() -> None:
    with pytest.raises(HypervisorError, match="IP"):
        plumb_commands(NicSpec("n", "aa:00:00:00:00:01", mode="routed", link="100"), "tap0")


def test_tap_names_fit_and_differ_per_node() -> None:
    a, b = tap_name("/vc/node1/run", "inst.example.com", 3), tap_name("/vc/node2/run", "inst.example.com", 3)
    assert a != b and len(a) <= 15 and len(b) <= 15


def test_defaults_use_ganeti_migration_values() -> None:
    assert DEFAULT_HVPARAMS["migration_bandwidth"] == 32
    assert DEFAULT_HVPARAMS["migration_downtime"] == 30


def test_a_block_device_disk_opens_with_host_device_and_an_image_with_file(tmp_path) -> None:
    """QEMU's `file` driver refuses a block device (an LV, /dev/drbdN): the node's facts say which
    disk is one (through the /dev/VG/LV symlink too) and the argv picks the driver from them."""
    import asyncio
    import json
    import stat

    from backends.kvm import create

    image = tmp_path / "disk1"
    image.write_bytes(b"\0" * 512)
    device = next(f"/dev/{e}" for e in sorted(os.listdir("/dev")) if stat.S_ISBLK(os.stat(f"/dev/{e}").st_mode))
    link = tmp_path / "lv"
    link.symlink_to(device)
    spec = _spec()
    spec.disks = [DiskSpec("d0", 0, 1, "plain", path=str(link)), DiskSpec("d1", 1, 1, "file", path=str(image))]
    kvm = create(run_dir=str(tmp_path / "run"), data_dir=str(tmp_path / "data"), accel="tcg")
    facts = asyncio.run(kvm.facts(spec, incoming=True))
    assert facts.disk_block == [True, False] and facts.incoming and facts.taps == []
    argv = build_argv(spec, facts)
    nodes = [json.loads(argv[i + 1]) for i, arg in enumerate(argv) if arg == "-blockdev"]
    assert [n["file"]["driver"] for n in nodes] == ["host_device", "file"]


@pytest.mark.parametrize(
    ("hv", "message"),
    [
        ({"security_model": "user"}, "A security domain .* must be specified"),
        ({"security_model": "pool", "security_domain": "qemu"}, "Cannot have a security domain"),
        ({"security_domain": "qemu"}, "Cannot have a security domain"),
        ({"security_model": "pool"}, "no uid of the pool was locked"),
        ({"security_model": "chroot"}, "Invalid security model"),
    ],
)
def test_security_model_and_domain_must_fit_together(hv: dict, message: str) -> None:
    with pytest.raises(HypervisorError, match=message):
        build_argv(_spec(**hv), Facts(RunPaths("/r")))


def test_security_model_none_runs_as_the_daemons_user() -> None:
    assert "-runas" not in build_argv(_spec(security_model="none"), Facts(RunPaths("/r"), pool_uid=5))
