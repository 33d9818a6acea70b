"""Replacing a file so that it survives a power cut, not only a crashed process.

Writing a temporary file and renaming it over the target is atomic for readers and against a
killed process, but ext4 (and others) may commit the rename before the file's data: after the
power comes back the file exists and is empty. On the test bed's hosts a node powered off a
minute after joining came back with its cluster certificate, ssconf and storage lists all empty,
and its gnt-noded could not serve again. So the data is synced before the rename, and the
directory after it (the rename itself is then on disk too).
"""

from __future__ import annotations

import contextlib
import os

__all__ = ["replace", "sync_dir", "write_file"]


def sync_dir(directory: str) -> None:
    """Make the directory's entries (a rename into it) durable."""
    fd = os.open(directory or ".", os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace(tmp: str, target: str) -> None:
    """`os.replace(tmp, target)` with tmp's data on disk first and the rename on disk after."""
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, target)
    sync_dir(os.path.dirname(target))


def write_file(path: str, data: str | bytes, mode: int = 0o666) -> None:
    """Replace `path` with `data` (created with `mode`, less the umask): readers see the old file or
    the new one whole, and once this returns a power cut loses neither."""
    tmp = f"{path}.tmp"
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)  # a leftover keeps its own mode: a key must never land in a world-readable file
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data.encode() if isinstance(data, str) else data)
    replace(tmp, path)
