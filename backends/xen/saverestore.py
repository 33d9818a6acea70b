"""Non-live Xen migration: `xl save` on the source streamed over TCP into `xl restore` on the target.

Why not `xl migrate` with the guest paused: xl migrate always asks Xen for log-dirty mode (it is
built for the live case), and a Xen without shadow paging (Debian 12's is built so) refuses that
for a PV guest ("Failed to enable logdirty: 95,22,0", EOPNOTSUPP first), paused guest or not.
`xl save` makes a one-pass image without dirty tracking, and `xl restore` builds the domain from
it; both read and write a pipe, so no save file touches a disk.

The connection goes from the source's node daemon to a one-shot listener in the target's node
daemon on the instance's `migration_port` (the port live migration uses; open only between accept
and finalize), and it carries the answer back: after the image the source half-closes, the target
waits for `xl restore` to exit and replies `ok` once the domain exists there, or `error: ...`.
The source runs `xl save -p`, which keeps its copy paused instead of destroying it, so until that
`ok` arrives the guest can always go on where it was: a failed or cancelled move only unpauses it,
and the source copy is destroyed (finalize) only after the target has the guest.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
from collections.abc import Awaitable, Callable

from backends.xen.xl import STREAM_TIMEOUT
from gnt.errors import HypervisorError

__all__ = ["Receiver", "SaveTransfer", "CHUNK", "RESTORE_WAIT", "log_tail", "watch_peer"]

#: bytes per read of the save image (a 128 MiB guest: 128 reads)
CHUNK = 1 << 20
#: seconds the target may take between the image's end and `xl restore`'s exit (TCG: tens of seconds)
RESTORE_WAIT = 600.0
#: seconds the source waits for the target to accept the connection
CONNECT_WAIT = 30.0
OK = b"ok\n"

#: called by the receiver once xl restore exited 0: "" when the domain is there, else why not
Check = Callable[[], Awaitable[str]]


def log_tail(path: str, limit: int = 300) -> str:
    """The lines of an xl log that say what went wrong (its errors first, else its end), one line."""
    try:
        with open(path, errors="replace") as f:
            lines = [line.strip() for line in f.read().splitlines() if line.strip()]
    except OSError:
        return ""
    errors = [line for line in lines if "error" in line.lower() or "fail" in line.lower()][:2]
    return " ".join(errors or lines[-3:])[-limit:]


def watch_peer(sock: socket.socket) -> None:
    """End the connection once the peer stops acknowledging data or keepalives for STREAM_TIMEOUT
    (a target that lost power), instead of TCP's 15 minutes of retransmits or an endless wait
    for its answer; what `xl migrate`'s socat does with the same options (xl.py)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, STREAM_TIMEOUT // 3)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, STREAM_TIMEOUT // 6)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 3)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, STREAM_TIMEOUT * 1000)


