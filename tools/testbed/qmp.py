"""A small synchronous QMP client: enough to stop, snapshot, restore and resume a host.

The test bed drives QEMU from plain (non-async) test code and CLI commands, so a blocking
client over the monitor's unix socket is simpler than an asyncio library here.
"""

from __future__ import annotations

import json
import socket
import time
from typing import Any

from .errors import TestbedError

__all__ = ["Qmp"]


class Qmp:
    """One QMP connection (capabilities negotiated); events are read and dropped."""

    def __init__(self, path: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(path)
                break
            except OSError as err:
                sock.close()
                if time.monotonic() > deadline:
                    raise TestbedError(f"QMP socket {path} not answering: {err}") from err
                time.sleep(0.05)
        sock.settimeout(timeout)
        self._sock = sock
        self._buf = b""
        self._read()  # greeting
        self.execute("qmp_capabilities")

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> Qmp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _read(self) -> dict[str, Any]:
        while b"\n" not in self._buf:
            data = self._sock.recv(65536)
            if not data:
                raise TestbedError("QMP connection closed by QEMU")
            self._buf += data
        line, _, self._buf = self._buf.partition(b"\n")
        return json.loads(line)

    def execute(self, command: str, **arguments: Any) -> Any:
        """Run one command and return its `return` value; a QMP error raises TestbedError."""
        msg: dict[str, Any] = {"execute": command}
        if arguments:
            msg["arguments"] = arguments
        self._sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            reply = self._read()
            if "return" in reply:
                return reply["return"]
            if "error" in reply:
                raise TestbedError(f"QMP {command}: {reply['error'].get('desc', reply['error'])}")

    def run_job(self, command: str, job_id: str, timeout: float = 300.0, **arguments: Any) -> None:
        """Start a block job (snapshot-save/-load) and wait until it concludes; raise on its error."""
        self.execute(command, **{"job-id": job_id}, **arguments)
        deadline = time.monotonic() + timeout
        while True:
            jobs = {j["id"]: j for j in self.execute("query-jobs")}
            job = jobs.get(job_id)
            if job is None or job["status"] == "concluded":
                break
            if time.monotonic() > deadline:
                raise TestbedError(f"QMP {command} still running after {timeout:.0f} s")
            time.sleep(0.05)
        self.execute("job-dismiss", id=job_id)
        if job is not None and job.get("error"):
            raise TestbedError(f"QMP {command}: {job['error']}")
