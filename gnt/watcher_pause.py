"""The watcher's pause (Ganeti's `gnt-cluster watcher pause|continue|info`): a file in the master's
data directory holding the time the pause ends. The master daemon writes it (the CLI asks over
the API, as for the queue's drain flag); the watcher reads it before a pass and does nothing while
it lies in the future. An expired or unreadable file means "not paused", so a stale pause can
never stop the watcher for good.
"""

from __future__ import annotations

import contextlib
import os
import re
import time

from gnt import durable, paths
from gnt.errors import ParameterError

__all__ = ["API_PATH", "pause_file", "paused_until", "parse_timespec", "set_pause"]

#: the master API resource the CLI asks (gnt.api.watcher_routes)
API_PATH = "/2/watcher/pause"

_TIMESPEC_RE = re.compile(r"^([0-9]+)([smhdw]?)$")
_FACTORS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
#: longer than this is surely a typo (Ganeti has no limit; a year keeps the end time sane)
MAX_PAUSE = 366 * 86400


def pause_file() -> str:
    return os.path.join(paths.data_dir(), "watcher.pause")


def parse_timespec(text: str) -> int:
    """Ganeti's time specification: seconds, or a number with s, m, h, d or w."""
    if not text:
        raise ParameterError("Empty time specification passed")
    match = _TIMESPEC_RE.match(text.strip().lower())
    if not match:
        raise ParameterError(f"Invalid time specification '{text}'")
    seconds = int(match.group(1)) * _FACTORS[match.group(2)]
    if not 0 < seconds <= MAX_PAUSE:
        raise ParameterError(f"Invalid time specification '{text}': between 1s and {MAX_PAUSE // 86400}d")
    return seconds


def paused_until(now: float | None = None) -> float | None:
    """The end of the current pause, or None when the watcher is not paused."""
    try:
        with open(pause_file()) as handle:
            until = float(handle.read().strip())
    except (OSError, ValueError):
        return None
    return until if until > (time.time() if now is None else now) else None


def set_pause(until: float | None) -> float | None:
    """Pause the watcher until `until` (epoch seconds), or end the pause (None)."""
    if until is None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(pause_file())
        return None
    paths.ensure_dir(paths.data_dir())
    durable.write_file(pause_file(), f"{until:.3f}\n", mode=0o644)
    return paused_until()
