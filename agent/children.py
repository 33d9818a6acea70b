"""Long-running children of node procedures: each in its own process group, none outliving its cause.

An OS create script may run for minutes and start children of its own (debootstrap, dd, ...).
Killing only the script on a timeout, or losing the node daemon, used to leave those running,
re-parented to init. So every such child:

- starts a new session (its pid is its process group), and the whole group is killed when the
  procedure times out or is cancelled, and when the node daemon shuts down (`kill_all`);
- gets PR_SET_PDEATHSIG=SIGKILL, so the direct child dies with the daemon even on SIGKILL;
- is recorded in `<run dir>/children/<pgid>` while it runs, so a daemon starting after a crash
  kills what is left of the group (grandchildren do not inherit the death signal): `reap_leftovers`.

Guests (the fake hypervisor's processes, QEMU) are not children in this sense: they are meant to
outlive a node daemon restart and are never started through here.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
from typing import Any

from gnt import paths

__all__ = ["kill_all", "kill_group", "reap_leftovers", "run_in_group", "spawn"]

log = logging.getLogger("gnt-noded")
PR_SET_PDEATHSIG = 1
KILL_GRACE = 2.0
_libc = ctypes.CDLL(None, use_errno=True)
_running: set[int] = set()


def _registry() -> str:
    return os.path.join(paths.run_dir(), "children")


def _die_with_parent(parent: int) -> Any:
    """preexec_fn: SIGKILL this child when the daemon thread that forked it dies."""

    def setup() -> None:
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the daemon died between fork and prctl
            os._exit(1)

    return setup


def _start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return int(handle.read().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


async def spawn(*argv: str, **kwargs: Any) -> asyncio.subprocess.Process:
    """Start `argv` as the leader of a new process group (see the module docstring)."""
    proc = await asyncio.create_subprocess_exec(
        *argv, start_new_session=True, preexec_fn=_die_with_parent(os.getpid()), **kwargs
    )
    _running.add(proc.pid)
    with contextlib.suppress(OSError):
        paths.ensure_dir(_registry())
        with open(os.path.join(_registry(), str(proc.pid)), "w") as handle:
            handle.write(f"{_start_time(proc.pid) or 0}\n")
    return proc


def _forget(pgid: int) -> None:
    _running.discard(pgid)
    with contextlib.suppress(OSError):
        os.unlink(os.path.join(_registry(), str(pgid)))


def kill_group(pgid: int, sig: int = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


async def run_in_group(proc: asyncio.subprocess.Process, timeout: float | None) -> int | None:
    """Wait for a spawned child; its exit code, or None after `timeout` (the group is then killed).

    If the waiting task is cancelled, the group is killed before the cancellation goes on.
    """
    try:
        try:
            return await asyncio.wait_for(proc.wait(), timeout)
        except TimeoutError:
            kill_group(proc.pid)
            await proc.wait()
            return None
        except asyncio.CancelledError:
            kill_group(proc.pid)
            with contextlib.suppress(asyncio.CancelledError, ProcessLookupError):
                await asyncio.shield(proc.wait())
            raise
    finally:
        # the leader's exit does not end its group: children it left behind go too
        kill_group(proc.pid)
        _forget(proc.pid)


def kill_all() -> None:
    """On daemon shutdown: no procedure child outlives the daemon."""
    for pgid in list(_running):
        kill_group(pgid)
        _forget(pgid)


def _group_members(pgid: int, since: int) -> list[int]:
    """Processes in session/group `pgid` started between the recorded leader and this daemon.

    Linux does not reuse a pid while a process group of that id lives, so a group found here is the
    recorded one, unless it died entirely and its id went to a newer session leader (another virtual
    node's child): those started after this daemon did, and are left alone.
    """
    until = _start_time(os.getpid()) or 0
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        state, pgrp, session, started = fields[0], int(fields[2]), int(fields[3]), int(fields[19])
        if pgrp == pgid and session == pgid and since <= started <= until and state not in ("Z", "X"):
            members.append(int(entry))
    return members


def reap_leftovers() -> list[int]:
    """At daemon start: kill what is left of the groups a previous daemon recorded; their pids."""
    killed: list[int] = []
    try:
        entries = os.listdir(_registry())
    except OSError:
        return killed
    for entry in entries:
        if not entry.isdigit():
            continue
        pgid = int(entry)
        try:
            with open(os.path.join(_registry(), entry)) as handle:
                since = int(handle.read().strip() or 0)
        except (OSError, ValueError):
            since = 0
        members = _group_members(pgid, since)
        if members:
            log.warning("killing %d process(es) left over from a procedure of a previous gnt-noded: %s",
                        len(members), " ".join(map(str, members)))  # fmt: skip
            kill_group(pgid)
            killed.extend(members)
        _forget(pgid)
    return killed
