"""py-spy attached to a running daemon for one step of a benchmark, and the top entries of what it saw.

Why py-spy rather than cProfile: it samples the real daemon from outside (no restart, no code
change), including the C frames (`--native`: SSL_read, SHA-256, the kernel calls) of every thread,
which is where a disk stream spends its time. Native stacks need the daemon paused for each sample
(py-spy refuses `--nonblocking` with `--native`), so a profiled run is slower: its timings are not kept.
"""

from __future__ import annotations

import collections
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

RATE = 100
#: innermost frames of a thread that waits (py-spy counts a thread blocked in these as active): left out
WAITS = frozenset({
    "PyThread_acquire_lock_timed", "epoll_wait", "poll", "select", "pthread_cond_wait", "pthread_cond_timedwait",
    "sem_wait", "sem_timedwait", "accept", "accept4", "nanosleep", "clock_nanosleep",
})  # fmt: skip
_LOCATION = re.compile(r"\s+\((?:[^()]*/)?([^/()]+)\)$")


def available() -> bool:
    return shutil.which("py-spy") is not None


def start(pid: int, output: Path) -> subprocess.Popen[bytes]:
    """Sample every thread of `pid` (native frames too) into `output` (py-spy's raw format) until `stop`."""
    recorder = subprocess.Popen(
        ["py-spy", "record", "--native", "-r", str(RATE), "-f", "raw", "-o", str(output),
         "-p", str(pid)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    time.sleep(1.0)  # attached before the step starts
    return recorder


def stop(recorder: subprocess.Popen[bytes]) -> None:
    recorder.send_signal(signal.SIGINT)
    try:
        recorder.wait(timeout=30)
    except subprocess.TimeoutExpired:
        recorder.kill()
        recorder.wait()


def _frame(frame: str) -> str:
    """'read_full (agent/disk_stream.py:123)' -> 'read_full (disk_stream.py)': one name per function."""
    name = frame.split(" (", 1)[0]
    match = _LOCATION.search(frame)
    where = match.group(1).split(":", 1)[0] if match else ""
    return f"{name} ({where})" if where else name


def top(raw: Path, count: int = 12) -> dict[str, list[list[object]]]:
    """The functions most samples were in (`self`: the innermost frame) and under (`total`), in % of the
    samples of threads at work (a thread waiting on a lock, a queue or poll is not counted: `waiting`)."""
    own: collections.Counter[str] = collections.Counter()
    under: collections.Counter[str] = collections.Counter()
    samples = waiting = 0
    if not raw.exists():
        return {"self": [], "total": []}
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, number = line.rpartition(" ")
        if not stack or not number.isdigit():
            continue
        # a stripped library's own functions show as addresses: they count for the named frame above them
        frames = [_frame(f) for f in stack.split(";") if f and not f.startswith("0x")]
        if not frames:
            continue
        n = int(number)
        if frames[-1].split(" (", 1)[0] in WAITS:
            waiting += n
            continue
        samples += n
        own[frames[-1]] += n
        for name in set(frames):
            under[name] += n
    if not samples:
        return {"self": [], "total": []}

    def pct(counter: collections.Counter[str]) -> list[list[object]]:
        return [[round(100 * n / samples, 1), name] for name, n in counter.most_common(count)]

    return {"samples": [[samples, "at work"], [waiting, "waiting"]], "self": pct(own), "total": pct(under)}
