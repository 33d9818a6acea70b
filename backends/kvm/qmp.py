"""A thin QMP session on top of `qemu.qmp`: connect, run commands, map errors to HypervisorError.

QEMU serves one client per monitor at a time, so the driver opens short sessions for each
operation on the control monitor (nothing to go stale across node daemon restarts) and keeps the
second monitor for the migration supervisor, which needs a session for the whole transfer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator
from typing import Any

from qemu.qmp import ExecuteError, QMPClient

from gnt.errors import HypervisorError

__all__ = ["Monitor", "session"]

# qemu.qmp logs every failed connect at ERROR level; the driver reports failures itself.
logging.getLogger("qemu.qmp").setLevel(logging.CRITICAL)


class Monitor:
    """One open QMP session."""

    def __init__(self, client: QMPClient, label: str) -> None:
        self._client = client
        self._label = label

    @property
    def client(self) -> QMPClient:
        """The underlying qemu.qmp client (for event listeners)."""
        return self._client

    async def cmd(self, command: str, args: dict[str, Any] | None = None, timeout: float = 30.0) -> Any:
        """Run one QMP command; a QMP error becomes HypervisorError with QEMU's description."""
        try:
            return await asyncio.wait_for(self._client.execute(command, args or None), timeout)
        except ExecuteError as err:
            raise HypervisorError(f"{self._label}: QMP {command} failed: {err}") from err
        except TimeoutError as err:
            raise HypervisorError(f"{self._label}: QMP {command} timed out after {timeout:.0f}s") from err
        except Exception as err:  # connection lost: the process died or quit
            raise HypervisorError(f"{self._label}: QMP {command}: {type(err).__name__}: {err}") from err

    async def pass_socket(self, sock: socket.socket, name: str) -> None:
        """Hand `sock` to QEMU as fd `name` (SCM_RIGHTS + `getfd`); QEMU keeps its own copy."""
        try:
            self._client.send_fd_scm(sock.fileno())
        except Exception as err:
            raise HypervisorError(f"{self._label}: cannot pass a socket to QEMU: {err}") from err
        await self.cmd("getfd", {"fdname": name})

    async def try_cmd(self, command: str, args: dict[str, Any] | None = None) -> Any:
        """Like cmd, but None on failure: for best-effort cleanup steps."""
        try:
            return await self.cmd(command, args, timeout=10.0)
        except HypervisorError:
            return None


async def _connect(path: str, label: str, timeout: float) -> QMPClient:
    """A negotiated client. QEMU can emit an event (RESUME, MIGRATION, ...) ahead of the answer to
    `qmp_capabilities`, or even ahead of the greeting when a client reconnects while a migration
    starts; qemu.qmp's handshake rejects both ("Negotiation failed", "Did not understand Greeting"),
    so a failed handshake is retried on a fresh connection until the deadline."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        client = QMPClient(label)
        try:
            await asyncio.wait_for(client.connect(path), max(deadline - asyncio.get_running_loop().time(), 0.01))
            return client
        except Exception as err:
            with contextlib.suppress(Exception):
                await client.disconnect()
            handshake = "Negotiation failed" in str(err) or "Failed to establish session" in str(err)
            if not handshake or asyncio.get_running_loop().time() >= deadline:
                raise HypervisorError(
                    f"{label}: cannot reach QEMU's monitor at {path}: {err or type(err).__name__}"
                ) from err


@contextlib.asynccontextmanager
async def session(path: str, label: str, timeout: float = 10.0) -> AsyncIterator[Monitor]:
    """An open session on the monitor socket at `path`; HypervisorError if none within timeout."""
    client = await _connect(path, label, timeout)
    try:
        yield Monitor(client, label)
    finally:
        with contextlib.suppress(Exception):
            await client.disconnect()
