"""Three hosts, one cluster, two failure stories in order.

First, `replace-disks -n` to a host that loses power halfway through the resync (issue 8's failure
path): the old secondary is kept until the new one is in sync, so the instance ends where it started.
Then issue 9's: certificates rolled during a migration, and the master's host losing power.

Three hosts: node1 (master, primary), node2 (secondary), node3 (the new secondary). The cluster's
DRBD resync rate is turned down so the copy to node3 takes long enough to pull node3's plug in the
middle of it. Afterwards: the job failed with a clear message, the config still names node2, node1's
DRBD device is linked to node2 again with every byte, node2 kept its volumes, and once node3 is back
`verify-disks` removes what the failed job could not (its half-made volumes). The checks use the
hosts' own tools (/proc/drbd, lvs, dd, md5sum).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tools.testbed.gntcluster import ClusterSpec, GntCluster, start_gnt_cluster, start_noded

from .conftest import make_bed, record
from .test_drbd_cluster import ADD_DRBD, DATA_MIB, enable_drbd, lvs, md5, minors, primary_of

pytestmark = pytest.mark.timeout(1500)

SLOW_RESYNC_KIB = 1024  # 64 MiB at 1 MiB/s: about a minute of resync to cut into


@pytest.fixture(scope="module")
def three_hosts() -> Iterator[GntCluster]:
    bed = make_bed(hosts=3, shared_size=None)
    try:
        bed.create()
        start = time.monotonic()
        bed.start()
        record("boot 3 hosts to ssh-ready", time.monotonic() - start)
        start = time.monotonic()
        cluster = start_gnt_cluster(bed, ClusterSpec(hosts=("node1", "node2", "node3")))
        record("gnt cluster up on 3 booted hosts", time.monotonic() - start)
        yield cluster
    finally:
        bed.destroy()


def job_log(cluster: GntCluster, job_id: str) -> str:
    return cluster.gnt(f"gnt-job info {job_id}", check=False).stdout


def wait_for_text(cluster: GntCluster, job_id: str, text: str, limit: float = 300.0) -> None:
    """Poll the job's log until `text` shows (a liveness bound, not a timing target)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if text in job_log(cluster, job_id):
            return
        time.sleep(1)
    raise AssertionError(f"job {job_id} never logged {text!r}:\n{job_log(cluster, job_id)}")


def resync_percent(host: Any) -> float | None:
    found = re.search(r"sync'ed:\s*([\d.]+)%", host.run("cat /proc/drbd").stdout)
    return float(found.group(1)) if found else None


def test_the_old_secondary_is_kept_when_the_new_one_dies_mid_resync(three_hosts: GntCluster, timed) -> None:
    cluster = three_hosts
    node1, node2, node3 = (cluster.bed[name] for name in ("node1", "node2", "node3"))
    enable_drbd(cluster)
    cluster.gnt(f"{ADD_DRBD} -n node1:node2 inst1")
    (minor,) = minors(node1)
    device = f"/dev/drbd{minor}"
    node1.run(f"dd if=/dev/urandom of={device} bs=1M count={DATA_MIB} oflag=direct status=none")
    written = md5(node1, device)
    node2_lvs = lvs(node2)
    assert len(node2_lvs) == 2, node2_lvs
    cluster.gnt(f"gnt-cluster modify -D drbd:resync-rate={SLOW_RESYNC_KIB}")

    job_id = cluster.gnt("gnt-instance replace-disks --submit -n node3 inst1").stdout.strip().split()[-1]
    wait_for_text(cluster, job_id, "to sync")
    # the percentage seen is the one acted on: a second look could find the resync just finished
    deadline = time.monotonic() + 120
    halfway = resync_percent(node1)
    while (halfway or 0.0) < 5.0 and time.monotonic() < deadline:
        time.sleep(0.5)
        halfway = resync_percent(node1)
    assert halfway is not None and halfway < 100.0, node1.run("cat /proc/drbd").stdout
    node3.power_off()

    with timed("replace-disks -n: new secondary dead mid-resync, until the job ends"):
        watched = cluster.gnt(f"gnt-job watch {job_id}", check=False, timeout=600)
    status = cluster.gnt(f"gnt-job list --no-headers -o status {job_id}").stdout.strip()
    assert status == "error", watched.stdout + watched.stderr
    log = job_log(cluster, job_id)
    assert "going back to node2" in log, log
    assert "Traceback" not in log + watched.stdout + watched.stderr

    # the instance is where it was: config, DRBD link, data, the old secondary's volumes
    assert primary_of(cluster, "inst1") == "node1"
    assert cluster.gnt("gnt-instance list --no-headers -o snodes inst1").stdout.strip() == "node2"
    linked = node1.run(
        "for i in $(seq 240); do grep -q 'cs:Connected ro:Primary/Secondary ds:UpToDate/UpToDate' /proc/drbd"
        " && break; sleep 0.5; done; cat /proc/drbd"
    ).stdout
    assert "cs:Connected ro:Primary/Secondary ds:UpToDate/UpToDate" in linked, linked
    assert md5(node1, device) == written
    assert lvs(node2) == node2_lvs
    unfinished = cluster.gnt("gnt-job list --no-headers -o status").stdout.split()
    assert not {"queued", "waiting", "running", "canceling"} & set(unfinished), unfinished

    # node3 comes back with the half-made volumes on its disk; verify-disks removes them
    node3.power_on()
    node3.run("modprobe dm_mod && modprobe drbd usermode_helper=/bin/true")
    start_noded(node3)
    assert lvs(node3), "the power cut should have left node3's new volumes on its disk"
    cluster.gnt("gnt-cluster verify-disks")
    assert lvs(node3) == []
    assert minors(node3) == {}
    verify = cluster.gnt("gnt-cluster verify", check=False)
    assert verify.rc == 0 and "ERROR" not in verify.stdout, verify.stdout


