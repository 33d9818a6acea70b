"""gnt-job wait, change-priority, cancel selections and --kill, autoarchive and list filters, for real."""

from __future__ import annotations

from tests.integration.vcluster import VCluster, wait_for


def _ids(cluster: VCluster, *options: str) -> list[str]:
    return cluster.ok("gnt-job", "list", "--no-headers", "-o", "id", *options).split()


def test_wait_is_silent_and_exits_with_the_jobs_outcome(cluster: VCluster) -> None:
    job_id = cluster.submit("gnt-debug", "delay", "0.5")
    result = cluster.run("gnt-job", "wait", str(job_id))
    assert (result.rc, result.out, result.err) == (0, "", "")
    assert cluster.job_status(job_id) == "success"
    failing = cluster.submit("gnt-instance", "rename", "--no-name-check", "--no-ip-check", "no-such-instance", "x1")
    result = cluster.run("gnt-job", "wait", str(failing))
    assert result.rc == 1 and result.out == ""
    assert f"Job {failing} failed: Failure: prerequisites not met" in result.err
    assert "Instance 'no-such-instance' not known" in result.err


def test_wait_on_an_unknown_job_fails_in_one_line(cluster: VCluster) -> None:
    result = cluster.run("gnt-job", "wait", "999999")
    assert result.rc == 1 and "Job 999999 not found" in result.err and "Traceback" not in result.text
    result = cluster.run("gnt-job", "wait", "abc")
    assert result.rc == 2 and "Traceback" not in result.text


def test_change_priority_of_a_waiting_job_and_of_a_finished_one(cluster: VCluster) -> None:
    blocker = cluster.submit("gnt-debug", "delay", "-n", "node2", "2")
    waiting = cluster.submit("gnt-debug", "delay", "-n", "node2", "0")  # waits for node2's lock
    out = cluster.ok("gnt-job", "change-priority", "--priority", "high", str(waiting))
    assert f"Priorities of pending opcodes for job {waiting} have been changed to -10" in out
    assert cluster.ok("gnt-job", "list", "--no-headers", "-o", "priority", str(waiting)).strip() == "-10"
    assert cluster.wait_job(waiting) == "success"
    assert cluster.wait_job(blocker) == "success"
    result = cluster.run("gnt-job", "change-priority", "--priority", "low", str(blocker))
    assert result.rc == 1 and f"Job {blocker} is finished" in result.out
    result = cluster.run("gnt-job", "change-priority", "--priority", "urgent", str(blocker))
    assert result.rc == 2 and "Traceback" not in result.text


def test_cancel_waiting_selects_every_waiting_job(cluster: VCluster) -> None:
    blocker = cluster.submit("gnt-debug", "delay", "-n", "node3", "60")  # outlives the CLI calls on a loaded machine
    wait_for(lambda: cluster.job_status(blocker) == "running")
    waiters = [cluster.submit("gnt-debug", "delay", "-n", "node3", "0") for _ in range(2)]
    wait_for(lambda: all(cluster.job_status(j) == "waiting" for j in waiters))
    assert set(map(str, waiters)) <= set(_ids(cluster, "--pending"))
    asked = cluster.run("gnt-job", "cancel", "--waiting")  # no terminal, no -f: asks, so refuses
    assert asked.rc == 1 and "Cancel job(s) listed above?" in asked.err
    assert all(cluster.job_status(j) == "waiting" for j in waiters)
    out = cluster.ok("gnt-job", "cancel", "--waiting", "-f")
    assert all(f"Job {j} will be canceled" in out for j in waiters)
    assert [cluster.wait_job(j) for j in waiters] == ["canceled", "canceled"]
    assert cluster.job_status(blocker) == "running"  # cancelling the waiting ones left the running one alone
    result = cluster.run("gnt-job", "cancel", "--waiting", "-f")
    assert result.rc == 1 and "No jobs with the requested status have been found" in result.err
    result = cluster.run("gnt-job", "cancel", "--queued", str(blocker))
    assert result.rc == 1 and "never both" in result.err
    cluster.ok("gnt-job", "cancel", "--kill", "--yes-do-it", str(blocker))
    assert cluster.wait_job(blocker, timeout=30) == "canceled"


def test_cancel_kill_stops_a_running_job_after_yes_do_it(cluster: VCluster) -> None:
    job_id = cluster.submit("gnt-debug", "delay", "-n", "node1", "60")
    wait_for(lambda: cluster.job_status(job_id) == "running")
    assert str(job_id) in _ids(cluster, "--running")
    result = cluster.run("gnt-job", "cancel", "--kill", str(job_id))
    assert result.rc == 1 and "The --kill option must be confirmed with --yes-do-it" in result.err
    assert cluster.job_status(job_id) == "running"
    assert f"Job {job_id} will be killed" in cluster.ok("gnt-job", "cancel", "--kill", "--yes-do-it", str(job_id))
    assert cluster.wait_job(job_id, timeout=20) == "canceled"
    cluster.ok("gnt-debug", "delay", "-n", "node1", "0")  # its node lock is free again


def test_autoarchive_by_age_and_all(cluster: VCluster) -> None:
    job_id = cluster.submit("gnt-debug", "delay", "0")
    cluster.wait_job(job_id)
    out = cluster.ok("gnt-job", "autoarchive", "1w")
    assert out.startswith("Archived ") and out.endswith(" jobs, 0 unchecked left\n")
    assert str(job_id) in _ids(cluster)  # finished seconds ago: younger than a week
    out = cluster.ok("gnt-job", "autoarchive", "all")
    assert int(out.split()[1]) >= 1
    assert str(job_id) not in _ids(cluster)
    assert str(job_id) in _ids(cluster, "--archived")
    assert str(job_id) in _ids(cluster, "--archived", "--finished")
    for bad, message in (("1x", "Invalid time specification '1x'"), ("h", "only suffix")):
        result = cluster.run("gnt-job", "autoarchive", bad)
        assert result.rc == 1 and message in result.err and "Traceback" not in result.text


def test_list_status_filters(cluster: VCluster) -> None:
    running = cluster.submit("gnt-debug", "delay", "-n", "node2", "60")
    wait_for(lambda: cluster.job_status(running) == "running")
    failed = cluster.submit("gnt-instance", "rename", "--no-name-check", "--no-ip-check", "no-such-instance", "x1")
    cluster.wait_job(failed)
    assert str(running) in _ids(cluster, "--running") and str(failed) not in _ids(cluster, "--running")
    assert str(failed) in _ids(cluster, "--error") and str(running) not in _ids(cluster, "--error")
    assert str(failed) in _ids(cluster, "--finished") and str(running) not in _ids(cluster, "--finished")
    assert str(running) not in _ids(cluster, "--pending")
    cluster.ok("gnt-job", "cancel", str(running))
    assert cluster.wait_job(running, timeout=20) == "canceled"
