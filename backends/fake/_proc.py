"""The fake guest's process: spawning, liveness, state and control requests.

A guest is `bash vm.sh` (see the protocol at the top of vm.sh). Start cost, measured on the 2-core
test machine (median of 40 runs of a no-op start): `bash --norc --noprofile -c exit` 1.1 ms,
`python3 -S -I -c pass` 6.2 ms; resident private memory of an idle ticking loop: bash 0.27 MiB,
python3 2.6 MiB. With ~200 guests per machine bash wins on both, and its loop needs no fork per
tick (`read -t` on a FIFO sleeps), so bash it is.

The guest double-forks (the intermediate bash prints the guest's pid and exits, and asyncio reaps
it), so guests are never children of the node daemon: they survive its restart and leave it no
zombies. Because we cannot `waitpid` a non-child, liveness is read from /proc: the pid must be ours
(its cmdline names vm.sh and this instance's directory, so a recycled pid is not mistaken for a
guest) and not a zombie ('Z'/'X' in /proc/PID/stat), since whoever reaps orphans may be slow.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from dataclasses import dataclass

from gnt.errors import HypervisorError

VM_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vm.sh")

STATE = "state"
PID = "pid"
CTL = "ctl"
FIFO = "tick.fifo"
CONSOLE = "console.log"


@dataclass
class GuestState:
    """What the guest last wrote to its state file."""

    counter: int
    boots: int
    status: str  # running | paused | shutdown
    ack: int
    boot_us: int

    @property
    def uptime(self) -> float:
        return max(0.0, time.time() - self.boot_us / 1e6)


def read_state(rundir: str) -> GuestState | None:
    """Parse the state file (a fixed-width record the guest overwrites in place); retry a torn read briefly."""
    path = os.path.join(rundir, STATE)
    for _ in range(20):
        try:
            with open(path) as fh:
                fields = fh.read().split()
        except FileNotFoundError:
            return None
        if len(fields) == 5:
            try:
                return GuestState(int(fields[0]), int(fields[1]), fields[2], int(fields[3]), int(fields[4]))
            except ValueError:
                pass
        time.sleep(0.0005)
    return None


def read_pid(rundir: str) -> int | None:
    try:
        with open(os.path.join(rundir, PID)) as fh:
            return int(fh.read().strip())
    except (FileNotFoundError, ValueError):
        return None


def is_ours(pid: int, rundir: str) -> bool:
    """True if `pid` is a live (non-zombie) guest process for `rundir`."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            argv = fh.read().split(b"\0")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False
    letter = stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3]
    if letter in (b"Z", b"X", b"x"):
        return False
    return VM_SCRIPT.encode() in argv and os.fsencode(rundir) in argv


def alive_pid(rundir: str) -> int | None:
    """The guest's pid if its process runs, else None."""
    pid = read_pid(rundir)
    return pid if pid is not None and is_ours(pid, rundir) else None


def send_signal(rundir: str, sig: signal.Signals) -> bool:
    """Signal the guest of `rundir` if (and only if) it is still our process."""
    pid = alive_pid(rundir)
    if pid is None:
        return False
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return False
    return True


async def spawn(rundir: str, tick: float, counter: int, boots: int, paused: bool) -> int:
    """Start a guest process and wait until it has installed its signal handlers."""
    fifo = os.path.join(rundir, FIFO)
    if not os.path.exists(fifo):
        os.mkfifo(fifo, 0o600)
    for stale in (STATE, CTL, PID):
        _unlink(os.path.join(rundir, stale))
    argv = [
        "bash", "--norc", "--noprofile", VM_SCRIPT, "--fork", rundir,
        f"{tick:g}", str(counter), str(boots), "paused" if paused else "run",
    ]  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
        cwd=rundir,
    )
    out, err = await proc.communicate()
    try:
        pid = int(out.decode().strip())
    except ValueError:
        raise HypervisorError(f"Could not start fake guest in {rundir}: {err.decode().strip()}") from None
    with open(os.path.join(rundir, PID), "w") as fh:
        fh.write(f"{pid}\n")
    deadline = time.monotonic() + 5.0
    while read_state(rundir) is None:
        if not is_ours(pid, rundir) or time.monotonic() > deadline:
            raise HypervisorError(f"Fake guest in {rundir} died while booting")
        await asyncio.sleep(0.0005)
    return pid


async def control(rundir: str, command: str, *args: int, timeout: float = 3.0) -> GuestState:
    """Send a control request (see vm.sh) and wait for the guest to acknowledge it."""
    seq = time.time_ns() // 1000 % 10**15
    tmp = os.path.join(rundir, CTL + ".tmp")
    with open(tmp, "w") as fh:
        fh.write(" ".join([str(seq), command, *map(str, args)]) + "\n")
    os.replace(tmp, os.path.join(rundir, CTL))
    start = time.monotonic()
    resend = start
    delay = 0.0002
    while True:
        now = time.monotonic()
        if now >= resend:
            # Repeated until acknowledged: bash can lose a signal racing its read -t timeout;
            # the guest ignores a request number it has already acknowledged.
            if not send_signal(rundir, signal.SIGUSR2):
                state = read_state(rundir)
                if state is not None and state.ack == seq:
                    return state  # e.g. "poweroff": acknowledged, then the guest exited
                raise HypervisorError(f"Fake guest in {rundir} is not running")
            resend = now + 0.05
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.005)
        state = read_state(rundir)
        if state is not None and state.ack == seq:
            return state
        if time.monotonic() - start > timeout:
            raise HypervisorError(f"Fake guest in {rundir} did not answer '{command}' within {timeout}s")


async def wait_dead(rundir: str, pid: int, timeout: float) -> bool:
    """Poll until the guest's process is gone (or a zombie); False on timeout."""
    deadline = time.monotonic() + timeout
    delay = 0.0005
    while is_ours(pid, rundir):
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.05)
    return True


async def kill(rundir: str) -> None:
    """SIGKILL the guest and wait until it is gone."""
    pid = alive_pid(rundir)
    if pid is None:
        return
    send_signal(rundir, signal.SIGKILL)
    if not await wait_dead(rundir, pid, 5.0):
        raise HypervisorError(f"Fake guest process {pid} did not die after SIGKILL")


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
