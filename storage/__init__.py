"""Block-device drivers; they run on nodes, behind the node daemon's RPC."""

from __future__ import annotations

import importlib

from storage.base import BlockDevice

_DRIVERS = {
    "blockdev": "storage.block",
    "diskless": "storage.file",
    "drbd": "storage.drbd",
    "file": "storage.file",
    "plain": "storage.lvm",
    "sharedfile": "storage.file",
}


def known() -> list[str]:
    return sorted(_DRIVERS)


def get(dev_type: str) -> BlockDevice:
    """The driver for one disk type (a module's `driver(dev_type)`), imported on first use."""
    from gnt.errors import StorageError

    module = _DRIVERS.get(dev_type)
    if module is None:
        raise StorageError(f"Unknown disk type '{dev_type}'")
    return importlib.import_module(module).driver(dev_type)
