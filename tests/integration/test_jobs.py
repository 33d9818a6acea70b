"""The job queue through the CLI: submit, cancel, archive, drain, info."""

from __future__ import annotations

from tests.integration.test_rapi import Rapi
from tests.integration.vcluster import VCluster, wait_for


def test_noop_job_and_job_info(cluster: VCluster) -> None:
    job_id = cluster.submit("gnt-debug", "delay", "0")
    assert cluster.wait_job(job_id) == "success"
    info = cluster.ok("gnt-job", "info", str(job_id))
    assert f"- Job ID: {job_id}" in info and "Opcode: OP_TEST_DELAY" in info and "Status: success" in info
    assert cluster.ok("gnt-job", "list", "--no-headers", str(job_id)).split() == [
        str(job_id),
        "success",
        "TEST_DELAY(0.0)",
    ]


def test_cancel_queued_job_and_refuse_finished(cluster: VCluster) -> None:
    blocker = cluster.submit("gnt-debug", "delay", "-n", "node2", "3")
    waiting = cluster.submit("gnt-debug", "delay", "-n", "node2", "1")  # waits for node2's lock
    out = cluster.ok("gnt-job", "cancel", str(waiting))
    assert f"Job {waiting}" in out
    assert cluster.wait_job(waiting) == "canceled"
    assert cluster.wait_job(blocker) == "success"
    again = cluster.run("gnt-job", "cancel", str(blocker))
    assert again.rc == 1 and "already finished" in again.out


def test_archive_removes_from_list(cluster: VCluster) -> None:
    job_id = cluster.submit("gnt-debug", "delay", "0")
    cluster.wait_job(job_id)
    cluster.ok("gnt-job", "archive", str(job_id))
    assert str(job_id) not in cluster.ok("gnt-job", "list", "--no-headers", "-o", "id").split()
    assert "Status: success" in cluster.ok("gnt-job", "info", str(job_id))


def test_drained_queue_refuses_jobs(cluster: VCluster) -> None:
    cluster.ok("gnt-cluster", "queue", "drain")
    try:
        assert "The drain flag is set" in cluster.ok("gnt-cluster", "queue", "info")
        result = cluster.run("gnt-debug", "delay", "0")
        assert result.rc == 1 and "Job queue is drained" in result.err
    finally:
        cluster.ok("gnt-cluster", "queue", "undrain")
    cluster.ok("gnt-debug", "delay", "0")


def test_verify_reports_orphan_disk_and_unknown_instance(cluster: VCluster) -> None:
    assert cluster.run("gnt-cluster", "verify").rc == 0
    orphan = cluster.dir / "node2/srv/gnt/file-storage/ghost/ghost.file.disk0"
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"")
    try:
        result = cluster.run("gnt-cluster", "verify")
        assert result.rc == 1
        assert "ERROR: node node2: volume" in result.out and "ghost.file.disk0 is unknown" in result.out
    finally:
        orphan.unlink()
        orphan.parent.rmdir()
    assert cluster.run("gnt-cluster", "verify").rc == 0


def admin_rapi(cluster: VCluster) -> Rapi:
    users = cluster.dir / "node1/var/lib/gnt/rapi/users"
    users.parent.mkdir(parents=True, exist_ok=True)
    users.write_text("admin s3cret write\n")
    users.chmod(0o600)  # the RAPI refuses a users file others can read
    return Rapi(cluster)


def test_absurd_delay_is_refused_at_submission(cluster: VCluster) -> None:
    before = cluster.ok("gnt-job", "list", "--no-headers", "-o", "id")
    for value in ("inf", "nan", "1e308"):
        result = cluster.run("gnt-debug", "delay", "--submit", value)
        assert result.rc == 1, result.text
        assert len(result.err.strip().splitlines()) == 1 and "Traceback" not in result.text
        assert result.err.startswith("Parameter Error: ")
    rapi = admin_rapi(cluster)
    for duration in (float("inf"), 1e308):
        status, body = rapi.call(
            "POST", "/2/jobs", {"ops": [{"OP_ID": "OP_TEST_DELAY", "duration": duration}]}, user="admin:s3cret"
        )
        assert status == 400 and body["code"] == 400, body
    assert cluster.ok("gnt-job", "list", "--no-headers", "-o", "id") == before  # no job was made


def test_running_delay_is_cancelled_and_frees_its_locks(cluster: VCluster) -> None:
    job_id = cluster.submit("gnt-debug", "delay", "3600")
    wait_for(lambda: cluster.job_status(job_id) == "running", 30)
    out = cluster.ok("gnt-job", "cancel", str(job_id))
    assert f"Job {job_id} will be canceled" in out
    assert cluster.wait_job(job_id, 30) == "canceled"
    # the big cluster lock is free again: a job that needs it exclusively runs
    cluster.ok("gnt-cluster", "modify", "--max-running-jobs", "20", timeout=60)


def test_watch_of_a_failed_job_exits_1(cluster: VCluster) -> None:
    job_id = cluster.submit("gnt-debug", "delay", "-n", "nosuch", "0")
    assert cluster.wait_job(job_id) == "error"
    result = cluster.run("gnt-job", "watch", str(job_id))
    assert result.rc == 1
    assert f"Output from job {job_id} follows" in result.out and "nosuch" in result.err


def test_max_running_jobs_applies_at_once(cluster: VCluster) -> None:
    cluster.ok("gnt-cluster", "modify", "--max-running-jobs", "1")
    try:
        endless = cluster.submit("gnt-debug", "delay", "3600")
        wait_for(lambda: cluster.job_status(endless) == "running", 30)
        behind = cluster.submit("gnt-debug", "delay", "0")
        wait_for(lambda: cluster.job_status(behind) != "queued", 30)
        assert cluster.job_status(behind) == "waiting"  # the only slot is taken, and no restart was needed
        cluster.ok("gnt-job", "cancel", str(endless))
        assert cluster.wait_job(behind, 30) == "success"
        assert cluster.job_status(endless) == "canceled"
    finally:
        cluster.ok("gnt-cluster", "modify", "--max-running-jobs", "20", timeout=60)


def test_job_depending_on_a_lower_priority_job_runs_with_one_slot(cluster: VCluster) -> None:
    cluster.ok("gnt-cluster", "modify", "--max-running-jobs", "1")
    try:
        rapi = admin_rapi(cluster)
        first = {"OP_ID": "OP_TEST_DELAY", "duration": 0.5, "priority": 10}
        second = {"OP_ID": "OP_TEST_DELAY", "duration": 0, "priority": 0, "depends": [[-1, ["success"]]]}
        status, results = rapi.call("POST", "/2/jobs", {"jobs": [[first], [second]]}, user="admin:s3cret")
        assert status == 200 and all(ok for ok, _ in results), results
        assert [cluster.wait_job(job_id, 30) for _, job_id in results] == ["success", "success"]
    finally:
        cluster.ok("gnt-cluster", "modify", "--max-running-jobs", "20", timeout=60)
