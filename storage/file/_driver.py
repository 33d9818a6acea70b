"""File-backed disks: a sparse image file per disk, like Ganeti's `file` and `sharedfile` templates.

The path in a disk's logical_id (`[driver, path]`) is cluster-wide; `gnt.paths.localize` maps it to
this node (in a virtual cluster it lands under the node's root dir, except paths inside the
virtual cluster's base dir, which is how a sharedfile directory is shared by every virtual node).
File I/O runs in a worker thread: creating or growing an image may touch a slow filesystem.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os

from gnt import confine, disktypes, paths
from gnt.errors import StorageError
from gnt.runtime import DiskSpec
from storage.base import BlockDevice, DeviceInfo

MIB = 1024 * 1024
FILE_DRIVERS = ("loop", "blktap", "blktap2")


def disk_path(disk: DiskSpec) -> str:
    """The node-local path of a file disk, validated from its logical_id."""
    lid = disk.logical_id
    if len(lid) != 2 or not isinstance(lid[1], str):
        raise StorageError(f"Invalid logical_id for {disk.dev_type} disk {disk.uuid}: {lid!r}")
    driver, path = lid
    if driver not in FILE_DRIVERS:
        raise StorageError(f"Unknown file driver '{driver}' for disk {disk.uuid}")
    if not os.path.isabs(path) or "/../" in path + "/":
        raise StorageError(f"File disk path must be absolute and normalised, not {path!r}")
    local = confine.storage_path(os.path.normpath(path), f"{disk.dev_type} disk {disk.uuid}")
    if local in confine.storage_roots():
        raise confine.refuse(f"{disk.dev_type} disk {disk.uuid}: {path} is a storage directory, not a disk file")
    return local


def _size_mib(path: str) -> int:
    return os.stat(path).st_size // MIB


def _create(path: str, size: int) -> str:
    parent = os.path.dirname(path)
    try:
        os.makedirs(parent, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        actual = _size_mib(path)
        if actual != size:
            raise StorageError(f"Disk file {path} already exists with size {actual} MiB, expected {size} MiB") from None
        return path
    except OSError as err:
        raise StorageError(f"File storage directory {parent} is not writable: {err.strerror}") from err
    try:
        os.ftruncate(fd, size * MIB)
    except (OSError, OverflowError, ValueError) as err:
        os.close(fd)
        os.unlink(path)
        reason = err.strerror if isinstance(err, OSError) else "too large for this system"
        raise StorageError(f"Cannot allocate {size} MiB for disk file {path}: {reason}") from err
    os.close(fd)
    return path


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as err:
        raise StorageError(f"Cannot remove disk file {path}: {err.strerror}") from err
    # The per-instance directory goes with its last disk; a non-empty one stays (and a root always).
    if os.path.dirname(path) not in confine.storage_roots():
        with contextlib.suppress(OSError):
            os.rmdir(os.path.dirname(path))


def _grow(path: str, target: int) -> None:
    try:
        current = _size_mib(path)
        if current < target:
            os.truncate(path, target * MIB)
    except FileNotFoundError:
        raise StorageError(f"Cannot grow disk file {path}: it does not exist") from None
    except OSError as err:
        raise StorageError(f"Cannot grow disk file {path} to {target} MiB: {err.strerror}") from err


def _grow_check(path: str, target: int) -> None:
    """A sparse file grows whatever the free space, and then fails the guest's writes later: refuse
    a grow the file system cannot hold now."""
    try:
        current = _size_mib(path)
        st = os.statvfs(os.path.dirname(path))
    except FileNotFoundError:
        raise StorageError(f"Cannot grow disk file {path}: it does not exist") from None
    except OSError as err:
        raise StorageError(f"Cannot grow disk file {path}: {err.strerror}") from err
    needed, free = target - current, st.f_bavail * st.f_frsize // MIB
    if needed > free:
        raise StorageError(
            f"Not enough free space for disk file {path}: growing it needs {needed} MiB, its file system has {free} MiB"
        )


def _rename(old: str, new: str) -> None:
    if old == new:
        return
    if not os.path.exists(old) and os.path.exists(new):
        return  # already done (a retried rename)
    try:
        os.makedirs(os.path.dirname(new), exist_ok=True)
        if os.path.exists(new):
            raise StorageError(f"Cannot rename disk file {old} to {new}: the target exists")
        os.rename(old, new)
    except OSError as err:
        raise StorageError(f"Cannot rename disk file {old} to {new}: {err.strerror}") from err
    with contextlib.suppress(OSError):
        os.rmdir(os.path.dirname(old))


class FileDevice(BlockDevice):
    """`file` (per-node directory) and `sharedfile` (one directory all nodes see) disks."""

    def __init__(self, dev_type: str) -> None:
        self.dev_type = dev_type
        self.kind = disktypes.kind(dev_type)

    def node_paths(self, disk: DiskSpec) -> list[str]:
        return [disk_path(disk)]

    async def create(self, disk: DiskSpec, instance_name: str) -> str:
        if disk.size <= 0:
            raise StorageError(f"Invalid size {disk.size} MiB for disk {disk.uuid} of instance {instance_name}")
        return await asyncio.to_thread(_create, disk_path(disk), disk.size)

    async def remove(self, disk: DiskSpec) -> None:
        await asyncio.to_thread(_remove, disk_path(disk))

    async def assemble(self, disk: DiskSpec, instance_name: str) -> str:
        path = disk_path(disk)
        if not await asyncio.to_thread(os.path.isfile, path):
            raise StorageError(f"Disk file {path} of instance {instance_name} does not exist on this node")
        return path

    async def shutdown(self, disk: DiskSpec) -> None:
        """Nothing to do: a file needs no activation (the hypervisor closes it)."""

    async def grow(self, disk: DiskSpec, amount: int) -> None:
        """Grow to disk.size + amount MiB; idempotent, so a retried grow does not grow twice."""
        if amount < 0:
            raise StorageError(f"Cannot shrink disk {disk.uuid} (grow by {amount} MiB)")
        path = disk_path(disk)
        await asyncio.to_thread(_grow_check, path, disk.size + amount)
        await asyncio.to_thread(_grow, path, disk.size + amount)

    async def grow_check(self, disk: DiskSpec, amount: int) -> None:
        if amount < 0:
            raise StorageError(f"Cannot shrink disk {disk.uuid} (grow by {amount} MiB)")
        await asyncio.to_thread(_grow_check, disk_path(disk), disk.size + amount)

    async def info(self, disk: DiskSpec) -> DeviceInfo:
        path = disk_path(disk)
        try:
            size = await asyncio.to_thread(_size_mib, path)
        except FileNotFoundError:
            return DeviceInfo(exists=False, path=path)
        return DeviceInfo(exists=True, path=path, size=size)

    async def rename(self, disk: DiskSpec, new_logical_id: list[str]) -> None:
        new = DiskSpec(disk.uuid, disk.index, disk.size, disk.dev_type, list(new_logical_id))
        await asyncio.to_thread(_rename, disk_path(disk), disk_path(new))


class DisklessDevice(BlockDevice):
    """The `diskless` template: no storage at all; every operation succeeds and has no path."""

    kind = disktypes.kind("diskless")

    async def create(self, disk: DiskSpec, instance_name: str) -> str:
        return ""

    async def remove(self, disk: DiskSpec) -> None:
        return None

    async def assemble(self, disk: DiskSpec, instance_name: str) -> str:
        return ""

    async def shutdown(self, disk: DiskSpec) -> None:
        return None

    async def grow(self, disk: DiskSpec, amount: int) -> None:
        raise StorageError("Diskless instances have no disk to grow")

    async def info(self, disk: DiskSpec) -> DeviceInfo:
        return DeviceInfo(exists=True, path=None, size=0)


def storage_usage(path: str) -> dict[str, int]:
    """Total and free MiB of the filesystem holding `path` (cluster-wide or local; it need not
    exist yet: the nearest existing parent is measured)."""
    local = paths.localize(path)
    while not os.path.exists(local) and local not in ("", "/"):
        local = os.path.dirname(local)
    try:
        st = os.statvfs(local or "/")
    except OSError as err:
        raise StorageError(f"Cannot read usage of file storage directory {path}: {err.strerror}") from err
    return {"total": st.f_blocks * st.f_frsize // MIB, "free": st.f_bavail * st.f_frsize // MIB}


#: how deep disk files are looked for: DIR/[--file-storage-dir components/]INSTANCE/FILE
MAX_LISTING_DEPTH = 16


def list_disk_files(dirs: list[str]) -> list[str]:
    """Every disk file under the given file storage dirs (`DIR/<instance>/<file>`, or deeper when the
    instance was made with `--file-storage-dir`), named with the same prefix as given, so a master
    can compare them with logical_ids to find orphans. Symlinks are not followed."""
    found: list[str] = []
    for top in dirs:
        local = paths.localize(top)
        try:
            _walk(local, top, 0, found)
        except FileNotFoundError:
            continue
        except OSError as err:
            if err.errno == errno.ENOTDIR:
                continue
            raise StorageError(f"Cannot list file storage directory {top}: {err.strerror}") from err
    return found


def _walk(local: str, named: str, depth: int, found: list[str]) -> None:
    for entry in sorted(os.scandir(local), key=lambda e: e.name):
        if entry.is_dir(follow_symlinks=False):
            if depth < MAX_LISTING_DEPTH:
                with contextlib.suppress(OSError):  # one unreadable subdirectory hides only itself
                    _walk(entry.path, os.path.join(named, entry.name), depth + 1, found)
        elif entry.is_file(follow_symlinks=False):
            found.append(os.path.join(named, entry.name))
