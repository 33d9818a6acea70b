"""A gnt cluster on two Xen hosts: xen-pvm instances through the whole stack, migration and failover.

node1 and node2 run Xen 4.17 with a PV dom0 (tools/testbed/xen.py); gnt-masterd runs on node1 and
gnt-noded on both, from the checkout (tools/testbed/gntcluster.py, `--enabled-hypervisors xen-pvm`).
The PV guest (xen_fixtures.py: Debian's kernel and a busybox initramfs from the bed's shared disk,
mounted read-only on both hosts) prints a count once a second with `gnt.test=counter`, so a migrated
guest is the same guest when the target's console log goes on from the count the source last showed
(and never shows the guest's boot marker again).

The hosts, the cluster and the drbd guest (`mig1`: primary node2, secondary node1, so the master
survives the primary's power cut) are each made once per session and restored from snapshots
before every test (xen_fixtures.py). Every outcome is read with Xen's and the hosts' own tools
(`xl list`, the console logs xenconsoled writes, /proc/drbd), not with gnt.
"""

from __future__ import annotations

import re
import shlex
import time

import pytest

from tools.testbed.bed import Host
from tools.testbed.gntcluster import GntCluster

from .test_drbd_cluster import minors
from .xen_fixtures import ADD, BOOTED, GUEST_DIR, console, counts, domains, wait_count

pytestmark = pytest.mark.timeout(1200)


def instance_field(cluster: GntCluster, name: str, field: str) -> str:
    return cluster.gnt(f"gnt-instance list --no-headers -o {field} {name}").stdout.strip()


