"""Fixtures shared by the master-side unit tests: a config database with a small cluster."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gnt.config import store
from gnt.config.manager import ConfigManager
from gnt.db import SqliteWriter
from gnt.objects import Cluster, Node, NodeGroup


@pytest.fixture
def config_writer(tmp_path: Path) -> Iterator[SqliteWriter]:
    writer = SqliteWriter(str(tmp_path / "config.db"), store.SCHEMA)
    yield writer
    writer.close()


@pytest.fixture
def cfg(config_writer: SqliteWriter) -> ConfigManager:
    """A committed cluster: one group, master node1 and node2 (serial 1)."""
    manager = ConfigManager(config_writer)
    group = NodeGroup(name="default")
    node1 = Node(name="node1", primary_ip="192.0.2.1", group=group.uuid, master_candidate=True)
    node2 = Node(name="node2", primary_ip="192.0.2.2", group=group.uuid)
    cluster = Cluster(cluster_name="cluster.example.com", master_node=node1.uuid)
    manager.commit_sync(put=[cluster, group, node1, node2])
    return manager
