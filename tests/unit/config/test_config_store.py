"""Per-object config persistence and replicated change sets."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from gnt.config import store
from gnt.errors import ConfigurationError


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(str(tmp_path / "replica.db"), isolation_level=None)
    connection.executescript(store.SCHEMA)
    yield connection
    connection.close()


def change(
    serial: int, put: list[list[object]] | None = None, delete: list[list[str]] | None = None
) -> store.ChangeSet:
    return {"serial": serial, "put": put or [], "delete": delete or []}


def test_empty_store_has_serial_zero_and_no_objects(conn: sqlite3.Connection) -> None:
    assert store.load(conn) == (0, {})


def test_write_then_load_round_trips_objects_and_serial(conn: sqlite3.Connection) -> None:
    store.write(conn, change(1, [["node", "u1", {"name": "node1", "offline": False}], ["cluster", "c", {"x": [1]}]]))
    store.write(conn, change(2, [["node", "u2", {"name": "node2"}]]))
    serial, objects = store.load(conn)
    assert serial == 2
    assert objects == {
        "node": {"u1": {"name": "node1", "offline": False}, "u2": {"name": "node2"}},
        "cluster": {"c": {"x": [1]}},
    }


def test_write_replaces_and_deletes_objects(conn: sqlite3.Connection) -> None:
    store.write(conn, change(1, [["node", "u1", {"name": "a"}], ["node", "u2", {"name": "b"}]]))
    store.write(conn, change(2, [["node", "u1", {"name": "renamed"}]], [["node", "u2"]]))
    assert store.load(conn) == (2, {"node": {"u1": {"name": "renamed"}}})


def test_apply_accepts_the_next_serial(conn: sqlite3.Connection) -> None:
    assert store.apply(conn, change(1, [["node", "u1", {"name": "a"}]]))
    assert store.apply(conn, change(2, [["node", "u2", {"name": "b"}]]))
    assert store.read_serial(conn) == 2
    assert set(store.load(conn)[1]["node"]) == {"u1", "u2"}


def test_apply_refuses_a_gap_and_changes_nothing(conn: sqlite3.Connection) -> None:
    store.apply(conn, change(1, [["node", "u1", {"name": "a"}]]))
    assert store.apply(conn, change(3, [["node", "u3", {"name": "c"}]])) is False
    assert store.load(conn) == (1, {"node": {"u1": {"name": "a"}}})


def test_apply_of_an_already_applied_serial_is_a_harmless_retry(conn: sqlite3.Connection) -> None:
    store.apply(conn, change(1, [["node", "u1", {"name": "a"}]]))
    store.apply(conn, change(2, [["node", "u1", {"name": "b"}]]))
    assert store.apply(conn, change(1, [["node", "u1", {"name": "stale"}]])) is True
    assert store.load(conn) == (2, {"node": {"u1": {"name": "b"}}})


def test_replace_all_replaces_the_whole_replica(conn: sqlite3.Connection) -> None:
    store.write(conn, change(1, [["node", "old", {"name": "gone"}]]))
    store.replace_all(conn, 9, {"node": {"u1": {"name": "a"}}, "instance": {"i1": {"name": "inst"}}})
    assert store.load(conn) == (9, {"node": {"u1": {"name": "a"}}, "instance": {"i1": {"name": "inst"}}})
    # and replication continues from the new serial
    assert store.apply(conn, change(10, [["node", "u2", {"name": "b"}]]))
    assert store.read_serial(conn) == 10


def test_open_readonly_reports_a_missing_config(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="Cannot open the cluster config at"):
        store.open_readonly(str(tmp_path / "missing" / "config.db"))


def test_open_readonly_refuses_writes(tmp_path: Path, conn: sqlite3.Connection) -> None:
    store.write(conn, change(1))
    path = conn.execute("PRAGMA database_list").fetchone()[2]
    ro = store.open_readonly(path)
    try:
        assert store.read_serial(ro) == 1
        with pytest.raises(sqlite3.OperationalError):
            ro.execute("DELETE FROM objects")
    finally:
        ro.close()
