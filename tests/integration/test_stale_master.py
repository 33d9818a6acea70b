"""A master whose host comes back after a failover does not act as master (Ganeti #1018, #1242, #338)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import running_cluster
from tests.integration.test_queue_failover import replica_job
from tests.integration.vcluster import VCluster, wait_for


@pytest.fixture
def two_nodes(tmp_path: Path) -> Iterator[VCluster]:
    with running_cluster(tmp_path / "vc", 2) as vc:
        yield vc


def power_off(vc: VCluster, node: str) -> None:
    """The host goes away: its master and node daemons die where they stand."""
    if vc.pid_path(node, "gnt-masterd").exists():
        vc.kill_daemon(node, "gnt-masterd")
    vc.kill_daemon(node, "gnt-noded")


def test_two_node_failover_from_a_script_and_the_old_master_stands_down(two_nodes: VCluster) -> None:
    vc = two_nodes
    before = vc.submit("gnt-debug", "delay", "0")
    assert vc.wait_job(before) == "success"
    power_off(vc, "node1")

    voted = vc.run("gnt-cluster", "master-failover", node="node2", input="")
    assert voted.rc == 1 and "--no-voting" in voted.err  # one of two nodes cannot be a majority
    unconfirmed = vc.run("gnt-cluster", "master-failover", "--no-voting", node="node2", input="")
    assert unconfirmed.rc != 0 and "--yes-do-it" in unconfirmed.err  # no prompt hangs a script
    assert vc.ok("gnt-cluster", "getmaster", node="node2").strip() == "node1"
    vc.ok("gnt-cluster", "master-failover", "--no-voting", "--yes-do-it", node="node2")
    assert vc.ok("gnt-cluster", "getmaster", node="node2").strip() == "node2"

    vc.start_noded("node1")  # the old master's host is back
    stale = vc.run("gnt-masterd", node="node1", timeout=120)
    assert stale.rc == 1
    assert "no longer the master" in stale.err and "node2" in stale.err
    assert not vc.pid_path("node1", "gnt-masterd").exists()
    assert vc.ok("gnt-cluster", "getmaster", node="node1").strip() == "node2"  # its ssconf follows the new master
    assert "not the master" in vc.run("gnt-job", "list", node="node1").err

    after = vc.submit_on("node2", "gnt-debug", "delay", "0")
    assert vc.run("gnt-job", "list", "--no-headers", "-o", "status", str(before), node="node2").out.strip() == (
        "success"
    )
    # node1 is a candidate again: it gets the whole queue, the job it missed and the new one
    wait_for(lambda: (replica_job(vc, "node1", after) or {}).get("status") == "success")


def test_a_restarted_master_that_is_still_master_starts(fresh_cluster: VCluster) -> None:
    vc = fresh_cluster
    vc.kill_daemon("node1", "gnt-masterd")
    vc.start_masterd("node1")  # every other node names it: the vote passes
    assert vc.ok("gnt-cluster", "getmaster").strip() == "node1"
