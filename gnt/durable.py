"""Replacing a file so that it survives a power cut, not only a crashed process.

Writing a temporary file and renaming it over the target is atomic for readers and against a
killed process, but ext4 (and others) may commit the rename before the file's data: after the
power comes back the file exists and is empty. On the test bed's hosts a node powered off a
minute after joining came back with its cluster certificate, ssconf and storage lists all empty,
and its gnt-noded could not serve again. So the data is synced before the rename, and the
directory after it (the rename itself is then on disk too).
"""

from __future__ import annotations

import os

__all__ = ["replace", "sync_dir"]


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
