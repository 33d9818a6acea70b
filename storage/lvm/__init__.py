"""LVM storage: the `plain` template (see storage.__init__).

`report` parses what `vgs`/`lvs`/`pvs` print (facts), `commands` builds every argv and the plans
that choose them (actions), `run` runs one argv, `_driver` ties them to the block-device interface.
"""

from __future__ import annotations

from storage.base import BlockDevice
from storage.lvm._driver import PlainDevice

__all__ = ["PlainDevice", "driver"]


def driver(dev_type: str) -> BlockDevice:
    """The driver for `dev_type`; it keeps no state, so a new object is cheap."""
    from gnt.errors import StorageError

    if dev_type == "plain":
        return PlainDevice()
    raise StorageError(f"Disk type '{dev_type}' is not handled by the LVM storage driver")
