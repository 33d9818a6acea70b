"""The one block-device interface every storage driver implements.

A disk is described by a `gnt.runtime.DiskSpec`; its `logical_id` says where it lives (for file
disks `[driver, path]`, as in Ganeti). Drivers read the current state first and then act, so every
operation is idempotent: creating an existing disk of the right size, or removing a missing one,
succeeds.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

from gnt.disktypes import DiskKind
from gnt.runtime import DiskSpec


@dataclass
class DeviceInfo:
    """What a node knows about one disk."""

    exists: bool
    path: str | None = None
    size: int | None = None  # MiB
    in_sync: bool = True
    #: how far a resync has come, in percent, while one runs (a mirrored driver that knows it)
    sync_percent: float | None = None


class BlockDevice(abc.ABC):
    """Driver for one storage type.

    `kind` is the driver's entry in `gnt.disktypes` (local, shared, mirrored): the master and the
    hypervisor drivers cannot import storage/, so what a disk *is* is declared there and each
    driver points at it.
    """

    kind: DiskKind

    def node_paths(self, disk: DiskSpec) -> list[str]:
        """The node-local paths this disk's logical_id names, each confined to the node's storage
        roots (gnt.confine); raises RpcArgumentError for one outside. The node daemon checks
        every disk of a call with this before any handler runs."""
        return []

    @abc.abstractmethod
    async def create(self, disk: DiskSpec, instance_name: str) -> str:
        """Create the disk with `disk.size` MiB; returns its path."""

    @abc.abstractmethod
    async def remove(self, disk: DiskSpec) -> None:
        """Remove the disk and its data; removing a missing disk succeeds."""

    @abc.abstractmethod
    async def assemble(self, disk: DiskSpec, instance_name: str) -> str:
        """Make the disk usable on this node; returns the path a hypervisor opens."""

    @abc.abstractmethod
    async def shutdown(self, disk: DiskSpec) -> None:
        """Make the disk unusable on this node (the data stays)."""

    @abc.abstractmethod
    async def grow(self, disk: DiskSpec, amount: int) -> None:
        """Grow by `amount` MiB."""

    async def grow_check(self, disk: DiskSpec, amount: int) -> None:  # noqa: B027 - optional, not abstract
        """Raise StorageError if growing by `amount` MiB would fail here (no room, no such disk);
        change nothing. grow-disk asks every node first, so a grow that cannot finish everywhere
        never starts. The default finds nothing to check."""

    @abc.abstractmethod
    async def info(self, disk: DiskSpec) -> DeviceInfo:
        """Existence, path and size as found on the node."""

    async def adoptable(self, disk: DiskSpec) -> DeviceInfo:
        """What `disk.logical_id` names, if it exists and nothing else uses it: the node's word
        on an adoption (`gnt-instance add --disk N:adopt=...`), size included, since an adopted
        disk's size is the device's. Raises StorageError (missing, in use) otherwise."""
        from gnt.errors import StorageError

        raise StorageError(f"{type(self).__name__} disks cannot be adopted")

    async def rename(self, disk: DiskSpec, new_logical_id: list[str]) -> None:
        raise NotImplementedError(f"{type(self).__name__} cannot rename disks")

    async def wipe_target(self, disk: DiskSpec, instance_name: str) -> str:
        """The device to zero for `--prealloc-wipe-disks`: the disk assembled here, and only if
        the path is one of this disk's own node paths (confined to the node's storage by
        `node_paths`); a driver whose device is not one of those (drbd) says which it is."""
        from gnt.errors import StorageError

        own = self.node_paths(disk)
        path = await self.assemble(disk, instance_name) if own else ""
        if not path or path not in own:
            raise StorageError(f"Disk {disk.uuid} has no device of its own on this node to wipe")
        return path
