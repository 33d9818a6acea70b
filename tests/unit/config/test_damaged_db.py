"""A damaged database is refused when opened, with one line naming the file and the way out."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gnt.config import store
from gnt.config.manager import ConfigManager
from gnt.db import DamagedDatabaseError, SqliteWriter, check_file
from gnt.objects import Cluster, Instance, Node, NodeGroup

PAGE = 4096


def _config_db(path: Path, instances: int = 200) -> Path:
    """A committed config big enough to span many pages, checkpointed into the main file."""
    writer = SqliteWriter(str(path), store.SCHEMA)
    cfg = ConfigManager(writer)
    group = NodeGroup(name="default")
    node = Node(name="node1", primary_ip="192.0.2.1", group=group.uuid, master_candidate=True)
    cluster = Cluster(cluster_name="c", master_node=node.uuid)
    objs = [cluster, group, node] + [Instance(name=f"inst{i}", primary_node=node.uuid) for i in range(instances)]
    cfg.commit_sync(objs)
    writer.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    writer.close()
    return path


def _cut_short(path: Path) -> None:
    with open(path, "r+b") as handle:
        handle.truncate(os.path.getsize(path) // 2)


def _zero_page(path: Path, page: int) -> None:
    with open(path, "r+b") as handle:
        handle.seek(page * PAGE)
        handle.write(b"\0" * PAGE)


@pytest.mark.parametrize("damage", [_cut_short, lambda p: _zero_page(p, 3), lambda p: _zero_page(p, 0)])
def test_damaged_config_is_refused_at_open_naming_file_and_remedy(tmp_path: Path, damage) -> None:
    path = _config_db(tmp_path / "config.db")
    damage(path)
    with pytest.raises(DamagedDatabaseError) as caught:
        SqliteWriter(str(path), store.SCHEMA)
    message = caught.value.message
    assert str(path) in message and "gnt-cluster recover-config" in message
    assert "\n" not in message
    with pytest.raises(DamagedDatabaseError):
        check_file(str(path))
    with pytest.raises(DamagedDatabaseError):
        store.check_config_file(str(path))


def test_damaged_queue_names_the_queue_file_and_moving_it_aside(tmp_path: Path) -> None:
    path = tmp_path / "queue.db"
    writer = SqliteWriter(str(path), "CREATE TABLE IF NOT EXISTS jobs (id INTEGER PRIMARY KEY, data TEXT);")
    writer.run_sync(lambda c: c.executemany("INSERT INTO jobs (data) VALUES (?)", [("x" * 900,)] * 100))
    writer.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    writer.close()
    _zero_page(path, 5)
    with pytest.raises(DamagedDatabaseError) as caught:
        SqliteWriter(str(path))
    assert f"mv {path} {path}.damaged" in caught.value.message


def test_healthy_config_opens_and_loads(tmp_path: Path) -> None:
    path = _config_db(tmp_path / "config.db", instances=3)
    store.check_config_file(str(path))
    writer = SqliteWriter(str(path), store.SCHEMA)
    cfg = ConfigManager(writer)
    cfg.load()
    assert len(cfg.instances) == 3
    writer.close()


def test_missing_or_empty_config_is_damage_not_a_new_cluster(tmp_path: Path) -> None:
    missing = tmp_path / "config.db"
    with pytest.raises(DamagedDatabaseError, match="missing"):
        store.check_config_file(str(missing))
    missing.write_bytes(b"")
    with pytest.raises(DamagedDatabaseError, match="no config tables|holds no cluster"):
        store.check_config_file(str(missing))
