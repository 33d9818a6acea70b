"""The watcher's node-health pass (`gnt-cluster modify --maintain-node-health yes`) on a real virtual
cluster with the fake hypervisor: the watcher on a node the master's config marks offline stops the
guests still running there; it leaves them alone while the setting is off, and a node that is
online keeps its guests whatever the setting."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import running_cluster
from tests.integration.vcluster import ADD_INSTANCE, VCluster, alive


@pytest.fixture
def health_cluster(tmp_path: Path) -> Iterator[VCluster]:
    """A private 3-node cluster: a node goes offline here."""
    with running_cluster(tmp_path / "vc", 3) as vc:
        yield vc


def _add(cluster: VCluster, name: str, node: str) -> int:
    cluster.ok(*ADD_INSTANCE, "-t", "file", "--disk", "0:size=4M", "-n", node, name)
    return cluster.guest_pid(node, name)


def test_an_offline_nodes_watcher_stops_its_guests_only_with_the_setting_on(health_cluster: VCluster) -> None:
    cluster = health_cluster
    stray = _add(cluster, "stray1", "node3")
    kept = _add(cluster, "kept1", "node2")
    cluster.ok("gnt-node", "modify", "--force", "-O", "yes", "node3")  # as for a node that went away

    # the setting off: Ganeti's default, nothing is touched
    out = cluster.ok("gnt-watcher", node="node3")
    assert "Shut down" not in out and alive(stray)

    cluster.ok("gnt-cluster", "modify", "--maintain-node-health", "yes")
    assert cluster.ok("gnt-watcher", node="node2") == ""  # online: its guest stays
    assert alive(kept)
    out = cluster.ok("gnt-watcher", node="node3")
    assert "Shut down instance stray1: this node is offline" in out
    assert "Deactivated stray1/disk0" in out
    assert not alive(stray)
    assert alive(kept)
    assert cluster.ok("gnt-watcher", node="node3") == ""  # nothing left to stop

    # the config still has stray1 running on node3: back online, the admin starts it again
    cluster.ok("gnt-node", "modify", "-O", "no", "node3")
    cluster.ok("gnt-instance", "startup", "stray1")
    assert cluster.instance_field("stray1", "status") == "running"
