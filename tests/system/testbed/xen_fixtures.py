"""The Xen test bed, booted once per session: two Xen hosts (node1, node2), restored per test.

`xen_bed` hands a test node1 and node2 as they were right after boot (Xen 4.17 with a PV dom0,
xl ready, the PV guest's kernel and initramfs mounted read-only on `GUEST_DIR` from the bed's
shared disk; the bed's shared directory, virtio-9p, exported but not mounted); `xen_cluster` the
same hosts running a gnt cluster (`--enabled-hypervisors xen-pvm`, plain, file, drbd and diskless);
`xen_drbd_guest` that cluster with one drbd instance (`mig1`, node2 primary, node1 secondary: the
master survives a power cut of the primary) already counting.
Each state is made once per session, saved as a snapshot of both hosts (RAM and disks) and
restored before every test that asks for it, as the plain bed's `testbed` and `gnt_cluster`
fixtures do (conftest.py), so a test pays seconds instead of the minutes a Xen boot, a cluster
init or a drbd sync take under TCG.

The PV guest is Debian's kernel (the dom0's) with a busybox initramfs made here: it prints a
marker and the checksum of its first disk, then waits, or powers itself off or panics when its
command line says so (`gnt.test=poweroff|crash`), or counts once a second (`gnt.test=counter`: a
migrated guest's count goes on where it was).
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator

import pytest

from tools import bootfiles
from tools.testbed import initrd as tb_initrd
from tools.testbed.bed import Host
from tools.testbed.gntcluster import ClusterSpec, GntCluster, start_gnt_cluster
from tools.testbed.image import _busybox
from tools.testbed.xen import XenBoot, XenTestBed, build_xen, keep_console

from .conftest import Session, missing_requirement, record

GUEST_DIR = "/srv/xen-guest"
CONSOLE_LOG = "/var/log/xen/console/guest-{}.log"
GUEST_MODULES = ("xen_blkfront",)
GUEST_DISK_SIZE = "32M"

XEN_BOOTED = "xen-booted"
XEN_CLUSTER = "xen-cluster"
XEN_DRBD_GUEST = "xen-drbd-guest"
DRBD_GUEST = "mig1"

HV = (
    f"xen-pvm:kernel_path={GUEST_DIR}/vmlinuz,initrd_path={GUEST_DIR}/initrd.img,"
    "kernel_args=console=hvc0 quiet gnt.test=counter"
)
ADD = f'gnt-instance add -o noop --no-install --no-nics -B memory=128M -H "{HV}" --disk 0:size=64M'
COUNT = re.compile(r"GNT-XEN-COUNT (\d+)\r?\n")
BOOTED = "GNT-XEN-GUEST-ALIVE"

GUEST_INIT = r"""#!/bin/busybox sh
/bin/busybox --install -s /bin
mkdir -p /proc /sys /dev /sbin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in $(cat /lib/order); do insmod "/lib/mods/$m" 2>/dev/null; done
echo "GNT-XEN-GUEST-ALIVE $(uname -r)"
i=0; while [ ! -b /dev/xvda ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
[ -b /dev/xvda ] && echo "GNT-XEN-DISK $(dd if=/dev/xvda bs=1M count=1 2>/dev/null | md5sum | cut -d' ' -f1)"
case "$(cat /proc/cmdline)" in
*gnt.test=poweroff*) echo "GNT-XEN-POWEROFF"; sleep 1; poweroff -f ;;
*gnt.test=crash*) echo "GNT-XEN-CRASH"; sleep 1; echo c > /proc/sysrq-trigger ;;
*gnt.test=counter*) i=0; while :; do i=$((i+1)); echo "GNT-XEN-COUNT $i"; sleep 1; done ;;
esac
while :; do sleep 60; done
"""
#: what the kernel runs on `xl shutdown` (orderly_poweroff); PID 1 is a shell that ignores signals
GUEST_POWEROFF = "#!/bin/busybox sh\n/bin/busybox poweroff -f\n"


def xen_missing() -> str | None:
    """Why Xen hosts cannot run here (naming the tool), or None."""
    why = missing_requirement()
    if why:
        return why
    for tool in ("dpkg-deb", "debugfs", "apt-get"):
        if not shutil.which(tool):
            return f"the Xen test bed needs {tool}: run tools/install-deps.sh"
    return None


def _dump(image_root: str, path: str, dest: str) -> None:
    """Copy one file out of the host image (ext4) with debugfs: no mount, no root tricks."""
    proc = subprocess.run(["debugfs", "-R", f"dump -p {path} {dest}", image_root], capture_output=True, text=True)
    if proc.returncode != 0 or not os.path.exists(dest):
        raise AssertionError(f"debugfs could not dump {path}: {proc.stderr.strip()}")


def guest_initrd(image_root: str, release: str, dest: str, work: str) -> None:
    """busybox, the guest's init and poweroff, and xen_blkfront from the image's module tree."""
    remote = f"/usr/lib/modules/{release}"
    moddir = os.path.join(work, "mods")
    os.makedirs(moddir)
    _dump(image_root, f"{remote}/modules.dep", os.path.join(moddir, "modules.dep"))
    mods = tb_initrd.module_closure(moddir, GUEST_MODULES)
    with open(_busybox(), "rb") as f:
        files: list[tuple[str, int, bytes]] = [
            ("bin", stat.S_IFDIR | 0o755, b""),
            ("sbin", stat.S_IFDIR | 0o755, b""),
            ("lib", stat.S_IFDIR | 0o755, b""),
            ("lib/mods", stat.S_IFDIR | 0o755, b""),
            ("bin/busybox", stat.S_IFREG | 0o755, f.read()),
        ]
    files.append(("init", stat.S_IFREG | 0o755, GUEST_INIT.encode()))
    files.append(("sbin/poweroff", stat.S_IFREG | 0o755, GUEST_POWEROFF.encode()))
    files.append(("lib/order", stat.S_IFREG | 0o644, "".join(os.path.basename(m) + "\n" for m in mods).encode()))
    for mod in mods:
        local = os.path.join(moddir, os.path.basename(mod))
        _dump(image_root, f"{remote}/{mod}", local)
        with open(local, "rb") as f:
            files.append((f"lib/mods/{os.path.basename(mod)}", stat.S_IFREG | 0o644, f.read()))
    bootfiles.write_initramfs(dest, files)


def guest_disk(bed: XenTestBed, boot: XenBoot) -> None:
    """The PV guest's kernel and initramfs on the bed's shared disk (vdd), an ext4 made with mke2fs -d.

    Copying 8 MB over ssh into a PV dom0 under TCG takes minutes; a disk takes none.
    """
    assert bed.image is not None
    work = tempfile.mkdtemp(prefix="guest-", dir=bed.dir)
    files = os.path.join(work, "files")
    os.makedirs(files)
    shutil.copy(boot.dom0_kernel, os.path.join(files, "vmlinuz"))
    guest_initrd(bed.image.root, boot.kernel_release, os.path.join(files, "initrd.img"), work)
    proc = subprocess.run(
        ["mke2fs", "-q", "-F", "-t", "ext4", "-d", files, bed.shared_path, GUEST_DISK_SIZE],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    shutil.rmtree(work)


def mount_guest_files(host: Host) -> None:
    host.run(
        f'mkdir -p {GUEST_DIR} && for b in /sys/block/vd*; do [ "$(cat $b/serial 2>/dev/null)" = shared ] &&'
        f" mount -o ro /dev/${{b##*/}} {GUEST_DIR}; done; test -s {GUEST_DIR}/vmlinuz"
    )


def boot_xen_bed() -> XenTestBed:
    """Two Xen hosts, xl ready, the guest's files mounted on both (the caller destroys the bed)."""
    t = time.monotonic()
    image, boot = build_xen()
    record("xen image and boot files (build or cache check)", time.monotonic() - t)
    bed = XenTestBed(
        tempfile.mkdtemp(prefix="gnt-xb-", dir="/tmp"),
        hosts=["node1", "node2"],
        image=image,
        boot=boot,
        shared_size=GUEST_DISK_SIZE,
        shared_dir=True,  # a file server for sharedfile disks (test_xen_sharedfile.py mounts it)
    )
    try:
        bed.create()
        guest_disk(bed, boot)
        t = time.monotonic()
        bed.start()
        bed._each(mount_guest_files)
        record("boot 2 Xen hosts to xl-ready", time.monotonic() - t)
    except BaseException:
        bed.destroy()
        raise
    return bed


