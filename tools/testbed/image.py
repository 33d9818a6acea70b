"""The host image: Debian 12 from Debian's packages, cached and rebuilt only when its inputs change.

`mmdebstrap --variant=minbase` makes the root tree, Debian's kernel package is unpacked into it
(modules for dm_mod and drbd; `depmod` runs in the tree), and `mke2fs -d` turns the tree into a
sparse ext4 image: no loop mount, no root filesystem tricks. Hosts boot the kernel's vmlinux with a
busybox initramfs and use the image read-only underneath a qcow2 overlay of their own.

gnt is not in the image: it comes from the checkout on a disk made for each run (seed.py), so the
image never goes stale with the code. The cache key is a hash of everything else that goes in:
the spec (suite, packages, pip packages, size), the guest files and build code, the kernel
package and the busybox binary.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

from . import initrd, kernel
from .errors import TestbedError

__all__ = ["ImageSpec", "Image", "DEFAULT_SPEC", "cache_dir", "build_image", "image_inputs"]

HERE = os.path.dirname(os.path.abspath(__file__))
GUEST_DIR = os.path.join(HERE, "guest")

# gnt's runtime needs from Debian (python3-qemu.qmp is not packaged: pip_packages).
HOST_PACKAGES = (
    "lvm2",
    "drbd-utils",
    "python3",
    "python3-aiohttp",
    "python3-click",
    "python3-cryptography",
    "python3-paramiko",
    "python3-numpy",
    "openssh-server",
    "openssh-client",
    "iproute2",
    "iputils-ping",
    "kmod",
    "udev",
    "procps",
    "e2fsprogs",
    "util-linux",
    "tini",
    "socat",
    # kvm instances inside the hosts (nested TCG): tests/system/testbed/test_kvm_drbd.py
    "qemu-system-x86",
    "qemu-utils",
)

# Kernel module trees no test-bed host needs (keeps the image small; drm/sound/wifi are most of it).
PRUNED_MODULES = (
    "kernel/sound",
    "kernel/drivers/gpu",
    "kernel/drivers/media",
    "kernel/drivers/infiniband",
    "kernel/drivers/staging",
    "kernel/drivers/net/wireless",
    "kernel/drivers/net/ethernet",
    "kernel/drivers/bluetooth",
    "kernel/drivers/usb",
    "kernel/drivers/hid",
    "kernel/drivers/iio",
    "kernel/drivers/input/touchscreen",
    "kernel/drivers/mmc",
    "kernel/drivers/video",
    "kernel/net/wireless",
    "kernel/net/mac80211",
    "kernel/net/bluetooth",
)

TOOLS = ("mmdebstrap", "mke2fs", "dpkg-deb", "apt-get", "chroot", "busybox")


@dataclass(frozen=True)
class ImageSpec:
    """What goes into a host image; another spec (Xen dom0, say) gets its own cache entry."""

    name: str = "bookworm-host"
    suite: str = "bookworm"
    packages: tuple[str, ...] = HOST_PACKAGES
    pip_packages: tuple[str, ...] = ("qemu.qmp==0.0.3",)
    size: str = "2G"


DEFAULT_SPEC = ImageSpec()


@dataclass(frozen=True)
class Image:
    """A built image: the root filesystem, the kernel to boot and its initramfs."""

    root: str
    vmlinux: str
    initrd: str
    kernel_release: str
    key: str


def cache_dir() -> str:
    """Where images and the test bed's ssh key live (GNT_TESTBED_CACHE, else ~/.cache/gnt-testbed)."""
    return os.environ.get("GNT_TESTBED_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "gnt-testbed")


def _busybox() -> str:
    path = shutil.which("busybox") or "/bin/busybox"
    if not os.path.exists(path):
        raise TestbedError("busybox not found: install busybox-static")
    return path


def _file_hash(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def image_inputs(spec: ImageSpec, deb: str) -> dict[str, str]:
    """Everything that decides the image's content, as name -> digest (the cache key's input)."""
    inputs = {"spec": json.dumps(dataclasses.asdict(spec), sort_keys=True), "kernel": os.path.basename(deb)}
    for name in ("image.py", "initrd.py", "kernel.py"):
        inputs[name] = _file_hash(os.path.join(HERE, name))
    for name in sorted(os.listdir(GUEST_DIR)):
        inputs["guest/" + name] = _file_hash(os.path.join(GUEST_DIR, name))
    inputs["busybox"] = _file_hash(_busybox())
    return inputs


def _key(inputs: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:16]


def _run(argv: list[str], **kwargs: object) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise TestbedError(f"{argv[0]} failed (exit {proc.returncode}):\n{tail}")


def check_tools() -> list[str]:
    """Names of the build tools this machine lacks (empty when an image can be built)."""
    return [t for t in TOOLS if not shutil.which(t)]


def build_image(spec: ImageSpec = DEFAULT_SPEC, log=None) -> Image:
    """Return the cached image for `spec`, building it first if its inputs changed (needs root).

    A lock on the cache makes a second test run wait for the build in progress and then use it.
    """
    cache = cache_dir()
    os.makedirs(os.path.join(cache, "images"), exist_ok=True)
    with open(os.path.join(cache, "images", ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        deb = kernel.kernel_deb(cache)
        key = _key(image_inputs(spec, deb))
        dest = os.path.join(cache, "images", f"{spec.name}-{key}")
        if not os.path.exists(os.path.join(dest, "manifest.json")):
            _build_into(spec, deb, dest, log or (lambda msg: None))
            _prune_old(os.path.dirname(dest), spec.name, keep=dest)
    return Image(
        root=os.path.join(dest, "root.img"),
        vmlinux=os.path.join(dest, "vmlinux"),
        initrd=os.path.join(dest, "initrd.img"),
        kernel_release=kernel.kernel_version(deb),
        key=key,
    )


def _build_into(spec: ImageSpec, deb: str, dest: str, log) -> None:
    missing = check_tools()
    if missing:
        raise TestbedError(f"cannot build the host image: missing {', '.join(missing)} (tools/install-deps.sh)")
    if os.geteuid() != 0:
        raise TestbedError("building the host image needs root (mmdebstrap in root mode, chroot depmod)")
    shutil.rmtree(dest, ignore_errors=True)  # a build interrupted before its manifest was written
    work = tempfile.mkdtemp(prefix=f".{os.path.basename(dest)}-", dir=os.path.dirname(dest))
    try:
        _build(spec, deb, work, log)
        os.chmod(work, 0o755)
        os.replace(work, dest)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _prune_old(images: str, name: str, keep: str, previous: int = 1) -> None:
    """Drop older images of the same spec (each is ~0.6 GB), keeping `previous` ones besides `keep`.

    The newest older image stays: a bed booted from it before the rebuild may still cold-boot a host.
    """
    pattern = re.compile(re.escape(name) + r"-[0-9a-f]{16}")
    old = [
        os.path.join(images, e) for e in os.listdir(images) if pattern.fullmatch(e) and os.path.join(images, e) != keep
    ]
    old.sort(key=os.path.getmtime, reverse=True)
    for path in old[previous:]:
        shutil.rmtree(path, ignore_errors=True)


def _build(spec: ImageSpec, deb: str, work: str, log) -> None:
    timings: dict[str, float] = {}
    tree = os.path.join(work, "tree")
    release = kernel.kernel_version(deb)

    t = time.monotonic()
    log(f"mmdebstrap {spec.suite} ({len(spec.packages)} packages)")
    _run(
        [
            "mmdebstrap",
            "--mode=root",
            "--variant=minbase",
            "--include=" + ",".join(spec.packages),
            "--aptopt=APT::Install-Recommends false",
            "--dpkgopt=path-exclude=/usr/share/man/*",
            "--dpkgopt=path-exclude=/usr/share/doc/*",
            "--dpkgopt=path-exclude=/usr/share/locale/*",
            spec.suite,
            tree,
        ]
    )
    timings["mmdebstrap"] = time.monotonic() - t

    t = time.monotonic()
    log(f"kernel {release}")
    unpacked = os.path.join(work, "kernel")
    _run(["dpkg-deb", "-x", deb, unpacked])
    kernel.extract_vmlinux(os.path.join(unpacked, "boot", f"vmlinuz-{release}"), os.path.join(work, "vmlinux"))
    moddir = os.path.join(tree, "usr", "lib", "modules", release)
    shutil.copytree(os.path.join(unpacked, "lib", "modules", release), moddir, symlinks=True)
    shutil.rmtree(unpacked)
    for sub in PRUNED_MODULES:
        shutil.rmtree(os.path.join(moddir, sub), ignore_errors=True)
    _run(["chroot", tree, "depmod", "-a", release])
    initrd.write_initrd(os.path.join(work, "initrd.img"), moddir, _busybox())
    timings["kernel"] = time.monotonic() - t

    t = time.monotonic()
    _customize(spec, tree)
    timings["customize"] = time.monotonic() - t

    t = time.monotonic()
    log(f"mke2fs -d ({spec.size})")
    _run(["mke2fs", "-q", "-F", "-t", "ext4", "-L", "root", "-d", tree, os.path.join(work, "root.img"), spec.size])
    timings["mke2fs"] = time.monotonic() - t
    shutil.rmtree(tree)
    manifest = {"spec": dataclasses.asdict(spec), "kernel": release, "timings": timings, "built": time.time()}
    with open(os.path.join(work, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


def _customize(spec: ImageSpec, tree: str) -> None:
    """Guest init, sshd config, Python path to the checkout disk, and pip-only packages."""
    shutil.copy(os.path.join(GUEST_DIR, "init.sh"), os.path.join(tree, "sbin", "testbed-init"))
    os.chmod(os.path.join(tree, "sbin", "testbed-init"), 0o755)
    shutil.copy(os.path.join(GUEST_DIR, "sshd_config"), os.path.join(tree, "etc", "ssh", "sshd_config"))
    for name in os.listdir(os.path.join(tree, "etc", "ssh")):
        if name.startswith("ssh_host_"):  # each host makes its own at first boot
            os.unlink(os.path.join(tree, "etc", "ssh", name))
    os.makedirs(os.path.join(tree, "opt", "gnt"), exist_ok=True)
    os.makedirs(os.path.join(tree, "root", ".ssh"), mode=0o700, exist_ok=True)
    extra = os.path.join(tree, "opt", "testbed-python")
    if spec.pip_packages:
        _run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", extra, *spec.pip_packages])
    with open(os.path.join(tree, "usr", "lib", "python3", "dist-packages", "gnt-checkout.pth"), "w") as f:
        f.write("/opt/gnt\n/opt/testbed-python\n")
    with open(os.path.join(tree, "etc", "fstab"), "w") as f:
        f.write("/dev/vda / ext4 rw 0 1\n")
