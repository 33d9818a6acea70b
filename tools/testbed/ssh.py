"""Running commands on a host over its sshd (a real one: issue 9's SSH transport talks to it too).

One paramiko connection per host is kept open, so a command costs a channel, not a key exchange
(a handshake takes 0.5-2 s against an emulated CPU). The connection is dropped whenever the host
is powered off or restored, since the guest side of it no longer exists.
"""

from __future__ import annotations

import logging
import os
import subprocess
import time
from dataclasses import dataclass

from .errors import TestbedError

__all__ = ["RunResult", "SshClient", "ensure_key", "ssh_argv"]

# Connecting while a host boots fails a few times by design; without a handler anywhere, paramiko's
# transport thread would print each failure's traceback on stderr (logging's last resort).
logging.getLogger("paramiko").addHandler(logging.NullHandler())


@dataclass(frozen=True)
class RunResult:
    """What a command on a host did."""

    rc: int
    stdout: str
    stderr: str


def ensure_key(cache: str) -> str:
    """Path of the test bed's private ed25519 key (made once with ssh-keygen)."""
    path = os.path.join(cache, "id_ed25519")
    if not os.path.exists(path):
        os.makedirs(cache, exist_ok=True)
        proc = subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "gnt-testbed", "-f", path],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise TestbedError(f"ssh-keygen failed: {proc.stderr.strip()}")
    return path


def ssh_argv(key: str, port: int) -> list[str]:
    """OpenSSH command line reaching a host (for people and for tools that want a real ssh)."""
    return [
        "ssh",
        "-i",
        key,
        "-p",
        str(port),
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "LogLevel=ERROR",
        "-o",
        "IdentitiesOnly=yes",
        "root@127.0.0.1",
    ]


class SshClient:
    """A lazily (re)connected paramiko client for root@127.0.0.1:port."""

    def __init__(self, key: str, port: int) -> None:
        self.key = key
        self.port = port
        self._client = None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def connect(self, timeout: float) -> None:
        """Connect, retrying until sshd answers or `timeout` passes."""
        import paramiko

        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            client = paramiko.SSHClient()
            client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
            try:
                client.connect(
                    "127.0.0.1",
                    port=self.port,
                    username="root",
                    key_filename=self.key,
                    timeout=5,
                    banner_timeout=5,
                    auth_timeout=10,
                    allow_agent=False,
                    look_for_keys=False,
                )
                client.get_transport().set_keepalive(5)
                self._client = client
                return
            except (TimeoutError, OSError, EOFError, paramiko.SSHException) as err:
                client.close()
                last = err
                time.sleep(0.2)
        raise TestbedError(f"sshd on 127.0.0.1:{self.port} not answering after {timeout:.0f} s: {last}")

    def run(
        self, command: str, timeout: float = 120.0, connect_timeout: float = 30.0, stdin: bytes | str = b""
    ) -> RunResult:
        """Run `command` with the remote shell, `stdin` as its input; output is decoded as UTF-8.

        Returns when the command exits, even if a process it started in the background still holds
        its stdout (a daemon started with `&`); stdout and stderr are read as they come, so neither
        can fill the channel's window and stall the other.
        """
        if self._client is None or not self._client.get_transport() or not self._client.get_transport().is_active():
            self.close()
            self.connect(connect_timeout)
        data = stdin.encode() if isinstance(stdin, str) else stdin
        out: list[bytes] = []
        err: list[bytes] = []
        deadline = time.monotonic() + timeout
        try:
            chan = self._client.get_transport().open_session(timeout=timeout)
            chan.settimeout(timeout)
            chan.exec_command(command)
            if data:
                chan.sendall(data)
            chan.shutdown_write()
            while not (chan.exit_status_ready() or chan.closed):
                if not _drain(chan, out, err):
                    if time.monotonic() > deadline:
                        raise TimeoutError("no exit status")
                    time.sleep(0.005)
            # Output written before the exit may still be on its way: read until the channel's EOF,
            # or until it has been quiet for a moment (a background process holding stdout).
            quiet = time.monotonic()
            while not (chan.eof_received or chan.closed) and time.monotonic() - quiet < 0.3:
                if _drain(chan, out, err):
                    quiet = time.monotonic()
                else:
                    time.sleep(0.005)
            _drain(chan, out, err)  # what arrived just before the EOF
            rc = chan.recv_exit_status()
            chan.close()
        except (TimeoutError, OSError, EOFError) as exc:
            self.close()
            raise TestbedError(f"ssh command failed or timed out after {timeout:.0f} s: {command!r}: {exc}") from exc
        return RunResult(rc, b"".join(out).decode(errors="replace"), b"".join(err).decode(errors="replace"))


def _drain(chan, out: list[bytes], err: list[bytes]) -> bool:
    """Move whatever stdout and stderr data the channel holds into `out` and `err`; True if any."""
    got = False
    while chan.recv_ready():
        out.append(chan.recv(65536))
        got = True
    while chan.recv_stderr_ready():
        err.append(chan.recv_stderr(65536))
        got = True
    return got
