"""Debian's own kernel for the test-bed hosts: the .deb, unpacked, and its PVH-bootable vmlinux.

The hosts run Debian's stock `linux-image-*-amd64` (device-mapper, DRBD 8.4 and virtio as
modules) because this machine's kernel has none of them and its /dev/kvm cannot run one. The
package is only downloaded and unpacked (`dpkg-deb -x`), never installed here.
"""

from __future__ import annotations

import glob
import os
import re
import subprocess

from tools import bootfiles

from .errors import TestbedError

__all__ = ["kernel_package", "kernel_deb", "kernel_version", "extract_vmlinux"]


def kernel_package() -> str | None:
    """Name of the versioned kernel package `linux-image-amd64` depends on now (None when apt cannot say)."""
    try:
        out = subprocess.run(
            ["apt-cache", "depends", "linux-image-amd64"], capture_output=True, text=True, timeout=60
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"Depends: (linux-image-[0-9][^\s]*-amd64)\b", out)
    return match.group(1) if match else None


def kernel_deb(cache: str) -> str:
    """Path of the kernel .deb in `cache/debs`, downloaded with `apt-get download` if missing.

    Uses the newest cached .deb when apt has no package lists (an offline developer machine).
    """
    debs_dir = os.path.join(cache, "debs")
    os.makedirs(debs_dir, exist_ok=True)
    package = kernel_package()
    if package:
        found = sorted(glob.glob(os.path.join(debs_dir, f"{package}_*.deb")))
        if found:
            return found[-1]
        proc = subprocess.run(["apt-get", "download", package], cwd=debs_dir, capture_output=True, text=True)
        found = sorted(glob.glob(os.path.join(debs_dir, f"{package}_*.deb")))
        if proc.returncode == 0 and found:
            return found[-1]
        raise TestbedError(f"cannot download {package}: {proc.stderr.strip() or proc.stdout.strip()}")
    found = sorted(glob.glob(os.path.join(debs_dir, "linux-image-*.deb")))
    if found:
        return found[-1]
    raise TestbedError("no kernel package known: run `apt-get update` (apt-cache depends linux-image-amd64)")


def kernel_version(deb: str) -> str:
    """Kernel release (`6.1.0-56-amd64`) from the package's file name."""
    match = re.match(r"linux-image-(.+?)_", os.path.basename(deb))
    if not match:
        raise TestbedError(f"{deb}: not a linux-image package name")
    return match.group(1)


def extract_vmlinux(bzimage: str, dest: str) -> None:
    """Write the ELF vmlinux inside an xz-compressed bzImage to `dest` (QEMU boots it through PVH)."""
    try:
        bootfiles.extract_vmlinux(bzimage, dest)
    except ValueError as err:
        raise TestbedError(str(err)) from None
