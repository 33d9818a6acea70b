"""The test bed's hosts do what the storage tests rely on: boot, network, LVM, DRBD 8.4, gnt, power, restore.

Each test gets node1 and node2 fresh from the snapshot (the `testbed` fixture).
"""

from __future__ import annotations

import hashlib
import os
import socket
import time

import pytest

from tools.testbed import TestBed, procs
from tools.testbed.ssh import RunResult

from .conftest import NODED_PORT, REPO, record

# The first test also pays for the image build (cold: 1-2 min) and the boot.
pytestmark = pytest.mark.timeout(1200)


def test_hosts_boot_and_reach_each_other_on_the_private_network(testbed: TestBed) -> None:
    node1, node2 = testbed["node1"], testbed["node2"]
    assert node1.run("hostname").stdout.strip() == "node1"
    assert node2.run("hostname").stdout.strip() == "node2"
    assert "inet 192.168.77.2/24" in node2.run("ip -4 addr show priv0").stdout
    assert node1.run("ping -c1 -W5 192.168.77.2", check=False).rc == 0
    # TCP over the private network, by name (/etc/hosts lists every host of the bed).
    node2.run("socat -u TCP-LISTEN:7000,reuseaddr OPEN:/tmp/got,creat </dev/null >/dev/null 2>&1 &")
    node1.run("for i in $(seq 50); do echo over-priv0 | socat -u STDIN TCP:node2:7000 && break; sleep 0.2; done")
    assert node2.run("for i in $(seq 50); do [ -s /tmp/got ] && break; sleep 0.2; done; cat /tmp/got").stdout == (
        "over-priv0\n"
    )


def test_run_feeds_stdin_and_returns_while_a_daemon_holds_stdout(testbed: TestBed) -> None:
    node = testbed["node1"]
    assert node.run("cat > /root/in && wc -c < /root/in", stdin=b"x" * 100000).stdout.strip() == "100000"
    big = node.run("head -c 3000000 /dev/zero | tr '\\0' e >&2; echo done")
    assert big.stdout == "done\n" and len(big.stderr) == 3000000
    # Output written right before the exit arrives with (or after) the exit status: none is lost.
    for i in range(20):
        assert node.run(f"echo out{i}; echo err{i} >&2") == RunResult(0, f"out{i}\n", f"err{i}\n")
    started = node.run("sleep 600 & echo started")  # the sleep keeps the channel's stdout open
    assert started.stdout == "started\n" and started.rc == 0


def test_hosts_have_no_route_off_their_networks(testbed: TestBed) -> None:
    # Only the private network and the ssh-forwarding link exist; no default route leaves the host.
    routes = testbed["node1"].run("ip -4 route").stdout
    assert "default" not in routes
    assert "192.168.77.0/24 dev priv0" in routes


def test_forwarded_guest_port_is_reachable_on_loopback(testbed: TestBed) -> None:
    # What a master on this machine uses to reach a node daemon inside a host (issue 9).
    node2 = testbed["node2"]
    node2.run(f"socat TCP-LISTEN:{NODED_PORT},reuseaddr SYSTEM:'echo hello-from-$(hostname)' >/dev/null 2>&1 &")
    reply = b""
    for _ in range(100):
        try:
            with socket.create_connection(("127.0.0.1", node2.port(NODED_PORT)), timeout=5) as conn:
                reply = conn.recv(100)
        except OSError:
            reply = b""
        if reply:
            break
        time.sleep(0.2)
    assert reply == b"hello-from-node2\n"


def test_lvm_on_the_data_disk(testbed: TestBed) -> None:
    node = testbed["node1"]
    assert node.run("cat /sys/block/vdb/serial").stdout.strip() == "data"
    node.run("modprobe dm_mod && pvcreate -q /dev/vdb && vgcreate -q xenvg /dev/vdb")
    node.run("lvcreate -q -y -L 64M -n disk0 xenvg")
    lvs = node.run("lvs --noheadings --units m -o lv_name,vg_name,lv_size xenvg").stdout.split()
    assert lvs == ["disk0", "xenvg", "64.00m"]
    node.run("dd if=/dev/zero of=/dev/xenvg/disk0 bs=1M count=4 oflag=direct status=none")


def test_drbd_84_module_loads(testbed: TestBed) -> None:
    node = testbed["node2"]
    node.run("modprobe drbd usermode_helper=/bin/true")
    assert node.run("head -1 /proc/drbd").stdout.startswith("version: 8.4.")
    assert node.run("cat /sys/module/drbd/parameters/usermode_helper").stdout.strip() == "/bin/true"


