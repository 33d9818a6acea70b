"""Node storage resources of Ganeti's RAPI (evacuate and powercycle are derived from gnt.surface).

The storage resources take their
arguments in the query string, as Ganeti's: `GET /2/nodes/N/storage?storage_type=T&output_fields=a,b`
(a job, OP_NODE_QUERY_STORAGE; it needs a `write` user, as in Ganeti), `PUT .../storage/modify?
storage_type=T&name=U&allocatable=0|1` and `PUT .../storage/repair?storage_type=T&name=U`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from gnt.api import params as p

__all__ = ["STORAGE_PATH", "add_routes"]

Submit = Callable[[web.Request, list[dict[str, Any]]], Awaitable[web.Response]]
Body = Callable[[web.Request], Awaitable[dict[str, Any]]]
STORAGE_PATH = "/2/nodes/{name}/storage"


def _required(request: web.Request, name: str) -> str:
    value = request.query.get(name)
    if not value:
        raise p.bad_request(f"Missing the required '{name}' parameter")
    return value


def add_routes(router: web.UrlDispatcher, submit: Submit, body: Body) -> None:
    async def storage(request: web.Request) -> web.Response:
        op = {
            "OP_ID": "OP_NODE_QUERY_STORAGE",
            "nodes": [request.match_info["name"]],
            "storage_type": _required(request, "storage_type"),
            "output_fields": [f for f in _required(request, "output_fields").split(",") if f],
        }
        return await submit(request, [op])

    async def storage_modify(request: web.Request) -> web.Response:
        changes = {}
        allocatable = p.query_flag(request, "allocatable")
        if allocatable is not None:
            changes["allocatable"] = allocatable
        op = {
            "OP_ID": "OP_NODE_MODIFY_STORAGE",
            "node_name": request.match_info["name"],
            "storage_type": _required(request, "storage_type"),
            "name": _required(request, "name"),
            "changes": changes,
        }
        return await submit(request, [op])

    async def storage_repair(request: web.Request) -> web.Response:
        op = {
            "OP_ID": "OP_REPAIR_NODE_STORAGE",
            "node_name": request.match_info["name"],
            "storage_type": _required(request, "storage_type"),
            "name": _required(request, "name"),
        }
        return await submit(request, [op])

    router.add_get(STORAGE_PATH, storage)
    router.add_put(STORAGE_PATH + "/modify", storage_modify)
    router.add_put(STORAGE_PATH + "/repair", storage_repair)
