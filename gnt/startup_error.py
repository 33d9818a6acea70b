"""The one line a daemon could not start with, kept where the CLI and `start_masterd` find it.

A daemon that refuses to start (a damaged database, a port taken) writes its reason here as well as
to its log; the CLI, finding no master socket, prints that reason instead of "is gnt-masterd
running?", and the start-up path quotes it instead of pointing at a log file. A daemon that starts
removes the file, so a stale reason is never shown.
"""

from __future__ import annotations

import contextlib
import os

from gnt import paths

__all__ = ["clear", "path", "read", "record"]


def path(daemon: str) -> str:
    return os.path.join(paths.run_dir(), f"{daemon}.failed")


def record(daemon: str, message: str) -> None:
    """Remember why `daemon` did not start (best effort: the log has it too)."""
    with contextlib.suppress(OSError):
        paths.ensure_dir(paths.run_dir())
        tmp = path(daemon) + ".tmp"
        with open(tmp, "w") as handle:
            handle.write(message.strip() + "\n")
        os.replace(tmp, path(daemon))


def clear(daemon: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path(daemon))


def read(daemon: str) -> str | None:
    """The recorded reason, or None when the daemon's last start did not fail."""
    try:
        with open(path(daemon)) as handle:
            return handle.read().strip() or None
    except OSError:
        return None
