"""Writing zeros over part of a disk: `--prealloc-wipe-disks` (Ganeti's blockdev_wipe).

A new disk may hold what an earlier owner of the same blocks (a removed LV, a reused file
extent) left there; zeroing it before the instance sees it keeps one tenant's data from the
next. The range is in MiB, as the master's disk sizes are, and must lie inside the device: a
wipe that ran past the end of a file would grow it, and past a block device would fail halfway.
"""

from __future__ import annotations

import os
import stat

from gnt.errors import StorageError

MIB = 1024 * 1024
#: bytes written per call: large enough to stream, small enough to hold in memory once
_BLOCK = 4 * MIB


def device_size_mib(fd: int) -> int:
    """The size of an open disk (a regular file or a block device), whole MiB."""
    info = os.fstat(fd)
    if stat.S_ISREG(info.st_mode):
        return info.st_size // MIB
    if stat.S_ISBLK(info.st_mode):
        return os.lseek(fd, 0, os.SEEK_END) // MIB
    raise StorageError("Cannot wipe: the disk is neither a file nor a block device")


def check_range(offset: int, size: int, device_mib: int) -> None:
    """Ganeti's checks of a wipe request, with its messages."""
    if offset < 0:
        raise StorageError("Negative offset")
    if size <= 0:
        raise StorageError("Negative size")
    if offset + size > device_mib:
        raise StorageError(
            f"Wipe offset and size are bigger than device size ({offset} + {size} MiB > {device_mib} MiB)"
        )


def zero_range(path: str, offset: int, size: int) -> None:
    """Write zeros over [offset, offset + size) MiB of the disk at `path`, then flush them.

    The path is opened without O_CREAT (a missing disk is an error, never a new file) and
    without following a final symlink, so only the device the driver resolved is written.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as err:
        raise StorageError(f"Cannot open {path} to wipe it: {err.strerror}") from err
    try:
        check_range(offset, size, device_size_mib(fd))
        zeros = bytes(_BLOCK)
        position, end = offset * MIB, (offset + size) * MIB
        while position < end:
            length = min(_BLOCK, end - position)
            written = os.pwrite(fd, zeros[:length] if length < _BLOCK else zeros, position)
            if written <= 0:
                raise StorageError(f"Cannot wipe {path}: nothing written at byte {position}")
            position += written
        os.fsync(fd)
    except OSError as err:
        raise StorageError(f"Cannot wipe {path}: {err.strerror}") from err
    finally:
        os.close(fd)
