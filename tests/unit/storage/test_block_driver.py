"""The blockdev driver: the node's own checks of an adopted path (its roots, as written; a block
device nothing holds), the real probe on what this machine has, and release instead of deletion."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gnt import confine
from gnt.errors import RpcArgumentError, StorageError
from gnt.runtime import DiskSpec
from storage.block import AdoptedDevice, DeviceFacts, probe

MIB = 1024 * 1024
LUN = "/dev/disk/by-id/wwn-0x5000c500a1b2c3d4"


def disk(path: str) -> DiskSpec:
    return DiskSpec(uuid="d1", index=0, size=0, dev_type="blockdev", logical_id=["manual", path])


def device(**facts: DeviceFacts) -> AdoptedDevice:
    table = {LUN: DeviceFacts("block", size=512 * MIB), **{f"/dev/disk/by-id/{k}": v for k, v in facts.items()}}
    return AdoptedDevice(lambda path: table.get(path, DeviceFacts("missing")))


@pytest.fixture(autouse=True)
def node_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GNT_ROOTDIR", str(tmp_path))
    return tmp_path


def test_adoptable_gives_the_size_and_keeps_the_path_as_written() -> None:
    info = asyncio.run(device().adoptable(disk(LUN)))
    assert (info.exists, info.path, info.size) == (True, LUN, 512)
    assert asyncio.run(device().assemble(disk(LUN), "inst1")) == LUN


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/dev/sda", "outside the directories block devices may be adopted from \\(/dev/disk\\)"),
        ("/dev/disk/by-id/../../sda", "must not contain '..'"),
        ("/dev/disk/./by-id/x", "not in canonical form"),
        ("relative/x", "not an absolute path"),
        ("/dev/diskette/x", "outside the directories"),
    ],
)
def test_paths_outside_the_roots_are_refused_before_any_look(path: str, message: str) -> None:
    with pytest.raises(RpcArgumentError, match=message):
        device().node_paths(disk(path))


def test_the_nodes_own_roots_file_decides(node_root: Path) -> None:
    from gnt import paths

    confine.write_blockdev_roots(paths.adoptable_blockdev_roots(), ["/dev/mapper"])
    assert device().node_paths(disk("/dev/mapper/mpatha")) == ["/dev/mapper/mpatha"]
    with pytest.raises(RpcArgumentError, match="outside .*\\(/dev/mapper\\)"):
        device().node_paths(disk(LUN))


@pytest.mark.parametrize(
    ("facts", "message"),
    [
        (DeviceFacts("missing"), "Block device /dev/disk/by-id/x not found on this node"),
        (DeviceFacts("char"), "is not a block device \\(a character device\\)"),
        (DeviceFacts("other"), "is not a block device \\(not a device\\)"),
        (DeviceFacts("block", busy=True), "is in use on this node"),
        (DeviceFacts("block", size=4096), "smaller than 1 MiB"),
    ],
)
def test_what_cannot_be_adopted(facts: DeviceFacts, message: str) -> None:
    with pytest.raises(StorageError, match=message):
        asyncio.run(device(x=facts).adoptable(disk("/dev/disk/by-id/x")))


def test_never_created_grown_or_deleted() -> None:
    looked: list[str] = []
    drv = AdoptedDevice(lambda path: looked.append(path) or DeviceFacts("block", size=MIB))  # type: ignore[func-returns-value]
    asyncio.run(drv.remove(disk(LUN)))
    asyncio.run(drv.shutdown(disk(LUN)))
    assert looked == []  # released without touching the device
    with pytest.raises(StorageError, match="adopted, never created"):
        asyncio.run(drv.create(disk(LUN), "inst1"))
    with pytest.raises(StorageError, match="cannot be grown"):
        asyncio.run(drv.grow_check(disk(LUN), 10))


def test_the_real_probe_tells_char_devices_files_and_missing_paths(tmp_path: Path) -> None:
    assert probe("/dev/null").kind == "char"
    (tmp_path / "image").write_bytes(b"x" * 10)
    assert probe(str(tmp_path / "image")).kind == "other"
    assert probe(str(tmp_path / "gone")).kind == "missing"


def test_info_of_a_missing_device() -> None:
    info = asyncio.run(device().info(disk("/dev/disk/by-id/gone")))
    assert (info.exists, info.path) == (False, "/dev/disk/by-id/gone")


def test_a_migration_target_that_does_not_see_the_lun_refuses_the_instance() -> None:
    """Incoming, a shared disk is assembled on the target (not copied): without the LUN there,
    the node says so before the hypervisor starts anything."""
    from agent.handlers import _assemble_disks
    from gnt import serial
    from gnt.runtime import InstanceSpec

    fields = {"name": "inst1", "uuid": "u", "hypervisor": "fake", "memory": 128, "vcpus": 1}
    spec = serial.from_dict(InstanceSpec, fields)
    spec.disks = [disk("/dev/disk/by-id/gnt-test-not-here")]
    with pytest.raises(StorageError, match="Block device /dev/disk/by-id/gnt-test-not-here not found on this node"):
        asyncio.run(_assemble_disks(spec, incoming=True))
