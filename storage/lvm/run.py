"""Running LVM commands: asyncio subprocesses with argv lists (never a shell), one typed error.

LVM closes and complains about file descriptors it inherits (the node daemon has sockets open);
`LVM_SUPPRESS_FD_WARNINGS=1` keeps those warnings out of stderr, so the line an error reports is
LVM's real reason. `LC_ALL=C` keeps the reports' decimal point a '.' whatever the node's locale.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable

from gnt.errors import StorageError
from storage.lvm.report import error_line

#: what an LVM command may take before the node gives up on it (a hung PV, a locked VG)
LVM_TIMEOUT = 300.0
LVM_ENV = {"LVM_SUPPRESS_FD_WARNINGS": "1", "LC_ALL": "C"}

Runner = Callable[[list[str]], Awaitable[str]]


class LvmCommandError(StorageError):
    """An LVM command exited non-zero; `line` is the reason it printed."""

    def __init__(self, message: str, line: str = "", returncode: int | None = None) -> None:
        super().__init__(message)
        self.line = line
        self.returncode = returncode


async def run(argv: list[str], timeout: float = LVM_TIMEOUT) -> str:
    """Run one LVM command; its stdout, or an LvmCommandError naming the command and its reason."""
    if not argv or not all(isinstance(a, str) for a in argv):
        raise StorageError(f"Invalid LVM command {argv!r}")
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, **LVM_ENV},
        )
    except FileNotFoundError:
        raise StorageError(f"{argv[0]} not found on this node: install lvm2 to use plain disks") from None
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise StorageError(f"{' '.join(argv)} did not finish within {timeout:g}s") from None
    if proc.returncode != 0:
        line = error_line(err.decode(errors="replace"))
        raise LvmCommandError(
            f"{argv[0]} failed (exit {proc.returncode}): {line or 'no error message'}", line, proc.returncode
        )
    return out.decode(errors="replace")
