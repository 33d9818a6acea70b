"""The tiny real guest the kvm system tests, the migration benchmark and tools/demo.sh boot.

A Debian kernel (from the `linux-image-amd64` package, decompressed to the ELF `vmlinux` so QEMU
boots it through its PVH entry: about 2 s under TCG, twice as fast as the bzImage) and a busybox
initramfs built here, both cached under ~/.cache/gnt-test-guest (GNT_TEST_GUEST_CACHE).

The guest's /init reads `gnt.*` kernel parameters:

- `gnt.ip=10.8.0.2/24` brings eth0 up with that address (`gnt.gw=` adds a default route);
- `gnt.dirty=32` dirties 32 MiB/s of RAM (over a `gnt.dirtyset=` MiB working set, default 24);
- `gnt.tick=0.1` sets the counter period (seconds).

It prints `GNT-GUEST-READY`, then `GNT-COUNTER n` every tick (a counter held in RAM, so it survives
a migration), powers off on the ACPI power button, and runs a shell on the serial console that
tests drive with `GuestConsole`.

Run as a program, it builds (or finds in the cache) the kernel and initramfs and prints them, or
with `--hvparams` prints the `-H kvm:...` value that boots them; when QEMU cannot run here it says
why in one line on stderr and exits 1 (the demo then skips its kvm part).

It imports nothing from gnt: the demo runs it before gnt is set up.
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import stat
import subprocess
import sys

import bootfiles  # tools/bootfiles.py: this file's directory is on sys.path when it runs or is imported

#: what building and booting the guest needs on the host
TOOLS = ("qemu-system-x86_64", "busybox", "dpkg-deb")
READY_MARKER = "GNT-GUEST-READY"
COUNTER_PREFIX = "GNT-COUNTER "

# Loaded in this order (no modules.dep in the package: dependencies first).
MODULES = (
    "drivers/virtio/virtio_ring.ko",
    "drivers/virtio/virtio.ko",
    "drivers/virtio/virtio_pci_modern_dev.ko",
    "drivers/virtio/virtio_pci_legacy_dev.ko",
    "drivers/virtio/virtio_pci.ko",
    "drivers/virtio/virtio_balloon.ko",  # gnt-instance modify -m: the guest gives the memory back
    "drivers/block/virtio_blk.ko",
    "net/core/failover.ko",
    "drivers/net/net_failover.ko",
    "drivers/net/virtio_net.ko",
    "drivers/input/evdev.ko",
    "drivers/acpi/button.ko",
)

INIT_SCRIPT = r"""#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/shm && mount -t tmpfs -o size=90% shm /dev/shm
for m in /lib/gnt/*.ko; do insmod "$m" 2>/dev/null; done
arg() { for w in $(cat /proc/cmdline); do case "$w" in "$1="*) echo "${w#*=}";; esac; done; }
IP=$(arg gnt.ip); GW=$(arg gnt.gw); DIRTY=$(arg gnt.dirty); SET=$(arg gnt.dirtyset); TICK=$(arg gnt.tick)
[ -n "$TICK" ] || TICK=0.1
[ -n "$SET" ] || SET=24
ip link set lo up
if [ -n "$IP" ]; then
  ip link set eth0 up && ip addr add "$IP" dev eth0
  [ -n "$GW" ] && ip route add default via "$GW"
fi
# ACPI power button -> clean poweroff (what `system_powerdown` asks for).
for ev in /sys/class/input/event*; do
  if grep -q "Power Button" "$ev/device/name" 2>/dev/null; then
    (dd if=/dev/input/${ev##*/} of=/dev/null bs=24 count=1 2>/dev/null && sync && poweroff -f) &
  fi
done
if [ -n "$DIRTY" ] && [ "$DIRTY" != 0 ]; then
  # Non-zero data (QEMU sends zero pages almost for free), copied over a working set in tmpfs.
  CHUNK=$((DIRTY * 16 / 10)); [ "$CHUNK" -gt 0 ] || CHUNK=1
  dd if=/dev/urandom of=/dev/shm/src bs=64k count=$CHUNK 2>/dev/null
  dd if=/dev/zero of=/dev/shm/set bs=64k count=$((SET * 16)) 2>/dev/null
  (off=0; while :; do
     dd if=/dev/shm/src of=/dev/shm/set bs=64k count=$CHUNK seek=$off conv=notrunc 2>/dev/null
     off=$(( (off + CHUNK) % (SET * 16 - CHUNK + 1) )); sleep 0.1
   done) &