def wait_for(what: str, check, timeout: float = 300.0) -> None:  # type: ignore[no-untyped-def]
    """Poll `check()` until it is true (a loaded TCG host may take minutes), else fail naming `what`."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(1)


def _single_primary(host: Host) -> None:
    (line,) = [state for state in minors(host).values()]
    assert "ro:Primary/Secondary" in line, line  # `host` is the only primary: no dual-primary window left open


def test_xen_nodes_report_xen(xen_cluster: GntCluster) -> None:
    """gnt-node info shows the Xen version of each node (from xl info), verify finds nothing to say."""
    cluster = xen_cluster
    for host in cluster.nodes:
        version = host.run("xl info | sed -n 's/^xen_version *: //p'").stdout.strip()
        assert version.startswith("4.17")
        info = cluster.gnt(f"gnt-node info {host.name}").stdout
        assert f"xen {version}" in info, info
    verify = cluster.gnt("gnt-cluster verify", check=False)
    assert verify.rc == 0, verify.stdout + verify.stderr


def test_plain_instance_console_reboot_and_stop(xen_cluster: GntCluster, timed) -> None:
    cluster = xen_cluster
    node1, node2 = cluster.bed["node1"], cluster.bed["node2"]
    with timed("xen: gnt-instance add -t plain (starts the guest)"):
        cluster.gnt(f"{ADD} -t plain -n node2 plain1")
    assert instance_field(cluster, "plain1", "status") == "running"
    # running, blocked or waiting for a CPU ("------" when its vCPU is runnable but not on a CPU, common
    # under TCG): not paused, shut down, crashed or dying
    assert not set("pscd") & set(domains(node2)["plain1"]), domains(node2)
    with timed("xen: plain guest from add to its first count"):
        first = wait_count(node2, "plain1", 0)
    assert BOOTED in console(node2, "plain1")

    # what `gnt-instance console` runs, run for real from the master (a terminal, as an admin's)
    show = cluster.gnt("gnt-instance console --show-cmd plain1").stdout.strip()
    assert "xl console plain1" in show and "root@192.168.77.2" in show, show  # node2's primary IP
    seen = node1.run(f"timeout 40 script -qfc {shlex.quote(show)} /dev/null", check=False).stdout
    assert "GNT-XEN-COUNT" in seen, seen[-800:]  # the guest's own console, live

    domid = node2.run("xl domid plain1").stdout.strip()
    with timed("xen: gnt-instance reboot (soft, xl reboot)"):
        cluster.gnt("gnt-instance reboot plain1")
    wait_for("plain1's second boot", lambda: console(node2, "plain1").count(BOOTED) >= 2)
    assert node2.run("xl domid plain1").stdout.strip() != domid  # xl restarted it as a new domain
    assert first >= 1 and instance_field(cluster, "plain1", "status") == "running"

    with timed("xen: gnt-instance shutdown"):
        cluster.gnt("gnt-instance shutdown plain1")
    assert "plain1" not in domains(node2)  # gnt's shutdown leaves no domain
    assert instance_field(cluster, "plain1", "status") == "ADMIN_down"
    cluster.gnt("gnt-instance remove -f plain1")
    assert node2.run("lvs --noheadings -o lv_name xenvg").stdout.strip() == ""


def test_a_guest_powering_itself_off_is_told_from_a_gnt_shutdown(xen_cluster: GntCluster) -> None:
    """The guest's own poweroff: Xen keeps the domain shut down (on_poweroff=preserve), gnt says
    USER_down (not ERROR_down, which the watcher would restart, nor ADMIN_down) once the cluster's
    user shutdown detection is on (`--user-shutdown yes`; off, Ganeti's default, it is ERROR_down)."""
    cluster = xen_cluster
    cluster.gnt("gnt-cluster modify --user-shutdown yes")
    node2 = cluster.bed["node2"]
    hv = f"xen-pvm:kernel_path={GUEST_DIR}/vmlinuz,initrd_path={GUEST_DIR}/initrd.img,kernel_args=console=hvc0 quiet"
    cluster.gnt(
        f'gnt-instance add -o noop --no-install --no-nics -t diskless -B memory=128M -n node2 -H "{hv}'
        ' gnt.test=poweroff" off1'
    )
    wait_for("off1 to power itself off", lambda: "GNT-XEN-POWEROFF" in console(node2, "off1"))
    wait_for("off1's domain to be shut down", lambda: "s" in domains(node2).get("off1", ""))
    assert instance_field(cluster, "off1", "status") == "USER_down"
    assert instance_field(cluster, "off1", "admin_state") == "up"  # gnt did not stop it

    cluster.gnt("gnt-instance shutdown off1")  # the admin takes note: the preserved domain goes
    assert "off1" not in domains(node2)
    assert instance_field(cluster, "off1", "status") == "ADMIN_down"
    cluster.gnt("gnt-instance remove -f off1")
    cluster.gnt("gnt-cluster modify --user-shutdown no")


def _no_leftovers(host: Host, name: str) -> None:
    """No half-arrived or migrated-away domain, no receiver or xl migrate, no file but the config and logs."""
    assert not [d for d in domains(host) if d.startswith(name + "--")], domains(host)
    procs = host.run("ps -eo args | grep -E '^(socat|xl) ' | grep -v grep", check=False).stdout
    assert "migrate" not in procs and "socat" not in procs, procs
    files = host.run(f"ls /var/run/gnt/instances/xen/{name} 2>/dev/null", check=False).stdout.split()
    assert set(files) <= {"config.xl", "migrate.log", "receive.log"}, files  # xl's logs stay for a look


def _slow_stream(host: Host, peer: Host) -> str:
    """Shape the migration stream (TCP to port 8002) `host` sends `peer` to 8 Mbit/s, so a move of the
    128 MiB guest lasts minutes and a test can act on it mid-transfer; the rest of the traffic
    (drbd, gnt's RPC, ssh) is left alone. Returns the device, for `_fast_stream`."""
    dev = host.run(f"ip -o route get {peer.ip} | sed -n 's/.* dev \\([^ ]*\\).*/\\1/p'").stdout.strip()
    host.run(
        f"tc qdisc add dev {dev} root handle 1: prio && tc qdisc add dev {dev} parent 1:3 handle 30: tbf rate"
        f" 8mbit burst 32kb latency 500ms && tc filter add dev {dev} parent 1: protocol ip prio 1 u32 match ip"
        " dport 8002 0xffff flowid 1:3"
    )
    return dev


def _fast_stream(host: Host, dev: str) -> None:
    host.run(f"tc qdisc del dev {dev} root")


def _submit_migration(cluster: GntCluster, name: str) -> str:
    return cluster.gnt(f"gnt-instance migrate --submit -f {name}").stdout.strip().split()[-1]


def _sent_mib(cluster: GntCluster, job: str) -> list[float]:
    """The MiB the job's progress lines say the stream has sent, in order."""
    log = cluster.gnt(f"gnt-job info {job}").stdout
    return [float(m) for m in re.findall(r"memory transfer progress: ([0-9.]+) MiB of the stream sent", log)]


def _wait_job(cluster: GntCluster, job: str) -> tuple[str, str]:
    """Wait for the job's end: its status and what `gnt-job wait` says about it."""
    waited = cluster.gnt(f"gnt-job wait {job}", check=False, timeout=900)
    status = cluster.gnt(f"gnt-job list --no-headers -o status {job}").stdout.strip()
    return status, waited.stderr.strip()


def _runs_and_counts(host: Host, name: str) -> int:
    """The guest runs on `host` (not paused, not suspended) and its count goes on; the last count."""
    assert not set("pscd") & set(domains(host)[name]), domains(host)
    return wait_count(host, name, counts(host, name)[-1])


def test_drbd_instance_migrates_live_and_a_cancelled_move_keeps_it_on_the_source(
    xen_cluster: GntCluster, xen_drbd_guest: str, timed
) -> None:
    """Live: `xl migrate` through gnt's steps (the bed's Xen has shadow paging, which tracks a PV
    guest's dirty pages). The guest moves node2 -> node1 counting on; then a move back is cancelled
    mid-transfer (`gnt-job cancel`; the stream is slowed so it is still under way): the guest goes on
    on node1, not paused, and a later move back works."""
    cluster, name = xen_cluster, xen_drbd_guest
    node1, node2 = cluster.bed["node1"], cluster.bed["node2"]
    before = wait_count(node2, name, 0)
    with timed("xen: gnt-instance migrate (live, 128 MiB PV guest, drbd)"):
        result = cluster.gnt(f"gnt-instance migrate -f {name}", timeout=900)
    output = result.stdout + result.stderr
    assert instance_field(cluster, name, "pnode") == "node1", output
    assert name in domains(node1) and name not in domains(node2)
    after = wait_count(node1, name, before)
    assert BOOTED not in console(node1, name)  # the same guest, not a fresh boot on node1
    assert counts(node1, name)[0] > before  # its count went on from where node2 last saw it
    assert wait_count(node1, name, after) > after
    _single_primary(node1)
    assert "dirty rate 0 pages/s" not in output, output  # no made-up figures: xl has none
    for host in (node1, node2):
        _no_leftovers(host, name)

    dev = _slow_stream(node1, node2)
    job = _submit_migration(cluster, name)
    wait_for(f"{name} to start arriving on node2", lambda: f"{name}--incoming" in domains(node2))
    wait_for("the job to log what the stream has sent", lambda: any(mib > 0 for mib in _sent_mib(cluster, job)))
    sent = _sent_mib(cluster, job)
    assert sent == sorted(sent), sent  # what the stream sent only grows
    cluster.gnt(f"gnt-job cancel {job}")
    status, why = _wait_job(cluster, job)
    _fast_stream(node1, dev)
    assert status == "canceled", why
    assert instance_field(cluster, name, "pnode") == "node1"
    assert name not in domains(node2) and f"{name}--incoming" not in domains(node2)  # nothing half-arrived
    last = _runs_and_counts(node1, name)  # xl resumed it: not left paused or suspended
    _single_primary(node1)
    for host in (node1, node2):
        _no_leftovers(host, name)

    with timed("xen: gnt-instance migrate (live) back after a cancelled move"):
        cluster.gnt(f"gnt-instance migrate -f {name}", timeout=900)
    assert instance_field(cluster, name, "pnode") == "node2"
    assert name in domains(node2) and name not in domains(node1)
    assert console(node2, name).count(BOOTED) == 1  # node2's log from the first boot: no second one
    wait_count(node2, name, last)
    _single_primary(node2)
    for host in (node1, node2):
        _no_leftovers(host, name)


def test_a_target_losing_power_mid_migration_leaves_the_guest_on_the_source(
    xen_cluster: GntCluster, xen_drbd_guest: str
) -> None:
    """The target is powered off while the guest's memory streams to it: the source's end of the
    stream gives up (no acknowledgement within xl.STREAM_TIMEOUT), xl resumes the guest there, and the
    job fails with one line. node2 is the one to lose power (node1 holds the master), so the guest
    first moves to node1. The next test finds node2 back (the fixtures restore powered-off hosts)."""
    cluster, name = xen_cluster, xen_drbd_guest
    node1, node2 = cluster.bed["node1"], cluster.bed["node2"]
    cluster.gnt(f"gnt-instance migrate -f {name}", timeout=900)
    assert instance_field(cluster, name, "pnode") == "node1"
    dev = _slow_stream(node1, node2)
    job = _submit_migration(cluster, name)
    wait_for(f"{name} to start arriving on node2", lambda: f"{name}--incoming" in domains(node2))
    node2.power_off()
    status, why = _wait_job(cluster, job)
    _fast_stream(node1, dev)
    assert status == "error", why
    # gnt's (Ganeti's) form: the job's failure, then the error in one line that says what broke
    head, error = why.splitlines()
    assert head == f"Job {job} failed: Failure: command execution error:", why
    assert error.startswith(f"Could not migrate instance {name}: xl migrate exited 1:"), why
    assert "stream to the target broke" in error and "resumed the guest" in error, why
    assert instance_field(cluster, name, "pnode") == "node1"
    _runs_and_counts(node1, name)
    ((_, line),) = minors(node1).items()
    assert "ro:Primary/Unknown" in line, line  # node1 keeps the disk, alone
    _no_leftovers(node1, name)


def test_drbd_instance_migrates_non_live_and_keeps_counting(
    xen_cluster: GntCluster, xen_drbd_guest: str, timed
) -> None:
    """--non-live: xl save -p on the source streamed into xl restore on the target (no log-dirty)."""
    cluster, name = xen_cluster, xen_drbd_guest
    node1, node2 = cluster.bed["node1"], cluster.bed["node2"]
    before = wait_count(node2, name, 0)
    assert name not in domains(node1)

    with timed("xen: gnt-instance migrate --non-live (128 MiB PV guest, drbd)"):
        result = cluster.gnt(f"gnt-instance migrate -f --non-live {name}", timeout=900)
    assert instance_field(cluster, name, "pnode") == "node1", result.stdout
    assert name not in domains(node2) and name in domains(node1)
    after = wait_count(node1, name, before)
    assert BOOTED not in console(node1, name)  # the same guest, not a fresh boot on node1
    assert counts(node1, name)[0] > before  # its count went on from where node2 last saw it
    assert wait_count(node1, name, after) > after  # and it keeps running
    _single_primary(node1)
    for host in (node1, node2):  # no save image, log or listener left behind
        assert host.run(f"ls /var/run/gnt/instances/xen/{name} 2>/dev/null", check=False).stdout.split() in (
            [],
            ["config.xl", "restore.log"],
            ["config.xl"],
        )

    # a migration that fails (the target's migration port is taken): the guest stays where it is
    blocker = node2.run("(setsid socat TCP-LISTEN:8002,bind=192.168.77.2,reuseaddr,fork /dev/null & echo $!)")
    pid = int(blocker.stdout.strip())
    try:
        failed = cluster.gnt(f"gnt-instance migrate -f --non-live {name}", check=False, timeout=600)
    finally:
        node2.run(f"kill {pid}", check=False)
    assert failed.rc != 0 and "migration port 8002 is busy" in failed.stdout + failed.stderr
    assert instance_field(cluster, name, "pnode") == "node1"
    assert name not in domains(node2)
    last = wait_count(node1, name, counts(node1, name)[-1])
    _single_primary(node1)  # the dual-primary window was closed again
    cleanup = cluster.gnt(f"gnt-instance migrate -f --cleanup {name}")
    assert "runs on node1" in cleanup.stdout + cleanup.stderr

    with timed("xen: gnt-instance migrate --non-live back"):
        cluster.gnt(f"gnt-instance migrate -f --non-live {name}", timeout=900)  # on the freed port
    assert instance_field(cluster, name, "pnode") == "node2"
    assert name in domains(node2) and name not in domains(node1)
    wait_count(node2, name, last)
    _single_primary(node2)


def test_drbd_instance_fails_over_when_its_primary_loses_power(
    xen_cluster: GntCluster, xen_drbd_guest: str, timed
) -> None:
    """node2 (the primary) is powered off; failover --ignore-consistency boots the guest on node1
    from node1's copy of the disk."""
    cluster, name = xen_cluster, xen_drbd_guest
    node1, node2 = cluster.bed["node1"], cluster.bed["node2"]
    wait_count(node2, name, 0)
    node2.power_off()
    with timed("xen: gnt-instance failover --ignore-consistency (primary powered off)"):
        cluster.gnt(f"gnt-instance failover -f --ignore-consistency {name}", timeout=900)
    assert instance_field(cluster, name, "pnode") == "node1" and instance_field(cluster, name, "snodes") == "node2"
    assert name in domains(node1)
    wait_for(f"{name} to boot on node1", lambda: BOOTED in console(node1, name))  # a fresh boot
    wait_count(node1, name, 0)
    ((minor, line),) = minors(node1).items()
    assert "ro:Primary/Unknown" in line, line  # node1 alone holds the disk now
    assert instance_field(cluster, name, "status") == "running"
