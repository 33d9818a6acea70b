"""The floating master IP through the whole stack: CLI -> gnt-masterd -> LU -> RPC -> gnt-noded.

A virtual cluster's nodes share one network stack, so the master IP is off unless `--master-netdev`
is given. With `--use-external-mip-script` every virtual node runs its own script (under its own
root), which shows which node took and dropped the address. The `ip address` path runs the whole
virtual cluster inside a network namespace made for the test, on a veth interface of its own.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import make_cluster
from tests.integration.vcluster import Result, VCluster, wait_for

CLUSTER_IP = "10.78.0.100"
RENAMED_IP = "10.78.0.200"


def _name_the_cluster(vc: VCluster) -> None:
    with open(vc.dir / "hosts", "a") as handle:
        handle.write(f"{CLUSTER_IP} mipcluster\n{RENAMED_IP} mipcluster2\n")


def _install_scripts(vc: VCluster, log: Path) -> None:
    """Each node's /etc/gnt/master-ip-setup appends "NODE VERB NETDEV IP NETMASK VERSION" to `log`."""
    for index in range(1, vc.count + 1):
        script = vc.dir / f"node{index}" / "etc/gnt/master-ip-setup"
        script.parent.mkdir(parents=True, exist_ok=True)
        script.write_text(
            "#!/bin/sh\n"
            f'echo "$GNT_HOSTNAME $1 $MASTER_NETDEV $MASTER_IP $MASTER_NETMASK $CLUSTER_IP_VERSION" >> {log}\n'
        )
        script.chmod(0o755)


def _one_line_error(result: Result, text: str) -> None:
    """Exit 1 and one message line (after Ganeti's "Failure: ..." / "error type: ..." header), no traceback."""
    assert result.rc == 1, result.text
    lines = [
        line for line in result.err.splitlines() if line.strip() and not line.startswith(("Failure:", "error type:"))
    ]
    assert len(lines) == 1 and text in lines[0], result.text


@pytest.fixture
def unstarted(tmp_path: Path) -> Iterator[VCluster]:
    vc = make_cluster(tmp_path / "vc", 2)
    _name_the_cluster(vc)
    vc.start()
    try:
        yield vc
    finally:
        vc.stop()


def test_external_script_follows_the_master_role(unstarted: VCluster, tmp_path: Path) -> None:
    vc, log = unstarted, tmp_path / "mip.log"
    _install_scripts(vc, log)
    shared = f"--shared-file-storage-dir={vc.dir / 'shared-file-storage'}"
    # bad input first: one line, exit 1, and nothing left behind (the good init below works)
    _one_line_error(vc.run("gnt-cluster", "init", "--master-netmask", "24", shared, "mipcluster"), "--master-netdev")
    _one_line_error(
        vc.run("gnt-cluster", "init", "--master-netdev", "eth0;x", shared, "mipcluster"), "Invalid master netdev"
    )
    _one_line_error(
        vc.run("gnt-cluster", "init", "--master-netdev", "lo", "--master-netmask", "40", shared, "mipcluster"),
        "Invalid master netmask 40",
    )
    _one_line_error(
        vc.run("gnt-cluster", "init", "--master-netdev", "mip0", shared, "mipcluster"), "Master netdev mip0 does not"
    )
    assert not (vc.dir / "node1/var/lib/gnt/config.db").exists()

    vc.ok("gnt-cluster", "init", "--master-netdev", "mip0", "--master-netmask", "24", "--use-external-mip-script",
          shared, "mipcluster")  # fmt: skip
    vc.ok("gnt-node", "add", "node2")
    assert f"master IP: {CLUSTER_IP}" in vc.ok("gnt-cluster", "info")
    # the new master's daemon takes the address right after it starts serving (gnt.jobs.master._announce)
    wait_for(lambda: log.exists())
    assert log.read_text().splitlines() == [f"node1 start mip0 {CLUSTER_IP} 24 4"]

    vc.ok("gnt-cluster", "deactivate-master-ip", "--yes")
    vc.ok("gnt-cluster", "activate-master-ip")
    vc.ok("gnt-cluster", "master-failover", node="node2")
    wait_for(lambda: "node2 start" in log.read_text())
    assert [line.split()[:2] for line in log.read_text().splitlines()] == [
        ["node1", "start"],
        ["node1", "stop"],
        ["node1", "start"],
        ["node1", "stop"],  # failover: the old master drops it ...
        ["node2", "start"],  # ... and the new master's daemon takes it when it starts
    ]
    vc.ok("gnt-cluster", "master-failover", node="node1")  # and back, so stop-all finds the master on node1