def _digest(host: Any, path: str) -> str:
    return str(host.run(f"sha256sum {path}").stdout.split()[0])


def _statuses(host: Any, *job_ids: str) -> list[str]:
    return host.run(f"gnt-job list --no-headers -o status {' '.join(job_ids)}").stdout.split()


def test_certificates_roll_during_a_migration_and_the_master_loses_power(three_hosts: GntCluster, timed) -> None:
    """Issue 9's day on three hosts, after the test above (inst1 is a healthy drbd instance on
    node1:node2): `renew-crypto` is submitted while `inst1` migrates, and both finish; then the
    master's host loses power, node2 takes over by the vote of the two hosts left, finds every job
    of the old master in its queue, and when node1 comes back its gnt-masterd stands down and the
    cluster verifies clean with node1 as an ordinary node."""
    cluster = three_hosts
    node1, node2, node3 = (cluster.bed[name] for name in ("node1", "node2", "node3"))
    assert primary_of(cluster, "inst1") == "node1"
    certs_before = {h.name: _digest(h, "/var/lib/gnt/server.pem") for h in (node1, node2, node3)}

    migrate = cluster.gnt("gnt-instance migrate --submit -f inst1").stdout.strip().split()[-1]
    renew = (
        cluster.gnt("gnt-cluster renew-crypto --submit --new-cluster-certificate --new-node-certificates -f")
        .stdout.strip()
        .split()[-1]
    )
    with timed("migrate + renew-crypto submitted together, until both end"):
        for job_id in (migrate, renew):
            cluster.gnt(f"gnt-job watch {job_id}", check=False, timeout=900)
    assert _statuses(node1, migrate, renew) == ["success", "success"], job_log(cluster, migrate) + job_log(
        cluster, renew
    )
    assert primary_of(cluster, "inst1") == "node2"
    certs_after = {h.name: _digest(h, "/var/lib/gnt/server.pem") for h in (node1, node2, node3)}
    assert all(certs_after[name] != certs_before[name] for name in certs_before), (certs_before, certs_after)
    verify = cluster.gnt("gnt-cluster verify", check=False)
    assert verify.rc == 0 and "ERROR" not in verify.stdout, verify.stdout

    node1.power_off()
    with timed("master-failover to node2 with the master's host powered off"):
        node2.run("gnt-cluster master-failover", timeout=600)
    assert node2.run("gnt-cluster getmaster").stdout.strip() == "node2"
    # the queue came with it: the jobs the old master ran, with their logs
    assert _statuses(node2, migrate, renew) == ["success", "success"]
    assert "migrat" in node2.run(f"gnt-job info {migrate}").stdout.lower()
    assert node2.run("gnt-instance list --no-headers -o pnode,status inst1").stdout.split() == ["node2", "running"]

    with timed("cold boot of the old master's host until its node daemon serves"):
        node1.power_on()
        node1.run("modprobe dm_mod && modprobe drbd usermode_helper=/bin/true")
        start_noded(node1)
    stale = node1.run("timeout 120 gnt-masterd", check=False, timeout=180)
    assert stale.rc == 1, stale.stdout + stale.stderr
    assert "no longer the master" in stale.stderr and "node2" in stale.stderr, stale.stderr
    assert node1.run("gnt-cluster getmaster").stdout.strip() == "node2"

    node2.run("gnt-cluster verify-disks")
    verify = node2.run("gnt-cluster verify", check=False)
    assert verify.rc == 0 and "ERROR" not in verify.stdout, verify.stdout
    unfinished = node2.run("gnt-job list --no-headers -o status").stdout.split()
    assert not {"queued", "waiting", "running", "canceling"} & set(unfinished), unfinished
