"""gnt-storage diagnose/info, gnt-debug wconfd/metad and gnt-cluster upgrade on a virtual cluster,
through the real CLI, master and node daemons."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from gnt import __version__
from tests.integration.conftest import running_cluster
from tests.integration.vcluster import VCluster

SCRIPTS = ("create", "attach", "detach", "remove", "grow", "setinfo", "verify")


def _provider(root: Path, name: str, skip: str = "") -> None:
    d = root / "srv/gnt/extstorage" / name
    d.mkdir(parents=True)
    for script in SCRIPTS:
        if script != skip:
            (d / script).write_text("#!/bin/sh\nexit 0\n")
            (d / script).chmod(0o755)
    (d / "parameters.list").write_text("pool The pool new volumes go to\nreplicas How many copies\n")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VCluster]:
    """Two nodes: `shared` valid on both, `broken` lacks attach on node2, `lonely` is on node1 only."""
    with running_cluster(tmp_path_factory.mktemp("vc-es"), 2) as vc:
        for node in ("node1", "node2"):
            _provider(vc.dir / node, "shared")
            _provider(vc.dir / node, "broken", skip="attach" if node == "node2" else "")
        _provider(vc.dir / "node1", "lonely")
        yield vc


def _section(text: str, header: str) -> list[str]:
    lines = text.splitlines()
    start = lines.index(header)
    end = lines.index("", start)
    return lines[start:end]


def test_storage_diagnose_shows_each_provider_per_node_and_per_group(cluster: VCluster) -> None:
    out = cluster.ok("gnt-storage", "diagnose")
    root = cluster.dir
    assert _section(out, "Provider: shared") == [
        "Provider: shared",
        "---",
        f"  Node: node1, status: valid (path: {root}/node1/srv/gnt/extstorage/shared) [parameters: pool, replicas]",
        f"  Node: node2, status: valid (path: {root}/node2/srv/gnt/extstorage/shared) [parameters: pool, replicas]",
        "  --",
        "  For nodegroup: default --> valid",
    ]
    broken = _section(out, "Provider: broken")
    assert broken[3].startswith("  Node: node2, status: invalid - missing script 'attach' in provider broken")
    assert broken[-1] == "  For nodegroup: default --> invalid"
    assert "  Node: node2, status: ExtStorage provider not found" in _section(out, "Provider: lonely")


def test_storage_info_lists_valid_groups_and_parameters_and_unknown_names(cluster: VCluster) -> None:
    out = cluster.ok("gnt-storage", "info", "shared", "broken", "nosuch")
    assert out.splitlines() == [  # in provider order, as Ganeti's
        "broken:",
        "  - Invalid for all nodegroups",
        "",
        "shared:",
        "  - Valid for nodegroups:",
        "      default",
        "  - Supported parameters:",
        "      pool: The pool new volumes go to",
        "      replicas: How many copies",
        "",
        "nosuch: Not Found",
        "",
    ]
    assert cluster.run("gnt-storage", "diagnose", "extra").rc == 2


def test_wconfd_answers_from_the_masters_lock_and_config_managers(cluster: VCluster) -> None:
    assert cluster.ok("gnt-debug", "wconfd", "echo", "hello there") == "Answer: hello there\n"
    job = cluster.submit("gnt-debug", "delay", "-n", "node2", "30")
    try:
        owners = ""
        for _ in range(100):
            owners = cluster.ok("gnt-debug", "wconfd", "listalllocksowners")
            if f"'job/{job}'" in owners:
                break
        assert f"['node/node2', [['job/{job}', 'exclusive']]]" in owners
        mine = cluster.ok("gnt-debug", "wconfd", "listlocks", str(job))
        assert "['node/node2', 'exclusive']" in mine
        assert "'node/node2'" in cluster.ok("gnt-debug", "wconfd", "listalllocks")
        # the job is alive: cleanup leaves its locks alone
        assert cluster.ok("gnt-debug", "wconfd", "cleanuplocks") == "Stale locks cleaned up.\n"
        assert f"'job/{job}'" in cluster.ok("gnt-debug", "wconfd", "listalllocksowners")
    finally:
        cluster.run("gnt-job", "cancel", "--kill", "--yes-do-it", str(job))
        cluster.wait_job(job)
    assert cluster.ok("gnt-debug", "wconfd", "flushconfig") == "Configuration flushed.\n"
    wal = cluster.dir / "node1/var/lib/gnt/config.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0
    bad = cluster.run("gnt-debug", "wconfd", "echo")
    assert bad.rc == 1 and "Command 'echo' takes only precisely argument." in bad.err
    bad = cluster.run("gnt-debug", "wconfd", "frobnicate")
    assert bad.rc == 1 and "Command 'frobnicate' not supported" in bad.err


def test_metad_says_gnt_has_no_metadata_daemon(cluster: VCluster) -> None:
    result = cluster.run("gnt-debug", "metad", "echo", "x")
    assert result.rc == 1 and "gnt has no metadata daemon" in result.err and "Traceback" not in result.err


def _intent(cluster: VCluster) -> Path:
    return cluster.dir / "node1/var/lib/gnt/upgrade-intent"


def _drained(cluster: VCluster) -> bool:
    return "The drain flag is set" in cluster.ok("gnt-cluster", "queue", "info")


def test_upgrade_refuses_unknown_versions_and_silent_nodes_and_changes_nothing(cluster: VCluster) -> None:
    result = cluster.run("gnt-cluster", "upgrade", "--to", "9.9.9")
    assert result.rc == 1 and f"Unknown gnt version '9.9.9': this gnt can upgrade to {__version__}" in result.err
    result = cluster.run("gnt-cluster", "upgrade")
    assert result.rc == 1 and "Precisely one of the options --to and --resume has to be given" in result.err
    cluster.kill_daemon("node2", "gnt-noded")
    try:
        result = cluster.run("gnt-cluster", "upgrade", "--to", __version__)
        assert result.rc == 1 and "Could not get the gnt version of node2" in result.err
    finally:
        cluster.start_noded("node2")
    assert not _intent(cluster).exists() and not _drained(cluster)


def test_upgrade_drains_converts_and_undrains(cluster: VCluster) -> None:
    out = cluster.ok("gnt-cluster", "upgrade", "--to", __version__)
    assert out.splitlines() == [
        f"Verifying {__version__} present on all nodes",
        "Draining queue",
        "Pausing the watcher for one hour.",
        f"Converting the configuration to the format of {__version__}",
        "Undraining the queue.",
        f"Upgrade to {__version__} done.",
    ]
    assert not _intent(cluster).exists() and not _drained(cluster)
    assert "not paused" in cluster.ok("gnt-cluster", "watcher", "info")
    assert cluster.ok("gnt-cluster", "upgrade", "--resume") == "No upgrade in progress: nothing to resume.\n"


def test_an_interrupted_upgrade_is_resumed_and_restores_the_admins_drain_flag(cluster: VCluster) -> None:
    cluster.ok("gnt-cluster", "queue", "drain")
    # as left by a run that died after draining: the admin had drained the queue before it
    _intent(cluster).write_text(json.dumps({"from": __version__, "to": __version__, "was_drained": True}))
    result = cluster.run("gnt-cluster", "upgrade", "--to", "0.0.1")
    assert result.rc == 1 and f"An upgrade from {__version__} to {__version__} is in progress" in result.err
    out = cluster.ok("gnt-cluster", "upgrade", "--resume")
    assert "Leaving the queue drained, as it was." in out and out.endswith(f"Upgrade to {__version__} done.\n")
    assert not _intent(cluster).exists() and _drained(cluster)
    cluster.ok("gnt-cluster", "queue", "undrain")
