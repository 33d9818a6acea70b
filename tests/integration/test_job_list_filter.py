"""`gnt-job list -F FILTER` (Ganeti 3.0): jobs selected by a query-language filter, with the
status selections (--running, ...) still applying; a malformed filter is one line, exit 1."""

from __future__ import annotations

from tests.integration.vcluster import VCluster


def test_job_list_takes_a_query_filter(cluster: VCluster) -> None:
    out = cluster.ok("gnt-debug", "delay", "--print-jobid", "0")
    job_id = out.splitlines()[0]
    assert job_id.isdigit()
    listed = cluster.ok("gnt-job", "list", "--no-headers", "-o", "id,status", "-F", f"id == {job_id}")
    assert listed.split() == [job_id, "success"]
    assert cluster.ok("gnt-job", "list", "--no-headers", "-o", "id", "--running", "-F", f"id == {job_id}") == ""
    matching = cluster.ok("gnt-job", "list", "--no-headers", "-o", "id", "-F", 'status == "success"').split()
    assert job_id in matching
    bad = cluster.run("gnt-job", "list", "-F", "id ==")
    assert bad.rc != 0 and "Traceback" not in bad.text and len(bad.err.strip().splitlines()) == 1
