"""The xen-pvm driver for real: Xen 4.17 with a PV dom0 on a test-bed host (tools/testbed/xen.py).

gnt's driver (backends/xen, from the checkout on the host's seed disk) is run by the dom0's own
python3 over the bed's ssh, one operation per step; the test checks each outcome with Xen's and
the host's own tools (`xl list`, the guest's console log, `lvs`, the bridge's ports), not with the
driver. The PV guest is Debian's kernel (the dom0's) with a busybox initramfs made here: it prints a
marker and the checksum of its first disk, then waits, or powers itself off or panics when its
command line says so (`gnt.test=poweroff|crash`). The hosts are the session's Xen bed (booted once,
restored from a snapshot before each test: xen_fixtures.py); these tests use node1.
"""

from __future__ import annotations

import json
import shlex
import time
import uuid
from typing import Any

import pytest

from tools.testbed.bed import Host
from tools.testbed.xen import XenTestBed

from .conftest import record
from .xen_fixtures import CONSOLE_LOG, GUEST_DIR

pytestmark = pytest.mark.timeout(1200)

ROUTED_IP = "10.77.0.9"

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


@pytest.fixture
def xen_host(xen_bed: XenTestBed) -> Host:
    """node1 of the session's Xen bed, fresh from boot, with the VG `xenvg` and a bridge `br0`."""
    host = xen_bed["node1"]
    host.run("pvcreate -q /dev/vdb && vgcreate -q xenvg /dev/vdb && ip link add br0 type bridge && ip link set br0 up")
    return host


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
