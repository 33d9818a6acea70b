"""File-based storage drivers: `diskless`, `file` and `sharedfile` (see storage.__init__)."""

from __future__ import annotations

from storage.base import BlockDevice
from storage.file._driver import DisklessDevice, FileDevice, disk_path, list_disk_files, storage_usage

__all__ = ["DisklessDevice", "FileDevice", "disk_path", "driver", "list_disk_files", "storage_usage"]

_DEV_TYPES = ("diskless", "file", "sharedfile")


def driver(dev_type: str) -> BlockDevice:
    """The driver for `dev_type`; the file drivers keep no state, so a new object is cheap."""
    from gnt.errors import StorageError

    if dev_type == "diskless":
        return DisklessDevice()
    if dev_type in _DEV_TYPES:
        return FileDevice(dev_type)
    raise StorageError(f"Disk type '{dev_type}' is not handled by the file storage driver")
