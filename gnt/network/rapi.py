"""The RAPI's network reads, with Ganeti's paths and answers.

`GET /2/networks` (`bulk=1` for every field) and `GET /2/networks/N`. The writes (`POST /2/networks`
with Ganeti's `name` alias, `DELETE /2/networks/N`, `PUT .../modify`, `.../connect`,
`.../disconnect`) are derived from their declarations in gnt.surface; tags are in `gnt.tags.rapi`.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from gnt import query as q
from gnt.api import params as p
from gnt.errors import ApiError
from gnt.network import query as netq

__all__ = ["add_routes"]


def _json(value: Any) -> web.Response:
    return web.Response(text=json.dumps(value), content_type="application/json")


def _fields(request: web.Request) -> list[str]:
    return [f for f in request.query.get("fields", "").split(",") if f] or netq.BULK_FIELDS


def add_routes(router: web.UrlDispatcher, master: Any) -> None:
    """The network reads, answered from `master`'s config."""

    def rows(request: web.Request, nets: list[Any]) -> list[dict[str, Any]]:
        selected = q.select(netq.FIELDS, _fields(request))
        return q.as_dicts(selected, q.evaluate(selected, nets, netq.NetworkQueryContext(master.cfg)))

    async def list_(request: web.Request) -> web.Response:
        nets = sorted(master.cfg.networks.values(), key=lambda n: n.name)
        if p.query_flag(request, "bulk"):
            return _json(rows(request, nets))
        return _json([{"name": n.name, "uri": f"/2/networks/{n.name}"} for n in nets])

    async def get(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        net = next((n for n in master.cfg.networks.values() if n.name == name), None)
        if net is None:
            raise ApiError(f"Network '{name[:80]}' not found", 404)
        return _json(rows(request, [net])[0])

    router.add_get("/2/networks", list_)
    router.add_get("/2/networks/{name}", get)
