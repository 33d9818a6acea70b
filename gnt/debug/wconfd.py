"""`gnt-debug wconfd` and `metad`, answered by what gnt has in their place.

Ganeti 3.0 splits its master into luxid, wconfd (config and locks) and metad (instance metadata
for the instance communication network). gnt's master daemon holds the config manager and the
lock manager itself, so every wconfd command is answered by the running master, on its unix
socket only: `echo` is a round trip through its event loop, the lock commands read (or, for
`cleanuplocks`, repair) its lock table, and `flushconfig` checkpoints the config database's
write-ahead log and rewrites ssconf. gnt has no metadata daemon (see
doc/design/018-extstorage-and-debug.md), so `metad` answers with an error that says so.
"""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

from aiohttp import web

from gnt import paths
from gnt.debug.locks import LEVEL_NAMES
from gnt.errors import ECODE_ENVIRON, ECODE_INVAL, ECODE_NOENT, OpExecError, OpPrereqError
from gnt.jobs.job import FINAL
from gnt.jobs.locking import ALL, Level, Mode

__all__ = ["METAD_MISSING", "add_routes", "run_command"]

METAD_MISSING = (
    "gnt has no metadata daemon (metad): it does not implement Ganeti's instance communication "
    "network, OS scripts get their parameters in their environment instead (design 018)"
)
_COMMANDS = {
    "echo": 1,
    "cleanuplocks": 0,
    "listlocks": 1,
    "listalllocks": 0,
    "listalllocksowners": 0,
    "flushconfig": 0,
}


def _lock_name(level: Level, name: str) -> str:
    return f"{LEVEL_NAMES[level]}/{'[lockset]' if name == ALL else name}"


def _shown(mode: Mode) -> str:
    """Ganeti reports a lock as held shared or exclusive; an intent on a whole level is shared."""
    return "exclusive" if mode == Mode.X else "shared"


def _held(master: Any) -> list[tuple[str, str, str]]:
    """(lock name, owner, mode) for every grant in the master's lock table."""
    rows = []
    for level, name, holders, _ in master.locks.table():
        if level == Level.CLUSTER and name == ALL:
            continue  # the BGL's intent lock: Ganeti has no such lock (as in gnt-debug locks)
        rows.extend((_lock_name(level, name), owner, _shown(mode)) for owner, mode in holders)
    return rows


def _stale_owners(master: Any) -> set[str]:
    """Lock owners that are jobs no longer alive: finished, or unknown to the queue."""
    stale = set()
    for _, owner, _ in _held(master):
        kind, _, ident = owner.partition("/")
        if kind != "job" or not ident.isdigit():
            continue
        job = master.queue.jobs.get(int(ident))
        if job is None or job.status in FINAL:
            stale.add(owner)
    return stale


async def run_command(master: Any, command: str, args: list[str]) -> Any:
    """One wconfd command against the running master; the answer Ganeti's client would print."""
    if command not in _COMMANDS:
        raise OpPrereqError(f"Command '{command}' not supported", ECODE_INVAL)
    if len(args) != _COMMANDS[command]:
        raise OpPrereqError(f"Command '{command}' takes {_COMMANDS[command] or 'no'} argument(s)", ECODE_INVAL)
    if command == "echo":
        return args[0]
    if command == "listlocks":
        if not args[0].isdigit():
            raise OpPrereqError(f"Invalid job id '{args[0]}'", ECODE_INVAL)
        if int(args[0]) not in master.queue.jobs:
            raise OpPrereqError(f"Job {args[0]} not found", ECODE_NOENT)
        owner = f"job/{int(args[0])}"
        return [[name, mode] for name, who, mode in _held(master) if who == owner]
    if command == "listalllocks":
        return sorted({name for name, _, _ in _held(master)})
    if command == "listalllocksowners":
        owners: dict[str, list[list[str]]] = {}
        for name, who, mode in _held(master):
            owners.setdefault(name, []).append([who, mode])
        return [[name, pairs] for name, pairs in sorted(owners.items())]
    if command == "cleanuplocks":
        return master.locks.drop_owners(_stale_owners(master))
    return await _flush_config(master)


async def _flush_config(master: Any) -> int:
    """Every commit is already on disk (SQLite, synchronous); flushing moves the write-ahead log
    into the database file and rewrites ssconf on every node. Returns the config serial flushed."""
    await asyncio.to_thread(_checkpoint, paths.config_db())
    await master.services.push_ssconf()
    return int(master.cfg.serial)


def _checkpoint(path: str) -> None:
    """A checkpoint on a connection of its own: the writer's connection is always inside a
    transaction, where SQLite refuses one. Busy readers only delay it (SQLite's busy timeout)."""
    conn = sqlite3.connect(path, timeout=10.0)
    try:
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    except sqlite3.Error as err:
        raise OpExecError(f"Could not flush the configuration: {err}") from err
    finally:
        conn.close()
    if busy:
        raise OpExecError("Could not flush the configuration: the database stayed busy; try again")


def add_routes(router: web.UrlDispatcher, master: Any, body: Any) -> None:
    """`POST /gnt/wconfd` ({"command", "args"}) and `POST /gnt/metad`: the master's unix socket only."""
    import json

    async def wconfd(request: web.Request) -> web.Response:
        data = await body(request)
        command, args = data.get("command"), data.get("args", [])
        if not isinstance(command, str) or not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            raise OpPrereqError("Body must be {'command': str, 'args': [str, ...]}", ECODE_INVAL)
        answer = await run_command(master, command, args)
        return web.Response(text=json.dumps(answer), content_type="application/json")

    async def metad(request: web.Request) -> web.Response:
        raise OpPrereqError(METAD_MISSING, ECODE_ENVIRON)

    router.add_post("/gnt/wconfd", wconfd)
    router.add_post("/gnt/metad", metad)
