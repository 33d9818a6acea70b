"""Handing out uids of the cluster's user-id pool to QEMU processes (kvm `security_model=pool`).

Each uid in use has a lock file `<node run dir>/uid-pool/<uid>` (as Ganeti's uidpool lock dir)
naming its holder: the instance and the pid (with its start time) of the process that uses it.
At first that is the node daemon itself, between picking the uid and launching QEMU; `claim`
then records QEMU's pid. A uid is free when it has no lock file, or when the file's process is
gone (QEMU crashed, or the daemon died mid-start): such a stale file is taken over. A uid that
some process on the host runs as is never handed out, whatever the files say (Ganeti's check):
that also keeps two virtual nodes on one host apart once their QEMUs run.

Picking and writing a lock file happen under an exclusive flock on the directory's `.lock`, so
two starts on one node (or two node daemons sharing the run dir) never get the same uid.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import random
from collections.abc import Iterator
from typing import Any

from backends.kvm import proc
from gnt import uidpool
from gnt.errors import HypervisorError

__all__ = ["UidLocks", "uids_in_use"]

_DIR_LOCK = ".lock"


def uids_in_use(proc_root: str = "/proc") -> set[int]:
    """Every real, effective, saved or filesystem uid of a live process on this host."""
    used: set[int] = set()
    try:
        entries = os.listdir(proc_root)
    except OSError:
        return used
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(os.path.join(proc_root, entry, "status")) as handle:
                for line in handle:
                    if line.startswith("Uid:"):
                        used.update(int(v) for v in line.split()[1:])
                        break
        except (OSError, ValueError):
            continue
    return used


class UidLocks:
    """The lock files of one node's uid pool."""

    def __init__(self, directory: str, proc_root: str = "/proc", rng: random.Random | None = None) -> None:
        self.directory = directory
        self.proc_root = proc_root
        self.rng = rng or random.Random()

    def _path(self, uid: int) -> str:
        return os.path.join(self.directory, str(uid))

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        fd = os.open(os.path.join(self.directory, _DIR_LOCK), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def read(self, uid: int) -> dict[str, Any] | None:
        """The holder recorded for `uid`, None without a (readable) lock file."""
        try:
            with open(self._path(uid)) as handle:
                data = json.load(handle)
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def _write(self, uid: int, holder: dict[str, Any]) -> None:
        tmp = f"{self._path(uid)}.tmp"
        with open(tmp, "w") as handle:
            json.dump(holder, handle, sort_keys=True)
        os.replace(tmp, self._path(uid))

    @staticmethod
    def _live(holder: dict[str, Any] | None) -> bool:
        return bool(holder) and proc.pid_alive(holder.get("pid"), holder.get("start_time"))  # type: ignore[union-attr]

    def _held(self, uid: int) -> bool:
        """A lock file whose holder still runs."""
        return self._live(self.read(uid)) if os.path.exists(self._path(uid)) else False

    def _pick(self, pool: list[tuple[int, int]]) -> int | None:
        """A random free uid of the pool: a random start, then the next free one (wrapping).

        Only the candidates looked at have their lock file read; the host's processes are listed
        once. Each taken uid sits at most once in each range, so any (taken) * len(ranges) + 1
        consecutive candidates hold a free one if the pool has one: a pool of four billion uids
        costs no more to search than a small one.
        """
        ranges = uidpool.normalize(pool)
        total = sum(hi - lo + 1 for lo, hi in ranges)
        if total == 0:
            return None
        running = uids_in_use(self.proc_root)
        try:
            files = sum(1 for name in os.listdir(self.directory) if name.isdigit())
        except OSError:
            files = 0
        offset = self.rng.randrange(total)
        for _ in range(min(total, (files + len(running)) * len(ranges) + 1)):
            uid = _nth(ranges, offset)
            if uid not in running and not self._held(uid):
                return uid
            offset = (offset + 1) % total
        return None

    def acquire(self, pool: list[tuple[int, int]] | list[list[int]], instance: str) -> int:
        """Pick a free uid for `instance` and lock it in its name (held by this process until `claim`)."""
        if not pool:
            raise HypervisorError(
                f"{instance}: security_model is 'pool' but the cluster's user-id pool is empty;"
                " add uids with `gnt-cluster modify --add-uids LOW-HIGH` or use another security_model"
            )
        with self._locked():
            uid = self._pick(uidpool.normalize(pool))
            if uid is None:
                raise HypervisorError(
                    f"{instance}: no free user-id in the pool ({uidpool.format_pool(pool)}): every uid is in use;"
                    " enlarge it with `gnt-cluster modify --add-uids`"
                )
            pid = os.getpid()
            self._write(uid, {"instance": instance, "pid": pid, "start_time": proc.process_start_time(pid)})
        return uid

    def claim(self, uid: int, instance: str, pid: int, start_time: int | None) -> None:
        """Record QEMU's process as the holder of `uid` (from now on its death frees the uid)."""
        with self._locked():
            holder = self.read(uid)
            if holder is None or holder.get("instance") != instance:
                raise HypervisorError(f"{instance}: user-id {uid} is no longer locked for it")
            self._write(uid, {"instance": instance, "pid": pid, "start_time": start_time})

    def release(self, uid: int, instance: str) -> None:
        """Free `uid` if `instance` holds it (a file another instance took over stays)."""
        with self._locked():
            holder = self.read(uid)
            if holder is not None and holder.get("instance") != instance:
                return
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._path(uid))


def _nth(ranges: list[tuple[int, int]], offset: int) -> int:
    for lo, hi in ranges:
        width = hi - lo + 1
        if offset < width:
            return lo + offset
        offset -= width
    raise IndexError(offset)
