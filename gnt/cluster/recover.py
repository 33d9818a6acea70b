"""`gnt-cluster recover-config`: rebuild a damaged config on the master from a candidate's replica.

Every commit reaches every master candidate's replica before its job reports success, so the
newest replica holds everything the cluster acknowledged. This runs in the CLI process on the
master node while gnt-masterd is stopped (it refuses to start on a damaged config): it asks the
master candidates named in ssconf for their replicas over the node RPC (cluster certificate),
keeps the damaged file aside as `config.db.damaged-<timestamp>`, writes the newest replica as the
new config and starts gnt-masterd again.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from typing import Any

from gnt import paths, ssconf
from gnt.errors import ECODE_INVAL, ECODE_STATE, GntError, OpPrereqError

__all__ = ["Recovered", "recover_config"]


@dataclass
class Recovered:
    source: str
    serial: int
    kept_aside: str
    asked: dict[str, str]  # node -> "serial N" or the reason it could not help


def _masterd_running() -> bool:
    try:
        with open(paths.pid_file("gnt-masterd")) as handle:
            pid = int(handle.read().strip())
        with open(f"/proc/{pid}/stat") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except (OSError, ValueError, IndexError):
        return False
    return state not in ("Z", "X")


def _sources(me: str, wanted: str | None) -> dict[str, str]:
    """Candidates to ask, name -> address, from this node's ssconf (the config itself is unreadable)."""
    addresses = dict(line.split(None, 1) for line in ssconf.read("node_primary_ips").splitlines() if " " in line)
    if wanted:
        if wanted == me:
            raise OpPrereqError(f"Node {me} is the master whose config is damaged; name another node", ECODE_INVAL)
        if wanted not in addresses:
            raise OpPrereqError(f"Node '{wanted}' is not in this node's ssconf node list", ECODE_INVAL)
        return {wanted: addresses[wanted]}
    candidates = ssconf.read("master_candidates").split() or list(addresses)
    found = {name: addresses[name] for name in candidates if name != me and name in addresses}
    if not found:
        raise OpPrereqError(
            "This node's ssconf names no other master candidate to recover the config from; use --from NODE",
            ECODE_STATE,
        )
    return found


async def _fetch(sources: dict[str, str]) -> dict[str, Any]:
    from gnt.rpc import procedures as proc
    from gnt.rpc.client import RpcClient, Target

    port = int(ssconf.read("noded_port") or 0) or None
    if port is None:
        from gnt import constants

        port = constants.DEFAULT_NODED_PORT
    rpc = RpcClient.https(paths.cluster_cert(), port)
    try:
        return await rpc.call_many([Target(n, a) for n, a in sources.items()], proc.CONFIG_EXPORT, proc.NoArgs())
    finally:
        await rpc.close()


def _pick(results: dict[str, Any], me: str) -> tuple[str, dict[str, Any], dict[str, str]]:
    asked: dict[str, str] = {}
    best: tuple[str, dict[str, Any]] | None = None
    for name, result in sorted(results.items()):
        if result.failed:
            asked[name] = str(result.error)
            continue
        data = result.payload
        if not data:
            asked[name] = "holds no replica"
            continue
        problem = _replica_problem(data, me)
        if problem:
            asked[name] = problem
            continue
        asked[name] = f"serial {data['serial']}"
        if best is None or int(data["serial"]) > int(best[1]["serial"]):
            best = (name, data)
    if best is None:
        details = "; ".join(f"{n}: {why}" for n, why in sorted(asked.items()))
        raise GntError(f"No master candidate could provide a usable replica ({details})")
    return best[0], best[1], asked


def _replica_problem(data: dict[str, Any], me: str) -> str:
    """Why a replica cannot become this master's config ("" if it can)."""
    clusters = list(data.get("objects", {}).get("cluster", {}).values())
    if len(clusters) != 1:
        return "its replica holds no cluster"
    nodes = data["objects"].get("node", {})
    master = nodes.get(clusters[0].get("master_node", ""), {}).get("name")
    if master != me:
        return f"its replica names {master or 'no node'} as master, not {me}"
    return ""


def _write(path: str, serial: int, objects: dict[str, Any]) -> None:
    from gnt.config import store
    from gnt.config.manager import ConfigManager
    from gnt.db import SqliteWriter

    writer = SqliteWriter(path, store.SCHEMA, durable=True)
    try:
        writer.run_sync(lambda conn: store.replace_all(conn, serial, objects))
        ConfigManager(writer).load()  # what gnt-masterd will do next: fail here, not there
        writer.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        writer.close()


def recover_config(source: str | None = None, force: bool = False) -> Recovered:
    """Replace this master's config with the newest (or `source`'s) candidate replica."""
    from gnt.config import store
    from gnt.db import DamagedDatabaseError, move_aside

    me = paths.hostname()
    master = ssconf.read("master_node")
    if master != me:
        raise OpPrereqError(f"Run this on the master node ({master or 'unknown'}); this is {me}", ECODE_STATE)
    if _masterd_running():
        raise OpPrereqError("gnt-masterd is running on this node; stop it first", ECODE_STATE)
    path = paths.config_db()
    try:
        store.check_config_file(path)
    except DamagedDatabaseError:
        pass
    else:
        if not force:
            raise OpPrereqError(
                f"{path} is not damaged; use --force to replace it with a master candidate's replica anyway",
                ECODE_STATE,
            )
    results = asyncio.run(_fetch(_sources(me, source)))
    name, data, asked = _pick(results, me)
    aside = move_aside(path)
    try:
        _write(path, int(data["serial"]), data["objects"])
    except BaseException:
        for suffix in ("", "-wal", "-shm"):  # put the damaged file back: nothing half-written stays
            if os.path.exists(path + suffix):
                os.unlink(path + suffix)
            if os.path.exists(aside + suffix):
                os.replace(aside + suffix, path + suffix)
        raise
    return Recovered(name, int(data["serial"]), aside, asked)
