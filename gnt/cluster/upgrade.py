"""The master's half of `gnt-cluster upgrade`: every node's gnt version, and the config conversion.

The CLI (gnt.cluster.upgrade_cli) drives the steps and keeps the intent file; the master answers
two calls on its unix socket only. `versions` asks every node daemon for its version over the
declared RPC table (`version`), so a node that runs another release or does not answer is seen
before anything changes. `convert` runs only on a drained, idle queue (no job may commit a config
change while it is converted) and turns the stored config into the target release's format
(gnt.config.upgrade), committed as one change set and so replicated to every master candidate.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from gnt import serial as ser
from gnt.config import upgrade as formats
from gnt.errors import ECODE_INVAL, ECODE_STATE, OpPrereqError
from gnt.objects import Cluster, Instance, Network, Node, NodeGroup
from gnt.rpc import procedures as proc

__all__ = ["add_routes", "convert_config", "node_versions"]


async def node_versions(master: Any) -> dict[str, Any]:
    """{node: version} for the online nodes; a node that did not answer maps to None, an offline
    node to "offline"."""
    nodes = sorted(master.cfg.nodes.values(), key=lambda n: n.name)
    online = [n for n in nodes if not n.offline]
    results = await master.rpc.call_many(master.services.targets(online), proc.VERSION, proc.NoArgs())
    answers: dict[str, Any] = {n.name: "offline" for n in nodes if n.offline}
    for name, result in results.items():
        answers[name] = None if result.failed else str((result.payload or {}).get("version"))
    return answers


def _check_idle(master: Any) -> None:
    if not master.queue.drained:
        raise OpPrereqError("The job queue must be drained before the config is converted", ECODE_STATE)
    busy = sorted(job_id for job_id, job in master.queue.jobs.items() if not job.finalized)
    if busy:
        raise OpPrereqError(f"Jobs still running or queued: {', '.join(map(str, busy))}", ECODE_STATE)


_KINDS: dict[str, type[Any]] = {"nodegroup": NodeGroup, "node": Node, "instance": Instance, "network": Network}


async def convert_config(master: Any, version: str) -> dict[str, Any]:
    """Convert the config to release `version`'s format; {"from", "to", "steps"} says what was done."""
    target = formats.check_release(version)
    _check_idle(master)
    cfg = master.cfg
    current = int(cfg.cluster.config_version)
    steps = formats.plan(current, target)
    if not steps:
        cfg.cluster.config_version = target
        await cfg.commit([cfg.cluster])
        return {"from": current, "to": target, "steps": 0}
    converted = formats.convert(cfg.snapshot(), current, target)
    put: list[Any] = [ser.from_dict(Cluster, d) for d in converted.get("cluster", {}).values()]
    delete: list[Any] = []
    tables = {"nodegroup": cfg.groups, "node": cfg.nodes, "instance": cfg.instances, "network": cfg.networks}
    for kind, cls in _KINDS.items():
        rows = converted.get(kind, {})
        put.extend(ser.from_dict(cls, d) for d in rows.values())
        delete.extend(obj for uuid, obj in tables[kind].items() if uuid not in rows)
    await cfg.commit(put, delete)
    return {"from": current, "to": target, "steps": len(steps)}


def add_routes(router: web.UrlDispatcher, master: Any, body: Any) -> None:
    """`GET /gnt/upgrade/versions` and `POST /gnt/upgrade/config` ({"version"}): unix socket only."""

    async def versions(request: web.Request) -> web.Response:
        return web.Response(text=json.dumps(await node_versions(master)), content_type="application/json")

    async def config(request: web.Request) -> web.Response:
        version = (await body(request)).get("version")
        if not isinstance(version, str):
            raise OpPrereqError("Body must be {'version': str}", ECODE_INVAL)
        answer = await convert_config(master, version)
        return web.Response(text=json.dumps(answer), content_type="application/json")

    router.add_get("/gnt/upgrade/versions", versions)
    router.add_post("/gnt/upgrade/config", config)
