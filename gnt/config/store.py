"""Per-object persistence of the config in SQLite, and change sets.

A change set is what one commit changed: `{"serial": N, "put": [[kind, uuid, data], ...],
"delete": [[kind, uuid], ...]}`. The master writes it to its own store and ships the same change
set to every master candidate, whose node daemon applies it to its replica with `apply`. A replica
that sees a gap in serials asks for a full copy instead (`replace_all`).
"""

from __future__ import annotations

import json
import os
import sqlite3
from typing import Any

from gnt.errors import ConfigurationError

SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    kind TEXT NOT NULL, uuid TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (kind, uuid));
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

ChangeSet = dict[str, Any]


def read_serial(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT value FROM meta WHERE key='serial'").fetchone()
    return int(row[0]) if row else 0


def load(conn: sqlite3.Connection) -> tuple[int, dict[str, dict[str, dict[str, Any]]]]:
    """(serial, {kind: {uuid: data}}) as last committed."""
    objects: dict[str, dict[str, dict[str, Any]]] = {}
    for kind, uuid, data in conn.execute("SELECT kind, uuid, data FROM objects"):
        objects.setdefault(kind, {})[uuid] = json.loads(data)
    return read_serial(conn), objects


def write(conn: sqlite3.Connection, changes: ChangeSet) -> None:
    """Write one change set (inside the caller's transaction)."""
    conn.executemany(
        "INSERT OR REPLACE INTO objects (kind, uuid, data) VALUES (?, ?, ?)",
        [(kind, uuid, json.dumps(data, separators=(",", ":"))) for kind, uuid, data in changes.get("put", [])],
    )
    conn.executemany("DELETE FROM objects WHERE kind=? AND uuid=?", [tuple(x) for x in changes.get("delete", [])])
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('serial', ?)", (str(changes["serial"]),))


def apply(conn: sqlite3.Connection, changes: ChangeSet) -> bool:
    """Apply a replicated change set; False when a serial gap means a full resync is needed."""
    current = read_serial(conn)
    serial = int(changes["serial"])
    if serial <= current:
        return True  # already applied (a retry)
    if serial != current + 1:
        return False
    write(conn, changes)
    return True


def replace_all(conn: sqlite3.Connection, serial: int, objects: dict[str, dict[str, Any]]) -> None:
    """Replace the whole replica (full resync after a gap, or a node joining as candidate)."""
    conn.execute("DELETE FROM objects")
    rows = [
        (kind, uuid, json.dumps(data, separators=(",", ":")))
        for kind, by_uuid in objects.items()
        for uuid, data in by_uuid.items()
    ]
    conn.executemany("INSERT INTO objects (kind, uuid, data) VALUES (?, ?, ?)", rows)
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('serial', ?)", (str(serial),))


def check_config_file(path: str) -> None:
    """Raise DamagedDatabaseError unless `path` is a whole config database that holds a cluster.

    A master whose ssconf names it master must find its config: a missing, emptied or unreadable
    file is damage to repair from a replica, not a cluster to initialise again.
    """
    from gnt.db import DamagedDatabaseError, check_file

    if not os.path.exists(path):
        raise DamagedDatabaseError(path, "the file is missing")
    check_file(path)
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT COUNT(*) FROM objects WHERE kind='cluster'").fetchone()
    except sqlite3.DatabaseError as err:
        raise DamagedDatabaseError(path, f"no config tables: {err}") from err
    finally:
        conn.close()
    if not row or row[0] != 1:
        raise DamagedDatabaseError(path, "it holds no cluster")


def open_readonly(path: str) -> sqlite3.Connection:
    try:
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.OperationalError as err:
        raise ConfigurationError(f"Cannot open the cluster config at {path}: {err}") from err