def test_a_cluster_without_master_ip_refuses_the_commands(cluster: VCluster) -> None:
    _one_line_error(cluster.run("gnt-cluster", "activate-master-ip"), "no master IP")
    _one_line_error(cluster.run("gnt-cluster", "deactivate-master-ip", "--yes"), "no master IP")
    _one_line_error(cluster.run("gnt-cluster", "modify", "--master-netmask", "24"), "has no master IP")
    result = cluster.run("gnt-cluster", "deactivate-master-ip", input="")
    assert result.rc == 1 and "--force" in result.err


def test_rename_refuses_bad_names_and_asks_first(cluster: VCluster) -> None:
    name = cluster.ok("gnt-cluster", "info").split("Cluster name: ")[1].split()[0]
    _one_line_error(cluster.run("gnt-cluster", "rename", "-f", "bad name!"), "not a valid host name")
    _one_line_error(cluster.run("gnt-cluster", "rename", "-f", name), "Neither the name nor the IP address")
    asked = cluster.run("gnt-cluster", "rename", "other-name", input="")
    assert asked.rc == 1 and "--force" in asked.err
    assert f"Cluster name: {name}" in cluster.ok("gnt-cluster", "info")


class NetnsCluster(VCluster):
    """A virtual cluster whose daemons and commands all run inside network namespace `ns`."""

    ns = ""

    def run(self, *argv: str, node: str = "node1", timeout: float = 120, input: str | None = None,
            cwd: Path | None = None) -> Result:  # fmt: skip
        return super().run("ip", "netns", "exec", self.ns, *argv, node=node, timeout=timeout, input=input, cwd=cwd)

    def run_script(self, name: str, cwd: Path | None = None) -> Result:
        proc = subprocess.run(
            ["ip", "netns", "exec", self.ns, str(self.dir / name)], capture_output=True, text=True, timeout=120, cwd=cwd
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)


def _addresses(ns: str) -> str:
    return subprocess.run(
        ["ip", "-n", ns, "-o", "address", "show", "dev", "mip0"], capture_output=True, text=True
    ).stdout


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None, reason="needs root and ip(8) to run the cluster in a netns"
)
def test_master_ip_on_a_real_interface_in_a_namespace(tmp_path: Path) -> None:
    ns = f"gnt-mipvc-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    vc = None
    try:
        for argv in (
            ["link", "set", "lo", "up"],
            ["link", "add", "mip0", "type", "veth", "peer", "name", "mip1"],  # no dummy driver on every kernel
            ["link", "set", "mip1", "up"],
            ["link", "set", "mip0", "up"],
        ):
            subprocess.run(["ip", "-n", ns, *argv], check=True)
        NetnsCluster.ns = ns
        vc = NetnsCluster(tmp_path / "vc", 2, 30)  # alone in its namespace: any loopback subnet is free
        _name_the_cluster(vc)
        vc.start()
        vc.ok("gnt-cluster", "init", "--master-netdev", "mip0", "--master-netmask", "24",
              f"--shared-file-storage-dir={vc.dir / 'shared-file-storage'}", "mipcluster")  # fmt: skip
        vc.ok("gnt-node", "add", "node2")
        wait_for(lambda: CLUSTER_IP in _addresses(ns))
        assert f"inet {CLUSTER_IP}/24" in _addresses(ns)
        vc.ok("gnt-cluster", "deactivate-master-ip", "--yes")
        assert CLUSTER_IP not in _addresses(ns)
        vc.ok("gnt-cluster", "deactivate-master-ip", "--yes")  # already down: fine
        vc.ok("gnt-cluster", "activate-master-ip")
        vc.ok("gnt-cluster", "activate-master-ip")  # already up: fine, still one address
        assert _addresses(ns).count(CLUSTER_IP) == 1
        failover = vc.run("gnt-cluster", "master-failover", node="node2")
        assert failover.rc == 0 and "Warning" not in failover.err, failover.text  # node1 dropped the address
        wait_for(lambda: CLUSTER_IP in _addresses(ns))  # and node2's new master took it
        # node1 learns that node2 is master when node2's daemon resyncs it, shortly after it starts
        wait_for(lambda: vc.run("gnt-cluster", "master-failover", node="node1").rc == 0, timeout=60, interval=1)
        wait_for(lambda: CLUSTER_IP in _addresses(ns))
        assert _addresses(ns).count(CLUSTER_IP) == 1
        # rename: the new name resolves elsewhere, so the master IP moves with it
        vc.ok("gnt-cluster", "rename", "-f", "mipcluster2")
        assert f"inet {RENAMED_IP}/24" in _addresses(ns) and CLUSTER_IP not in _addresses(ns)
        assert (vc.dir / "node2/var/lib/gnt/ssconf_cluster_name").read_text().strip() == "mipcluster2"
        assert "Cluster name: mipcluster2" in vc.ok("gnt-cluster", "info")
        assert "node2" in vc.ok("gnt-node", "list", "--no-headers", "-o", "name")
    finally:
        if vc is not None:
            vc.run_script("stop-all")
        subprocess.run(["ip", "netns", "del", ns], check=False)
