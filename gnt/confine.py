"""Where a node lets the master touch its filesystem, and which names it accepts.

A node daemon trusts the caller's certificate, never its arguments: every certificate holder (each
node has a copy) could otherwise delete or write any file on every node. So every path a node
procedure is handed, and every path a storage driver derives from a disk's `logical_id`, is
resolved (symlinks followed, `..` removed) and must lie inside one of the node's roots:

- **storage roots**: the directories listed in the node-local file `paths.file_storage_paths()`
  (`/var/lib/gnt/file-storage-paths`, one absolute cluster-wide path per line, `#` comments), as
  Ganeti's `file-storage-paths` file. It is written when the node is set up, by
  `gnt-cluster init` on the first node and by `gnt-node add` through the same channel as the
  cluster certificate (SSH, or the local file system in a virtual cluster), and no RPC procedure
  writes it: a caller cannot widen what it may touch. An admin who moves the file storage
  directory edits it on each node. When the file is absent the node allows gnt's default file
  and shared-file storage directories only.
- **state roots**: gnt's own run and data directories, for arguments that name node state.
- **volume groups**: the LVM volume groups listed in the node-local file
  `paths.lvm_volume_groups()` (one name a line), written and guarded like the storage roots; when
  it is absent the node allows the default `xenvg` only. A plain disk's `logical_id` (`[vg, lv]`)
  must name one of them and a strictly valid LV name, so no caller can reach the host's own LVs.
- **adoptable block device roots**: the directories listed in the node-local file
  `paths.adoptable_blockdev_roots()` (one absolute path a line), written and guarded like the
  others; when it is absent the node allows `/dev/disk` only (Ganeti's adoptable_blockdev_root).
  A `blockdev` disk's path must lie under one of them *as written* (no `..`, no symlink games in
  the name itself: `/dev/disk/by-id/...` links point outside the root by design) and resolve to a
  block device, so no caller can adopt the node's own root disk by its `/dev/sda` name.

Names that end up in paths (instances, OSes, ssconf keys) must match strict patterns. Every
refusal is an `RpcArgumentError` with the reason, and a warning in the node's log.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from gnt import constants, durable, paths
from gnt.errors import RpcArgumentError

log = logging.getLogger("gnt-noded")

INSTANCE_NAME_RE = re.compile(r"^[a-zA-Z0-9]([a-zA-Z0-9.-]{0,253}[a-zA-Z0-9])?\Z")
OS_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.+-]{0,127}\Z")
SSCONF_KEY_RE = re.compile(r"^[a-z0-9_]{1,64}\Z")
#: LVM's own character set, minus a leading '-' (an option) and '.' (hidden, "." and "..")
LVM_NAME_RE = re.compile(r"^[a-zA-Z0-9+_][a-zA-Z0-9+_.-]{0,126}\Z")
#: parts LVM reserves for its internal volumes (lvm(8), VALID NAMES)
LVM_RESERVED_PARTS = ("_cdata", "_cmeta", "_corig", "_mimage", "_mlog", "_pmspare", "_rimage", "_rmeta", "_tdata",
                      "_tmeta", "_vorigin", "_vdata")  # fmt: skip
LVM_RESERVED_PREFIXES = ("snapshot", "pvmove")
#: the same test as `any(p in name for p in LVM_RESERVED_PARTS) or name.startswith(LVM_RESERVED_PREFIXES)`,
#: in one scan: a node checks several names per disk of a call (verify-disks sends a node all of its disks)
_LVM_RESERVED_RE = re.compile(
    "|".join([re.escape(p) for p in LVM_RESERVED_PARTS] + [f"^{re.escape(p)}" for p in LVM_RESERVED_PREFIXES])
)

T = TypeVar("T")
#: what one RPC call has read or worked out already (see `one_call`); None outside a call
_call_memo: ContextVar[dict[Any, Any] | None] = ContextVar("gnt_confine_call_memo", default=None)
_CLOSED = object()  # the key marking a finished call's memo

_roots_cache: tuple[tuple[int, int, int] | None, str, list[str]] | None = None


def refuse(message: str) -> RpcArgumentError:
    """The error for a refused argument, logged on the node (the master sees it as the call's error)."""
    log.warning("refused RPC argument: %s", message)
    return RpcArgumentError(message)


def _entries(text: str) -> list[str]:
    """The entries of a node-local list file: one a line, blank lines and `#` comments skipped."""
    return [line for line in (raw.strip() for raw in text.splitlines()) if line and not line.startswith("#")]


def _write_list(target: str, header: str, entries: list[str]) -> None:
    """Write a node-local list file atomically (at set-up time, never over RPC)."""
    os.makedirs(os.path.dirname(target), exist_ok=True)
    durable.write_file(target, header + "".join(f"{e}\n" for e in entries if e))


_STORAGE_PATHS_HEADER = (
    "# directories this node keeps file disks in (gnt-cluster init / gnt-node add); edit on each node\n"
)
_VOLUME_GROUPS_HEADER = (
    "# LVM volume groups this node keeps plain disks in (gnt-cluster init / gnt-node add); edit on each node\n"
)


def parse_storage_paths(text: str) -> list[str]:
    """The directories in a file-storage-paths file; each must be absolute."""
    return [os.path.normpath(line) for line in _entries(text) if os.path.isabs(line)]


def format_storage_paths(dirs: list[str]) -> str:
    return _STORAGE_PATHS_HEADER + "".join(f"{os.path.normpath(d)}\n" for d in dirs if d)


def write_storage_paths(target: str, dirs: list[str]) -> None:
    """Write a node's file-storage-paths file (at set-up time, never over RPC)."""
    _write_list(target, _STORAGE_PATHS_HEADER, [os.path.normpath(d) for d in dirs if d])


def storage_dirs() -> list[str]:
    """The cluster-wide storage directories this node allows (from its file, or the defaults)."""
    source = paths.file_storage_paths()
    try:
        with open(source) as handle:
            return parse_storage_paths(handle.read())
    except FileNotFoundError:
        return [paths.DEFAULT_FILE_STORAGE_DIR, paths.DEFAULT_SHARED_FILE_STORAGE_DIR]


def storage_roots() -> list[str]:
    """The node-local, resolved storage roots; re-read only when the file changes."""
    global _roots_cache
    source = paths.file_storage_paths()
    try:
        st = os.stat(source)
        identity: tuple[int, int, int] | None = (st.st_ino, st.st_size, st.st_mtime_ns)
    except OSError:
        identity = None
    if _roots_cache is not None and _roots_cache[:2] == (identity, paths.root_dir()):
        return _roots_cache[2]
    roots = [os.path.realpath(paths.localize(d)) for d in storage_dirs()]
    _roots_cache = (identity, paths.root_dir(), roots)
    return roots


def state_roots() -> list[str]:
    return [os.path.realpath(d) for d in (paths.data_dir(), paths.run_dir())]


def inside(local_path: str, roots: list[str], what: str) -> str:
    """`local_path` resolved, if it lies inside one of `roots`; else a refusal naming `what`."""
    if not isinstance(local_path, str) or not os.path.isabs(local_path) or "\0" in local_path:
        raise refuse(f"{what}: {local_path!r} is not an absolute path")
    resolved = os.path.realpath(local_path)
    for root in roots:
        if resolved == root or resolved.startswith(root.rstrip("/") + "/"):
            return resolved
    raise refuse(
        f"{what}: {local_path} is outside this node's allowed directories ({', '.join(roots) or 'none'});"
        f" allowed storage directories are listed in {paths.file_storage_paths()}"
    )


def storage_path(cluster_path: str, what: str = "path") -> str:
    """A cluster-wide storage path, mapped to this node and confined to its storage roots."""
    if not isinstance(cluster_path, str) or not os.path.isabs(cluster_path):
        raise refuse(f"{what}: {cluster_path!r} is not an absolute path")
    return inside(paths.localize(cluster_path), storage_roots(), what)


def lvm_name_problem(name: object, what: str = "logical volume") -> str | None:
    """Why `name` is not a safe LVM VG/LV name, or None. Shared by the master (config checks)
    and the node (confinement), so both refuse the same names."""
    if not isinstance(name, str) or not LVM_NAME_RE.match(name):
        return f"invalid {what} name {name!r} (letters, digits and '+_.-', not starting with '-' or '.')"
    if what == "logical volume" and _LVM_RESERVED_RE.search(name):
        return f"invalid {what} name {name!r}: LVM reserves that name for its own volumes"
    return None


def parse_volume_groups(text: str) -> list[str]:
    """The VG names of a lvm-volume-groups file; invalid names are skipped."""
    return [line for line in _entries(text) if lvm_name_problem(line, "volume group") is None]


def format_volume_groups(names: list[str]) -> str:
    return _VOLUME_GROUPS_HEADER + "".join(f"{n}\n" for n in names if n)


def write_volume_groups(target: str, names: list[str]) -> None:
    """Write a node's lvm-volume-groups file (at set-up time, never over RPC)."""
    _write_list(target, _VOLUME_GROUPS_HEADER, names)


@contextmanager
def one_call() -> Iterator[None]:
    """The scope of one RPC call on the node (agent.dispatcher): inside it the node's list files are
    read once, and `remembered` values are worked out once, however many disks the call names.

    drbd_status names many disks in one call; read per disk (by the confinement and the handler),
    the allowed volume groups were most of that call's time, which then grew with the number of
    disks. The files are written at set-up time only, never during a call."""
    current = _call_memo.get()
    if current is not None and _CLOSED not in current:  # already inside one (a driver scoping its own loop)
        yield
        return
    memo: dict[Any, Any] = {}
    token = _call_memo.set(memo)
    try:
        yield
    finally:
        _call_memo.reset(token)
        memo[_CLOSED] = True  # a task the call started (a migration's) keeps the context: it reads afresh


def remembered(key: Any, compute: Callable[[], T]) -> T:
    """`compute()`, once per `key` within the current `one_call` (every time outside one)."""
    memo = _call_memo.get()
    if memo is None or _CLOSED in memo:
        return compute()
    if key not in memo:
        memo[key] = compute()
    return memo[key]  # type: ignore[no-any-return]


def _read_volume_groups() -> list[str]:
    try:
        with open(paths.lvm_volume_groups()) as handle:
            return parse_volume_groups(handle.read())
    except FileNotFoundError:
        return [constants.DEFAULT_VG_NAME]


def volume_groups() -> list[str]:
    """The volume groups this node allows plain disks in (from its file, or the default); read once
    per RPC call (`one_call`)."""
    return list(remembered("volume_groups", _read_volume_groups))


def volume_group(vg: object, what: str, allowed: list[str] | None = None) -> str:
    """`vg`, if it is a safe name and one of the volume groups this node allows; `allowed`: the
    list already read from the node's file (a caller checking many disks reads it once)."""
    problem = lvm_name_problem(vg, "volume group")
    if problem:
        raise refuse(f"{what}: {problem}")
    allowed = volume_groups() if allowed is None else allowed
    if vg not in allowed:
        raise refuse(
            f"{what}: volume group {vg} is not one this node allows ({', '.join(allowed) or 'none'});"
            f" allowed volume groups are listed in {paths.lvm_volume_groups()}"
        )
    return str(vg)


def logical_volume(logical_id: object, what: str, allowed: list[str] | None = None) -> tuple[str, str]:
    """`(vg, lv)` of a plain disk's logical_id, if the VG is allowed here (`allowed`: as for
    `volume_group`) and both names are safe."""
    if not isinstance(logical_id, list) or len(logical_id) != 2:
        raise refuse(f"{what}: logical_id must be [volume group, logical volume], not {logical_id!r}")
    vg, lv = logical_id
    problem = lvm_name_problem(vg, "volume group") or lvm_name_problem(lv, "logical volume")
    if problem:
        raise refuse(f"{what}: {problem}")
    return volume_group(vg, what, allowed), str(lv)


DEFAULT_BLOCKDEV_ROOTS = ("/dev/disk",)
_BLOCKDEV_ROOTS_HEADER = (
    "# directories whose block devices blockdev disks may adopt (gnt-cluster init / gnt-node add); edit on each node\n"
)


def parse_blockdev_roots(text: str) -> list[str]:
    """The directories of an adoptable-blockdev-roots file; each must be absolute."""
    return [os.path.normpath(line) for line in _entries(text) if os.path.isabs(line)]


def write_blockdev_roots(target: str, dirs: list[str]) -> None:
    """Write a node's adoptable-blockdev-roots file (at set-up time, never over RPC)."""
    _write_list(target, _BLOCKDEV_ROOTS_HEADER, [os.path.normpath(d) for d in dirs if d])


def blockdev_roots() -> list[str]:
    """The directories this node lets `blockdev` disks adopt devices from (its file, or /dev/disk)."""
    try:
        with open(paths.adoptable_blockdev_roots()) as handle:
            return parse_blockdev_roots(handle.read())
    except FileNotFoundError:
        return list(DEFAULT_BLOCKDEV_ROOTS)


def block_device_problem(path: object, roots: list[str] | tuple[str, ...] = DEFAULT_BLOCKDEV_ROOTS) -> str | None:
    """Why `path` may not name an adoptable block device under `roots`, or None. Checked as
    written: the master asks it with the default roots for an early, clear error, the node with
    its own roots before any driver looks at the path."""
    if not isinstance(path, str) or not os.path.isabs(path) or "\0" in path:
        return f"{path!r} is not an absolute path"
    if ".." in path.split("/"):
        return f"{path} must not contain '..'"
    if os.path.normpath(path) != path:
        return f"{path} is not in canonical form (write {os.path.normpath(path)})"
    if not any(path.startswith(root.rstrip("/") + "/") for root in roots):
        return f"{path} is outside the directories block devices may be adopted from ({', '.join(roots) or 'none'})"
    return None


def block_device(path: object, what: str) -> str:
    """`path`, if it lies under one of this node's adoptable block device roots (as written)."""
    roots = blockdev_roots()
    problem = block_device_problem(path, roots)
    if problem:
        raise refuse(f"{what}: {problem}; allowed roots are listed in {paths.adoptable_blockdev_roots()}")
    return str(path)


def _where(where: str) -> str:
    return f" (in {where})" if where else ""


def check_instance_name(name: str, where: str = "") -> None:
    if not INSTANCE_NAME_RE.match(name):
        raise refuse(f"Invalid instance name {name!r}{_where(where)}")


def check_os_name(name: str, where: str = "") -> None:
    if not OS_NAME_RE.match(name):
        raise refuse(f"Invalid OS name {name!r}{_where(where)}")


def check_hypervisor(name: str, where: str = "") -> None:
    if name not in constants.HYPERVISORS:
        raise refuse(f"Unknown hypervisor {name!r}{_where(where)}; known: {', '.join(constants.HYPERVISORS)}")


def check_ssconf_key(key: str) -> None:
    if not SSCONF_KEY_RE.match(key):
        raise refuse(f"Invalid ssconf key {key!r} (lower-case letters, digits and '_' only)")
