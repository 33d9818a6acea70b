"""Live Xen migration on the source: `xl migrate` in the background, its progress, and its abort.

xl gives no figures while it migrates: it hides libxc's progress lines for the whole transfer (only
errors reach its log) and has no query like QEMU's `query-migrate`, so there is no remaining
amount, dirty rate or downtime estimate to report. What can be known is how much of the stream
has left this node: the transport xl runs (`exec socat ... TCP:target:port`, xl's child) writes
it to the socket, and the kernel counts those bytes (`/proc/PID/io`, wchar). A live move sends
the guest's memory once and then the pages dirtied meanwhile, so that count may pass the guest's
size; the status says what it is and no more.

Abort cuts the stream instead of killing xl: xl then sees its write fail, says "Migration failed,
resuming at sender" and resumes the guest itself (libxl knows whether it had suspended it). A
killed xl would leave a guest it had already suspended for the last pass suspended, which xl's
command line cannot resume. After the target has acknowledged the stream, xl is past that point
(it renames the source copy away and lets the target start the guest): then it is left to finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal

from backends.xen.saverestore import log_tail
from gnt.runtime import MigrationPhase, MigrationStatus

__all__ = ["XlMigration", "ABORT_WAIT", "bytes_written", "children", "failure", "processes"]

#: seconds xl may take to resume the guest once its stream is cut (TCG: a domain resume takes seconds)
ABORT_WAIT = 120.0
#: what xl logs once the target has the whole guest; from there on a cut stream would lose it
ACKNOWLEDGED = "Target has acknowledged transfer"


#: socat's own error line in xl's log ("2026/11/29 14:15:02 socat[812] E write(5, ...): Connection timed out")
_SOCAT_ERROR = re.compile(r"socat\[\d+\] E (.*)")


def failure(returncode: int, log: str) -> str:
    """Why xl migrate failed, in one line. A broken stream is said as such, with the transport's
    reason (libxl's own lines then only say its helper got a broken pipe), and whether xl resumed."""
    try:
        with open(log, errors="replace") as f:
            text = f.read()
    except OSError:
        text = ""
    broken = _SOCAT_ERROR.search(text)
    if broken is None:
        return f"xl migrate exited {returncode}: {log_tail(log) or 'no message'}"
    reason = broken.group(1).strip().rsplit("): ", 1)[-1]
    resumed = "; xl resumed the guest on the source" if "resuming at sender" in text else ""
    return f"xl migrate exited {returncode}: the migration stream to the target broke ({reason}){resumed}"


def children(pid: int, name: str) -> list[int]:
    """The PIDs of `name` (its comm) whose parent is `pid`."""
    return processes(name, parent=pid)


def processes(name: str, parent: int | None = None) -> list[int]:
    """The PIDs whose comm is `name` (and whose parent is `parent`, if given), from /proc; a process
    gone meanwhile is skipped."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        comm, _, rest = stat.partition(" (")[2].rpartition(")")  # the name in parentheses may hold spaces
        fields = rest.split()
        if comm == name and len(fields) > 1 and (parent is None or fields[1] == str(parent)):
            found.append(int(entry))
    return found


def bytes_written(pid: int) -> int | None:
    """What the process has written so far (the kernel's wchar), or None once it is gone."""
    try:
        with open(f"/proc/{pid}/io") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key == "wchar":
                    return int(value)
    except (OSError, ValueError):
        return None
    return None


class XlMigration:
    """One `xl migrate` leaving this node: the process, its log, what its transport has sent."""

    def __init__(self, proc: asyncio.subprocess.Process, log: str) -> None:
        self.proc = proc
        self.log = log
        self.sent = 0  # bytes the transport wrote, as last seen
        self.aborted = False
        self._transport: int | None = None

    def _read_sent(self) -> None:
        if self._transport is None and self.proc.returncode is None:
            # xl forks `sh -c "exec socat ..."` first thing (libxl's save helper is its child too)
            found = children(self.proc.pid, "socat")
            self._transport = found[0] if found else None
        if self._transport is not None:
            seen = bytes_written(self._transport)
            if seen is not None:
                self.sent = max(self.sent, seen)

    def status(self) -> MigrationStatus:
        if self.proc.returncode is None:
            self._read_sent()
            if self.aborted:
                return MigrationStatus(MigrationPhase.ACTIVE, transferred=self.sent, progress="cancelling")
            return MigrationStatus(MigrationPhase.ACTIVE, transferred=self.sent, progress=self.progress())
        if self.aborted and self.proc.returncode != 0:
            return MigrationStatus(
                MigrationPhase.CANCELLED, transferred=self.sent, message="cancelled; xl resumed the guest here"
            )
        if self.proc.returncode == 0:
            return MigrationStatus(MigrationPhase.COMPLETED, transferred=self.sent)
        why = failure(self.proc.returncode, self.log)
        return MigrationStatus(MigrationPhase.FAILED, transferred=self.sent, message=why)

    def progress(self) -> str:
        """The one line the master logs: what has been sent, and that xl tells nothing more."""
        if self._transport is None:
            return "xl migrate is starting (nothing sent yet)"
        return (
            f"{self.sent / 1048576:.1f} MiB of the stream sent (xl migrate reports no remaining amount,"
            " dirty rate or downtime)"
        )

    def _acknowledged(self) -> bool:
        try:
            with open(self.log, errors="replace") as f:
                return ACKNOWLEDGED in f.read()
        except OSError:
            return False

    async def abort(self) -> None:
        """Cut the stream (xl resumes the guest here); xl itself only if it does not end after that."""
        if self.proc.returncode is not None:
            return
        self._read_sent()
        if self._acknowledged():
            await self.proc.wait()  # the target has the guest: xl finishes the handover, finalize decides
            return
        self.aborted = True
        if self._transport is None:  # xl has not started its stream: the guest is untouched, xl may go
            self.proc.send_signal(signal.SIGTERM)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._transport, signal.SIGKILL)  # SIGKILL: a transport stuck in a write ends too
        try:
            await asyncio.wait_for(self.proc.wait(), ABORT_WAIT)
        except TimeoutError:
            self.proc.send_signal(signal.SIGTERM)  # last resort: no transport yet, or xl does not end
            await self.proc.wait()
