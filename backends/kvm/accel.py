"""Which acceleration a node really has: KVM only if a real kernel boots under it.

Opening /dev/kvm proves little: a nested, emulating KVM opens fine and then hangs a stock kernel
(the test machines do exactly that). So the probe boots a kernel under KVM with no root file
system and waits for the kernel to get as far as mounting one; the panic that follows ends QEMU
(`panic=-1` with `-no-reboot`). The verdict is cached per node and revalidated when QEMU or the
probe kernel changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import tempfile
import time
from typing import Any

from backends.kvm.proc import load_state, save_state

__all__ = ["PROBE_TIMEOUT", "cache_path", "detect", "probe"]

PROBE_TIMEOUT = 20.0
# Messages a kernel prints once it has booted far enough to look for a root file system.
_BOOTED = (b"VFS: Unable to mount root fs", b"No working init found", b"Run /init as init process")


def cache_path(data_dir: str) -> str:
    return os.path.join(data_dir, "kvm-accel.json")


def _probe_kernels(extra: list[str]) -> list[str]:
    found = [k for k in extra if k and os.path.isfile(k)]
    found += sorted(glob.glob("/boot/vmlinuz-*"), reverse=True)
    return found


def _fingerprint(kvm_path: str, kernel: str) -> str:
    def mtime(p: str) -> int:
        try:
            return int(os.stat(p).st_mtime)
        except OSError:
            return 0

    return f"{kvm_path}:{mtime(kvm_path)}:{kernel}:{mtime(kernel)}"


async def probe(kvm_path: str, kernel: str, timeout: float = PROBE_TIMEOUT) -> tuple[bool, str]:
    """Boot `kernel` under KVM; (True, detail) if it reached the root mount within `timeout`."""
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False, "/dev/kvm is missing or not accessible"
    with tempfile.TemporaryDirectory(prefix="gnt-kvm-probe-") as tmp:
        console = os.path.join(tmp, "console.log")
        argv = [kvm_path, "-machine", "pc,accel=kvm", "-m", "128", "-nodefaults", "-no-user-config"]
        argv += ["-display", "none", "-no-reboot", "-serial", f"file:{console}", "-kernel", kernel]
        argv += ["-append", "console=ttyS0 panic=-1 root=/dev/gnt-probe-none rdinit=/gnt-probe-none"]
        start = time.monotonic()
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
        )
        try:
            _, err = await asyncio.wait_for(proc.communicate(), timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            return False, f"a kernel did not boot under KVM within {timeout:.0f}s (emulating nested KVM?)"
        with contextlib.suppress(OSError), open(console, "rb") as f:
            output = f.read()
            if any(marker in output for marker in _BOOTED):
                return True, f"booted {os.path.basename(kernel)} under KVM in {time.monotonic() - start:.1f}s"
        return False, f"QEMU exited ({proc.returncode}) before the kernel booted: {err.decode(errors='replace')[-300:]}"


async def detect(
    kvm_path: str, data_dir: str, kernels: list[str] | None = None, refresh: bool = False
) -> dict[str, Any]:
    """The cached verdict {"accel": "kvm"|"tcg", "reason": ...}, probing when needed."""
    candidates = _probe_kernels(kernels or [])
    kernel = candidates[0] if candidates else ""
    fingerprint = _fingerprint(kvm_path, kernel)
    path = cache_path(data_dir)
    cached = load_state(path)
    if cached and not refresh and cached.get("fingerprint") == fingerprint:
        return cached
    if not kernel:
        ok, reason = False, "no kernel to boot-test KVM with (set kernel_path or install one in /boot)"
    else:
        ok, reason = await probe(kvm_path, kernel)
    verdict = {"accel": "kvm" if ok else "tcg", "reason": reason, "fingerprint": fingerprint, "time": time.time()}
    os.makedirs(data_dir, exist_ok=True)
    save_state(path, verdict)
    return verdict
