"""gnt-cluster/gnt-group daily operations on a real virtual cluster: verify's options, instance
policies (modify, show-ispecs-cmd, enforcement on add/modify/migrate), the watcher's pause and
group evacuation, each with its failure paths. The cluster is left as it was found."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.vcluster import ADD_DISKLESS, VCluster

SPEC = "cpu-count={c},disk-count={dc},disk-size={ds},memory-size={m},nic-count={n},spindle-use={s}"
LOW = SPEC.format(c=1, dc=0, ds=0, m=16, n=0, s=0)
HIGH = SPEC.format(c=8, dc=16, ds=1048576, m=64, n=8, s=12)


def _fails(cluster: VCluster, *argv: str) -> str:
    result = cluster.run(*argv)
    assert result.rc == 1, f"{' '.join(argv)} should fail:\n{result.text}"
    return result.err


def test_verify_options_and_their_bad_input(cluster: VCluster) -> None:
    out = cluster.run("gnt-cluster", "verify", "--error-codes", "--no-nplus1-mem", "-I", "ENODEN1").out
    assert "* Verifying cluster config" in out and "N+1 Memory" not in out
    for line in (line for line in out.splitlines() if " - ERROR" in line or " - WARNING" in line):
        assert line.split(" - ", 1)[1].split(":")[1].startswith("E"), line  # ftype:ecode:etype:item:msg
    out = cluster.run("gnt-cluster", "verify", "-g", "default").out
    assert "* Verifying group 'default'" in out and "* Verifying N+1 Memory redundancy" in out
    assert "not known" in _fails(cluster, "gnt-cluster", "verify", "-g", "nowhere")
    err = _fails(cluster, "gnt-cluster", "verify", "-I", "EBOGUS")
    assert len(err.strip().splitlines()) == 1 and "Unknown verify error code(s): EBOGUS" in err


@pytest.fixture
def small_policy(cluster: VCluster) -> Iterator[str]:
    """The cluster's policy allows 16-64 MiB instances; afterwards the old one comes back through
    the command line show-ispecs-cmd printed for it (a round trip of its output)."""
    before = cluster.ok("gnt-cluster", "show-ispecs-cmd").split()
    cluster.ok(
        "gnt-cluster", "modify", f"--ipolicy-bounds-specs=min:{LOW}/max:{HIGH}", "--ipolicy-std-specs=memory-size=32"
    )
    try:
        yield before[-1]
    finally:
        assert before[2] == "--ipolicy-std-specs" and before[4] == "--ipolicy-bounds-specs"
        cluster.ok("gnt-cluster", "modify", "--ipolicy-std-specs", before[3], "--ipolicy-bounds-specs", before[5])
        assert cluster.ok("gnt-cluster", "show-ispecs-cmd").split() == before
        for name in ("pol-a", "pol-b"):
            cluster.run("gnt-instance", "remove", "-f", name)


def test_policy_is_shown_and_enforced_on_add_and_modify(cluster: VCluster, small_policy: str) -> None:
    line = cluster.ok("gnt-cluster", "show-ispecs-cmd").strip()
    assert line == (
        f"gnt-cluster init --ipolicy-std-specs {SPEC.format(c=1, dc=1, ds=1024, m=32, n=1, s=1)}"
        f" --ipolicy-bounds-specs min:{LOW}/max:{HIGH} {small_policy}"
    )
    err = _fails(cluster, *ADD_DISKLESS, "-B", "memory=128M", "-n", "node1", "pol-a")
    assert "violates policy: memory-size value 128 is not in range [16, 64]" in err
    assert "pol-a" not in cluster.ok("gnt-instance", "list", "--no-headers", "-o", "name")
    cluster.ok(*ADD_DISKLESS, "-B", "memory=32M", "-n", "node1", "pol-a")
    err = _fails(cluster, "gnt-instance", "modify", "-B", "memory=128M", "pol-a")
    assert "memory-size value 128 is not in range [16, 64]" in err
    cluster.ok("gnt-instance", "modify", "--ignore-ipolicy", "-B", "memory=96M", "pol-a")
    assert cluster.instance_field("pol-a", "be/memory") == "96M"
    cluster.ok(*ADD_DISKLESS, "--ignore-ipolicy", "-B", "memory=80M", "-n", "node2", "--no-start", "pol-b")
    bad = _fails(cluster, "gnt-cluster", "modify", "--ipolicy-std-specs=memory-size=512")
    assert "outside every min/max range" in bad


@pytest.fixture
def rack2(cluster: VCluster) -> Iterator[str]:
    """Group rack2 (node3) allows at most 64 MiB instances; afterwards node3 is back in default."""
    cluster.ok("gnt-group", "add", f"--ipolicy-bounds-specs=min:{LOW}/max:{HIGH}", "rack2")
    cluster.ok("gnt-group", "assign-nodes", "rack2", "node3")
    try:
        yield "rack2"
    finally:
        cluster.run("gnt-instance", "remove", "-f", "grp-a")
        cluster.ok("gnt-group", "assign-nodes", "default", "node3")
        cluster.ok("gnt-group", "remove", "rack2")


def test_migrate_to_another_group_and_group_evacuate(cluster: VCluster, rack2: str) -> None:
    assert cluster.ok("gnt-group", "show-ispecs-cmd", "rack2").strip() == (
        f"gnt-group add --ipolicy-bounds-specs min:{LOW}/max:{HIGH} rack2"
    )
    cluster.ok(*ADD_DISKLESS, "-B", "memory=96M", "-n", "node1", "grp-a")
    err = _fails(cluster, "gnt-instance", "migrate", "-f", "-n", "node3", "grp-a")
    assert "Instance grp-a does not meet target node group's (rack2) instance policy" in err
    assert cluster.instance_field("grp-a", "pnode") == "node1"
    out = cluster.ok("gnt-instance", "migrate", "-f", "--ignore-ipolicy", "-n", "node3", "grp-a")
    assert "does not meet target node group's (rack2)" in out  # a warning now
    assert cluster.instance_field("grp-a", "pnode") == "node3"
    assert "can not be used as a destination" in _fails(cluster, "gnt-group", "evacuate", "--to", "rack2", "rack2")
    assert "not known" in _fails(cluster, "gnt-group", "evacuate", "nowhere")
    out = cluster.ok("gnt-group", "evacuate", "rack2")
    assert "All instances evacuated successfully." in out
    assert cluster.instance_field("grp-a", "pnode") in ("node1", "node2")
    assert cluster.instance_field("grp-a", "status") == "running"


def test_watcher_pause_continue_info(cluster: VCluster) -> None:
    try:
        out = cluster.ok("gnt-cluster", "watcher", "pause", "1h")
        assert out.startswith("The watcher is paused until ")
        assert cluster.ok("gnt-cluster", "watcher", "info") == out
        assert "Watcher is paused until" in cluster.ok("gnt-watcher")
    finally:
        assert cluster.ok("gnt-cluster", "watcher", "continue") == "The watcher is no longer paused.\n"
    assert cluster.ok("gnt-cluster", "watcher", "info") == "The watcher is not paused.\n"
    assert "Watcher is paused" not in cluster.ok("gnt-watcher")
    assert "Invalid time specification 'soon'" in _fails(cluster, "gnt-cluster", "watcher", "pause", "soon")
    assert "Command 'sleep' is not valid." in _fails(cluster, "gnt-cluster", "watcher", "sleep")