def test_drbd_replicates_between_the_hosts(testbed: TestBed) -> None:
    """Ganeti's DRBD 8.4 sequence on both hosts: what is written on node1 is read back on node2."""
    setup = (
        "modprobe dm_mod && modprobe drbd usermode_helper=/bin/true && pvcreate -q /dev/vdb && "
        "vgcreate -q xenvg /dev/vdb && lvcreate -q -y -L 16M -n d0_data xenvg && "
        "lvcreate -q -y -L 128M -n d0_meta xenvg && "
        "drbdmeta --force /dev/drbd0 v08 /dev/xenvg/d0_meta 0 create-md && "
        "drbdsetup new-resource r0 && drbdsetup new-minor r0 0 0 && "
        "drbdsetup attach 0 /dev/xenvg/d0_data /dev/xenvg/d0_meta 0 --on-io-error detach --c-plan-ahead 0 "
        "--resync-rate 1000M && drbdsetup connect r0 ipv4:{me}:11000 ipv4:{peer}:11000 --protocol C"
    )
    node1, node2 = testbed["node1"], testbed["node2"]
    node1.run(setup.format(me=node1.ip, peer=node2.ip), timeout=180)
    node2.run(setup.format(me=node2.ip, peer=node1.ip), timeout=180)
    node1.run("drbdsetup primary 0 --force")
    wait_synced = "for i in $(seq 300); do grep -q 'ds:UpToDate/UpToDate' /proc/drbd && exit 0; sleep 0.2; done; exit 1"
    node1.run(wait_synced)
    node1.run("head -c 1048576 /dev/urandom > /tmp/blob")
    node1.run("dd if=/tmp/blob of=/dev/drbd0 bs=1M oflag=direct status=none")
    written = node1.run("md5sum < /tmp/blob").stdout.split()[0]
    node1.run("drbdsetup secondary 0")
    node2.run("drbdsetup primary 0")
    read = node2.run("dd if=/dev/drbd0 bs=1M count=1 iflag=direct status=none | md5sum").stdout.split()[0]
    assert read == written


def test_gnt_comes_from_the_checkout(testbed: TestBed) -> None:
    node = testbed["node1"]
    assert node.run("python3 -c 'import gnt, agent; print(gnt.__file__)'").stdout.strip() == "/opt/gnt/gnt/__init__.py"
    with open(os.path.join(REPO, "gnt", "__init__.py"), "rb") as f:
        local = hashlib.sha256(f.read()).hexdigest()
    assert node.run("sha256sum /opt/gnt/gnt/__init__.py").stdout.split()[0] == local
    assert "Usage: gnt-cluster" in node.run("gnt-cluster --help").stdout


def test_shared_disk_is_one_lun_seen_by_both_hosts(testbed: TestBed) -> None:
    node1, node2 = testbed["node1"], testbed["node2"]
    assert node2.run("cat /sys/block/vdd/serial").stdout.strip() == "shared"
    node1.run("echo lun-$(hostname) | dd of=/dev/vdd bs=512 conv=sync oflag=direct status=none")
    assert node2.run("dd if=/dev/vdd bs=512 count=1 iflag=direct status=none | tr -d '\\0'").stdout == "lun-node1\n"


def test_power_off_and_on_keeps_the_disks(testbed: TestBed) -> None:
    node1, node2 = testbed["node1"], testbed["node2"]
    node2.run("echo before-power-cut > /root/persist && sync")
    pid = node2.pid
    node2.power_off()
    assert not node2.is_running()
    assert not procs.alive(pid)  # gone, or a zombie nobody has reaped yet
    assert node1.run("ping -c1 -W2 node2", check=False).rc != 0
    t = time.monotonic()
    node2.power_on()
    record("cold boot of a powered-off host", time.monotonic() - t)
    assert node2.run("cat /root/persist").stdout == "before-power-cut\n"
    assert node1.run("ping -c1 -W5 node2", check=False).rc == 0


def test_restore_gives_clean_hosts_even_after_a_power_cut(testbed: TestBed) -> None:
    node1, node2 = testbed["node1"], testbed["node2"]
    node1.run("touch /root/leftover && modprobe dm_mod && pvcreate -q /dev/vdb && vgcreate -q xenvg /dev/vdb")
    node1.run("echo dirty | dd of=/dev/vdd bs=512 conv=sync oflag=direct status=none")
    node2.power_off()
    testbed.restore()
    assert node2.is_running()
    for node in (node1, node2):
        assert node.run("ls /root").stdout == ""
        assert node.run("vgs --noheadings xenvg", check=False).rc != 0
    assert node2.run("dd if=/dev/vdd bs=512 count=1 iflag=direct status=none | tr -d '\\0'").stdout == ""
    # The clock is now, not the snapshot's.
    assert abs(float(node1.run("date +%s").stdout) - time.time()) < 30


def test_a_later_snapshot_holds_that_moment_and_can_be_replaced(testbed: TestBed) -> None:
    node1, node2 = testbed["node1"], testbed["node2"]
    node1.run("echo first > /root/state")
    node2.run("echo first | dd of=/dev/vdd bs=512 conv=sync oflag=direct status=none")
    testbed.save_snapshot("later")
    node1.run("echo second > /root/state")
    testbed.save_snapshot("later")  # replaces the first "later"
    node1.run("echo third > /root/state")
    node2.run("echo third | dd of=/dev/vdd bs=512 conv=sync oflag=direct status=none")
    testbed.restore("later")
    assert node1.run("cat /root/state").stdout == "second\n"
    assert node1.run("dd if=/dev/vdd bs=512 count=1 iflag=direct status=none | tr -d '\\0'").stdout == "first\n"
