"""Crashes and broken peers: nothing is lost, nothing hangs, errors are clear."""

from __future__ import annotations

import signal
import socket
import time
from pathlib import Path

from gnt import certs
from tests.integration.vcluster import ADD_DISKLESS, VCluster, wait_for

ADD = [*ADD_DISKLESS, "-B", "memory=32M"]


def test_masterd_sigkill_loses_no_job_and_no_config(fresh_cluster: VCluster) -> None:
    vc = fresh_cluster
    vc.ok(*ADD, "-n", "node1", "keep-a")
    running = vc.submit("gnt-debug", "delay", "-n", "node2", "30")
    wait_for(lambda: vc.job_status(running) == "running", 10)
    queued = [vc.submit("gnt-debug", "delay", "-n", "node2", "0") for _ in range(3)]
    create = vc.submit(*ADD, "-n", "node3", "keep-b")
    vc.wait_job(create)
    vc.kill_daemon("node1", "gnt-masterd", signal.SIGKILL)
    vc.start_masterd("node1")
    assert vc.wait_job(running) == "error"
    assert "Unclean master daemon shutdown" in vc.ok("gnt-job", "info", str(running))
    assert [vc.wait_job(j) for j in queued] == ["success"] * 3
    names = vc.ok("gnt-instance", "list", "--no-headers", "-o", "name").split()
    assert names == ["keep-a", "keep-b"]
    assert "running" not in vc.ok("gnt-job", "list", "--no-headers", "-o", "status").split()


def test_node_daemon_killed_mid_job_fails_job_quickly(fresh_cluster: VCluster) -> None:
    vc = fresh_cluster
    job = vc.submit("gnt-debug", "delay", "--no-master", "-n", "node2", "20")
    wait_for(lambda: vc.job_status(job) == "running", 10)
    time.sleep(0.3)
    started = time.monotonic()
    vc.kill_daemon("node2", "gnt-noded", signal.SIGKILL)
    assert vc.wait_job(job, timeout=15) == "error"
    assert time.monotonic() - started < 10
    info = vc.ok("gnt-job", "info", str(job))
    assert "node2" in info
    listed = vc.ok("gnt-node", "list", "--no-headers", "-o", "name,mfree", "node2").split()
    assert listed == ["node2", "?"]  # no live data from a dead node, and no hang
    vc.start_noded("node2")
    wait_for(lambda: vc.ok("gnt-node", "list", "--no-headers", "-o", "mfree", "node2").strip() != "?", 10)


def test_peer_with_wrong_certificate_is_a_clear_error(fresh_cluster: VCluster) -> None:
    vc = fresh_cluster
    vc.kill_daemon("node3", "gnt-noded", signal.SIGTERM)
    cert = vc.dir / "node3/var/lib/gnt/server.pem"
    cert.write_bytes(certs.generate_pem("intruder"))
    vc.start_noded("node3")
    time.sleep(0.3)
    result = vc.run("gnt-cluster", "verify")
    assert result.rc == 1
    assert "ERROR: node node3" in result.out and "TLS handshake with node node3" in result.out
    job = vc.run("gnt-debug", "delay", "-n", "node3", "0")
    assert job.rc == 1 and "certificate" in job.err


def test_master_failover_keeps_config_and_can_go_back(fresh_cluster: VCluster) -> None:
    vc = fresh_cluster
    vc.ok(*ADD, "-n", "node2", "mf-a")
    out = vc.ok("gnt-cluster", "master-failover", node="node2")
    assert "from node1" in out
    assert vc.ok("gnt-cluster", "getmaster", node="node2").strip() == "node2"
    assert vc.ok("gnt-instance", "list", "--no-headers", "-o", "name,status", node="node2").split() == [
        "mf-a",
        "running",
    ]
    assert "not the master" in vc.run("gnt-instance", "list", node="node1").err
    vc.ok(*ADD, "-n", "node3", "mf-b", node="node2")
    vc.ok("gnt-cluster", "master-failover", node="node1")
    assert vc.ok("gnt-instance", "list", "--no-headers", "-o", "name", node="node1").split() == ["mf-a", "mf-b"]


def test_master_failover_refused_on_non_candidate(fresh_cluster: VCluster) -> None:
    vc = fresh_cluster
    vc.ok("gnt-node", "modify", "-C", "no", "node3")
    result = vc.run("gnt-cluster", "master-failover", node="node3")
    assert result.rc == 1 and "not a master candidate" in result.err
    assert vc.ok("gnt-cluster", "getmaster").strip() == "node1"


def test_node_remove_and_readd(fresh_cluster: VCluster) -> None:
    vc = fresh_cluster
    vc.ok("gnt-node", "remove", "node3")
    assert vc.ok("gnt-node", "list", "--no-headers", "-o", "name").split() == ["node1", "node2"]
    assert not (vc.dir / "node3/var/lib/gnt/server.pem").exists()
    vc.ok("gnt-node", "add", "node3")
    assert vc.ok("gnt-node", "list", "--no-headers", "-o", "name,role").split() == [
        "node1",
        "M",
        "node2",
        "C",
        "node3",
        "C",
    ]
    dup = vc.run("gnt-node", "add", "node3")
    assert dup.rc == 1 and "already in the configuration" in dup.err


def test_destroy_needs_empty_cluster(fresh_cluster: VCluster) -> None:
    vc = fresh_cluster
    refused = vc.run("gnt-cluster", "destroy", "--yes-do-it")
    assert refused.rc == 1 and "still 2 node(s)" in refused.err
    vc.ok("gnt-node", "remove", "node2")
    vc.ok("gnt-node", "remove", "node3")
    vc.ok("gnt-cluster", "destroy", "--yes-do-it")
    wait_for(lambda: not (vc.dir / "node1/var/lib/gnt/config.db").exists(), 10)
    assert vc.run("gnt-instance", "list").rc == 1


def test_failed_init_leaves_nothing_and_can_be_retried(tmp_path: Path) -> None:
    from tests.integration.conftest import make_cluster

    vc = make_cluster(tmp_path / "vc", 1)
    vc.start()
    blocker = socket.socket()
    try:
        blocker.bind((vc.address("node1"), 5080))  # the master daemon's RAPI port is taken
        blocker.listen()
        result = vc.run("gnt-cluster", "init", "cluster")
        assert result.rc == 1 and "gnt-masterd exited with status 1: " in result.err  # quoted, not "see LOG"
        assert "address already in use" in result.err.lower() and "5080" in result.err
        assert not (vc.dir / "node1/var/lib/gnt/config.db").exists()
        assert not (vc.dir / "node1/var/lib/gnt/server.pem").exists()
        blocker.close()
        vc.ok("gnt-cluster", "init", "cluster")
        assert vc.ok("gnt-cluster", "getmaster").strip() == "node1"
    finally:
        blocker.close()
        vc.stop()
