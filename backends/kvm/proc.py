"""Processes and runtime state files of QEMU guests on a node.

A guest runs in its own session (so it outlives the node daemon); a restarted daemon finds it
again from `runtime.json` in the instance's runtime dir. A pid is only trusted together with the
process start time recorded at launch, so a recycled pid is never mistaken for the guest.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from typing import Any

from gnt.errors import HypervisorError

__all__ = [
    "load_state",
    "pid_alive",
    "process_start_time",
    "run",
    "save_state",
    "signal_pid",
    "wait_pid_gone",
]


def process_start_time(pid: int) -> int | None:
    """Field 22 of /proc/PID/stat (start time in clock ticks), or None if there is no such process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[19])


def _proc_state(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2 :].split()[0]


def pid_alive(pid: int | None, start_time: int | None) -> bool:
    """The process exists, is not a zombie ('Z') or dead ('X'), and is the one we started."""
    if not pid:
        return False
    state = _proc_state(pid)
    if state is None or state in ("Z", "X"):
        return False
    return start_time is None or process_start_time(pid) == start_time


def signal_pid(pid: int | None, start_time: int | None, sig: int = signal.SIGKILL) -> None:
    if pid_alive(pid, start_time):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)  # type: ignore[arg-type]


async def wait_pid_gone(pid: int | None, start_time: int | None, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while pid_alive(pid, start_time):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.005)
    return True


def save_state(path: str, state: dict[str, Any]) -> None:
    """Atomically write the runtime state file."""
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(state, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


def load_state(path: str) -> dict[str, Any] | None:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


async def run(argv: list[str], check: bool = True, timeout: float = 60.0) -> tuple[int, str, str]:
    """Run a helper command (qemu-img, ip, ...) without a shell; HypervisorError if it fails."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
    except OSError as err:
        raise HypervisorError(f"cannot run {argv[0]}: {err}") from err
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError as exc:
        proc.kill()
        await proc.wait()
        raise HypervisorError(f"{' '.join(argv)} timed out after {timeout:.0f}s") from exc
    rc = proc.returncode or 0
    if check and rc != 0:
        raise HypervisorError(f"{' '.join(argv)} failed (exit {rc}): {err.decode(errors='replace').strip()}")
    return rc, out.decode(errors="replace"), err.decode(errors="replace")
