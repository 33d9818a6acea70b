"""An instance OS's `export` and `import` scripts as the ends of a disk stream (agent.transfer).

Ganeti exports a disk as its OS's export script writes it (stdout, with EXPORT_DEVICE and
EXPORT_INDEX set) and imports by feeding the dump to the OS's import script (stdin, IMPORT_DEVICE
and IMPORT_INDEX): the dump is in the OS's own format (a file-system dump for debootstrap, the raw
device for noop). The scripts get ganeti-os-interface(7)'s environment, OSP_* included with the
private and secret parameters the master put in the spec (never written anywhere by this node: the
environment goes to the script alone, its stderr to the OS log directory).

The transfer reads or writes `fd`, the parent's end of a pipe, exactly as it would a file; `finish`
closes it and waits for the script, and fails with the tail of its log when the script did.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from dataclasses import dataclass

from agent import children, os_scripts
from gnt import paths
from gnt.errors import OpExecError, RpcArgumentError, StorageError
from gnt.runtime import DiskSpec, InstanceSpec

#: seconds an import script may take to finish after the last byte was written to it
FINISH_TIMEOUT = 3600.0
EXPORT, IMPORT = "export", "import"


@dataclass
class ScriptEnd:
    """One running export or import script and the parent's end of its pipe."""

    kind: str
    proc: asyncio.subprocess.Process
    fd: int
    log_path: str
    closed: bool = False

    def close(self) -> None:
        """Close the parent's end (for an import script: the end of its input)."""
        if not self.closed:
            self.closed = True
            os.close(self.fd)

    async def finish(self, timeout: float = FINISH_TIMEOUT) -> None:
        """Wait for the script; StorageError with its log's tail unless it exited 0."""
        self.close()
        code = await children.run_in_group(self.proc, timeout)
        if code == 0:
            return
        reason = "timed out" if code is None else (f"exit code {code}" if code > 0 else f"signal {-code}")
        tail = await asyncio.to_thread(os_scripts._tail, self.log_path, os_scripts.LOG_TAIL_LINES)
        raise StorageError(f"OS {self.kind} script failed ({reason}), last lines in the log file:\n{tail}")

    def abort(self) -> None:
        """The transfer failed: the script and everything it started go."""
        self.close()
        if self.proc.returncode is None:
            children.kill_group(self.proc.pid)


async def start(kind: str, spec: InstanceSpec, disk: DiskSpec, device: str) -> ScriptEnd:
    """Start `spec`'s OS `kind` script for `disk` (assembled at `device`), its stdout (export) or
    stdin (import) a pipe whose other end is returned."""
    if kind not in (EXPORT, IMPORT):
        raise RpcArgumentError(f"unknown OS transfer script {kind!r}")
    if not spec.os:
        raise RpcArgumentError(f"instance {spec.name} has no OS to run an {kind} script of")
    try:
        definition, variant = await asyncio.to_thread(os_scripts.get_os, spec.os, paths.os_search_path())
    except OpExecError as err:
        raise StorageError(str(err)) from None
    disk_paths = [device if d.index == disk.index else (d.path or "") for d in spec.disks]
    env = os_scripts.build_env(definition, variant, spec, disk_paths)
    prefix = "EXPORT" if kind == EXPORT else "IMPORT"
    env[f"{prefix}_DEVICE"] = device
    env[f"{prefix}_INDEX"] = str(disk.index)
    log_dir = paths.ensure_dir(os.path.join(paths.log_dir(), "os"))
    log_path = os.path.join(log_dir, os_scripts._log_name(kind, definition.name, spec.name))
    script = os.path.join(definition.path, kind)
    read_end, write_end = os.pipe()
    ours, theirs = (read_end, write_end) if kind == EXPORT else (write_end, read_end)
    try:
        with open(log_path, "ab") as log:
            streams = {"stdout": theirs, "stdin": asyncio.subprocess.DEVNULL}
            if kind == IMPORT:
                streams = {"stdin": theirs, "stdout": log}
            proc = await children.spawn(script, stderr=log, env=env, cwd=definition.path, **streams)
    except OSError as err:
        os.close(ours)
        raise StorageError(f"OS {kind} script {script} could not be run: {err.strerror}") from err
    finally:
        with contextlib.suppress(OSError):
            os.close(theirs)  # the script holds its end; ours sees EOF (export) or EPIPE (import) when it exits
    return ScriptEnd(kind, proc, ours, log_path)
