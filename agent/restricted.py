"""restricted_command: run one of this node's own restricted commands (Ganeti's RunRestrictedCmd).

The caller names a command; the node runs `<restricted-commands dir>/<name>` and nothing else: no
path, no argument and no environment comes from the caller. The name must match
`^[-_.a-zA-Z0-9]+$` (and not be "." or ".."); the directory and the executable must belong to the
daemon's user and be writable by nobody else (mode at most 0755). One command runs at a time (a lock
file). Any refusal answers, after a delay, only "Executing command 'X' failed" (the reason goes to
the node's log), so the caller cannot probe the node's files quickly or learn about them.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import re
import stat

from agent.handlers import handles
from gnt import paths
from gnt.errors import OpExecError
from gnt.rpc import procedures as proc

log = logging.getLogger("gnt-noded")
NAME_RE = re.compile(r"^[-_.a-zA-Z0-9]+\Z")
#: seconds a refused command waits before answering, holding the lock (Ganeti's 10)
INVALID_DELAY = 10.0
#: the longest a restricted command may run
COMMAND_TIMEOUT = 300.0
MAX_OUTPUT = 1 << 20
_MAX_MODE = 0o755


def _check_owner_and_mode(path: str, want_dir: bool) -> str | None:
    try:
        st = os.stat(path)
    except OSError as err:
        return f"Can't stat(2) '{path}': {err.strerror}"
    if want_dir and not stat.S_ISDIR(st.st_mode):
        return f"Path '{path}' is not a directory"
    if not want_dir and not stat.S_ISREG(st.st_mode):
        return f"'{path}' is not a regular file"
    if st.st_uid != os.getuid():
        return f"'{path}' is not owned by {os.getuid()}"
    if stat.S_IMODE(st.st_mode) & ~_MAX_MODE:
        return f"Permissions on '{path}' are too permissive"
    return None


def prepare(name: str) -> tuple[str | None, str]:
    """(the executable to run, "") if `name` may run here, else (None, why not)."""
    if not name.strip():
        return None, "Missing command name"
    if not NAME_RE.match(name) or name in (".", ".."):
        return None, "Command name contains forbidden characters"
    directory = paths.restricted_commands_dir()
    problem = _check_owner_and_mode(directory, want_dir=True)
    if problem:
        return None, problem
    executable = os.path.join(directory, name)
    problem = _check_owner_and_mode(executable, want_dir=False)
    if problem:
        return None, problem
    if not os.access(executable, os.X_OK):
        return None, f"access(2) thinks '{executable}' can't be executed"
    return executable, ""


async def _run(executable: str) -> tuple[int | None, str]:
    """Run with an empty environment in /, no stdin; (exit code or None on timeout, output)."""
    process = await asyncio.create_subprocess_exec(
        executable,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd="/",
        env={},
        start_new_session=True,
    )
    try:
        out, _ = await asyncio.wait_for(process.communicate(), COMMAND_TIMEOUT)
    except (TimeoutError, asyncio.CancelledError):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, 9)
        await process.wait()
        return None, ""
    return process.returncode, out[:MAX_OUTPUT].decode(errors="replace")


@handles(proc.RESTRICTED_COMMAND)
async def restricted_command(args: proc.RestrictedCommandArgs) -> str:
    name = args.command
    shown = name if NAME_RE.match(name) else repr(name[:80])  # a hostile name must not forge log lines
    log.info("Preparing to run restricted command %s", shown)
    lock_path = paths.restricted_commands_lock()
    paths.ensure_dir(os.path.dirname(lock_path))
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)
        executable, problem = prepare(name)
        if executable is None:
            log.error("Refusing restricted command %s: %s", shown, problem)
            await asyncio.sleep(INVALID_DELAY)
            raise OpExecError(f"Executing command '{name[:80].encode('unicode_escape').decode()}' failed")
        code, output = await _run(executable)
        if code is None:
            raise OpExecError(f"Restricted command '{name}' failed: timeout after {COMMAND_TIMEOUT:g}s")
        if code != 0:
            raise OpExecError(f"Restricted command '{name}' failed: exited with exit code {code}; output: {output}")
        return output
    finally:
        os.close(fd)
