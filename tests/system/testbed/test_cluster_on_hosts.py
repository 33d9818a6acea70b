"""The whole gnt stack on hosts with a real kernel: gnt-masterd, its RAPI and gnt-noded running on
Debian 12 hosts (their python3 and libraries), node2 joined over the private network, plain disks
as real LVs in each host's own volume group.

Every result is checked from the outside as well: the host's own `lvs`, the job list, the config
serial. The cluster comes from the `gnt_cluster` fixture (conftest.py).
"""

from __future__ import annotations

import json
import re
import textwrap

import pytest

from tools.testbed.gntcluster import GntCluster

pytestmark = pytest.mark.timeout(1200)

ADD_PLAIN = "gnt-instance add -t plain -o noop --no-install -n node2"


def _lvs(host) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """(name, size in MiB) of every LV in xenvg, by the host's own lvm2."""
    out = host.run("lvs --noheadings --separator , -o lv_name,lv_size --units m --nosuffix xenvg").stdout
    return [(name.strip(), size.split(".")[0]) for name, size in (line.split(",") for line in out.split())]


def _serial(cluster: GntCluster) -> int:
    match = re.search(r"config serial: (\d+)", cluster.gnt("gnt-cluster info").stdout)
    assert match, "gnt-cluster info shows no config serial"
    return int(match.group(1))


def _unfinished_jobs(cluster: GntCluster) -> list[str]:
    rows = cluster.gnt("gnt-job list --no-headers -o id,status").stdout.split("\n")
    return [row for row in rows if row.strip() and row.split()[1] not in ("success", "error", "canceled")]


def _rapi_get(cluster: GntCluster, client_host: str, path: str) -> object:
    """GET a RAPI resource from another host over the private network, with basic auth."""
    script = textwrap.dedent(
        f"""
        import base64, json, ssl, urllib.request
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE  # the RAPI's self-signed certificate
        req = urllib.request.Request({cluster.rapi_url(path)!r})
        token = base64.b64encode(b"{cluster.spec.rapi_user}:{cluster.spec.rapi_password}").decode()
        req.add_header("Authorization", "Basic " + token)
        with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
            print(resp.read().decode())
        """
    )
    return json.loads(cluster.bed[client_host].run("python3 -", stdin=script).stdout)


def test_plain_instance_lives_on_the_joined_hosts_volume_group(gnt_cluster: GntCluster, timed) -> None:
    cluster = gnt_cluster
    node1, node2 = cluster.bed["node1"], cluster.bed["node2"]
    nodes = cluster.gnt("gnt-node list --no-headers -o name,master_candidate").stdout.split("\n")
    assert [row.split() for row in nodes if row.strip()] == [["node1", "Y"], ["node2", "Y"]]
    with timed("gnt-cluster verify (2 nodes)"):
        verify = cluster.gnt("gnt-cluster verify", check=False)
    assert verify.rc == 0 and "ERROR" not in verify.stdout + verify.stderr, verify.stdout + verify.stderr

    with timed("gnt-instance add -t plain (256M, on node2)"):
        cluster.gnt(f"{ADD_PLAIN} --disk 0:size=256M inst1")
    lvs = _lvs(node2)
    assert len(lvs) == 1 and lvs[0][0].endswith(".disk0") and lvs[0][1] == "256", lvs
    assert _lvs(node1) == []
    volumes = cluster.gnt("gnt-node volumes --no-headers -o node,vg,name,size,instance --units m").stdout.split()
    assert volumes == ["node2", "xenvg", lvs[0][0], "256", "inst1"]
    assert node2.run(f"test -b /dev/xenvg/{lvs[0][0]}", check=False).rc == 0

    with timed("gnt-instance shutdown"):
        cluster.gnt("gnt-instance shutdown inst1")
    assert cluster.gnt("gnt-instance list --no-headers -o status inst1").stdout.strip() == "ADMIN_down"
    with timed("gnt-instance startup"):
        cluster.gnt("gnt-instance startup inst1")
    assert cluster.gnt("gnt-instance list --no-headers -o status inst1").stdout.strip() == "running"
    # the RAPI, for real: another host asks the master over the private network
    info = _rapi_get(cluster, "node2", "/2/instances/inst1")
    assert info["pnode"] == "node2" and info["disk_template"] == "plain" and info["oper_state"] is True
    assert _lvs(node2) == lvs  # stopping and starting keeps the disk

    with timed("gnt-instance remove (plain)"):
        cluster.gnt("gnt-instance remove -f inst1")
    assert _lvs(node2) == []
    assert cluster.gnt("gnt-instance list --no-headers").stdout.strip() == ""
    assert cluster.gnt("gnt-cluster verify", check=False).rc == 0


