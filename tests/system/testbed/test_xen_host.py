"""The xen-pvm driver for real: Xen 4.17 with a PV dom0 on a test-bed host (tools/testbed/xen.py).

gnt's driver (backends/xen, from the checkout on the host's seed disk) is run by the dom0's own
python3 over the bed's ssh, one operation per step; the test checks each outcome with Xen's and
the host's own tools (`xl list`, the guest's console log, `lvs`, the bridge's ports), not with the
driver. The PV guest is Debian's kernel (the dom0's) with a busybox initramfs made here: it prints a
marker and the checksum of its first disk, then waits, or powers itself off or panics when its
command line says so (`gnt.test=poweroff|crash`), or counts once a second (`gnt.test=counter`: a
migrated guest's count goes on where it was).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import stat
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tools import bootfiles
from tools.testbed import initrd as tb_initrd
from tools.testbed.bed import Host
from tools.testbed.image import _busybox
from tools.testbed.xen import XenBoot, XenTestBed, build_xen

from .conftest import missing_requirement, record

pytestmark = pytest.mark.timeout(1500)

GUEST_DIR = "/srv/xen-guest"
CONSOLE_LOG = "/var/log/xen/console/guest-{}.log"
GUEST_MODULES = ("xen_blkfront",)
GUEST_DISK_SIZE = "32M"
ROUTED_IP = "10.77.0.9"

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

#: one driver operation per run: `python3 - OP JSON` on the host, the script on stdin
DRIVER = r"""
import asyncio, json, sys
import backends
from gnt.runtime import DiskSpec, InstanceSpec, NicSpec
from gnt.serial import from_dict, to_dict

op, arg = sys.argv[1], json.loads(sys.argv[2])
hv = backends.get("xen-pvm")

async def main():
    if op == "start":
        await hv.start(from_dict(InstanceSpec, arg))
    elif op == "stop":
        await hv.stop(from_dict(InstanceSpec, arg["spec"]), arg["timeout"])
    elif op == "cleanup":
        await hv.cleanup(arg)
    elif op == "info":
        return {n: to_dict(i) for n, i in (await hv.all_instances_info()).items()}
    elif op == "list":
        return await hv.list_instances()
    elif op == "node":
        return await hv.node_info()
    elif op == "verify":
        return await hv.verify()
    elif op == "console":
        return hv.console_command(from_dict(InstanceSpec, arg))

