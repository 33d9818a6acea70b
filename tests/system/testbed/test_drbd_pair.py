"""The drbd driver for real: storage.drbd run by two test-bed hosts' python3 against DRBD 8.4.11
and LVM in Debian's kernel, replicating over the hosts' private network.

Each step is one driver operation on one host (`drbd_host_script.py`, from the checkout on the
hosts' seed disk); the test checks the outcome with the hosts' own tools (/proc/drbd, lvs, dd,
md5sum), not with the driver. The initial sync's throughput is recorded in the run's "test bed
timings" (speed is reported, never asserted); the comparison with a raw TCP copy over the same
network, and syncs of larger disks, are bench/bench_drbd_scale.py's (this test's disk is small, so
CI spends its time on the behaviour, not on copying).
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest

from .conftest import record

pytestmark = pytest.mark.timeout(1200)

SCRIPT = "/opt/gnt/tests/system/testbed/drbd_host_script.py"
SIZE = 64  # MiB: the pair test's disks (room for the 16 MiB written and read back)
SECRET = "0d5e1f2a3b4c5d6e7f8091a2b3c4d5e6f7a8b9c0"
IPS = {"node1": "192.168.77.1", "node2": "192.168.77.2"}


def view(host: str, peer: str, minor: int, port: int, secret: str, primary: bool) -> dict[str, Any]:
    return {
        "minor": minor,
        "port": port,
        "local_ip": IPS[host],
        "remote_ip": IPS[peer],
        "remote_minor": minor,
        "data": ["xenvg", f"d{minor}.disk0_data"],
        "meta": ["xenvg", f"d{minor}.disk0_meta"],
        "secret": secret,
        "primary": primary,
        "resync_rate": 1024000,  # not the link's limit: the test measures what the link gives
    }


def driver(host: Any, op: str, disk_view: dict[str, Any], size: int = SIZE) -> dict[str, Any]:
    """One DrbdDevice operation on `host` (the disk's size in MiB), its JSON answer."""
    result = host.run(f"cd / && python3 {SCRIPT} {op} '{json.dumps(disk_view)}' {size}", timeout=300)
    out: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return out


def prepare(host: Any) -> None:
    host.run("modprobe dm_mod && modprobe drbd usermode_helper=/bin/true")
    host.run("pvcreate -q /dev/vdb && vgcreate -q xenvg /dev/vdb")


def minor_line(host: Any, minor: int) -> str:
    proc = host.run("cat /proc/drbd").stdout
    found = re.search(rf"^\s*{minor}: (.*)$", proc, re.M)
    return found.group(1) if found else ""


def wait_for(host: Any, minor: int, pattern: str, limit: float = 600) -> float:
    """Seconds until the minor's /proc/drbd line matches (a bounded wait, not an assertion on speed)."""
    start = time.monotonic()
    while time.monotonic() - start < limit:
        if re.search(pattern, minor_line(host, minor)):
            return time.monotonic() - start
        time.sleep(0.5)
    raise AssertionError(f"minor {minor} on {host.name} never reached {pattern!r}: {minor_line(host, minor)!r}")


#: MiB: the disks of the failure and replace-disks tests (the pair test's own are SIZE)
SMALL = 64


def small(host: Any, op: str, disk_view: dict[str, Any]) -> dict[str, Any]:
    return driver(host, op, disk_view, SMALL)


def md5(host: Any, device: str, mib: int = SMALL) -> str:
    """The md5 of a device's first `mib` MiB, read past the page cache."""
    return host.run(f"dd if={device} bs=1M count={mib} iflag=direct status=none | md5sum").stdout.split()[0]


def test_a_pair_syncs_switches_roles_and_keeps_the_data(testbed: Any) -> None:
    node1, node2 = testbed["node1"], testbed["node2"]
    for host in (node1, node2):
        prepare(host)
    primary, secondary = view("node1", "node2", 0, 11000, SECRET, True), view("node2", "node1", 0, 11000, SECRET, False)
    assert driver(node2, "create", secondary)["path"] == "/dev/drbd0"
    start = time.monotonic()
    created = driver(node1, "create", primary)
    assert created["path"] == "/dev/drbd0" and created["status"]["role"] == "Primary"
    wait_for(node1, 0, r"cs:Connected ro:Primary/Secondary ds:UpToDate/UpToDate")
    seconds = time.monotonic() - start
    record(f"drbd initial sync of {SIZE} MiB (s)", seconds)
    record("drbd initial sync throughput (MiB/s)", SIZE / seconds)
    assert driver(node2, "primary", secondary)["error"].endswith("is primary; demote it first")

    node1.run("dd if=/dev/urandom of=/tmp/blob bs=1M count=16 status=none")
    node1.run("dd if=/tmp/blob of=/dev/drbd0 bs=1M oflag=direct status=none && sync")
    written = node1.run("md5sum /tmp/blob").stdout.split()[0]
    assert driver(node1, "secondary", primary)["status"]["role"] == "Secondary"
    promoted = driver(node2, "primary", secondary)
    assert promoted["status"]["role"] == "Primary" and promoted["in_sync"] is True
    assert md5(node2, "/dev/drbd0", 16) == written
    assert "ro:Secondary/Primary ds:UpToDate/UpToDate" in minor_line(node1, 0)

    # a migration's window: both primary only while the link allows it, then back to one. Both sides
    # drop the link before either re-makes it: DRBD 8.4 refuses a peer whose two-primaries setting
    # differs, and the side that met it stays StandAlone (CI caught that when one side went first).
    for host, side in ((node1, primary), (node2, secondary)):
        assert "error" not in driver(host, "disconnect", side)
    for host, side in ((node1, primary), (node2, secondary)):
        assert "error" not in driver(host, "dual-on", side)
    wait_for(node1, 0, r"cs:Connected ro:Secondary/Primary ds:UpToDate/UpToDate", limit=120)
    assert driver(node1, "primary", primary)["status"]["role"] == "Primary"
    assert "ro:Primary/Primary" in minor_line(node2, 0)
    assert driver(node2, "dual-off", secondary)["error"].endswith("demote one before leaving dual-primary")
    assert driver(node2, "secondary", secondary)["status"]["role"] == "Secondary"
    for host, side in ((node1, primary), (node2, secondary)):
        assert "error" not in driver(host, "disconnect", side)
    for host, side in ((node1, primary), (node2, secondary)):
        assert "error" not in driver(host, "dual-off", side)
    wait_for(node1, 0, r"cs:Connected ro:Primary/Secondary ds:UpToDate/UpToDate", limit=120)
    assert driver(node2, "primary", secondary)["error"].endswith("is primary; demote it first")
    assert md5(node1, "/dev/drbd0", 16) == written

    # a retried create on a running pair changes nothing
    again = driver(node1, "create", {**primary, "primary": False})
    assert again["status"]["cstate"] == "Connected" and again["status"]["role"] == "Primary"

    for host, side in ((node2, secondary), (node1, primary)):
        assert driver(host, "remove", side) == {"status": None, "exists": False, "size": None, "in_sync": True}
        assert host.run("lvs --noheadings -o lv_name xenvg").stdout.split() == []
        assert minor_line(host, 0) == ""
        assert re.findall(r"^\s*\d+:", host.run("cat /proc/drbd").stdout, re.M) == []


def test_a_peer_with_the_wrong_secret_never_connects(testbed: Any) -> None:
    node1, node2 = testbed["node1"], testbed["node2"]
    for host in (node1, node2):
        prepare(host)
    good = view("node1", "node2", 1, 11001, SECRET, True)
    wrong = view("node2", "node1", 1, 11001, "an0therSecret", False)
    driver(node1, "create", good)
    driver(node2, "create", wrong)
    # authentication fails at the handshake and both sides drop to StandAlone, which DRBD never
    # leaves by itself: waiting for it is waiting for the refusal, not for a timeout
    for host in (node1, node2):
        wait_for(host, 1, r"cs:StandAlone", limit=120)
    assert "Authentication of peer failed" in node1.run("dmesg").stdout + node2.run("dmesg").stdout
    assert "ds:UpToDate/DUnknown" in minor_line(node1, 1)  # nothing reached the peer
    assert "ds:Inconsistent/DUnknown" in minor_line(node2, 1)
    for host, side in ((node1, good), (node2, wrong)):
        driver(host, "remove", side)
        assert minor_line(host, 1) == "" and host.run("lvs --noheadings -o lv_name xenvg").stdout.split() == []