class SaveTransfer:
    """The source side: `xl save -p` into a TCP connection to the target, then the target's answer."""

    def __init__(self, save_argv: list[str], address: str, port: int, log: str) -> None:
        self.argv = save_argv
        self.address, self.port = address, port
        self.log = log
        self.transferred = 0
        self.error = ""
        self.done = False
        self._task: asyncio.Task[None] | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._aborted = False

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    @property
    def succeeded(self) -> bool:
        return self.done and not self.error

    @property
    def task(self) -> asyncio.Task[None] | None:
        """The transfer's task once started: done when `done` is set (its end can be awaited)."""
        return self._task

    async def _run(self) -> None:
        try:
            await self._transfer()
        except HypervisorError as err:
            self.error = str(err)
        except (OSError, asyncio.IncompleteReadError, TimeoutError) as err:
            self.error = f"the save stream to {self.address}:{self.port} failed: {err}"
        finally:
            self.done = True
            if self._writer is not None:
                self._writer.close()

    async def _transfer(self) -> None:
        # connect first: a target that is not there must not cost the guest a suspend
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(self.address, self.port), CONNECT_WAIT)
        except (OSError, TimeoutError) as err:
            where = f"{self.address}:{self.port}"
            raise HypervisorError(f"cannot reach the target's migration port {where}: {err}") from None
        self._writer = writer
        watch_peer(writer.get_extra_info("socket"))
        with open(self.log, "wb") as out:
            proc = await asyncio.create_subprocess_exec(
                *self.argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=out
            )
        assert proc.stdout is not None
        sending = True
        while chunk := await proc.stdout.read(CHUNK):
            if not sending:
                continue  # keep draining: xl save must finish to resume (paused) the source copy
            try:
                writer.write(chunk)
                await writer.drain()
                self.transferred += len(chunk)
            except OSError as err:
                sending = False
                self.error = f"the target {self.address} broke the save stream: {err}"
            if self._aborted:
                sending = False
        rc = await proc.wait()
        if rc != 0:
            raise HypervisorError(f"xl save exited {rc}: {log_tail(self.log) or 'no message'}")
        if self._aborted:
            raise HypervisorError("the migration was cancelled; the guest stays here (paused until finalize)")
        if not sending:
            raise HypervisorError(self.error)
        writer.write_eof()
        answer = await asyncio.wait_for(reader.readline(), RESTORE_WAIT)
        if answer != OK:
            why = answer.decode(errors="replace").strip() or "the target closed the connection without an answer"
            raise HypervisorError(f"xl restore on {self.address}: {why.removeprefix('error: ')}")

    async def abort(self) -> None:
        """Stop sending (xl save still runs to its end, so the source copy is resumed paused)."""
        self._aborted = True
        if self._writer is not None:
            self._writer.transport.abort()  # drop unsent data too: a target that stopped reading must not hold us
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class Receiver:
    """The target side: a one-shot listener handing the stream to `xl restore` and answering."""

    def __init__(self, restore_argv: list[str], address: str, port: int, log: str, check: Check) -> None:
        self.argv = restore_argv
        self.address, self.port = address, port
        self.log = log
        self.check = check
        self._server: asyncio.Server | None = None
        self._busy = False
        self._handlers: set[asyncio.Task[None]] = set()

    async def listen(self) -> None:
        try:
            self._server = await asyncio.start_server(self._serve, self.address, self.port, reuse_address=True)
        except OSError as err:
            raise HypervisorError(f"cannot listen on migration port {self.address}:{self.port}: {err}") from None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._busy:  # one guest per accept; a second connection gets nothing
            writer.close()
            return
        self._busy = True
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        if self._server is not None:
            self._server.close()  # stop listening: the port is this migration's only
        try:
            try:
                why = await self._restore(reader)
            except (OSError, asyncio.IncompleteReadError) as err:
                why = f"the save stream broke: {err}"
            except asyncio.CancelledError:  # close() after a failed move; the handler ends here
                return
            with contextlib.suppress(OSError):
                writer.write(OK if not why else f"error: {why}\n".encode())
                await writer.drain()
        finally:
            writer.close()

    async def _restore(self, reader: asyncio.StreamReader) -> str:
        out = open(self.log, "wb")  # noqa: SIM115 - closed once the process has it
        # shielded: a cancel while asyncio sets the process up would make it wait for xl's exit,
        # and xl waits for the rest of the stream
        spawn = asyncio.ensure_future(
            asyncio.create_subprocess_exec(
                *self.argv, stdin=asyncio.subprocess.PIPE, stdout=out, stderr=out, start_new_session=True
            )
        )
        spawn.add_done_callback(lambda _: out.close())
        proc: asyncio.subprocess.Process | None = None
        try:
            proc = await asyncio.shield(spawn)
            rc = await self._feed(reader, proc)
        except asyncio.CancelledError:  # finalize gave up on this move: no restore may finish after it
            proc = proc or await spawn
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)  # its own session: xl and anything it started
            if proc.stdin is not None:
                proc.stdin.close()
            await proc.wait()
            raise
        if rc is None:
            return f"xl restore did not finish in {RESTORE_WAIT:g}s"
        if rc != 0:
            return f"xl restore exited {rc}: {log_tail(self.log) or 'no message'}"
        return await self.check()

    @staticmethod
    async def _feed(reader: asyncio.StreamReader, proc: asyncio.subprocess.Process) -> int | None:
        """The stream into xl restore's stdin; its exit code (None: it hung and was killed)."""
        assert proc.stdin is not None
        feeding = True
        while chunk := await reader.read(CHUNK):
            if not feeding:
                continue
            try:
                proc.stdin.write(chunk)
                await proc.stdin.drain()
            except (BrokenPipeError, ConnectionResetError):
                feeding = False  # xl restore gave up; its log says why
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            proc.stdin.close()
        try:
            return await asyncio.wait_for(proc.wait(), RESTORE_WAIT)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            return None

    async def close(self, success: bool) -> None:
        """Stop listening. After a move that failed, a restore still under way is killed (its
        half-built domain is the caller's to destroy); after a success it has long ended."""
        if self._server is not None:
            self._server.close()
        pending = [task for task in self._handlers if not task.done()]
        if pending:
            if not success:
                for task in pending:
                    task.cancel()
            await asyncio.wait(pending, timeout=RESTORE_WAIT)  # never raises: our own cancel must not be eaten
