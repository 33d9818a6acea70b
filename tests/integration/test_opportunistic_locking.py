"""`gnt-instance add -I hail --opportunistic-locking` on a real virtual cluster: while another job
holds some nodes' locks (a `gnt-debug delay -n`), the create does not wait for them but places the
instance on a node that was free; with every node busy it fails at once with Ganeti's temporary
error, and nothing is left behind."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from tests.integration.vcluster import ADD_DISKLESS, VCluster, wait_for

ADD = [*ADD_DISKLESS, "-B", "memory=32M", "--no-start", "-I", "hail", "--opportunistic-locking"]


@contextmanager
def nodes_busy(cluster: VCluster, *nodes: str) -> Iterator[None]:
    """A delay job holding these nodes' locks until it is cancelled."""
    argv = ["gnt-debug", "delay", "--no-master", *(a for n in nodes for a in ("-n", n)), "600"]
    job = cluster.submit(*argv)
    wait_for(lambda: cluster.job_status(job) == "running", 30)  # running: its locks are held
    try:
        yield
    finally:
        cluster.run("gnt-job", "cancel", str(job))
        assert cluster.wait_job(job) == "canceled"


def test_the_create_takes_a_free_node_and_fails_at_once_when_none_is_free(cluster: VCluster) -> None:
    with nodes_busy(cluster, "node1", "node2"):
        cluster.ok(*ADD, "oppo-a")
        assert cluster.instance_field("oppo-a", "pnode") == "node3"
    with nodes_busy(cluster, "node1", "node2", "node3"):
        result = cluster.run(*ADD, "oppo-b")
        assert result.rc == 1
        assert "Can't compute nodes using iallocator 'hail'" in result.err
        assert "error type: temp_insufficient_resources" in result.err  # Ganeti's: worth trying again later
    assert "oppo-b" not in cluster.ok("gnt-instance", "list", "--no-headers", "-o", "name")
    cluster.ok("gnt-instance", "remove", "-f", "oppo-a")
