"""Tags through the real CLI on a virtual cluster: add/list/remove/search, Ganeti's errors, and
startup/shutdown/reboot on a selection of instances (by node, by tag, --all)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.vcluster import ADD_DISKLESS, VCluster

LONG = "x" * 129


def _tags(vc: VCluster, *target: str, node: str = "node1") -> list[str]:
    return vc.ok(*target[:1], "list-tags", *target[1:], node=node).split()


def test_tags_on_cluster_node_and_instance_round_trip(cluster: VCluster, tmp_path: Path) -> None:
    cluster.ok(*ADD_DISKLESS, "-B", "memory=32M", "--no-start", "-n", "node2", "tag-a")
    try:
        cluster.ok("gnt-cluster", "add-tags", "site:ams", "env.prod")
        cluster.ok("gnt-node", "add-tags", "node2", "rack:r2")
        listing = tmp_path / "tags.txt"
        listing.write_text("web\n  db:primary  \n\nowner@team\n")
        cluster.ok("gnt-instance", "add-tags", "--from", str(listing), "tag-a", "extra+1")
        assert _tags(cluster, "gnt-cluster") == ["env.prod", "site:ams"]
        assert _tags(cluster, "gnt-node", "node2") == ["rack:r2"]
        assert _tags(cluster, "gnt-node", "node3") == []
        assert _tags(cluster, "gnt-instance", "tag-a") == ["db:primary", "extra+1", "owner@team", "web"]
        # the query field and the cluster info show the same tags
        assert cluster.instance_field("tag-a", "tags") == "db:primary,extra+1,owner@team,web"
        assert "rack:r2" in cluster.ok("gnt-node", "list", "--no-headers", "-o", "name,tags", "node2")
        assert "Tags: env.prod, site:ams" in cluster.ok("gnt-cluster", "info")
        found = cluster.ok("gnt-cluster", "search-tags", "^(site|rack|web)").splitlines()
        assert found == ["/cluster site:ams", "/instances/tag-a web", "/nodes/node2 rack:r2"]
        assert cluster.run("gnt-cluster", "search-tags", "^nothing-matches$").rc == 1
        # remove, also from stdin
        result = cluster.run("gnt-instance", "remove-tags", "--from", "-", "tag-a", input="web\nextra+1\n")
        assert result.rc == 0, result.text
        assert _tags(cluster, "gnt-instance", "tag-a") == ["db:primary", "owner@team"]
        cluster.ok("gnt-cluster", "remove-tags", "site:ams", "env.prod")
        cluster.ok("gnt-node", "remove-tags", "node2", "rack:r2")
        assert _tags(cluster, "gnt-cluster") == [] and _tags(cluster, "gnt-node", "node2") == []
    finally:
        cluster.ok("gnt-instance", "remove", "-f", "tag-a")


def test_submit_prints_the_job_id_and_print_jobid_comes_first(cluster: VCluster) -> None:
    out = cluster.ok("gnt-node", "add-tags", "--submit", "--print-jobid", "node3", "queued")
    job_id, line = out.splitlines()
    assert line == f"JobID: {job_id}"
    assert cluster.wait_job(int(job_id)) == "success"
    assert _tags(cluster, "gnt-node", "node3") == ["queued"]
    cluster.ok("gnt-node", "remove-tags", "node3", "queued")


@pytest.mark.parametrize(
    ("argv", "lines"),
    [
        (
            ["gnt-cluster", "add-tags", LONG],
            ["Failure: invalid tag(s) given:", "Tag too long (>128 characters): 'xxxxxxxx"],
        ),
        (["gnt-node", "add-tags", "node1", "ok", "bad tag"], ["Failure: invalid tag(s) given:"]),
        (["gnt-instance", "add-tags", "whatever", "$(reboot)"], ["Tag contains invalid characters: '$(reboot)'"]),
        (["gnt-cluster", "add-tags"], ["error type: wrong_input, error details:", "No tags to be added"]),
        (["gnt-node", "remove-tags", "node1"], ["No tags to be removed"]),
        (
            ["gnt-cluster", "remove-tags", "never-added", "neither"],
            [
                "Failure: prerequisites not met for this operation:",
                "error type: unknown_entity, error details:",
                "Tag(s) 'neither', 'never-added' not found",
            ],
        ),
        (
            ["gnt-node", "add-tags", "node9", "a"],
            ["error type: unknown_entity, error details:", "Node 'node9' not known"],
        ),
        (["gnt-node", "list-tags", "node9"], ["error type: unknown_entity, error details:", "Node 'node9' not known"]),
        (["gnt-instance", "list-tags", "ghost"], ["Instance 'ghost' not known"]),
        (["gnt-instance", "remove-tags", "ghost", "a"], ["Instance 'ghost' not known"]),
        (["gnt-cluster", "search-tags", "(unclosed"], ["Invalid search pattern '(unclosed'"]),
        (["gnt-cluster", "add-tags", "--from", "/nonexistent/tags"], ["Cannot read tags from /nonexistent/tags"]),
    ],
)
def test_tag_errors_are_ganetis_and_change_nothing(cluster: VCluster, argv: list[str], lines: list[str]) -> None:
    before = [_tags(cluster, "gnt-cluster"), _tags(cluster, "gnt-node", "node1")]
    jobs_before = cluster.ok("gnt-job", "list", "--no-headers", "-o", "id").split()
    result = cluster.run(*argv)
    assert result.rc == 1, result.text
    assert "Traceback" not in result.text
    for line in lines:
        assert any(line in shown for shown in result.err.splitlines()), result.err
    assert [_tags(cluster, "gnt-cluster"), _tags(cluster, "gnt-node", "node1")] == before
    new_jobs = set(cluster.ok("gnt-job", "list", "--no-headers", "-o", "id").split()) - set(jobs_before)
    if "invalid tag(s)" in lines[0] or "No tags" in lines[-1]:
        assert not new_jobs  # refused before submission


def test_too_many_tags_is_refused(cluster: VCluster, tmp_path: Path) -> None:
    many = tmp_path / "many.txt"
    many.write_text("".join(f"t{i}\n" for i in range(4097)))
    result = cluster.run("gnt-node", "add-tags", "--from", str(many), "node3")
    assert result.rc == 1 and "Too many tags: 4097 given, an object holds at most 4096" in result.err
    assert _tags(cluster, "gnt-node", "node3") == []


def _status(vc: VCluster, name: str) -> str:
    return vc.instance_field(name, "status")


def test_startup_shutdown_reboot_on_a_selection(cluster: VCluster) -> None:
    placement = {"sel-a": "node1", "sel-b": "node2", "sel-c": "node2"}
    for name, node in placement.items():
        cluster.ok(*ADD_DISKLESS, "-B", "memory=32M", "--no-start", "-n", node, name)
    try:
        cluster.ok("gnt-instance", "add-tags", "sel-a", "web")
        cluster.ok("gnt-instance", "add-tags", "sel-c", "web")
        cluster.ok("gnt-node", "add-tags", "node2", "rack:r2")

        out = cluster.ok("gnt-instance", "startup", "--tags", "--force-multiple", "web")
        assert out.splitlines()[0].startswith("Submitted jobs ")
        assert "for sel-a ..." in out and "for sel-c ..." in out and "sel-b" not in out
        assert [_status(cluster, n) for n in placement] == ["running", "ADMIN_down", "running"]

        # more than one instance without --force-multiple and no terminal to ask on: refused, nothing done
        refused = cluster.run("gnt-instance", "shutdown", "--node", "node2")
        assert refused.rc == 1 and "use --force-multiple" in refused.err
        assert "The shutdown would operate on 2 instance(s)" in refused.err
        assert _status(cluster, "sel-c") == "running"

        cluster.ok("gnt-instance", "shutdown", "--pri-node-tags", "--force-multiple", "--timeout=5", "rack:r2")
        assert [_status(cluster, n) for n in placement] == ["running", "ADMIN_down", "ADMIN_down"]

        out = cluster.ok("gnt-instance", "startup", "--primary", "--force-multiple", "node2")
        assert "for sel-b ..." in out and "for sel-c ..." in out and "sel-a" not in out
        pid = cluster.guest_pid("node1", "sel-a")
        cluster.ok("gnt-instance", "reboot", "--node", "--force-multiple", "node1")
        assert cluster.guest_pid("node1", "sel-a") != pid and _status(cluster, "sel-a") == "running"

        # one named instance needs no confirmation; the job is still named
        out = cluster.ok("gnt-instance", "shutdown", "--timeout=5", "sel-b")
        assert "for sel-b ..." in out and "Submitted jobs" not in out
        # two named instances do
        assert "use --force-multiple" in cluster.run("gnt-instance", "shutdown", "sel-a", "sel-c").err

        # a failing job among several: the others still run, the command fails and names it
        cluster.ok("gnt-instance", "modify", "--offline", "sel-b")
        result = cluster.run("gnt-instance", "startup", "--force-multiple", "--instance", "sel-b", "sel-a")
        assert result.rc == 1
        assert "for sel-b has failed: Instance sel-b is marked offline" in result.err
        assert _status(cluster, "sel-a") == "running"
        cluster.ok("gnt-instance", "modify", "--online", "sel-b")

        out = cluster.ok("gnt-instance", "shutdown", "--all", "--force-multiple", "--timeout=5")
        assert all(f"for {n} ..." in out for n in placement)
        assert {_status(cluster, n) for n in placement} == {"ADMIN_down"}

        submitted = cluster.ok("gnt-instance", "startup", "--tags", "--force-multiple", "--submit", "web")
        ids = {line.split(": ")[1]: int(line.split(": ")[0]) for line in submitted.splitlines()}
        assert set(ids) == {"sel-a", "sel-c"}
        assert all(cluster.wait_job(job) == "success" for job in ids.values())
    finally:
        cluster.ok("gnt-node", "remove-tags", "node2", "rack:r2")
        for name in placement:
            cluster.ok("gnt-instance", "remove", "-f", name)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["startup"], "No instance names passed"),
        (["startup", "ghost"], "Instance 'ghost' not known"),
        (["shutdown", "--all", "node1"], "Cluster filter mode takes no arguments"),
        (["reboot", "--node"], "No node names passed"),
        (["reboot", "--node", "node9"], "Node 'node9' not known"),
        (["shutdown", "--tags"], "No instance tags passed"),
        (["startup", "--node-tags"], "No node tags passed"),
        (["startup", "--tags", "no-such-tag"], "Selection filter does not match any instances"),
        (["startup", "--sec-node-tags", "--force-multiple", "no-such-tag"], "Selection filter does not match"),
    ],
)
def test_selection_errors(cluster: VCluster, argv: list[str], message: str) -> None:
    result = cluster.run("gnt-instance", *argv)
    assert result.rc == 1 and message in result.err, result.text
    assert "Traceback" not in result.text


def test_tags_survive_master_failover(fresh_cluster: VCluster) -> None:
    vc = fresh_cluster
    vc.ok(*ADD_DISKLESS, "-B", "memory=32M", "--no-start", "-n", "node3", "keep-tags")
    vc.ok("gnt-cluster", "add-tags", "site:ams")
    vc.ok("gnt-node", "add-tags", "node3", "rack:r3")
    vc.ok("gnt-instance", "add-tags", "keep-tags", "web")
    vc.ok("gnt-instance", "remove-tags", "keep-tags", "web")
    vc.ok("gnt-instance", "add-tags", "keep-tags", "db")
    vc.ok("gnt-cluster", "master-failover", node="node2")
    assert _tags(vc, "gnt-cluster", node="node2") == ["site:ams"]
    assert _tags(vc, "gnt-node", "node3", node="node2") == ["rack:r3"]
    assert _tags(vc, "gnt-instance", "keep-tags", node="node2") == ["db"]
    assert vc.ok("gnt-cluster", "search-tags", ".", node="node2").splitlines() == [
        "/cluster site:ams",
        "/instances/keep-tags db",
        "/nodes/node3 rack:r3",
    ]
