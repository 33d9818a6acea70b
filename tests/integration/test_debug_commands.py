"""gnt-debug on a virtual cluster: test-jobqueue, submit-job and locks through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.vcluster import VCluster, wait_for


def test_test_jobqueue_passes(cluster: VCluster) -> None:
    out = cluster.ok("gnt-debug", "test-jobqueue")
    assert out.splitlines()[0] == "Testing job queue"
    for line in ("Testing job success", "Testing multiple successful opcodes", "Testing partial job failure"):
        assert line in out
    assert out.splitlines()[-1] == "Job queue test successful"


def test_submit_job_from_files(cluster: VCluster, tmp_path: Path) -> None:
    job = tmp_path / "job.json"
    job.write_text(json.dumps([{"OP_ID": "OP_TEST_DELAY", "duration": 0}]))
    out = cluster.ok("gnt-debug", "submit-job", "--op-repeat", "2", "--job-repeat", "3", "--timing-stats", str(job))
    lines = out.splitlines()
    assert lines[:3] == ["Loading...", "Submitting...", "Executing..."]
    assert sum(line.startswith("Waiting for job ") for line in lines) == 3
    assert "C:op        6" in lines and "C:job       3" in lines
    each = cluster.ok("gnt-debug", "submit-job", "--each", "-v", str(job), str(job))
    assert each.startswith("Submitted jobs ")
    failing = tmp_path / "fail.json"
    failing.write_text(json.dumps([{"OP_ID": "OP_TEST_JQUEUE", "fail": True}]))
    result = cluster.run("gnt-debug", "submit-job", str(failing))
    assert result.rc == 1 and "has failed: Opcode failure was requested" in result.err


def test_submit_job_bad_input_is_one_error_and_no_job(cluster: VCluster, tmp_path: Path) -> None:
    before = cluster.ok("gnt-job", "list", "--no-headers", "-o", "id").split()
    cases = {
        "missing.json": None,
        "notjson.json": "{",
        "notlist.json": json.dumps({"OP_ID": "OP_TEST_DELAY"}),
        "empty.json": "[]",
        "badop.json": json.dumps([{"OP_ID": "OP_TEST_DELAY", "duration": "soon"}]),
    }
    for name, text in cases.items():
        path = tmp_path / name
        if text is not None:
            path.write_text(text)
        result = cluster.run("gnt-debug", "submit-job", str(path))
        assert result.rc != 0 and "Traceback" not in result.err, (name, result.text)
        assert len([line for line in result.err.splitlines() if line.strip()]) <= 2, (name, result.err)
    assert cluster.run("gnt-debug", "submit-job", "--op-repeat", "0", str(tmp_path / "badop.json")).rc == 2
    assert cluster.ok("gnt-job", "list", "--no-headers", "-o", "id").split() == before


def _lock_row(cluster: VCluster, name: str) -> list[str] | None:
    for line in cluster.ok("gnt-debug", "locks").splitlines():
        if line.split()[0] == name:
            return line.split()
    return None


def test_locks_show_the_holder_and_the_waiter(cluster: VCluster) -> None:
    holder = cluster.submit("gnt-debug", "delay", "-n", "node2", "--no-master", "10")
    waiter = cluster.submit("gnt-debug", "delay", "-n", "node2", "--no-master", "0")
    try:
        wait_for(lambda: cluster.job_status(holder) == "running", 20)
        wait_for(lambda: (_lock_row(cluster, "node/node2") or [])[3:] == [f"exclusive:job/{waiter}"], 20)
        assert cluster.ok("gnt-debug", "locks").splitlines()[0].split() == ["Name", "Mode", "Owner", "Pending"]
        row = _lock_row(cluster, "node/node2")
        assert row == ["node/node2", "exclusive", f"job/{holder}", f"exclusive:job/{waiter}"]
        names = cluster.ok("gnt-debug", "locks", "--no-headers", "--separator=|", "-o", "name,owner").splitlines()
        assert f"node/node2|job/{holder}" in names
        bad = cluster.run("gnt-debug", "locks", "-o", "name,nosuchfield")
        assert bad.rc == 1 and "Unknown output fields selected: nosuchfield" in bad.err
    finally:
        cluster.wait_job(holder)
        cluster.wait_job(waiter)
    assert _lock_row(cluster, "node/node2") is None


def test_iallocator_in_and_out(cluster: VCluster) -> None:
    shown = json.loads(
        cluster.ok("gnt-debug", "iallocator", "--mode", "allocate", "-t", "file", "--disks", "64M", "n1")
    )
    assert shown["request"]["type"] == "allocate" and shown["request"]["disks"] == [{"size": 64, "mode": "rw"}]
    assert sorted(shown["nodes"]) == ["node1", "node2", "node3"]
    common = ["--mode", "allocate", "-t", "file", "--disks", "64M", "--memory", "32M", "n1"]
    answer = json.loads(cluster.ok("gnt-debug", "iallocator", "--dir", "out", "-I", "hail", *common))
    assert answer["success"] is True and answer["result"][0] in ("node1", "node2", "node3")
    missing = cluster.run("gnt-debug", "iallocator", "--dir", "out", *common)
    assert missing.rc == 1 and "Missing allocator name" in missing.err
    bad = cluster.run("gnt-debug", "iallocator", "--mode", "allocate", "--disks", "1X", "n1")
    assert bad.rc == 1 and "is not a valid size" in bad.err and "Traceback" not in bad.err
