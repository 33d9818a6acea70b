"""Hotplug and ballooning on the node: the fake hypervisor records devices and memory as QEMU
holds them (and refuses what QEMU would), and the kvm driver's QMP messages (pure, exact)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from backends.fake import FakeHypervisor
from backends.kvm import hotplug as kvm_hotplug
from gnt.errors import HypervisorError
from gnt.runtime import DiskSpec, InstanceSpec, NicSpec
from tests.unit.backends.fake_helpers import TICK, async_test, kill_guests, spec

NIC = NicSpec(uuid="1c0ffee0-aaaa-bbbb-cccc-000000000001", mac="aa:00:00:00:00:42", mode="bridged", link="br0")


@pytest.fixture
def hv(tmp_path: Any) -> Iterator[FakeHypervisor]:
    driver = FakeHypervisor(run_dir=str(tmp_path / "run"), memory_mb=1024, dom0_mb=128, cpus=2, tick=TICK)
    yield driver
    kill_guests(driver.run_dir())


@async_test
async def test_fake_hotplug_records_the_nic_and_unplug_forgets_it(hv: FakeHypervisor) -> None:
    await hv.start(spec())
    await hv.hotplug_nic(spec(), NIC)
    assert (await hv.instance_info("inst1")).extra["nics"] == [NIC.mac]  # type: ignore[union-attr]
    with pytest.raises(HypervisorError, match="already has nic"):
        await hv.hotplug_nic(spec(), NIC)
    await hv.unplug_nic(spec(), NIC)
    assert (await hv.instance_info("inst1")).extra["nics"] == []  # type: ignore[union-attr]
    with pytest.raises(HypervisorError, match="has no nic"):
        await hv.unplug_nic(spec(), NIC)


@async_test
async def test_fake_hotplug_needs_a_running_guest_and_an_existing_disk(hv: FakeHypervisor, tmp_path: Any) -> None:
    disk = DiskSpec(uuid="d1", index=1, size=8, dev_type="file")
    with pytest.raises(HypervisorError, match="not running"):
        await hv.hotplug_nic(spec(), NIC)
    await hv.start(spec())
    with pytest.raises(HypervisorError, match="does not exist"):
        await hv.hotplug_disk(spec(), disk, str(tmp_path / "missing"))
    image = tmp_path / "disk1"
    image.write_bytes(b"\0" * 512)
    await hv.hotplug_disk(spec(), disk, str(image))
    assert (await hv.instance_info("inst1")).extra["disks"] == ["d1"]  # type: ignore[union-attr]


@async_test
async def test_fake_balloon_changes_the_memory_the_guest_holds(hv: FakeHypervisor) -> None:
    await hv.start(spec(memory=256))
    await hv.balloon_memory(spec(memory=256), 128)
    assert (await hv.instance_info("inst1")).memory == 128  # type: ignore[union-attr]
    assert (await hv.node_info())["memory_free"] == 1024 - 128 - 128
    with pytest.raises(HypervisorError, match="Not enough memory to balloon inst1 to 2048 MiB"):
        await hv.balloon_memory(spec(memory=256), 2048)
    assert (await hv.instance_info("inst1")).memory == 128  # type: ignore[union-attr]


def _kvm_spec(**hv: Any) -> InstanceSpec:
    return InstanceSpec(name="inst1", uuid="u1", hypervisor="kvm", memory=128, vcpus=1, hvparams=hv)


def test_kvm_nic_hotplug_messages() -> None:
    steps = kvm_hotplug.nic_add_commands(_kvm_spec(kernel_path="/boot/vmlinuz"), NIC, "gnt123")
    assert steps == [
        ("netdev_add", {"type": "tap", "id": "hnic1c0ffee0", "ifname": "gnt123", "script": "no", "downscript": "no"}),
        (
            "device_add",
            {
                "driver": "virtio-net-pci",
                "id": "hnic1c0ffee0-dev",
                "netdev": "hnic1c0ffee0",
                "mac": NIC.mac,
                "romfile": "",
            },
        ),
    ]


def test_a_block_device_disk_is_hotplugged_through_host_device() -> None:
    """An LV or DRBD device opens with QEMU's host_device, as at boot (the file driver refuses it)."""
    disk = DiskSpec(uuid="d2e3f4a5-0000", index=1, size=8, dev_type="drbd", mode="rw")
    (blockdev_add, _) = kvm_hotplug.disk_add_commands(_kvm_spec(), disk, "/dev/drbd3", "raw", is_block=True)
    assert blockdev_add[1]["file"]["driver"] == "host_device"


