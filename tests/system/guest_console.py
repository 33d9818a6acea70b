"""Talk to the test guest: its serial console socket (commands) and serial log (what it printed)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import time

from guest import COUNTER_PREFIX, READY_MARKER

_tokens = itertools.count(1)


def read_log(path: str) -> str:
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


async def wait_for_text(path: str, text: str, timeout: float = 60.0) -> str:
    """Wait until `text` shows up in the serial log at `path`; returns the log."""
    deadline = time.monotonic() + timeout
    while True:
        log = read_log(path)
        if text in log:
            return log
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} not in {path} after {timeout}s; log tail: {log[-800:]!r}")
        await asyncio.sleep(0.1)


async def wait_ready(path: str, timeout: float = 60.0) -> None:
    await wait_for_text(path, READY_MARKER, timeout)


def counters(log: str) -> list[int]:
    return [int(m) for m in re.findall(re.escape(COUNTER_PREFIX) + r"(\d+)", log)]


class GuestConsole:
    """A shell session on the guest's serial console socket."""

    def __init__(self, socket_path: str) -> None:
        self.socket_path = socket_path
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> GuestConsole:
        self._reader, self._writer = await asyncio.open_unix_connection(self.socket_path)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()

    async def send(self, line: str) -> None:
        """Type a line without waiting for an answer (e.g. poweroff)."""
        assert self._writer is not None
        self._writer.write(f"{line}\n".encode())
        await self._writer.drain()

    async def run(self, command: str, timeout: float = 30.0) -> tuple[int, str]:
        """Run a shell command in the guest; (exit code, output).

        If the guest has not even echoed the line after a few seconds, the line is typed again:
        input sent in the first moments of a console connection can be lost (seen once on a
        just-migrated guest), and the commands tests send are safe to repeat.
        """
        assert self._reader is not None and self._writer is not None
        token = f"T{next(_tokens)}x"
        line = f"{command}; echo GNT-RC-$?-{token}\n"
        pattern = re.compile(rf"GNT-RC-(\d+)-{token}")
        buf = ""
        deadline = time.monotonic() + timeout
        resend_at = 0.0
        while not (match := pattern.search(buf)):
            now = time.monotonic()
            if now >= deadline:
                raise AssertionError(f"guest command {command!r} timed out; output: {buf[-800:]!r}")
            if now >= resend_at and f"GNT-RC-$?-{token}" not in buf:
                self._writer.write(line.encode())
                await self._writer.drain()
                resend_at = now + 5.0
            try:
                chunk = await asyncio.wait_for(self._reader.read(4096), min(deadline, resend_at) - now)
            except TimeoutError:
                continue
            if not chunk:
                raise AssertionError(f"guest console closed during {command!r}; output: {buf[-800:]!r}")
            buf += chunk.decode(errors="replace")
        output = "\n".join(line for line in buf[: match.start()].splitlines() if COUNTER_PREFIX not in line)
        return int(match.group(1)), output

    async def check(self, command: str, timeout: float = 30.0) -> str:
        rc, out = await self.run(command, timeout)
        if rc != 0:
            raise AssertionError(f"guest command {command!r} failed ({rc}): {out[-800:]}")
        return out
