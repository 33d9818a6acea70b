"""Processes the test bed starts (QEMU, vde_switch): started detached, ended by PID only.

A host must survive the CLI command that booted it, so processes run in their own session and
are found again by PID from the bed's state file; before a signal is sent, the PID's command line
is checked, so a PID reused by an unrelated process is never killed.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import time

__all__ = ["spawn", "alive", "kill", "cmdline"]

_children: dict[int, subprocess.Popen[bytes]] = {}


def _die_with_parent() -> None:
    """In the child before exec: get SIGKILL when the thread that forked it ends (PR_SET_PDEATHSIG)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL, 0, 0, 0)


def spawn(argv: list[str], log: str, detached: bool = True, keep_stdin: bool = False) -> int:
    """Start `argv` in its own session with stdout/stderr to `log`; return its PID.

    `detached=False` ties the process to this one: it is killed when the calling thread ends,
    so a test run that is itself killed leaves no QEMU behind (call from a long-lived thread).
    `keep_stdin` gives it a pipe that stays open while this process lives (vde_switch exits on EOF).
    """
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if keep_stdin else subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            start_new_session=True,
            preexec_fn=None if detached else _die_with_parent,
        )
    _children[proc.pid] = proc
    return proc.pid


def cmdline(pid: int) -> str:
    """The process's command line ('' when it is gone)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def alive(pid: int, marker: str = "") -> bool:
    """True while `pid` runs (a zombie is dead) and, if given, its command line contains `marker`."""
    proc = _children.get(pid)
    if proc is not None:
        # Our own child: poll() is exact, and right after spawn its command line may still be
        # Python's (fork before exec), so the marker cannot be checked yet.
        if proc.poll() is None:
            return True
        # Ours, but it has exited and been reaped: the PID is free and may already belong to
        # another process (CI once reused one within a run), so only /proc and the marker decide.
        del _children[pid]
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rpartition(")")[2].split()[0]
    except OSError:
        return False
    if state in ("Z", "X"):
        return False
    return not marker or marker in _settled_cmdline(pid)


def _settled_cmdline(pid: int, patience: float = 1.0) -> str:
    """The command line, waiting out the moment inside exec() when the kernel shows it empty.

    A process whose parent was released by vfork() can be seen before its new argv is mapped
    (CI caught exactly that: an empty command line, so a matching process was spared).
    """
    deadline = time.monotonic() + patience
    line = cmdline(pid)
    while not line and time.monotonic() < deadline and os.path.exists(f"/proc/{pid}"):
        time.sleep(0.01)
        line = cmdline(pid)
    return line


def kill(pid: int, marker: str, timeout: float = 10.0) -> None:
    """SIGKILL `pid` if it is still ours (command line contains `marker`) and wait until it is gone."""
    if not alive(pid, marker):
        _reap(pid)
        return
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while alive(pid) and time.monotonic() < deadline:
        _reap(pid)
        time.sleep(0.02)
    _reap(pid)


def _reap(pid: int) -> None:
    proc = _children.pop(pid, None)
    if proc is not None:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            _children[pid] = proc
