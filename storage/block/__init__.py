"""The `blockdev` template: existing block devices (a SAN LUN, a multipath device) adopted as
instance disks, `logical_id = ["manual", path]` as in Ganeti. gnt never creates nor deletes them:
an instance's removal only releases its devices.
"""

from __future__ import annotations

from storage.base import BlockDevice
from storage.block._driver import AdoptedDevice, DeviceFacts, probe

__all__ = ["AdoptedDevice", "DeviceFacts", "driver", "probe"]


def driver(dev_type: str) -> BlockDevice:
    from gnt.errors import StorageError

    if dev_type == "blockdev":
        return AdoptedDevice()
    raise StorageError(f"Disk type '{dev_type}' is not handled by the block device driver")