def make_xen_cluster(bed: XenTestBed) -> GntCluster:
    """A gnt cluster (xen-pvm; plain, file, drbd, diskless) on the bed's two Xen hosts."""
    t = time.monotonic()
    cluster = start_gnt_cluster(bed, ClusterSpec(hypervisor="xen-pvm"))
    for host in cluster.nodes:
        host.run("modprobe drbd usermode_helper=/bin/true")
    cluster.gnt("gnt-cluster modify --drbd-usermode-helper /bin/true --enabled-disk-templates plain,file,drbd,diskless")
    record("gnt cluster up on 2 Xen hosts", time.monotonic() - t)
    for step, seconds in cluster.timings.items():
        record(f"  {step}", seconds)
    return cluster


class XenSession(Session):
    """The session's Xen bed and the states of it saved so far (snapshot name -> made)."""

    def __init__(self, bed: XenTestBed) -> None:
        super().__init__(bed)
        self.snapshot = XEN_BOOTED
        self.made: set[str] = {XEN_BOOTED}

    def state(self, name: str, base: str, make: Callable[[], None]) -> None:
        """Hand the hosts over at snapshot `name`, making it first (from `base`) if this session has not."""
        if name not in self.made:
            self.use(base)
            t = time.monotonic()
            make()
            self.bed.save_snapshot(name)
            record(f"make and snapshot {name!r}", time.monotonic() - t)
            self.made.add(name)
            self.snapshot, self.dirty = name, False
        self.use(name)