def test_a_disk_larger_than_the_volume_group_is_refused_and_changes_nothing(gnt_cluster: GntCluster) -> None:
    cluster = gnt_cluster
    serial = _serial(cluster)
    result = cluster.gnt(f"{ADD_PLAIN} --disk 0:size=8G big1", check=False)
    assert result.rc == 1
    assert "Not enough disk space on target node node2 vg xenvg: required 8192 MiB" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert _lvs(cluster.bed["node2"]) == []
    assert _serial(cluster) == serial
    assert _unfinished_jobs(cluster) == []


def test_a_disk_that_fails_on_the_node_after_the_checks_is_rolled_back(gnt_cluster: GntCluster) -> None:
    """The node's VG says 4.3 GiB free but only a 296 MiB PV takes new extents: disk 0 fits, disk 1
    fails in lvcreate, and disk 0 must go again (what a VG filling up between check and create does)."""
    cluster = gnt_cluster
    node2 = cluster.bed["node2"]
    node2.run(
        "modprobe loop && truncate -s 300M /root/pv2.img && pv=$(losetup -f --show /root/pv2.img)"
        " && pvcreate -q $pv && vgextend -q xenvg $pv && pvchange -q -x n /dev/vdb"
    )
    serial = _serial(cluster)
    result = cluster.gnt(f"{ADD_PLAIN} --disk 0:size=256M --disk 1:size=256M big2", check=False)
    assert result.rc == 1
    assert "Can't create disk 1 of instance big2 on node node2: lvcreate failed" in result.stderr
    assert "Insufficient free space" in result.stderr
    assert _lvs(node2) == []
    assert _serial(cluster) == serial
    assert cluster.gnt("gnt-instance list --no-headers").stdout.strip() == ""
    assert _unfinished_jobs(cluster) == []


def test_a_powered_off_node_is_a_clear_error_and_verify_reports_it(gnt_cluster: GntCluster) -> None:
    """node2 loses power right after the master last talked to it (a kept-alive connection nobody
    answers on any more): the add fails naming the node as down, not after the whole RPC timeout
    with 'did not answer', and nothing of the instance is left on node1's config."""
    cluster = gnt_cluster
    node1, node2 = cluster.bed["node1"], cluster.bed["node2"]
    assert cluster.gnt("gnt-node list --no-headers -o name").stdout.split() == ["node1", "node2"]
    serial = _serial(cluster)
    node2.power_off()

    result = cluster.gnt(f"{ADD_PLAIN} --disk 0:size=256M lost1", check=False)
    assert result.rc == 1
    assert "node node2" in result.stderr and "is the node up?" in result.stderr, result.stderr
    assert "did not answer" not in result.stderr
    assert cluster.gnt("gnt-instance list --no-headers").stdout.strip() == ""
    assert _serial(cluster) == serial
    assert _lvs(node1) == []
    assert _unfinished_jobs(cluster) == []

    verify = cluster.gnt("gnt-cluster verify", check=False)
    assert verify.rc == 1
    # Ganeti's verify names the dead node twice: its status, and the post hooks it could not run there
    errors = [line for line in verify.stdout.splitlines() if "ERROR" in line]
    assert errors and all("node node2" in e and "is the node up?" in e for e in errors), verify.stdout
    assert len(errors) == 1 or "hooks execution" in errors[1], verify.stdout


def test_a_node_cut_from_power_after_joining_comes_back_with_what_it_was_given(gnt_cluster: GntCluster) -> None:
    """The certificate, storage lists and ssconf a node got when it joined must be on its disk, not
    only in its page cache: node2 loses power seconds after joining (the snapshot was taken then)
    and, once its gnt-noded runs again, serves the cluster and takes a plain disk as before."""
    from tools.testbed.gntcluster import start_noded

    cluster = gnt_cluster
    node2 = cluster.bed["node2"]
    node2.power_off()
    node2.power_on()
    sizes = node2.run(
        "stat -c '%n %s' /var/lib/gnt/server.pem /var/lib/gnt/lvm-volume-groups /var/lib/gnt/ssconf_master_node"
    ).stdout.split("\n")
    assert all(int(line.split()[1]) > 0 for line in sizes if line.strip()), sizes
    start_noded(node2)
    verify = cluster.gnt("gnt-cluster verify", check=False)
    assert verify.rc == 0 and "ERROR" not in verify.stdout, verify.stdout
    cluster.gnt(f"{ADD_PLAIN} --disk 0:size=128M back1")
    assert [name.endswith(".disk0") for name, _ in _lvs(node2)] == [True]
