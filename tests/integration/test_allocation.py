"""Placement through the iallocator protocol: built-in hail, gnt-hail as an executable, a custom one."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from gnt.instance.placement import IALLOCATOR_SEARCH_PATH
from tests.integration.vcluster import ADD_DISKLESS, ADD_INSTANCE, VCluster

ADD = [*ADD_DISKLESS, "-B", "memory=32M"]


def _ialloc_dir(cluster: VCluster) -> Path:
    """Where the master (node1) looks for external allocators; only those may run."""
    directory = cluster.dir / "node1" / IALLOCATOR_SEARCH_PATH[0].lstrip("/")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def test_add_without_node_uses_default_allocator(cluster: VCluster) -> None:
    out = cluster.ok(*ADD, "al-a")
    assert "Selected nodes for instance al-a via iallocator hail:" in out
    assert cluster.instance_field("al-a", "status") == "running"
    cluster.ok("gnt-instance", "remove", "-f", "al-a")


def test_builtin_allocator_as_external_executable(cluster: VCluster) -> None:
    hail = shutil.which("gnt-hail")
    assert hail is not None
    installed = _ialloc_dir(cluster) / "gnt-hail"
    installed.unlink(missing_ok=True)
    installed.symlink_to(hail)
    out = cluster.ok(*ADD, "-I", "gnt-hail", "al-b")
    assert "via iallocator gnt-hail:" in out
    cluster.ok("gnt-instance", "remove", "-f", "al-b")


def test_custom_external_allocator_decides(cluster: VCluster) -> None:
    script = _ialloc_dir(cluster) / "always-node3"
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        "req = json.load(open(sys.argv[1]))\n"
        "assert req['request']['type'] == 'allocate' and 'node3' in req['nodes']\n"
        "print(json.dumps({'success': True, 'info': 'picked node3', 'result': ['node3']}))\n"
    )
    script.chmod(0o755)
    cluster.ok(*ADD, "-I", str(script), "al-c")
    assert cluster.instance_field("al-c", "pnode") == "node3"
    cluster.ok("gnt-instance", "remove", "-f", "al-c")


def test_allocator_failure_is_a_clear_error(cluster: VCluster) -> None:
    script = _ialloc_dir(cluster) / "refuse"
    script.write_text('#!/bin/sh\necho \'{"success": false, "info": "no room at the inn", "result": []}\'\n')
    script.chmod(0o755)
    result = cluster.run(*ADD, "-I", str(script), "al-d")
    assert result.rc == 1
    assert "Can't compute nodes using iallocator" in result.err and "no room at the inn" in result.err
    assert "al-d" not in cluster.ok("gnt-instance", "list")
    unknown = cluster.run(*ADD, "-I", "no-such-allocator", "al-e")
    assert unknown.rc == 1 and "Unknown iallocator 'no-such-allocator'" in unknown.err


def _recording_allocator(cluster: VCluster, tmp_path: Path, answer: str | None = None) -> tuple[Path, Path]:
    """An external allocator that appends the request type to a file, then answers (gnt-hail by default)."""
    calls = tmp_path / "calls"
    hail = shutil.which("gnt-hail") or str(Path(sys.executable).parent / "gnt-hail")
    reply = f"echo '{answer}'" if answer else f'exec "{hail}" "$1"'
    script = _ialloc_dir(cluster) / f"recording-allocator-{tmp_path.name}"
    script.write_text(
        "#!/bin/sh\n"
        f'{sys.executable} -c \'import json, sys; print(json.load(open(sys.argv[1]))["request"]["type"])\''
        f' "$1" >>"{calls}"\n'
        f"{reply}\n"
    )
    script.chmod(0o755)
    return script, calls


def test_cluster_default_allocator_is_the_one_that_runs(cluster: VCluster, tmp_path: Path) -> None:
    script, calls = _recording_allocator(cluster, tmp_path)
    cluster.ok("gnt-cluster", "modify", "--default-iallocator", str(script))
    try:
        out = cluster.ok(*ADD, "al-default")
        assert f"via iallocator {script}:" in out
        assert calls.read_text().split() == ["allocate"]
        moved = cluster.ok("gnt-instance", "migrate", "-f", "al-default")
        assert f"via iallocator {script}:" in moved
        assert calls.read_text().split() == ["allocate", "node-evacuate"]
    finally:
        cluster.ok("gnt-cluster", "modify", "--default-iallocator", "hail")
        cluster.run("gnt-instance", "remove", "-f", "al-default")
    assert "default instance allocator: hail" in cluster.ok("gnt-cluster", "info")


def test_cluster_default_allocator_that_refuses_is_a_clear_error(cluster: VCluster, tmp_path: Path) -> None:
    script, calls = _recording_allocator(
        cluster, tmp_path, '{"success": false, "info": "cluster is full", "result": []}'
    )
    cluster.ok("gnt-cluster", "modify", "--default-iallocator", str(script))
    try:
        result = cluster.run(*ADD, "al-refused")
    finally:
        cluster.ok("gnt-cluster", "modify", "--default-iallocator", "hail")
    assert result.rc == 1 and calls.read_text().split() == ["allocate"]
    assert f"Can't compute nodes using iallocator '{script}': cluster is full" in result.err
    assert "al-refused" not in cluster.ok("gnt-instance", "list")


def test_cluster_default_allocator_must_be_runnable(cluster: VCluster, tmp_path: Path) -> None:
    outside = tmp_path / "outside"  # runnable, but not installed where the master looks
    outside.write_text("#!/bin/sh\nexit 0\n")
    outside.chmod(0o755)
    for bad in ("no-such-allocator", str(tmp_path / "missing"), str(tmp_path), str(outside), "/bin/sh"):
        result = cluster.run("gnt-cluster", "modify", "--default-iallocator", bad)
        assert result.rc == 1 and f"Unknown iallocator '{bad}'" in result.err
    assert "default instance allocator: hail" in cluster.ok("gnt-cluster", "info")


def test_too_big_for_any_node_is_refused_by_allocator(cluster: VCluster) -> None:
    result = cluster.run(
        *ADD_DISKLESS,
        "-B",
        "memory=500G",
        "al-big",
    )
    assert result.rc == 1 and "insufficient_resources" in result.err


def test_node_evacuate_moves_every_instance(fresh_cluster: VCluster) -> None:
    """The last instance only moves with --ignore-soft-errors: every other node holds a primary
    sharing its exclusion tag (htools:iextags:), a soft constraint hail may break when told to."""
    vc = fresh_cluster
    vc.ok("gnt-cluster", "add-tags", "htools:iextags:svc")
    for name, node in (("ev-x", "node1"), ("ev-y", "node2"), ("ev-a", "node3")):
        vc.ok(*ADD, "-n", node, "--tags", "svc:web", name)
    vc.ok(
        *ADD_INSTANCE,
        "-t",
        "sharedfile",
        "--disk",
        "0:size=4M",
        "-B",
        "memory=32M",
        "--no-start",
        "-n",
        "node3",
        "ev-b",
    )
    out = vc.ok("gnt-node", "evacuate", "-f", "node3")
    assert "Instance ev-a cannot be moved" in out
    assert vc.ok("gnt-node", "list", "--no-headers", "-o", "pinst_cnt", "node3").strip() == "1"
    vc.ok("gnt-node", "evacuate", "-f", "--ignore-soft-errors", "node3")
    assert vc.ok("gnt-node", "list", "--no-headers", "-o", "pinst_cnt", "node3").strip() == "0"
    assert vc.instance_field("ev-a", "status") == "running"
    assert vc.instance_field("ev-b", "status") == "ADMIN_down"  # stopped instances are failed over, not started


def test_node_migrate_moves_running_primaries(fresh_cluster: VCluster) -> None:
    vc = fresh_cluster
    for name in ("nm-a", "nm-b"):
        vc.ok(*ADD, "-n", "node2", name)
    vc.ok("gnt-node", "migrate", "-f", "node2")
    assert vc.ok("gnt-node", "list", "--no-headers", "-o", "pinst_cnt", "node2").strip() == "0"
    assert all(vc.instance_field(n, "status") == "running" for n in ("nm-a", "nm-b"))


def test_balance_spreads_a_lopsided_cluster(fresh_cluster: VCluster, tmp_path: Path) -> None:
    vc = fresh_cluster
    ids = [
        vc.submit(
            *ADD_DISKLESS,
            "-B",
            "memory=2G",
            "-n",
            "node1",
            f"bal{i}",
        )
        for i in range(6)
    ]
    assert all(vc.wait_job(j) == "success" for j in ids)
    plan = vc.ok("gnt-cluster", "balance")
    assert "Initial score:" in plan and "Solution length=" in plan
    assert int(plan.rsplit("Solution length=", 1)[1].split()[0]) > 0
    saved = tmp_path / "after.data"
    vc.ok("gnt-cluster", "balance", "-X", "-S", str(saved))
    assert saved.read_text().count("bal") == 6
    counts = vc.ok("gnt-node", "list", "--no-headers", "-o", "pinst_cnt").split()
    assert max(map(int, counts)) <= 3 and sum(map(int, counts)) == 6
    again = vc.ok("gnt-cluster", "balance")
    assert "Solution length=0" in again or int(again.rsplit("Solution length=", 1)[1].split()[0]) < 3


def test_capacity_reports_how_many_fit(cluster: VCluster) -> None:
    out = cluster.ok("gnt-cluster", "capacity", "--standard-alloc=1G,1G,1", "--disk-template=diskless")
    assert "instances allocated" in out
    count = int(next(line for line in out.splitlines() if "instances allocated" in line).split()[1])
    assert count > 0
