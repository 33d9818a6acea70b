"""Block-device drivers; they run on nodes, behind the node daemon's RPC."""

from __future__ import annotations

import importlib
import sys

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
    # sys.modules first: the node asks once per disk of a call, and import_module costs more than the check
    loaded = sys.modules.get(module) or importlib.import_module(module)
    return loaded.driver(dev_type)  # type: ignore[no-any-return]
