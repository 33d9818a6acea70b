"""`--prealloc-wipe-disks`: zero new disks (and a grown disk's new space) before an instance uses
them, as Ganeti's WipeDisks does.

The zeros are written on the disk's primary node (a drbd disk's device there, so the peer gets
them too), in chunks of a tenth of the range, at most 1 GiB, one `blockdev_wipe` call each, so
the job log shows progress and no single call outlives its RPC timeout. A failed chunk fails the
whole wipe: the caller removes the disk (a new one) or leaves the recorded size alone (a grow).
"""

from __future__ import annotations

from typing import Any

from gnt.errors import OpExecError
from gnt.rpc import procedures as proc
from gnt.runtime import DiskSpec
from gnt.units import format_size

#: Ganeti's MAX_WIPE_CHUNK (MiB) and MIN_WIPE_CHUNK_PERCENT
MAX_CHUNK = 1024
CHUNK_PERCENT = 10


def enabled(lu: Any) -> bool:
    return bool(lu.cfg.cluster.prealloc_wipe_disks)


def chunks(offset: int, end: int) -> list[tuple[int, int]]:
    """(offset, size) pieces covering [offset, end) MiB: a tenth of the range each (at least
    1 MiB, at most MAX_CHUNK), the last one what is left."""
    step = max(1, min(MAX_CHUNK, (end - offset) * CHUNK_PERCENT // 100))
    return [(start, min(step, end - start)) for start in range(offset, end, step)]


async def wipe(lu: Any, node: Any, inst_name: str, disks: list[tuple[DiskSpec, int]]) -> None:
    """Zero each `(disk as the primary node sees it, from MiB)` up to the disk's size on `node`.

    Raises OpExecError naming the disk and the chunk that failed."""
    target = lu.ctx.services.target(node)
    for spec, offset in disks:
        if offset >= spec.size:
            continue
        since = f" (from {format_size(offset)} to {format_size(spec.size)})" if offset else ""
        lu.feedback(f"* Wiping disk {spec.index}{since}")
        total = spec.size - offset
        for start, size in chunks(offset, spec.size):
            args = proc.BlockdevWipeArgs(spec, start, size, inst_name)
            result = await lu.rpc.blockdev_wipe(target, args)
            if result.failed:
                raise OpExecError(
                    f"Could not wipe disk {spec.index} at offset {start} for size {size} on node {node.name}:"
                    f" {result.error}"
                )
            done = start + size - offset
            lu.feedback(f"  - done: {100.0 * done / total:.1f}%")