print(json.dumps(asyncio.run(main())))
"""


def driver(host: Host, op: str, arg: Any = None, check: bool = True) -> Any:
    result = host.run(f"python3 - {op} {shlex.quote(json.dumps(arg))}", stdin=DRIVER, timeout=300, check=check)
    return json.loads(result.stdout) if result.rc == 0 else result


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


@pytest.fixture(scope="module")
def xen_host() -> Iterator[Host]:
    why = missing_requirement()
    if why:
        pytest.skip(why)
    if os.environ.get("GNT_TEST_XEN") != "1":
        pytest.skip(
            "opt-in (GNT_TEST_XEN=1): after a PV guest powers itself off, dom0 processes on the TCG test"
            " bed can read the guest's old pages (xl segfaulting in ld.so at an address spelled from the"
            " guest's init script; a later xl create's kernel 'Invalid kernel'), not a memory shortage:"
            " see doc/design/007-xen.md"
        )
    t = time.monotonic()
    image, boot = build_xen()
    record("xen image and boot files (build or cache check)", time.monotonic() - t)
    directory = tempfile.mkdtemp(prefix="gnt-xen-", dir="/tmp")
    bed = XenTestBed(directory, hosts=["xen1"], image=image, boot=boot, shared_size=GUEST_DISK_SIZE)
    try:
        bed.create()
        guest_disk(bed, boot)
        t = time.monotonic()
        bed.start()
        record("boot a Xen host to xl-ready", time.monotonic() - t)
        host = bed["xen1"]
        host.run(
            f'mkdir -p {GUEST_DIR} && for b in /sys/block/vd*; do [ "$(cat $b/serial 2>/dev/null)" = shared ] &&'
            f" mount -o ro /dev/${{b##*/}} {GUEST_DIR}; done; test -s {GUEST_DIR}/vmlinuz"
        )
        host.run("pvcreate -q /dev/vdb && vgcreate -q xenvg /dev/vdb")
        host.run("ip link add br0 type bridge && ip link set br0 up")
        yield host
    finally:
        bed.destroy()


def spec(name: str, disk: str | None = None, kernel_args: str = "console=hvc0 quiet", nic: bool = False) -> dict:
    return {
        "name": name,
        "uuid": str(uuid.uuid5(uuid.NAMESPACE_DNS, name)),  # xl refuses two domains with one UUID
        "hypervisor": "xen-pvm",
        "memory": 128,
        "vcpus": 1,
        "hvparams": {
            "kernel_path": f"{GUEST_DIR}/vmlinuz",
            "initrd_path": f"{GUEST_DIR}/initrd.img",
            "root_path": "",
            "kernel_args": kernel_args,
        },
        "disks": [{"uuid": "d0", "index": 0, "size": 64, "dev_type": "plain", "path": disk}] if disk else [],
        "nics": [
            {"uuid": "n0", "mac": "aa:00:00:12:34:56", "mode": "bridged", "link": "br0"},
            {"uuid": "n1", "mac": "aa:00:00:12:34:57", "mode": "routed", "link": "", "ip": ROUTED_IP},
        ]
        if nic
        else [],
        "disk_template": "plain" if disk else "diskless",
    }


def wait_console(host: Host, name: str, marker: str, timeout: float = 180.0) -> str:
    deadline = time.monotonic() + timeout
    log = CONSOLE_LOG.format(name)
    while time.monotonic() < deadline:
        text = host.run(f"cat {log} 2>/dev/null", check=False).stdout
        if marker in text and "\n" in text[text.index(marker) :]:  # the marker's whole line, not half of it
            return text
        time.sleep(1)
    raise AssertionError(f"{name} never printed {marker}: {host.run(f'tail -c 2000 {log}', check=False).stdout}")


def wait_state(host: Host, name: str, state: str, timeout: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout
    info: dict = {}
    while time.monotonic() < deadline:
        info = driver(host, "info")
        if info.get(name, {}).get("state") == state:
            return info[name]
        time.sleep(1)
    raise AssertionError(f"{name} never became {state}: {info}")


def domains(host: Host) -> list[str]:
    return [line.split()[0] for line in host.run("xl list").stdout.splitlines()[1:]]


def test_pv_guest_on_an_lv_lives_and_goes_leaving_nothing(xen_host: Host) -> None:
    host = xen_host
    assert driver(host, "verify") == []
    before = driver(host, "node")
    assert before["xen_version"].startswith("4.17") and before["memory_dom0"] == 768
    host.run("lvcreate -q -y -L 64M -n inst1.disk0 xenvg && dd if=/dev/urandom of=/dev/xenvg/inst1.disk0 bs=1M count=1")
    expected = host.run("dd if=/dev/xenvg/inst1.disk0 bs=1M count=1 2>/dev/null | md5sum").stdout.split()[0]

    t = time.monotonic()
    driver(host, "start", spec("inst1", disk="/dev/xenvg/inst1.disk0", nic=True))
    record("xen-pvm start (xl create)", time.monotonic() - t)
    console = wait_console(host, "inst1", "GNT-XEN-DISK")
    record("xen-pvm start to the guest's disk checksum", time.monotonic() - t)
    assert f"GNT-XEN-DISK {expected}" in console  # the guest reads the LV dom0 wrote

    assert driver(host, "list") == ["inst1"] and domains(host) == ["Domain-0", "inst1"]
    info = driver(host, "info")["inst1"]
    assert info["state"] == "running" and info["memory"] == 128
    after = driver(host, "node")
    assert after["memory_free"] <= before["memory_free"] - 128 and after["memory_instances"] == 128
    domid = info["extra"]["domid"]
    assert f"vif{domid}.0" in host.run("ls /sys/class/net/br0/brif").stdout.split()  # vif-gnt bridged it
    route = host.run(f"ip route show {ROUTED_IP}").stdout  # and routed the other one, with proxy ARP
    assert f"dev vif{domid}.1" in route
    assert host.run(f"cat /proc/sys/net/ipv4/conf/vif{domid}.1/proxy_arp").stdout.strip() == "1"
    assert driver(host, "console", spec("inst1")) == ["xl", "console", "inst1"]

    t = time.monotonic()
    driver(host, "stop", {"spec": spec("inst1", disk="/dev/xenvg/inst1.disk0", nic=True), "timeout": 120})
    record("xen-pvm clean stop (xl shutdown)", time.monotonic() - t)
    assert domains(host) == ["Domain-0"] and driver(host, "list") == []
    assert host.run(f"ip route show {ROUTED_IP}").stdout.strip() == ""
    assert host.run("ls /var/run/gnt/instances/xen 2>/dev/null", check=False).stdout.strip() == ""
    host.run("lvremove -q -y xenvg/inst1.disk0")  # blkback let go of it
    assert host.run("lvs --noheadings -o lv_name xenvg").stdout.strip() == ""


def test_guest_poweroff_and_guest_crash_are_told_apart(xen_host: Host) -> None:
    """One guest at a time: a preserved (powered-off or crashed) domain keeps its memory, and the
    host has room for one small guest beside dom0."""
    host = xen_host
    try:
        driver(host, "start", spec("offguest", kernel_args="console=hvc0 quiet gnt.test=poweroff"))
        assert wait_state(host, "offguest", "shutdown")["extra"]["xl_state"].find("s") >= 0
        driver(host, "cleanup", "offguest")
        driver(host, "start", spec("crashguest", kernel_args="console=hvc0 quiet gnt.test=crash"))
        assert wait_state(host, "crashguest", "crashed")
        driver(host, "cleanup", "crashguest")
        assert domains(host) == ["Domain-0"]
    finally:  # a failure here must not leave a domain for the next test
        for name in ("offguest", "crashguest"):
            driver(host, "cleanup", name, check=False)


def test_xm_is_refused_on_the_node(xen_host: Host) -> None:
    bad = spec("xmguest")
    bad["hvparams"]["xen_cmd"] = "xm"
    result = driver(xen_host, "start", bad, check=False)
    assert result.rc != 0 and "xm was removed" in result.stderr
    assert domains(xen_host) == ["Domain-0"]
