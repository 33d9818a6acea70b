"""Live migration of fake guests between two node daemons, over a real TCP connection.

Both ends speak newline-delimited JSON. The source sends `hello` (name, memory), then RAM in
`ram` messages whose *size* is simulated (only a byte count travels; sending real megabytes would
only heat the loopback), paced by a fake bandwidth, then pauses the guest and sends its real state
(`final`: counter, boot count, uptime). The target acknowledges every message, so a dead target
is noticed at the next chunk and the source keeps running.

Timing: memory MiB / bandwidth (default 1024 MiB/s, env GNT_FAKE_MIGRATION_MBPS), so a 128 MiB
guest takes ~125 ms. A live migration makes one full pass while the guest runs, a second pass for
the pages it dirtied meanwhile (a fake 4 MiB/s dirty rate), then a short stop-and-copy whose
length is the reported downtime. A non-live migration pauses first: downtime = total time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from typing import Any

from backends.fake import _proc
from gnt.errors import HypervisorError
from gnt.runtime import MigrationPhase, MigrationStatus

MIB = 1024 * 1024
STEP = 0.02  # seconds of transfer per RAM message
DIRTY_RATE = 4 * MIB  # bytes/s the guest dirties while it runs
PAGE = 4096
IO_TIMEOUT = 10.0
INCOMING_STATE = "incoming.json"


async def _call(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, msg: dict[str, Any]) -> dict:
    writer.write(json.dumps(msg).encode() + b"\n")
    await writer.drain()
    line = await asyncio.wait_for(reader.readline(), IO_TIMEOUT)
    if not line:
        raise ConnectionError("the target closed the connection")
    reply = json.loads(line)
    if not reply.get("ok"):
        raise HypervisorError(f"the target refused: {reply.get('error', 'unknown error')}")
    return reply


class Outgoing:
    """The source side of one migration; `status` is what `migration_status` reports."""

    def __init__(self, name: str, rundir: str, memory_mb: int, address: str, port: int, live: bool,
                 bandwidth_mbps: float) -> None:  # fmt: skip
        self.name = name
        self.rundir = rundir
        self.memory = memory_mb * MIB
        self.target = f"{address}:{port}"
        self.address, self.port, self.live = address, port, live
        self.bandwidth = bandwidth_mbps * MIB
        self.status = MigrationStatus(
            MigrationPhase.ACTIVE, total=self.memory, remaining=self.memory, extra={"target": self.target}
        )
        self._paused = False
        self._paused_at = 0.0
        self._started = time.monotonic()
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run(), name=f"migrate-{self.name}")

    async def abort(self) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    async def _run(self) -> None:
        writer = None
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(self.address, self.port), 5.0)
            await _call(reader, writer, {"op": "hello", "name": self.name, "memory": self.memory // MIB})
            await self._transfer(reader, writer)
            self._finish_ok()
        except asyncio.CancelledError:
            await self._resume()
            self._final(MigrationPhase.CANCELLED, f"Migration of instance {self.name} was cancelled")
            raise
        except (OSError, ConnectionError, TimeoutError, ValueError, HypervisorError) as err:
            await self._resume()
            reason = _reason(err)
            self._final(MigrationPhase.FAILED, f"Migration of instance {self.name} to {self.target} failed: "
                        f"{reason}")  # fmt: skip
        finally:
            if writer is not None:
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()

    async def _transfer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        st = self.status
        if not self.live:
            await self._pause()
        began = time.monotonic()
        await self._send_ram(reader, writer, self.memory)
        if self.live:
            dirty = min(self.memory, _round_pages(DIRTY_RATE * (time.monotonic() - began)))
            st.remaining = dirty
            st.total += dirty
            st.dirty_rate = DIRTY_RATE // PAGE
            await self._send_ram(reader, writer, dirty)
            last = min(self.memory, _round_pages(DIRTY_RATE * dirty / self.bandwidth) + PAGE)
            st.total += last
            st.remaining = last
            st.expected_downtime = int(1000 * last / self.bandwidth) + 1
            await self._pause()
            await self._send_ram(reader, writer, last)
        state = _proc.read_state(self.rundir)
        if state is None:
            raise HypervisorError("the source guest has no state")
        uptime_us = int(state.uptime * 1e6)
        await _call(reader, writer, {"op": "final", "counter": state.counter, "boots": state.boots,
                                     "uptime_us": uptime_us})  # fmt: skip
        st.extra["counter"] = state.counter

    async def _send_ram(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, amount: int) -> None:
        chunk = max(PAGE, int(self.bandwidth * STEP))
        start = time.monotonic()
        sent = 0
        while sent < amount:
            n = min(chunk, amount - sent)
            await _call(reader, writer, {"op": "ram", "bytes": n})
            sent += n
            self.status.transferred += n
            self.status.remaining = amount - sent
            lag = start + sent / self.bandwidth - time.monotonic()
            if lag > 0:
                await asyncio.sleep(lag)

    async def _pause(self) -> None:
        await _proc.control(self.rundir, "pause")
        self._paused = True
        self._paused_at = time.monotonic()

    async def _resume(self) -> None:
        if self._paused and _proc.alive_pid(self.rundir) is not None:
            with contextlib.suppress(HypervisorError):
                await _proc.control(self.rundir, "cont")
        self._paused = False

    def _finish_ok(self) -> None:
        now = time.monotonic()
        self.status.downtime = int((now - self._paused_at) * 1000)
        self._final(MigrationPhase.COMPLETED, f"Migration of instance {self.name} to {self.target} completed")

    def _final(self, phase: MigrationPhase, message: str) -> None:
        self.status.phase = phase
        self.status.message = message
        self.status.total_time = int((time.monotonic() - self._started) * 1000)
        if phase == MigrationPhase.COMPLETED:
            self.status.remaining = 0


def _reason(err: Exception) -> str:
    # a target that goes away mid-transfer shows as EOF on a read or as a reset or broken pipe on a
    # write, whichever the source happens to be doing: one cause, one message
    if isinstance(err, (ConnectionResetError, BrokenPipeError)):
        return "the target closed the connection"
    if isinstance(err, OSError) and err.errno:
        return os.strerror(err.errno)  # "Connection refused", not asyncio's "Connect call failed"
    if isinstance(err, TimeoutError):
        return "the target did not answer in time"
    return str(err) or type(err).__name__


def _round_pages(n: float) -> int:
    return int(n) // PAGE * PAGE


class Incoming:
    """The target side: a one-shot TCP listener that stores the received guest state."""

    def __init__(self, name: str, rundir: str, memory_mb: int) -> None:
        self.name = name
        self.rundir = rundir
        self.memory_mb = memory_mb
        self.server: asyncio.Server | None = None
        self.received = 0
        self._writers: set[asyncio.StreamWriter] = set()

    async def listen(self, address: str) -> int:
        self.server = await asyncio.start_server(self._serve, host=address, port=0)
        return int(self.server.sockets[0].getsockname()[1])

    def close(self) -> None:
        """Stop listening and cut a transfer in progress (the source then fails cleanly)."""
        if self.server is not None:
            self.server.close()
            self.server = None
        for writer in self._writers:
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while line := await asyncio.wait_for(reader.readline(), IO_TIMEOUT * 3):
                reply = self._handle(json.loads(line))
                writer.write(json.dumps(reply).encode() + b"\n")
                await writer.drain()
        except (OSError, ValueError, TimeoutError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    def _handle(self, msg: dict[str, Any]) -> dict[str, Any]:
        op = msg.get("op")
        if op == "hello":
            if msg.get("name") != self.name:
                return {"ok": False, "error": f"this node expects instance {self.name}, not {msg.get('name')}"}
            if msg.get("memory") != self.memory_mb:
                return {"ok": False, "error": f"memory mismatch: {msg.get('memory')} != {self.memory_mb} MiB"}
            self.received = 0
            return {"ok": True}
        if op == "ram":
            self.received += int(msg["bytes"])
            return {"ok": True, "received": self.received}
        if op == "final":
            state = {k: int(msg[k]) for k in ("counter", "boots", "uptime_us")}
            _write_json(os.path.join(self.rundir, INCOMING_STATE), state)
            return {"ok": True}
        return {"ok": False, "error": f"unknown message {op!r}"}


def read_incoming_state(rundir: str) -> dict[str, int] | None:
    try:
        with open(os.path.join(rundir, INCOMING_STATE)) as fh:
            return json.load(fh)
    except (FileNotFoundError, ValueError):
        return None


def _write_json(path: str, data: Any) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(data, fh)
    os.replace(tmp, path)
