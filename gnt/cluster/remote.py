"""`gnt-cluster command` and `gnt-cluster copyfile` on the master: which nodes, then one call to each, in parallel.

The CLI hands the command line (or the file's content) to the master over its unix socket (root
on the master node only: these routes are never served over HTTPS), the master calls the node
procedures `node_command` / `node_write_file` (agent.remote) on every chosen node at once and
answers one result per node. Neither is a job: a command's output may hold anything (a job's log
and result are stored and replicated), and Ganeti runs them outside its queue as well.

Nodes are chosen as Ganeti does: all, those named (`-n`, repeatable or comma-separated) or one
group's (`-g`); offline nodes are skipped with a note; for `command` the master comes last (a
command that reboots it ends the run), `copyfile` leaves the master out (the file is there).
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

from aiohttp import web

from gnt.errors import ECODE_INVAL, OpPrereqError
from gnt.objects import Node
from gnt.rpc import procedures as proc

__all__ = ["add_routes", "choose_nodes"]

#: what a node that cannot be reached reports as its return code (ssh's, in Ganeti's output)
UNREACHABLE = 255
#: largest file copyfile sends (it travels whole in one RPC body)
MAX_FILE_BYTES = 32 * 1024 * 1024


def choose_nodes(cfg: Any, names: list[str], group: str | None, skip_master: bool) -> tuple[list[Node], list[str]]:
    """(online nodes to use, master last; names of offline nodes skipped). Unknown names are refused."""
    if names and group:
        raise OpPrereqError("Give either nodes (-n) or a node group (-g), not both", ECODE_INVAL)
    if names:
        nodes = [cfg.node(name) for name in names]  # OpPrereqError "Node 'x' not known"
    elif group:
        uuid = cfg.group(group).uuid
        nodes = [n for n in cfg.nodes.values() if n.group == uuid]
    else:
        nodes = list(cfg.nodes.values())
    master = cfg.cluster.master_node
    unique = {n.uuid: n for n in nodes}
    chosen = sorted(unique.values(), key=lambda n: (n.uuid == master, n.name))
    skipped = [n.name for n in chosen if n.offline]
    chosen = [n for n in chosen if not n.offline and not (skip_master and n.uuid == master)]
    return chosen, skipped


def _names(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise OpPrereqError("'nodes' must be a list of node names", ECODE_INVAL)
    return value


def _group(value: Any) -> str | None:
    if value is not None and (not isinstance(value, str) or not value):
        raise OpPrereqError("'group' must be a node group name", ECODE_INVAL)
    return value


def _answer(node: str, result: Any) -> dict[str, Any]:
    if result.failed:
        return {"node": node, "exit_code": UNREACHABLE, "output": "", "error": result.error.message}
    return {"node": node, **result.payload}


async def run_command(master: Any, body: dict[str, Any]) -> dict[str, Any]:
    command = body.get("command")
    if not isinstance(command, str) or not command.strip():
        raise OpPrereqError("No command given", ECODE_INVAL)
    timeout = body.get("timeout", 300.0)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= 86400:
        raise OpPrereqError("'timeout' must be a number of seconds between 0 and 86400", ECODE_INVAL)
    nodes, skipped = choose_nodes(master.cfg, _names(body.get("nodes")), _group(body.get("group")), False)
    services = master.services
    args = proc.NodeCommandArgs(command, float(timeout))
    results = await asyncio.gather(*(services.rpc.node_command(services.target(n), args) for n in nodes))
    return {"skipped": skipped, "results": [_answer(n.name, r) for n, r in zip(nodes, results, strict=True)]}


async def copy_file(master: Any, body: dict[str, Any]) -> dict[str, Any]:
    path, data, mode = body.get("path"), body.get("data"), body.get("mode", 0o644)
    if not isinstance(path, str) or not path.startswith("/"):
        raise OpPrereqError("'path' must be an absolute path", ECODE_INVAL)
    if not isinstance(data, str) or len(data) > MAX_FILE_BYTES * 4 // 3 + 4:
        raise OpPrereqError(f"'data' must be the file's content in base64, at most {MAX_FILE_BYTES} bytes", ECODE_INVAL)
    try:
        base64.b64decode(data, validate=True)
    except ValueError:
        raise OpPrereqError("'data' is not base64", ECODE_INVAL) from None
    if isinstance(mode, bool) or not isinstance(mode, int) or not 0 <= mode <= 0o7777:
        raise OpPrereqError("'mode' must be permission bits (0..0o7777)", ECODE_INVAL)
    nodes, skipped = choose_nodes(master.cfg, _names(body.get("nodes")), _group(body.get("group")), True)
    services = master.services
    args = proc.NodeWriteFileArgs(path, data, mode)
    results = await asyncio.gather(*(services.rpc.node_write_file(services.target(n), args) for n in nodes))
    answers = []
    for node, result in zip(nodes, results, strict=True):
        answers.append({"node": node.name, "error": result.error.message if result.failed else None})
    return {"skipped": skipped, "results": answers}


def add_routes(router: web.UrlDispatcher, master: Any, submit: Any, body: Any, local: bool) -> None:
    """`PUT /2/redistribute-config` (Ganeti's RAPI, a job) everywhere; command and copyfile on the unix socket only."""
    import json

    def reply(value: Any) -> web.Response:
        return web.Response(text=json.dumps(value), content_type="application/json")

    async def redist(request: web.Request) -> web.Response:
        return await submit(request, [{"OP_ID": "OP_CLUSTER_REDIST_CONF"}])

    async def command(request: web.Request) -> web.Response:
        return reply(await run_command(master, await body(request)))

    async def copyfile(request: web.Request) -> web.Response:
        return reply(await copy_file(master, await body(request)))

    router.add_put("/2/redistribute-config", redist)
    if local:
        router.add_post("/2/cluster/command", command)
        router.add_post("/2/cluster/copyfile", copyfile)
