"""A busybox initramfs that loads just enough (virtio, ext4) to mount the root disk and hand over.

Written as a newc cpio by hand, so building it needs neither `cpio` nor root.
"""

from __future__ import annotations

import os
import stat

from tools import bootfiles

__all__ = ["INIT", "BOOT_MODULES", "module_closure", "write_initrd"]

# Modules the initramfs loads (with their dependencies, in modules.dep order).
BOOT_MODULES = ("virtio_pci", "virtio_blk", "crc32c_generic", "ext4")

INIT = r"""#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev /newroot
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sys /sys
/bin/busybox mount -t devtmpfs dev /dev
for m in $(/bin/busybox cat /lib/order); do /bin/busybox insmod "/lib/mods/$m" 2>/dev/null; done
ROOT=/dev/vda
for a in $(/bin/busybox cat /proc/cmdline); do case $a in root=*) ROOT=${a#root=};; esac; done
i=0; while [ ! -b "$ROOT" ] && [ $i -lt 200 ]; do /bin/busybox sleep 0.05; i=$((i+1)); done
/bin/busybox mount -t ext4 "$ROOT" /newroot || { echo "initrd: cannot mount $ROOT"; exec /bin/busybox sh; }
/bin/busybox umount /proc /sys
/bin/busybox mount --move /dev /newroot/dev
exec /bin/busybox switch_root /newroot /usr/bin/tini -s -- /sbin/testbed-init
"""


def _deps(moddir: str) -> dict[str, list[str]]:
    deps: dict[str, list[str]] = {}
    with open(os.path.join(moddir, "modules.dep")) as f:
        for line in f:
            path, _, rest = line.partition(":")
            deps[path.strip()] = rest.split()
    return deps


def module_closure(moddir: str, names: tuple[str, ...]) -> list[str]:
    """Module paths (relative to `moddir`) for `names` and their dependencies, dependencies first."""
    deps = _deps(moddir)
    by_name = {os.path.basename(p).split(".ko")[0].replace("-", "_"): p for p in deps}
    order: list[str] = []

    def visit(path: str) -> None:
        if path in order:
            return
        for dep in deps[path]:
            visit(dep)
        order.append(path)

    for name in names:
        if name in by_name:  # built-in (not a module) in this kernel: nothing to load
            visit(by_name[name])
    return order


def write_initrd(dest: str, moddir: str, busybox: str) -> None:
    """Write the gzip'd initramfs: static busybox, /init and the boot modules from `moddir`."""
    mods = module_closure(moddir, BOOT_MODULES)
    with open(busybox, "rb") as f:
        files: list[tuple[str, int, bytes]] = [
            ("bin", stat.S_IFDIR | 0o755, b""),
            ("lib", stat.S_IFDIR | 0o755, b""),
            ("lib/mods", stat.S_IFDIR | 0o755, b""),
            ("bin/busybox", stat.S_IFREG | 0o755, f.read()),
        ]
    files.append(("init", stat.S_IFREG | 0o755, INIT.encode()))
    files.append(("lib/order", stat.S_IFREG | 0o644, "".join(os.path.basename(m) + "\n" for m in mods).encode()))
    for mod in mods:
        with open(os.path.join(moddir, mod), "rb") as f:
            files.append((f"lib/mods/{os.path.basename(mod)}", stat.S_IFREG | 0o644, f.read()))
    bootfiles.write_initramfs(dest, files)