fi
(n=0; while :; do n=$((n + 1)); echo "GNT-COUNTER $n" > /dev/ttyS0; sleep "$TICK"; done) &
echo GNT-GUEST-READY > /dev/ttyS0
while :; do setsid sh -c 'exec sh </dev/ttyS0 >/dev/ttyS0 2>&1'; done
"""


def cache_dir() -> str:
    return os.environ.get("GNT_TEST_GUEST_CACHE", os.path.expanduser("~/.cache/gnt-test-guest"))


def _kernel_deb(cache: str) -> str:
    debs = sorted(glob.glob(os.path.join(cache, "debs", "linux-image-*.deb")))
    if debs:
        return debs[-1]
    os.makedirs(os.path.join(cache, "debs"), exist_ok=True)
    deps = subprocess.run(
        ["apt-cache", "depends", "linux-image-amd64"], capture_output=True, text=True, check=True
    ).stdout
    pkg = next(w for line in deps.splitlines() for w in line.split()[1:2] if w.startswith("linux-image-6"))
    got = subprocess.run(["apt-get", "download", pkg], cwd=os.path.join(cache, "debs"), capture_output=True, text=True)
    if got.returncode != 0:
        raise RuntimeError(f"apt-get download {pkg} failed: {(got.stderr.strip().splitlines() or ['?'])[-1]}")
    return _kernel_deb(cache)


def _unpacked(cache: str) -> str:
    root = os.path.join(cache, "kernel-root")
    if not glob.glob(os.path.join(root, "boot", "vmlinuz-*")):
        shutil.rmtree(root, ignore_errors=True)
        subprocess.run(["dpkg-deb", "-x", _kernel_deb(cache), root], check=True)
    return root


def _extract_vmlinux(bzimage: str, dest: str) -> None:
    try:
        bootfiles.extract_vmlinux(bzimage, dest)
    except ValueError as err:
        raise RuntimeError(str(err)) from None


def kernel() -> str:
    """Path of the uncompressed, PVH-bootable vmlinux (built once, cached)."""
    cache = cache_dir()
    dest = os.path.join(cache, "vmlinux")
    if not os.path.exists(dest):
        root = _unpacked(cache)
        _extract_vmlinux(sorted(glob.glob(os.path.join(root, "boot", "vmlinuz-*")))[-1], dest)
    return dest


def build_initramfs(dest: str) -> None:
    """A newc cpio (gzip) with busybox, /init and the virtio/ACPI modules."""
    moddir = glob.glob(os.path.join(_unpacked(cache_dir()), "lib", "modules", "*", "kernel"))[0]
    busybox = shutil.which("busybox") or "/bin/busybox"
    with open(busybox, "rb") as f:
        bb = f.read()
    files: list[tuple[str, int, bytes]] = [
        (d, stat.S_IFDIR | 0o755, b"") for d in ("bin", "dev", "proc", "sys", "tmp", "lib", "lib/gnt")
    ]
    files += [("bin/busybox", stat.S_IFREG | 0o755, bb), ("init", stat.S_IFREG | 0o755, INIT_SCRIPT.encode())]
    for i, mod in enumerate(MODULES):
        with open(os.path.join(moddir, mod), "rb") as f:
            files.append((f"lib/gnt/{i:02d}-{os.path.basename(mod)}", stat.S_IFREG | 0o644, f.read()))
    bootfiles.write_initramfs(dest, files)


def initramfs() -> str:
    """Path of the test initramfs; rebuilt when this file's /init changes."""
    tag = hashlib.sha256(INIT_SCRIPT.encode() + repr(MODULES).encode()).hexdigest()[:12]
    dest = os.path.join(cache_dir(), f"initramfs-{tag}.gz")
    if not os.path.exists(dest):
        build_initramfs(dest)
    return dest


def hvparams(**extra: object) -> dict[str, object]:
    """kvm hvparams that boot the test guest; `args` are extra kernel parameters."""
    args = str(extra.pop("args", ""))
    params: dict[str, object] = {
        "kernel_path": kernel(),
        "initrd_path": initramfs(),
        "kernel_args": f"quiet panic=-1 {args}".strip(),
        "serial_console": True,
    }
    params.update(extra)
    return params


def missing_tools() -> list[str]:
    """Host programs the guest needs that are not installed."""
    return [tool for tool in TOOLS if shutil.which(tool) is None]


def gnt_hvparams() -> str:
    """The value of `gnt-instance add -H kvm:VALUE` that boots the test guest (no serial console option)."""
    return ",".join(f"{k}={v}" for k, v in hvparams().items() if k != "serial_console")


def main(argv: list[str]) -> int:
    missing = missing_tools()
    if missing:
        print(f"{', '.join(missing)} not installed (as root: sh tools/install-deps.sh)", file=sys.stderr)
        return 1
    try:
        lines = [gnt_hvparams()] if "--hvparams" in argv else [kernel(), initramfs()]
    except (OSError, RuntimeError, StopIteration, subprocess.CalledProcessError) as err:
        print(f"cannot build the test guest: {err}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
