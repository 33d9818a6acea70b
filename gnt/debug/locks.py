"""The `lock` query resource: the master's lock table as Ganeti's `gnt-debug locks` shows it.

A row per lock the manager knows: its name (Ganeti's "level/name", a whole level being
"level/[lockset]"), the mode it is held in, its owners ("job/17") and who waits, in order. A named
request's intent on its level's lock shows as "shared", as Ganeti's lockset-internal lock does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gnt.errors import ECODE_NOENT, OpPrereqError
from gnt.jobs.locking import ALL, Level, LockManager, Mode
from gnt.query import Field

LEVEL_NAMES = {
    Level.CLUSTER: "cluster",
    Level.INSTANCE: "instance",
    Level.NODEGROUP: "nodegroup",
    Level.NODE: "node",
    Level.NODE_RES: "node-res",
    Level.NETWORK: "network",
}


def _shown(mode: Mode) -> str:
    return "exclusive" if mode == Mode.X else "shared"


@dataclass(frozen=True)
class LockRow:
    name: str
    mode: str | None
    owner: list[str]
    pending: list[list[Any]]


def rows(locks: LockManager, names: list[str] | None = None) -> list[LockRow]:
    """The lock table (only `names`, in that order, when given; an unknown name is an error)."""
    table = []
    for level, name, holders, waiters in locks.table():
        if level == Level.CLUSTER and name == ALL:
            continue  # the intent under the BGL: Ganeti has no such lock, and it only mirrors cluster/BGL
        shown = f"{LEVEL_NAMES[level]}/{'[lockset]' if name == ALL else name}"
        mode = None
        if holders:
            mode = "exclusive" if any(m == Mode.X for _, m in holders) else "shared"
        pending: list[list[Any]] = []
        for owner, wait_mode in waiters:
            if pending and pending[-1][0] == _shown(wait_mode):
                pending[-1][1].append(owner)
            else:
                pending.append([_shown(wait_mode), [owner]])
        owners = sorted({owner for owner, _ in holders})
        table.append(LockRow(shown, mode, owners, pending))
    if names is None:
        return table
    by_name = {row.name: row for row in table}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise OpPrereqError(f"Lock(s) {', '.join(missing)} not known (not held or waited for)", ECODE_NOENT)
    return [by_name[n] for n in names]


FIELDS = {
    f.name: f
    for f in (
        Field("name", "Name", "text", "Lock name", lambda r, c: r.name),
        Field("mode", "Mode", "other", "Mode in which the lock is currently acquired", lambda r, c: r.mode),
        Field("owner", "Owner", "other", "Current lock owner(s)", lambda r, c: r.owner),
        Field("pending", "Pending", "other", "Jobs waiting for the lock", lambda r, c: r.pending),
    )
}
DEFAULT_FIELDS = ["name", "mode", "owner", "pending"]
