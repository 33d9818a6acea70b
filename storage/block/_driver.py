"""Adopted block devices: the node checks the path against its own roots (gnt.confine) and that
it is a block device nothing holds, and otherwise leaves the device alone.

The path is kept as the admin wrote it (`/dev/disk/by-id/...`), not resolved: those names are the
same on every node that sees a shared LUN, while `/dev/sdX` differs from node to node, which is
what lets such an instance fail over or migrate (the disk is `shared` in gnt.disktypes).
"""

from __future__ import annotations

import errno
import logging
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass

from gnt import confine, disktypes
from gnt.errors import StorageError
from gnt.runtime import DiskSpec
from storage.base import BlockDevice, DeviceInfo

log = logging.getLogger("gnt-noded")

MIB = 1024 * 1024


@dataclass(frozen=True)
class DeviceFacts:
    """What the node finds at a path: `kind` is block, char, missing or other (a file, a
    directory); `busy` when the kernel refuses an exclusive open (mounted, an LVM PV, a RAID
    member, open by a guest)."""

    kind: str
    size: int = 0  # bytes
    busy: bool = False


Probe = Callable[[str], DeviceFacts]


def probe(path: str) -> DeviceFacts:
    """Look at `path` without changing anything: stat, then an exclusive read-only open, whose
    refusal (EBUSY) is the kernel's own "someone holds this device", and the size from its end."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return DeviceFacts("missing")
    if stat.S_ISCHR(mode):
        return DeviceFacts("char")
    if not stat.S_ISBLK(mode):
        return DeviceFacts("other")
    busy = False
    try:
        fd = os.open(path, os.O_RDONLY | os.O_EXCL | os.O_CLOEXEC)
    except OSError as err:
        if err.errno != errno.EBUSY:
            raise StorageError(f"Cannot open block device {path}: {err.strerror}") from None
        busy = True  # held (by a running guest, too): its size is still worth knowing
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as again:
            raise StorageError(f"Cannot open block device {path}: {again.strerror}") from None
    try:
        return DeviceFacts("block", size=os.lseek(fd, 0, os.SEEK_END), busy=busy)
    finally:
        os.close(fd)


class AdoptedDevice(BlockDevice):
    """Existing block devices; `probe` looks at a path (tests pass a fake one)."""

    kind = disktypes.kind("blockdev")

    def __init__(self, look: Probe = probe) -> None:
        self.look = look

    @staticmethod
    def _path(disk: DiskSpec) -> str:
        what = f"blockdev disk {disk.uuid}"
        if not isinstance(disk.logical_id, list) or len(disk.logical_id) != 2:
            raise confine.refuse(f"{what}: logical_id must be [driver, path], not {disk.logical_id!r}")
        return confine.block_device(disk.logical_id[1], what)

    def node_paths(self, disk: DiskSpec) -> list[str]:
        return [self._path(disk)]

    def _device(self, disk: DiskSpec) -> tuple[str, DeviceFacts]:
        """The disk's path and facts, if it is a block device here; StorageError otherwise."""
        path = self._path(disk)
        facts = self.look(path)
        if facts.kind == "missing":
            raise StorageError(f"Block device {path} not found on this node")
        if facts.kind != "block":
            what = "a character device" if facts.kind == "char" else "not a device"
            raise StorageError(f"{path} is not a block device ({what})")
        return path, facts

    async def adoptable(self, disk: DiskSpec) -> DeviceInfo:
        path, facts = self._device(disk)
        if facts.busy:
            raise StorageError(f"Block device {path} is in use on this node (mounted, or held by another device)")
        if facts.size < MIB:
            raise StorageError(f"Block device {path} is smaller than 1 MiB ({facts.size} bytes)")
        return DeviceInfo(exists=True, path=path, size=facts.size // MIB)

    async def create(self, disk: DiskSpec, instance_name: str) -> str:
        raise StorageError("blockdev disks are adopted, never created (gnt-instance add --disk N:adopt=PATH)")

    async def remove(self, disk: DiskSpec) -> None:
        """Released, never deleted: the device and its data belong to whoever provides it."""
        log.info("releasing blockdev disk %s (%s): the device is left as it is", disk.uuid, disk.logical_id)

    async def assemble(self, disk: DiskSpec, instance_name: str) -> str:
        path, _ = self._device(disk)
        return path

    async def shutdown(self, disk: DiskSpec) -> None:
        """Nothing to undo: assembling only checked the device."""

    async def grow(self, disk: DiskSpec, amount: int) -> None:
        raise StorageError("blockdev disks cannot be grown by gnt: grow the device itself, then repair-disk-sizes")

    async def grow_check(self, disk: DiskSpec, amount: int) -> None:
        await self.grow(disk, amount)

    async def info(self, disk: DiskSpec) -> DeviceInfo:
        path = self._path(disk)
        facts = self.look(path)
        if facts.kind != "block":
            return DeviceInfo(exists=False, path=path)
        return DeviceInfo(exists=True, path=path, size=facts.size // MIB if facts.size else None)
