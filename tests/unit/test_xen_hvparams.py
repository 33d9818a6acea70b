"""xen-pvm and xen-hvm are known hypervisors whose parameters are checked where they come in."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gnt import constants, disktypes, hvparams
from gnt.cluster import bootstrap
from gnt.errors import OpPrereqError
from gnt.instance.common import check_hvparams


def test_both_flavours_are_registered_with_ganetis_parameter_names() -> None:
    assert {"xen-pvm", "xen-hvm"} <= set(constants.HYPERVISORS) and "xen" not in constants.HYPERVISORS
    pvm, hvm = hvparams.DEFAULTS["xen-pvm"], hvparams.DEFAULTS["xen-hvm"]
    common = {"cpu_mask", "cpu_cap", "cpu_weight", "vif_script", "xen_cmd", "migration_port", "migration_mode"}
    assert common | {
        "kernel_path",
        "initrd_path",
        "root_path",
        "kernel_args",
        "bootloader_path",
        "use_bootloader",
    } <= set(pvm)
    assert common | {"boot_order", "cdrom_image_path", "nic_type", "disk_type", "vnc_bind_address", "acpi"} <= set(hvm)
    assert {"pae", "device_model", "vif_type", "blockdev_prefix", "reboot_behavior"} <= set(hvm)
    assert pvm["xen_cmd"] == hvm["xen_cmd"] == "xl"
    assert disktypes.hypervisor("xen-pvm").live_migration and disktypes.hypervisor("xen-hvm").live_migration


def test_unknown_xen_parameter_and_xm_are_refused() -> None:
    check_hvparams("xen-pvm", {"kernel_path": "/boot/vmlinuz", "cpu_mask": "0-1"})
    with pytest.raises(OpPrereqError, match="Unknown hypervisor parameter.*for xen-pvm: kernel_pth"):
        check_hvparams("xen-pvm", {"kernel_pth": "/boot/vmlinuz"})
    with pytest.raises(OpPrereqError, match="boot_order") as err:
        check_hvparams("xen-pvm", {"boot_order": "cd"})  # an HVM-only parameter
    with pytest.raises(OpPrereqError, match="xen_cmd 'xm' is not supported.*use xen_cmd=xl") as err:
        check_hvparams("xen-hvm", {"xen_cmd": "xm"})
    assert err.value.code == "wrong_input"


def test_cluster_init_refuses_bad_xen_parameters_before_writing_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GNT_ROOTDIR", str(tmp_path / "node1"))
    for bad in ({"xen-pvm": {"xen_cmd": "xm"}}, {"xen-pvm": {"kernelpath": "/x"}}):
        with pytest.raises(OpPrereqError):
            bootstrap.init_cluster("cluster1", {"enabled_hypervisors": ["xen-pvm"], "hvparams": bad})
    written = [os.path.join(d, f) for d, _, files in os.walk(tmp_path) for f in files]
    assert written == []
