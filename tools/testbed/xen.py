"""Xen hosts: Xen 4.17 booted by QEMU as a multiboot kernel, Debian's kernel as its PV dom0.

A separate image spec (`XEN_SPEC`, cache entry `bookworm-xen-<hash>`) adds Debian's Xen packages
to the host packages, so the default image everyone boots is not rebuilt. The hypervisor itself
(`xen-4.17-amd64.gz`, decompressed to the ELF QEMU's multiboot loader takes) and the dom0 kernel
(`vmlinuz`: the same Debian kernel the image carries modules for) are unpacked from their .debs
into the cache beside the image; neither is installed on this machine.

QEMU passes the dom0 kernel and the image's busybox initramfs as multiboot modules. Under TCG,
dom0 crashes at once unless Xen runs with `smap=0 smep=0`. Xen's console is com1 (the host's
console.log) and dom0's is hvc0, which Xen relays there too, so the boot marker still arrives.

The image's init is the default image's (changing it would rebuild that image too): the Xen
daemons (xenstored, xen-init-dom0, xenconsoled) are started over ssh once a host is up
(`start_xen`, run by `XenTestBed.start` and after a power-on), from a script on the seed disk.
"""

from __future__ import annotations

import glob
import gzip
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass

from . import kernel
from .bed import Host, TestBed
from .errors import TestbedError
from .image import HOST_PACKAGES, Image, ImageSpec, build_image, cache_dir
from .xenbuild import build_hypervisor

__all__ = ["XEN_SPEC", "XenBoot", "XenTestBed", "build_xen", "start_xen", "xen_boot_files"]

XEN_VERSION = "4.17"
XEN_HYPERVISOR_PACKAGE = f"xen-hypervisor-{XEN_VERSION}-amd64"
XEN_SPEC = ImageSpec(
    name="bookworm-xen",
    packages=(*HOST_PACKAGES, f"xen-utils-{XEN_VERSION}", XEN_HYPERVISOR_PACKAGE),
)
#: dom0's memory: fixed, so `xl info` free memory is what guests can have (no ballooning)
DOM0_MEMORY = "768M"
#: what a Xen host needs from QEMU (dom0 + a few small PV guests)
XEN_HOST_MEMORY = 2048
#: Xen's own command line; smap/smep off or dom0 faults in create_bounce_frame under TCG; Xen flushes
#: TLBs by CR4/CR3 writes rather than INVPCID (see XEN_CPU). `spec-ctrl=eager-fpu`: Xen loads each
#: vCPU's FPU/SSE/AVX state on every switch instead of lazily (CR0.TS and #NM); with QEMU 7.2 TCG's
#: `max` CPU (AMD, XSAVE and AVX), lazy switching let domains see each other's vector registers:
#: ssh streams garbled and dom0 processes corrupted while a PV guest ran, every guest boot faulting
#: (doc/design/007-xen.md, "The dom0 faults on the test bed"; measured with xen_soak.py)
XEN_ARGS = (
    f"dom0_mem={DOM0_MEMORY},max:{DOM0_MEMORY} dom0_max_vcpus=1 console=com1 com1=115200,8n1 smap=0 smep=0"
    " invpcid=0 spec-ctrl=eager-fpu noreboot"
)
#: QEMU's CPU for a Xen host: `max` without PCID and INVPCID, whose TLB paths under TCG are the
#: suspects for dom0 processes reading a destroyed guest's pages (doc/design/007-xen.md)
XEN_CPU = "max,-pcid,-invpcid"


def xen_args() -> str:
    """Xen's command line: XEN_ARGS, plus GNT_XEN_ARGS (experiments on the bed, doc/design/007-xen.md)."""
    extra = os.environ.get("GNT_XEN_ARGS", "").strip()
    return f"{XEN_ARGS} {extra}" if extra else XEN_ARGS


#: started on the host over ssh once it is up (the seed is mounted on /opt/gnt)
DOM0_SCRIPT = "/opt/gnt/tools/testbed/xen_dom0.sh"


@dataclass(frozen=True)
class XenBoot:
    """The files QEMU boots a Xen host from."""

    xen: str  # the hypervisor, an ELF QEMU's multiboot loader takes
    dom0_kernel: str  # Debian's vmlinuz
    kernel_release: str


def _deb(cache: str, package: str) -> str:
    debs = os.path.join(cache, "debs")
    os.makedirs(debs, exist_ok=True)
    found = sorted(glob.glob(os.path.join(debs, f"{package}_*.deb")))
    if found:
        return found[-1]
    proc = subprocess.run(["apt-get", "download", package], cwd=debs, capture_output=True, text=True)
    found = sorted(glob.glob(os.path.join(debs, f"{package}_*.deb")))
    if proc.returncode != 0 or not found:
        raise TestbedError(f"cannot download {package}: {(proc.stderr or proc.stdout).strip()}")
    return found[-1]