def test_kvm_disk_hotplug_messages() -> None:
    disk = DiskSpec(uuid="d2e3f4a5-0000", index=1, size=8, dev_type="file", mode="ro")
    steps = kvm_hotplug.disk_add_commands(_kvm_spec(disk_cache="none"), disk, "/srv/d1", "raw")
    cache = {"direct": True, "no-flush": False}
    assert steps == [
        (
            "blockdev-add",
            {
                "driver": "raw",
                "node-name": "hdiskd2e3f4a5",
                "read-only": True,
                "cache": cache,
                "file": {"driver": "file", "filename": "/srv/d1", "read-only": True, "cache": cache},
            },
        ),
        (
            "device_add",
            {"driver": "virtio-blk-pci", "id": "hdiskd2e3f4a5-dev", "drive": "hdiskd2e3f4a5", "write-cache": "on"},
        ),
    ]


def test_kvm_refuses_to_hotplug_ide_disks() -> None:
    disk = DiskSpec(uuid="d2", index=1, size=8, dev_type="file")
    with pytest.raises(HypervisorError, match="disk_type ide cannot be hotplugged"):
        kvm_hotplug.disk_add_commands(_kvm_spec(disk_type="ide"), disk, "/srv/d1", "raw")


def test_kvm_device_map_finds_boot_time_devices_by_uuid() -> None:
    state = {"spec": {"nics": [{"uuid": "n0"}, {"uuid": "n1"}], "disks": [{"uuid": "d0"}]}, "taps": ["t0", "t1"]}
    devices = kvm_hotplug.device_map(state)
    assert devices["nics"]["n1"] == {"netdev": "nic1", "device": "nic1-dev", "tap": "t1"}
    assert devices["disks"]["d0"] == {"node": "disk0", "device": "disk0-dev"}


class _PciMonitor:
    """A QMP monitor that answers query-pci with devices at the given (slot, qdev id) places."""

    def __init__(self, placed: list[tuple[int, str]]) -> None:
        self.placed = placed

    async def cmd(self, command: str, args: dict | None = None) -> Any:
        assert command == "query-pci"
        return [{"bus": 0, "devices": [{"slot": slot, "qdev_id": qdev} for slot, qdev in self.placed]}]


@async_test
async def test_kvm_pin_slots_records_where_each_device_sits_and_the_first_free_slot() -> None:
    """The first hotplug pins every device's slot (a migration target must put them in the same
    places) and the new device goes in the lowest slot nobody uses."""
    state = {"spec": {"nics": [{"uuid": "n0"}], "disks": [{"uuid": "d0"}]}, "taps": ["gnt1"]}
    devices = kvm_hotplug.device_map(state)
    placed = [(0, ""), (1, ""), (3, "disk0-dev"), (4, "nic0-dev"), (5, "balloon0"), (7, "hnicabc-dev")]
    free = await kvm_hotplug.pin_slots(_PciMonitor(placed), devices)  # type: ignore[arg-type]
    assert devices["disks"]["d0"]["slot"] == 3 and devices["nics"]["n0"]["slot"] == 4
    assert devices["balloon"] == 5 and devices["scsi"] is None
    assert free == 6
    assert kvm_hotplug.portable_layout(devices)["nics"]["n0"] == {"netdev": "nic0", "device": "nic0-dev", "slot": 4}


def test_kvm_hotplug_commands_put_the_device_in_the_slot_given() -> None:
    (_, device) = kvm_hotplug.nic_add_commands(_kvm_spec(), NIC, "gnt123", slot=6)[1]
    assert device["addr"] == "0x6"
    disk = DiskSpec("d1-uuid-0000", 1, 16, "file")
    (_, device) = kvm_hotplug.disk_add_commands(_kvm_spec(), disk, "/srv/d1", "raw", slot=9)[1]
    assert device["addr"] == "0x9"
