"""Is this node still the master? Asked by gnt-masterd before it serves (Ganeti issues #1018, #1242).

A master whose host was down while another candidate took over (`master-failover --no-voting`)
still has ssconf and a config naming itself. Started again, it must not act as master. Before it
listens, gnt-masterd asks every other node it knows (`config_serial`: the node's config serial and
whom its ssconf names master) and refuses to start when

- a node holds a newer config (a higher serial) that names another master: that config is the
  cluster's; this node also rewrites its own ssconf to name that master, so its CLI and node
  daemon follow the new master from now on; or
- more nodes name another master than name this one (this node counts for itself), as Ganeti's
  vote does.

Nodes that do not answer have no vote (a master whose peers are all down starts, as in Ganeti);
`gnt-masterd --no-voting` skips the check.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from gnt import paths
from gnt.errors import ECODE_STATE, OpPrereqError

log = logging.getLogger("gnt-masterd")


@dataclass
class Verdict:
    """What the other nodes said: `master` is whom the winning view names ("" when this node)."""

    master: str = ""
    reason: str = ""
    #: the newer config's holder named the master: this node's ssconf should follow it
    authoritative: bool = False
    master_ip: str = ""


def judge(me: str, my_serial: int, answers: dict[str, dict[str, Any]], ips: dict[str, str]) -> Verdict:
    """Decide from the answers (node name -> config_serial payload) of the nodes that answered."""
    newer = [
        (v.get("serial", 0), name, v.get("master", ""))
        for name, v in answers.items()
        if v.get("serial", 0) > my_serial and v.get("master") and v.get("master") != me
    ]
    if newer:
        serial, holder, master = max(newer)
        return Verdict(
            master,
            f"{holder} holds a newer config (serial {serial}, this node's: {my_serial}) that names {master} as master",
            authoritative=True,
            master_ip=ips.get(master, ""),
        )
    against: dict[str, int] = {}
    for v in answers.values():
        if v.get("master") and v.get("master") != me:
            against[v["master"]] = against.get(v["master"], 0) + 1
    agree = 1 + sum(1 for v in answers.values() if v.get("master") == me)
    if against and sum(against.values()) > agree:
        master = max(against, key=lambda m: against[m])
        return Verdict(master, f"{sum(against.values())} node(s) name {master} as master, {agree} name this node")
    return Verdict()


async def _ask(cfg: Any) -> dict[str, dict[str, Any]]:
    from gnt.rpc import procedures as proc
    from gnt.rpc.client import RpcClient, Target

    me = paths.hostname()
    targets = [Target(n.name, n.primary_ip) for n in cfg.nodes.values() if n.name != me and not n.offline]
    if not targets:
        return {}
    rpc = RpcClient.https(paths.cluster_cert(), cfg.cluster.noded_port)
    try:
        results = await rpc.call_many(targets, proc.CONFIG_SERIAL, proc.NoArgs())
    finally:
        await rpc.close()
    return {name: r.payload for name, r in results.items() if not r.failed and isinstance(r.payload, dict)}


def check_still_master() -> None:
    """Raise OpPrereqError (one line: who is master and how to go on) when this node is not the master."""
    from gnt.cluster.bootstrap import write_local_ssconf
    from gnt.config import store
    from gnt.config.manager import ConfigManager
    from gnt.db import SqliteWriter

    writer = SqliteWriter(paths.config_db(), store.SCHEMA, durable=True)
    try:
        cfg = ConfigManager(writer)
        cfg.load()
    finally:
        writer.close()
    me = paths.hostname()
    answers = asyncio.run(_ask(cfg))
    verdict = judge(me, cfg.serial, answers, {n.name: n.primary_ip for n in cfg.nodes.values()})
    if not verdict.master:
        return
    if verdict.authoritative:
        write_local_ssconf(cfg.cluster.cluster_name, verdict.master, verdict.master_ip)
    raise OpPrereqError(
        f"this node ({me}) is no longer the master: {verdict.reason}; use the master on {verdict.master}"
        f" (`gnt-cluster master-failover` there moves the role back), or start with --no-voting if you are sure",
        ECODE_STATE,
    )
