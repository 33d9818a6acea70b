"""A sharedfile xen-pvm instance live-migrated between two Xen hosts that share a real file system.

The bed's shared directory (`TestBed(shared_dir=True)`, tools/testbed/bed.py) is a directory of this
machine that QEMU's virtio-9p serves to both hosts, a file server outside the nodes as a NAS would
be; each host mounts it without a client cache (`cache=none`), so what one dom0 wrote is what the
other reads next. The cluster (xen_fixtures.py) gets it as an admin would add a shared file system:
mounted on every node, listed in each node's file-storage-paths, then `gnt-cluster modify
--shared-file-storage-dir`. The disk is a sparse file there; xl's `block` script loops it on
whichever host runs the guest.

The instance is made and removed inside the test: the hosts' snapshots and the shared directory's
content are restored together (the bed copies the directory aside with every snapshot), but the test
depends on neither.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time

import pytest

from tools.testbed.bed import Host, mount_shared_dir, unmount_shared_dir
from tools.testbed.errors import TestbedError
from tools.testbed.gntcluster import GntCluster

from .xen_fixtures import ADD, BOOTED, COUNT, console, domains, wait_count

pytestmark = pytest.mark.timeout(1200)

#: the cluster's shared file storage directory: the bed's shared directory, mounted on every node
SHARED = "/srv/shared"
STORAGE_PATHS = "/var/lib/gnt/file-storage-paths"
NAME = "sf1"
TEMPLATES = "plain,file,drbd,diskless,sharedfile"


def instance_field(cluster: GntCluster, name: str, field: str) -> str:
    return cluster.gnt(f"gnt-instance list --no-headers -o {field} {name}").stdout.strip()


def loops(host: Host) -> str:
    """The host's loop devices and their files (`losetup -a`), "" when there are none."""
    return host.run("losetup -a").stdout.strip()


def arrived(host: Host, seen_before: str) -> str:
    """What the guest wrote to its console on `host` since it arrived there.

    xl migrate-receive makes the domain as NAME--incoming and renames it once it runs; xenconsoled
    names a log after the name it first saw (its SIGHUP reopens the logs under the current names).
    So the arrival's output starts in guest-NAME--incoming.log and may go on in guest-NAME.log,
    after `seen_before`: what that log held before (a host the guest ran on before keeps its log,
    and xenconsoled appends to it).
    """
    incoming = console(host, f"{NAME}--incoming")
    text = console(host, NAME)
    return incoming + (text[len(seen_before) :] if text.startswith(seen_before) else text)


def _moved(cluster: GntCluster, src: Host, dst: Host, last: int, seen_before: str) -> int:
    """Check the guest now runs on `dst` only, the same guest counting on; return its last count."""
    assert instance_field(cluster, NAME, "pnode") == dst.name
    assert NAME in domains(dst) and NAME not in domains(src), (domains(src), domains(dst))
    deadline = time.monotonic() + 300
    while not [int(n) for n in COUNT.findall(arrived(dst, seen_before))][1:]:  # two counts: it runs on
        assert time.monotonic() < deadline, f"{NAME} never counted on {dst.name}: {arrived(dst, seen_before)!r}"
        time.sleep(1)
    new = arrived(dst, seen_before)
    assert BOOTED not in new, new[-1500:]  # the same guest, not a fresh boot on dst
    seen = [int(n) for n in COUNT.findall(new)]
    assert seen[0] > last, new[-1500:]  # its count went on from where src last saw it
    assert f"{SHARED}/{NAME}/" not in loops(src)  # src's loop device went with the guest
    assert f"{SHARED}/{NAME}/" in loops(dst)
    return seen[-1]


def test_sharedfile_instance_live_migrates_there_and_back_on_a_shared_file_system(
    xen_cluster: GntCluster, timed
) -> None:
    cluster = xen_cluster
    node1, node2 = cluster.bed["node1"], cluster.bed["node2"]
    local = cluster.bed.shared_dir_path  # the same directory, seen from this machine
    assert os.listdir(local) == []
    try:
        for host in cluster.nodes:
            mount_shared_dir(host, SHARED)
            host.run(f"grep -qx {SHARED} {STORAGE_PATHS} || echo {SHARED} >> {STORAGE_PATHS}")
        with pytest.raises(TestbedError, match="VirtFS export path"):  # QEMU's refusal, mounted
            cluster.bed.save_snapshot("refused")
        assert not os.path.exists(os.path.join(cluster.bed.dir, "shared.refused.dir"))
        assert node1.run("mountpoint -q /srv/shared").rc == 0  # the hosts run on, share mounted
        cluster.gnt(f"gnt-cluster modify --shared-file-storage-dir {SHARED} --enabled-disk-templates {TEMPLATES}")
        with timed("xen: gnt-instance add -t sharedfile (64M file on the 9p share)"):
            cluster.gnt(f"{ADD} -t sharedfile -n node1 --no-start {NAME}")
        (disk,) = os.listdir(os.path.join(local, NAME))  # the disk file gnt made on node1, seen here
        pattern = os.urandom(1 << 20)
        with open(os.path.join(local, NAME, disk), "r+b") as f:  # written outside both hosts
            f.write(pattern)
        assert node2.run(f"head -c 1048576 {SHARED}/{NAME}/{disk} | md5sum").stdout.split()[0] == (
            hashlib.md5(pattern).hexdigest()
        )
        cluster.gnt(f"gnt-instance startup {NAME}")
        before = wait_count(node1, NAME, 0)
        # the guest reads its disk through node1's loop device on the 9p file: the bytes written here
        assert f"GNT-XEN-DISK {hashlib.md5(pattern).hexdigest()}" in console(node1, NAME)
        assert f"{SHARED}/{NAME}/{disk}" in loops(node1) and loops(node2) == ""

        with timed("xen: gnt-instance migrate (live, 128 MiB PV guest, sharedfile on 9p)"):
            result = cluster.gnt(f"gnt-instance migrate -f {NAME}", check=False, timeout=900)
        assert result.rc == 0, (
            "live migration failed (it needs a Xen with shadow paging, doc/design/007-xen.md): "
            + (result.stdout + result.stderr)[-2000:]
        )
        _moved(cluster, node1, node2, before, "")

        node1_log = console(node1, NAME)
        before = int(COUNT.findall(arrived(node2, ""))[-1])  # node2 had no log of it before
        with timed("xen: gnt-instance migrate back (live, sharedfile on 9p)"):
            cluster.gnt(f"gnt-instance migrate -f {NAME}", timeout=900)
        _moved(cluster, node2, node1, before, node1_log)

        cluster.gnt(f"gnt-instance remove -f --shutdown-timeout 0 {NAME}")
        for host in cluster.nodes:  # nothing left: domain, loop device, run directory
            assert NAME not in domains(host)
            assert loops(host) == ""
            assert host.run(f"ls -A /var/run/gnt/instances/xen/{NAME} 2>/dev/null", check=False).stdout == ""
        assert os.listdir(local) == []  # nor on the file server
    finally:
        for host in cluster.nodes:  # QEMU snapshots no host that has the share mounted
            with contextlib.suppress(TestbedError):  # busy after a failure: the next test restores anyway
                unmount_shared_dir(host, SHARED)