def xen_boot_files(cache: str | None = None, log=None) -> XenBoot:
    """The hypervisor and the dom0 kernel in the cache, made once per hypervisor package and kernel.

    The hypervisor is Debian's Xen built with shadow paging (xenbuild.py: live migration of PV
    guests needs it); GNT_XEN_STOCK=1 boots Debian's own binary instead, which cannot.
    """
    cache = cache or cache_dir()
    stock = os.environ.get("GNT_XEN_STOCK") == "1"
    xen_deb = _deb(cache, XEN_HYPERVISOR_PACKAGE)
    kernel_deb = kernel.kernel_deb(cache)
    release = kernel.kernel_version(kernel_deb)
    flavour = "" if stock else "+shadow"
    dest = os.path.join(cache, "xen", os.path.basename(xen_deb)[: -len(".deb")] + flavour + "+" + release)
    boot = XenBoot(os.path.join(dest, "xen.elf"), os.path.join(dest, "vmlinuz"), release)
    if os.path.exists(boot.xen) and os.path.exists(boot.dom0_kernel):
        return boot
    os.makedirs(dest, exist_ok=True)
    work = tempfile.mkdtemp(prefix=".xen-", dir=os.path.dirname(dest))
    try:
        for deb in (xen_deb, kernel_deb):
            proc = subprocess.run(["dpkg-deb", "-x", deb, work], capture_output=True, text=True)
            if proc.returncode != 0:
                raise TestbedError(f"dpkg-deb -x {deb} failed: {proc.stderr.strip()}")
        shutil.copy(os.path.join(work, "boot", f"vmlinuz-{release}"), boot.dom0_kernel + ".tmp")
        if stock:
            gz = sorted(glob.glob(os.path.join(work, "boot", f"xen-{XEN_VERSION}*-amd64.gz")))
            if not gz:
                raise TestbedError(f"{xen_deb} has no boot/xen-{XEN_VERSION}-amd64.gz")
            with gzip.open(gz[0], "rb") as src, open(boot.xen + ".tmp", "wb") as out:
                shutil.copyfileobj(src, out)
            os.replace(boot.xen + ".tmp", boot.xen)
        else:
            build_hypervisor(xen_deb, work, XEN_VERSION, boot.xen, cache, log=log)
        os.replace(boot.dom0_kernel + ".tmp", boot.dom0_kernel)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return boot


def build_xen(log=None) -> tuple[Image, XenBoot]:
    """The Xen image (built if its inputs changed) and the boot files."""
    return build_image(XEN_SPEC, log=log), xen_boot_files(log=log)


def _qemu_escape(text: str) -> str:
    """QEMU splits -initrd on commas (one multiboot module each); ',,' is a literal comma."""
    return text.replace(",", ",,")


def start_xen(host: Host, timeout: float = 120.0) -> None:
    """Start the Xen toolstack's daemons in the host's dom0 (idempotent) and check that xl answers."""
    host.run(f"sh {DOM0_SCRIPT}", timeout=timeout)


def keep_console(host: Host) -> None:
    """Append the host's console.log to its console.all.log (every boot and restore, for a post-mortem)."""
    if os.path.exists(host.path("console.log")):
        with open(host.path("console.log"), "rb") as src, open(host.path("console.all.log"), "ab") as out:
            shutil.copyfileobj(src, out)


class XenTestBed(TestBed):
    """A bed whose hosts run Xen with a PV dom0; everything but the boot is the plain bed's."""

    def __init__(self, directory: str, *args, boot: XenBoot | None = None, **kwargs) -> None:
        kwargs.setdefault("memory", XEN_HOST_MEMORY)
        super().__init__(directory, *args, **kwargs)
        self.boot = boot

    @property
    def _boot_path(self) -> str:
        return os.path.join(self.dir, "xen.json")

    def create(self, log=None) -> None:
        if self.image is None or self.boot is None:
            self.image, self.boot = build_xen(log)
        super().create(log)
        import json

        with open(self._boot_path, "w") as f:
            json.dump(self.boot.__dict__, f)

    @classmethod
    def load(cls, directory: str) -> XenTestBed:
        import json

        bed = super().load(directory)
        with open(os.path.join(directory, "xen.json")) as f:
            bed.boot = XenBoot(**json.load(f))  # type: ignore[attr-defined]
        return bed  # type: ignore[return-value]

    def boot_args(self, host: Host) -> list[str]:
        assert self.image is not None and self.boot is not None
        dom0 = self.kernel_args(host).replace("console=ttyS0", "console=hvc0") + " tb.tty=hvc0"
        modules = f"{_qemu_escape(self.boot.dom0_kernel)} {_qemu_escape(dom0)},{_qemu_escape(self.image.initrd)}"
        return ["-kernel", self.boot.xen, "-append", xen_args(), "-initrd", modules]

    def qemu_argv(self, host: Host) -> list[str]:
        argv = super().qemu_argv(host)
        argv[argv.index("-cpu") + 1] = os.environ.get("GNT_XEN_CPU") or XEN_CPU
        accel = os.environ.get("GNT_XEN_ACCEL")
        if accel:
            argv[argv.index("-accel") + 1] = accel
        return argv

    def restore(self, tag: str = "booted", timeout: float = 60.0) -> None:
        """Restore every host in a fresh QEMU process, never by loading a snapshot into a running one.

        QEMU's TCG guest TSC is host ticks plus an offset the snapshot restores, but a running QEMU
        also remembers the highest TSC it handed out (`cpu_ticks_prev`, not part of the snapshot)
        and never lets the TSC go below it. So loaded into the QEMU that ran on, a host's TSC stays
        where it was while its HPET (QEMU's virtual clock) goes back to the snapshot: Xen reads the
        gap as "Platform timer appears to have unexpectedly wrapped 10 or more times" and holds
        its system time still until the HPET catches up (dom0's clock stood for minutes; timers,
        sleeps and guests' first timer interrupt waited with it). A fresh process has no history.
        """
        for host in self.hosts:
            keep_console(host)  # the new QEMU starts console.log afresh
            if host.is_running():
                host.power_off()
        super().restore(tag, timeout)

    def start(self, timeout: float = 300.0) -> None:
        starting = [h for h in self.hosts if not h.is_running()]
        super().start(timeout)
        self._each(lambda h: start_xen(h) if h in starting else None)
