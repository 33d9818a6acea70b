"""DRBD storage: the `drbd` template (see storage.__init__).

`status` parses /proc/drbd and `drbdsetup show` (facts), `commands` builds every DRBD 8.4 argv and
the plans that choose them (actions), `run` runs one argv without ever quoting it, `_driver` ties
them and the plain driver's LVs to the block-device interface.
"""

from __future__ import annotations

import logging

from storage.base import BlockDevice
from storage.drbd._driver import NOT_LOADED, DrbdDevice

__all__ = ["USERMODE_HELPER_PARAM", "DrbdDevice", "driver", "report_version", "usermode_helper"]


async def report_version(device: DrbdDevice | None = None) -> str:
    """Read the DRBD module's version when the node daemon starts and say what it means: 8.4 is
    driven, a DRBD 9 module is refused (every drbd operation will fail with the same line), no
    module means no drbd disks here. Returns the line it logged."""
    from gnt.errors import StorageError

    log = logging.getLogger("gnt-noded")
    try:
        proc = await (device or DrbdDevice()).proc()
    except StorageError as err:
        log.warning("drbd: %s", err)
        return str(err)
    line = f"DRBD kernel module {proc.version_text} (api {proc.api}, protocols {proc.proto})"
    log.info("drbd: %s", line)
    return line


def driver(dev_type: str) -> BlockDevice:
    """The driver for `dev_type`; it keeps no state, so a new object is cheap."""
    from gnt.errors import StorageError

    if dev_type == "drbd":
        return DrbdDevice()
    raise StorageError(f"Disk type '{dev_type}' is not handled by the DRBD storage driver")


#: where the loaded DRBD module shows the helper it runs on state changes (drbd.conf(5), usermode-helper)
USERMODE_HELPER_PARAM = "/sys/module/drbd/parameters/usermode_helper"


def usermode_helper(param: str = USERMODE_HELPER_PARAM) -> str:
    """The usermode helper the loaded DRBD module runs; StorageError when the module is not loaded."""
    from gnt.errors import StorageError

    try:
        with open(param) as handle:
            return handle.read().strip()
    except FileNotFoundError:
        raise StorageError(NOT_LOADED) from None
    except OSError as err:
        raise StorageError(f"Cannot read {param}: {err.strerror}") from None
