"""The job queue survives master-failover: candidates hold every job, its log and result (issue 9)."""

from __future__ import annotations

import json
import sqlite3

from tests.integration.vcluster import VCluster, wait_for


def replica_job(vc: VCluster, node: str, job_id: int) -> dict | None:
    """Job `job_id` as stored in `node`'s own queue.db (a candidate's copy), read without any daemon."""
    path = vc.dir / node / "var/lib/gnt/queue.db"
    if not path.exists():
        return None
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT data FROM jobs WHERE id=?", (job_id,)).fetchone()
    finally:
        conn.close()
    return json.loads(row[0]) if row else None


def job_statuses(vc: VCluster, node: str, *extra: str) -> dict[int, str]:
    """id -> status from `gnt-job list` on `node` (--archived adds an archived column, dropped here)."""
    lines = vc.ok("gnt-job", "list", *extra, "--no-headers", "-o", "id,status", node=node).splitlines()
    return {int(line.split()[0]): line.split()[1] for line in lines if line.strip()}


def test_candidates_have_a_job_before_its_id_and_its_end_before_the_client_is_told(fresh_cluster: VCluster) -> None:
    vc = fresh_cluster
    job_id = vc.submit("gnt-debug", "delay", "0.5")
    for node in ("node2", "node3"):
        copy = replica_job(vc, node, job_id)
        assert copy is not None and copy["ops"][0]["OP_ID"] == "OP_TEST_DELAY"
    vc.ok("gnt-job", "wait", str(job_id))
    for node in ("node2", "node3"):
        assert replica_job(vc, node, job_id)["status"] == "success"  # type: ignore[index]


def test_failover_keeps_jobs_logs_results_and_archive(fresh_cluster: VCluster) -> None:
    vc = fresh_cluster
    verify = vc.submit("gnt-cluster", "verify")
    assert vc.wait_job(verify) == "success"
    failed = vc.submit("gnt-debug", "delay", "-n", "nosuchnode", "0")
    assert vc.wait_job(failed) == "error"
    archived = vc.submit("gnt-debug", "delay", "0")
    assert vc.wait_job(archived) == "success"
    vc.ok("gnt-job", "archive", str(archived))

    vc.ok("gnt-cluster", "master-failover", node="node2")

    before = job_statuses(vc, "node2")
    assert before[verify] == "success" and before[failed] == "error" and archived not in before
    info = vc.ok("gnt-job", "info", str(verify), node="node2")
    assert "Verifying cluster config" in info and "OP_CLUSTER_VERIFY" in info
    assert "nosuchnode" in vc.ok("gnt-job", "info", str(failed), node="node2")
    assert job_statuses(vc, "node2", "--archived")[archived] == "success"
    fresh = vc.submit_on("node2", "gnt-debug", "delay", "0")
    assert fresh > archived  # ids go on from the old master's, never reused
    # and the old master, now a candidate, receives the new master's jobs
    wait_for(lambda: (replica_job(vc, "node1", fresh) or {}).get("status") == "success")


def test_jobs_of_a_master_killed_mid_job_end_as_ganeti_ends_them(fresh_cluster: VCluster) -> None:
    vc = fresh_cluster
    running = vc.submit("gnt-debug", "delay", "-n", "node3", "300")
    wait_for(lambda: (replica_job(vc, "node2", running) or {}).get("status") == "running")
    waiting = vc.submit("gnt-debug", "delay", "-n", "node3", "0")  # waits for node3's lock: nothing ran
    wait_for(lambda: vc.job_status(waiting) == "waiting")
    vc.kill_daemon("node1", "gnt-masterd")

    vc.ok("gnt-cluster", "master-failover", node="node2")

    assert job_statuses(vc, "node2")[running] == "error"
    assert "Unclean master daemon shutdown" in vc.ok("gnt-job", "info", str(running), node="node2")
    wait_for(lambda: vc.run("gnt-job", "list", "--no-headers", "-o", "status", str(waiting), node="node2").out.strip()
             == "success")  # fmt: skip
