"""config.ini of an export: Ganeti's sections written, read back, and malformed files refused clearly."""

from __future__ import annotations

import configparser

import pytest

from gnt.backup import exportcfg
from gnt.errors import OpPrereqError
from gnt.objects import Disk, Instance, Nic, new_uuid


def _instance() -> Instance:
    inst = Instance(
        name="web1",
        os="debootstrap+default",
        hypervisor="kvm",
        disk_template="plain",
        beparams={"maxmem": 512, "minmem": 256, "vcpus": 2, "auto_balance": True},
        hvparams={"kernel_path": "/boot/vmlinuz", "acpi": False},
        osparams={"dhcp": "yes"},
    )
    inst.tags = ["env:prod", "web"]
    inst.disks = [Disk(uuid=new_uuid(), size=1024, dev_type="plain", name="root"), Disk(new_uuid(), 256, "plain")]
    inst.nics = [Nic(uuid=new_uuid(), mac="aa:00:00:12:34:56", ip="192.0.2.10", nicparams={"mode": "bridged",
                                                                                          "link": "br0"})]  # fmt: skip
    return inst


def test_ganeti_sections_and_keys_are_written() -> None:
    text = exportcfg.export_config(_instance(), "node2", "gzip", now=1700000000)
    ini = configparser.ConfigParser(interpolation=None)
    ini.read_string(text)
    assert ini.sections() == ["export", "instance", "hypervisor", "backend", "os", "os_private"]
    assert dict(ini["export"]) == {
        "version": "0",
        "timestamp": "1700000000",
        "source": "node2",
        "os": "debootstrap+default",
        "compression": "gzip",
    }
    ins = ini["instance"]
    assert (ins["maxmem"], ins["minmem"], ins["vcpus"], ins["tags"]) == ("512", "256", "2", "env:prod web")
    assert (ins["disk_count"], ins["disk0_size"]) == ("2", "1024")
    assert (ins["disk0_dump"], ins["disk0_ivname"]) == ("disk0.dump", "disk/0")
    assert (ins["nic_count"], ins["nic0_mac"], ins["nic0_link"]) == ("1", "aa:00:00:12:34:56", "br0")
    assert ini["hypervisor"]["acpi"] == "False"


def test_what_is_written_reads_back() -> None:
    info = exportcfg.read_export(exportcfg.export_config(_instance(), "node2", "none"))
    assert (info.name, info.os, info.disk_template, info.hypervisor) == ("web1", "debootstrap+default", "plain", "kvm")
    assert info.disks == [{"size": 1024, "mode": "rw", "name": "root"}, {"size": 256, "mode": "rw"}]
    assert info.dumps == ["disk0.dump", "disk1.dump"]
    assert info.nics == [{"mac": "aa:00:00:12:34:56", "ip": "192.0.2.10", "mode": "bridged", "link": "br0"}]
    assert info.tags == ["env:prod", "web"] and info.osparams == {"dhcp": "yes"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not an ini file", "Invalid export configuration"),
        ("[export]\nversion = 0\n", r"no \[instance\] section"),
        ("[export]\nversion = 7\n[instance]\n", "unsupported export version '7'"),
        ("[export]\nversion = 0\n[instance]\ndisk_count = x\nnic_count = 0\n", "disk_count is not a number"),
        ("[export]\nversion = 0\n[instance]\ndisk_count = 1\nnic_count = 0\n", "disk 0 has no size"),
    ],
)
def test_malformed_configs_are_one_line_errors(text: str, message: str) -> None:
    with pytest.raises(OpPrereqError, match=message) as err:
        exportcfg.read_export(text)
    assert "\n" not in err.value.message
