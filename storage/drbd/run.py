"""Running drbdsetup and drbdmeta: asyncio subprocesses with argv lists (never a shell).

A `connect` argv holds the disk's shared secret, and `drbdsetup show` prints it; so no error
message here quotes an argv or an output: a failure names the tool, its subcommand and the
reason line the tool printed on stderr (which DRBD never fills with the secret).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable

from gnt.errors import StorageError
from storage.drbd.status import error_line

#: what one DRBD command may take (a connect or a down waits for the peer for a few seconds at most)
DRBD_TIMEOUT = 60.0
PROC_DRBD = "/proc/drbd"

Runner = Callable[[list[str]], Awaitable[str]]
ProcReader = Callable[[], Awaitable[str | None]]


class DrbdCommandError(StorageError):
    """A DRBD command exited non-zero; `line` is the reason it printed."""

    def __init__(self, message: str, line: str = "", returncode: int | None = None) -> None:
        super().__init__(message)
        self.line = line
        self.returncode = returncode


def describe(argv: list[str]) -> str:
    """What a message may say about an argv: the tool and its subcommand, nothing more."""
    if not argv:
        return "(empty command)"
    if argv[0] == "drbdmeta":
        return f"drbdmeta {argv[-1]}"
    return " ".join(argv[:2])


async def run(argv: list[str], timeout: float = DRBD_TIMEOUT) -> str:
    if not argv or not all(isinstance(a, str) for a in argv):
        raise StorageError("Invalid DRBD command")
    what = describe(argv)
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "LC_ALL": "C"},
        )
    except FileNotFoundError:
        raise StorageError(f"{argv[0]} not found on this node: install drbd-utils to use drbd disks") from None
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise StorageError(f"{what} did not finish within {timeout:g}s") from None
    if proc.returncode != 0:
        line = error_line(err.decode(errors="replace"))
        raise DrbdCommandError(f"{what} failed (exit {proc.returncode}): {line or 'no error message'}", line,
                               proc.returncode)  # fmt: skip
    return out.decode(errors="replace")


async def read_proc_drbd() -> str | None:
    """/proc/drbd, or None when the DRBD module is not loaded."""
    try:
        return await asyncio.to_thread(_read, PROC_DRBD)
    except FileNotFoundError:
        return None


def _read(path: str) -> str:
    with open(path) as handle:
        return handle.read()
