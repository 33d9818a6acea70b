"""The master's SSH key, known_hosts and queue drain flag reach the master candidates, so a failover keeps them."""

from __future__ import annotations

import stat
import subprocess
import sys

from tests.integration.vcluster import VCluster, wait_for

HOST_LINE = "192.0.2.7 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEXAMPLEEXAMPLEEXAMPLEEXAMPLEEXAMPLEEXAMPL\n"


def _data(vc: VCluster, node: str) -> str:
    return str(vc.dir / node / "var/lib/gnt")


def test_drained_queue_stays_drained_after_master_failover(fresh_cluster: VCluster) -> None:
    vc = fresh_cluster
    vc.ok("gnt-cluster", "queue", "drain")
    assert (vc.dir / "node2/var/lib/gnt/queue.drain").exists()
    vc.ok("gnt-cluster", "master-failover", node="node2")
    assert vc.ok("gnt-cluster", "queue", "info", node="node2").strip() == "The drain flag is set"
    refused = vc.run("gnt-debug", "delay", "0", node="node2")
    assert refused.rc != 0 and "drained" in refused.err
    vc.ok("gnt-cluster", "queue", "undrain", node="node2")
    wait_for(lambda: not (vc.dir / "node1/var/lib/gnt/queue.drain").exists(), 10)
    vc.ok("gnt-cluster", "master-failover", node="node1")
    assert vc.ok("gnt-cluster", "queue", "info").strip() == "The drain flag is unset"
    vc.ok("gnt-debug", "delay", "0")


def test_ssh_key_and_known_hosts_reach_candidates_and_serve_the_new_master(fresh_cluster: VCluster) -> None:
    vc = fresh_cluster
    make_key = 'from gnt.node import sshkeys; print(sshkeys.ensure_cluster_key("ed25519", 256))'
    public = subprocess.run(
        [sys.executable, "-c", make_key], env=vc.env("node1"), capture_output=True, text=True, check=True
    ).stdout.strip()
    (vc.dir / "node1/var/lib/gnt/known_hosts").write_text(HOST_LINE)
    vc.ok("gnt-cluster", "redist-conf")
    key = vc.dir / "node1/var/lib/gnt/ssh/id_ed25519"
    for node in ("node2", "node3"):
        copy = vc.dir / node / "var/lib/gnt/ssh/id_ed25519"
        assert copy.read_bytes() == key.read_bytes()
        assert stat.S_IMODE(copy.stat().st_mode) == 0o600
        assert (vc.dir / node / "var/lib/gnt/known_hosts").read_text() == HOST_LINE
    vc.ok("gnt-cluster", "master-failover", node="node2")
    read_key = "from gnt.node import sshkeys; print(sshkeys.cluster_public_key())"
    on_new_master = subprocess.run(
        [sys.executable, "-c", read_key], env=vc.env("node2"), capture_output=True, text=True, check=True
    ).stdout.strip()
    assert on_new_master == public
