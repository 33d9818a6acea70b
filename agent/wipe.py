"""The node's `blockdev_wipe` (`--prealloc-wipe-disks`): zeros over part of one of its own disks.

The dispatcher has already confined the disk's logical_id to this node's storage; the driver
then names the device to write (`wipe_target`), which must be one of that disk's own paths, so a
caller cannot point the zeros at any other file or device.
"""

from __future__ import annotations

import asyncio

import storage
from agent.handlers import handles
from gnt.rpc import procedures as proc
from storage import zeroing


@handles(proc.BLOCKDEV_WIPE)
async def blockdev_wipe(args: proc.BlockdevWipeArgs) -> None:
    zeroing.check_range(args.offset, args.size, args.offset + args.size)  # sign checks before any device work
    path = await storage.get(args.disk.dev_type).wipe_target(args.disk, args.instance_name)
    await asyncio.to_thread(zeroing.zero_range, path, args.offset, args.size)