def keep_consoles(bed: XenTestBed) -> None:
    """Copy each host's console.log (Xen's and dom0's messages) to $GNT_XEN_KEEP, if set, before the bed goes."""
    keep = os.environ.get("GNT_XEN_KEEP")
    if not keep:
        return
    os.makedirs(keep, exist_ok=True)
    for host in bed.hosts:
        keep_console(host)
        if os.path.exists(host.path("console.all.log")):
            shutil.copy(host.path("console.all.log"), os.path.join(keep, f"{host.name}-console.log"))


@pytest.fixture(scope="session")
def xen_session() -> Iterator[XenSession]:
    why = xen_missing()
    if why:
        pytest.skip(why)
    if os.environ.get("GNT_TEST_XEN") == "0":
        pytest.skip("GNT_TEST_XEN=0: the Xen modules (two Xen hosts under QEMU/TCG, about 8 minutes) left out")
    bed = boot_xen_bed()
    try:
        t = time.monotonic()
        bed.save_snapshot(XEN_BOOTED)
        record("snapshot 2 Xen hosts", time.monotonic() - t)
        yield XenSession(bed)
    finally:
        keep_consoles(bed)
        bed.destroy()


@pytest.fixture
def xen_bed(xen_session: XenSession) -> XenTestBed:
    """node1 and node2 running Xen, as right after boot (restored if a test ran since)."""
    xen_session.use(XEN_BOOTED)
    return xen_session.bed  # type: ignore[return-value]


@pytest.fixture
def xen_cluster(xen_session: XenSession) -> GntCluster:
    """The Xen hosts running a gnt cluster (xen-pvm; plain, file, drbd, diskless), fresh for each test."""
    session = xen_session

    def make() -> None:
        session.cluster = make_xen_cluster(session.bed)  # type: ignore[arg-type]

    session.state(XEN_CLUSTER, XEN_BOOTED, make)
    assert session.cluster is not None
    return session.cluster


def domains(host: Host) -> dict[str, str]:
    """name -> xl's state flags, dom0 left out."""
    lines = host.run("xl list").stdout.splitlines()[1:]
    return {f[0]: f[4] for f in (line.split() for line in lines) if f[0] != "Domain-0"}


def console(host: Host, name: str) -> str:
    return host.run(f"cat {CONSOLE_LOG.format(name)} 2>/dev/null", check=False).stdout


def counts(host: Host, name: str) -> list[int]:
    return [int(n) for n in COUNT.findall(console(host, name))]


def wait_count(host: Host, name: str, above: int, timeout: float = 300.0) -> int:
    """Wait until the guest's console on `host` shows a count above `above`; return the last one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen = counts(host, name)
        if seen and seen[-1] > above:
            return seen[-1]
        time.sleep(1)
    raise AssertionError(f"{name} on {host.name} never counted past {above}: {console(host, name)[-1500:]!r}")


@pytest.fixture
def xen_drbd_guest(xen_session: XenSession, xen_cluster: GntCluster) -> str:
    """The cluster with one counting drbd instance (node2 primary, node1 secondary), fresh for each test."""
    cluster = xen_cluster

    def make() -> None:
        t = time.monotonic()
        cluster.gnt(f"{ADD} -t drbd -n node2:node1 {DRBD_GUEST}", timeout=900)
        record("xen: gnt-instance add -t drbd (64M, waits for sync, starts the guest)", time.monotonic() - t)
        wait_count(cluster.bed["node2"], DRBD_GUEST, 1)

    xen_session.state(XEN_DRBD_GUEST, XEN_CLUSTER, make)
    return DRBD_GUEST
