"""Ganeti's hooks with real scripts on a virtual cluster: where they run, what they see, and a
pre hook that refuses an operation."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.vcluster import ADD_DISKLESS, VCluster

NODES = ("node1", "node2", "node3")

DENY = """#!/bin/sh
case "$GANETI_HOOKS_PATH:$GANETI_INSTANCE_NAME" in
  instance-start:hook-deny|instance-add:hook-noadd)
    echo "$GANETI_HOOKS_PATH of $GANETI_INSTANCE_NAME refused by policy"
    exit 1 ;;
esac
"""
RECORD = """#!/bin/sh
env | grep '^GANETI_' | sort > "{out}/$GANETI_HOOKS_PATH-$GANETI_HOOKS_PHASE-$GANETI_INSTANCE_NAME.env"
"""
FAIL_POST = "#!/bin/sh\necho 'monitoring unreachable'\nexit 2\n"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)


@pytest.fixture
def hooks(cluster: VCluster) -> Iterator[dict[str, Path]]:
    """On every node: a pre hook refusing to start `hook-deny`, pre and post hooks recording their
    environment, and a post hook of instance-stop that fails. Removed afterwards."""
    records = {}
    for node in NODES:
        base = cluster.dir / node / "etc/gnt/hooks"
        out = cluster.dir / node / "hook-records"
        out.mkdir(exist_ok=True)
        records[node] = out
        _write(base / "instance-start-pre.d/10-deny", DENY)
        _write(base / "instance-add-pre.d/10-deny", DENY)
        for phase in ("pre", "post"):
            _write(base / f"instance-start-{phase}.d/20-record", RECORD.format(out=out))
        _write(base / "instance-add-post.d/20-record", RECORD.format(out=out))
        _write(base / "instance-stop-post.d/50-monitoring", FAIL_POST)
        (base / "instance-start-pre.d/README").write_text("not executable: skipped\n")
        _write(base / "instance-start-pre.d/30-backup.sh~", "#!/bin/sh\nexit 1\n")  # not a run-parts name
    try:
        yield records
    finally:
        for node in NODES:
            shutil.rmtree(cluster.dir / node / "etc/gnt/hooks", ignore_errors=True)
            shutil.rmtree(records[node], ignore_errors=True)
        for name in ("hook-ok", "hook-deny", "hook-noadd"):
            cluster.run("gnt-instance", "remove", "-f", name)


def _env(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines())


def test_hooks_run_on_the_master_and_the_instance_nodes_with_ganetis_environment(
    cluster: VCluster, hooks: dict[str, Path]
) -> None:
    cluster.ok(*ADD_DISKLESS, "--no-start", "-n", "node2", "hook-ok")
    assert sorted(p.name for p in hooks["node2"].iterdir()) == ["instance-add-post-hook-ok.env"]
    cluster.ok("gnt-instance", "startup", "hook-ok")
    for node in ("node1", "node2"):  # the master and the primary node; node3 has nothing to do with it
        assert (hooks[node] / "instance-start-pre-hook-ok.env").exists()
        assert (hooks[node] / "instance-start-post-hook-ok.env").exists()
    assert not (hooks["node3"] / "instance-start-pre-hook-ok.env").exists()
    pre = _env(hooks["node2"] / "instance-start-pre-hook-ok.env")
    keys = ("GANETI_HOOKS_VERSION", "GANETI_HOOKS_PHASE", "GANETI_OP_CODE", "GANETI_OBJECT_TYPE", "GANETI_MASTER",
            "GANETI_CLUSTER", "GANETI_INSTANCE_PRIMARY", "GANETI_INSTANCE_STATUS")  # fmt: skip
    assert {k: pre[k] for k in keys} == {
        "GANETI_HOOKS_VERSION": "2", "GANETI_HOOKS_PHASE": "pre", "GANETI_OP_CODE": "OP_INSTANCE_STARTUP",
        "GANETI_OBJECT_TYPE": "INSTANCE", "GANETI_MASTER": "node1", "GANETI_CLUSTER": "cluster",
        "GANETI_INSTANCE_PRIMARY": "node2", "GANETI_INSTANCE_STATUS": "down",
    }  # fmt: skip
    assert pre["GANETI_DATA_DIR"] == str(cluster.dir / "node2/var/lib/gnt")  # each node's own
    post = _env(hooks["node1"] / "instance-start-post-hook-ok.env")
    assert post["GANETI_POST_INSTANCE_STATUS"] == "up" and post["GANETI_INSTANCE_STATUS"] == "down"
    # a failing post hook: the job succeeds, the failure is a warning in its log
    out = cluster.ok("gnt-instance", "shutdown", "hook-ok")
    assert "script instance-stop-post.d/50-monitoring failed, output: monitoring unreachable" in out
    assert cluster.instance_field("hook-ok", "admin_state") == "down"


def test_a_failing_pre_hook_stops_the_opcode_with_ganetis_error(cluster: VCluster, hooks: dict[str, Path]) -> None:
    result = cluster.run(*ADD_DISKLESS, "-n", "node2", "hook-noadd")
    assert result.rc == 1
    assert result.err.splitlines()[-3:] == [
        "Failure: hooks execution failed:",
        "  node: node1, script: instance-add-pre.d/10-deny, output: instance-add of hook-noadd refused by policy",
        "  node: node2, script: instance-add-pre.d/10-deny, output: instance-add of hook-noadd refused by policy",
    ]
    assert "hook-noadd" not in cluster.ok("gnt-instance", "list", "--no-headers", "-o", "name")
    cluster.ok(*ADD_DISKLESS, "--no-start", "-n", "node2", "hook-deny")
    result = cluster.run("gnt-instance", "startup", "hook-deny")
    assert result.rc == 1
    for node in ("node1", "node2"):
        assert f"node: {node}, script: instance-start-pre.d/10-deny, output: instance-start of hook-deny refused" in (
            result.text
        )
    assert cluster.instance_field("hook-deny", "admin_state") == "down"
    assert not (hooks["node2"] / "instance-start-post-hook-deny.env").exists()  # no post hooks after an abort
    # a dry run asks the pre hooks too
    result = cluster.run("gnt-instance", "startup", "--dry-run", "hook-deny")
    assert result.rc == 1 and "refused by policy" in result.text


CLUSTER_RECORD = """#!/bin/sh
env | grep '^GANETI_' | sort > "{out}/$GANETI_HOOKS_PATH-$GANETI_HOOKS_PHASE.env"
"""
FREEZE = """#!/bin/sh
[ -e "{out}/frozen" ] || exit 0
echo "change freeze until Monday"
exit 1
"""
RAID = "#!/bin/sh\necho 'md0 degraded'\nexit 1\n"


@pytest.fixture
def cluster_hooks(cluster: VCluster) -> Iterator[dict[str, Path]]:
    """On every node: cluster-modify pre/post, cluster-verify post and config-update recorders,
    and a cluster-modify pre hook that refuses while `<records>/frozen` exists."""
    records = {}
    for node in NODES:
        base = cluster.dir / node / "etc/gnt/hooks"
        out = cluster.dir / node / "hook-records"
        out.mkdir(exist_ok=True)
        records[node] = out
        _write(base / "cluster-modify-pre.d/10-freeze", FREEZE.format(out=out))
        for hpath, phase in (("cluster-modify", "pre"), ("cluster-modify", "post"), ("cluster-verify", "post"),
                             ("config-update", "post")):  # fmt: skip
            _write(base / f"{hpath}-{phase}.d/20-record", CLUSTER_RECORD.format(out=out))
    try:
        yield records
    finally:
        for node in NODES:
            shutil.rmtree(cluster.dir / node / "etc/gnt/hooks", ignore_errors=True)
            shutil.rmtree(records[node], ignore_errors=True)


def test_cluster_modify_hooks_run_on_the_master_and_a_failing_pre_hook_changes_nothing(
    cluster: VCluster, cluster_hooks: dict[str, Path]
) -> None:
    before = cluster.ok("gnt-cluster", "info")
    pool = next(line.split(":")[1].strip() for line in before.splitlines() if "candidate pool size" in line)
    (cluster_hooks["node1"] / "frozen").touch()
    result = cluster.run("gnt-cluster", "modify", "-C", str(int(pool) + 1))
    assert result.rc == 1
    assert result.err.splitlines()[-2:] == [
        "Failure: hooks execution failed:",
        "  node: node1, script: cluster-modify-pre.d/10-freeze, output: change freeze until Monday",
    ]
    assert cluster.ok("gnt-cluster", "info") == before  # nothing changed, no post or config-update hooks ran
    # every pre script ran (run-parts goes on after a failure), nothing after them
    assert sorted(p.name for p in cluster_hooks["node1"].iterdir()) == ["cluster-modify-pre.env", "frozen"]
    (cluster_hooks["node1"] / "frozen").unlink()
    try:
        cluster.ok("gnt-cluster", "modify", "-C", str(int(pool) + 1))
        assert sorted(p.name for p in cluster_hooks["node1"].iterdir()) == [
            "cluster-modify-post.env", "cluster-modify-pre.env", "config-update-post.env",
        ]  # fmt: skip
        assert [p.name for p in cluster_hooks["node2"].iterdir()] == []  # the master only
        pre = _env(cluster_hooks["node1"] / "cluster-modify-pre.env")
        assert (pre["GANETI_OP_CODE"], pre["GANETI_OBJECT_TYPE"], pre["GANETI_HOOKS_PHASE"]) == (
            "OP_CLUSTER_SET_PARAMS", "CLUSTER", "pre",
        )  # fmt: skip
        assert pre["GANETI_OP_TARGET"] == pre["GANETI_CLUSTER"] and pre["GANETI_MASTER"] == "node1"
        update = _env(cluster_hooks["node1"] / "config-update-post.env")
        assert (update["GANETI_HOOKS_PATH"], update["GANETI_OP_CODE"]) == ("config-update", "OP_CLUSTER_SET_PARAMS")
    finally:
        cluster.ok("gnt-cluster", "modify", "-C", pool)


def test_cluster_verify_post_hooks_run_on_every_node_and_their_failure_fails_verify(
    cluster: VCluster, cluster_hooks: dict[str, Path]
) -> None:
    cluster.ok("gnt-cluster", "verify")
    for node in NODES:
        post = _env(cluster_hooks[node] / "cluster-verify-post.env")
        assert post["GANETI_HOOKS_PATH"] == "cluster-verify" and "GANETI_NODE_TAGS_node2" in post
        assert not (cluster_hooks[node] / "cluster-verify-pre.env").exists()
    _write(cluster.dir / "node3/etc/gnt/hooks/cluster-verify-post.d/50-raid", RAID)
    result = cluster.run("gnt-cluster", "verify")
    assert result.rc == 1
    lines = result.out.splitlines()  # feedback lines start with their time
    failed = "ERROR: node node3: Script cluster-verify-post.d/50-raid failed, output:"
    (at,) = [i for i, line in enumerate(lines) if line.endswith(failed)]
    assert lines[at + 1].endswith("      md0 degraded"), result.out
    assert cluster.run("gnt-cluster", "verify", "-I", "ENODEHOOKS").rc == 0


GLOBAL_RECORD = """#!/bin/sh
env | grep '^GANETI_' | sort > "{out}/global-$GANETI_HOOKS_PHASE-$GANETI_JOB_ID.env"
"""


def test_global_hooks_run_around_an_opcode_without_hooks_of_its_own(
    cluster: VCluster, cluster_hooks: dict[str, Path]
) -> None:
    for node in NODES:
        for phase in ("pre", "post"):
            _write(cluster.dir / node / f"etc/gnt/hooks/global-{phase}.d/10-record",
                   GLOBAL_RECORD.format(out=cluster_hooks[node]))  # fmt: skip
    job = cluster.submit("gnt-debug", "delay", "0")
    assert cluster.wait_job(job) == "success"
    pre = _env(cluster_hooks["node1"] / f"global-pre-{job}.env")
    post = _env(cluster_hooks["node1"] / f"global-post-{job}.env")
    assert (pre["GANETI_OP_CODE"], pre["GANETI_OBJECT_TYPE"], pre["GANETI_IS_MASTER"], pre["GANETI_JOB_ID"]) == (
        "OP_TEST_DELAY", "NOT_APPLICABLE", "master", str(job),
    )  # fmt: skip
    assert post["GANETI_POST_STATUS"] == "success"
    assert not any(cluster_hooks["node2"].iterdir())  # an opcode without hooks: the master only
    # a failed opcode: status error, on the master
    result = cluster.run("gnt-instance", "startup", "no-such-instance")
    assert result.rc == 1  # refused by its prerequisites: no hooks at all, global ones included
    assert len(list(cluster_hooks["node1"].glob("global-pre-*.env"))) == 1
