"""The RAPI's node group writes, with Ganeti's paths and bodies.

`POST /2/groups` takes OP_GROUP_ADD's fields with `name` for `group_name` (Ganeti's alias);
`DELETE /2/groups/G`; `PUT /2/groups/G/rename` (`{"new_name"}`); `PUT /2/groups/G/modify`
(OP_GROUP_SET_PARAMS' fields); `PUT /2/groups/G/assign-nodes` (`{"nodes": [...]}`, `force` in
the query string or the body). Every one answers a job id and honours `dry-run` and `reason`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from gnt.api import params as p

__all__ = ["add_routes"]

Submit = Callable[[web.Request, list[dict[str, Any]]], Awaitable[web.Response]]
Body = Callable[[web.Request], Awaitable[dict[str, Any]]]


def add_routes(router: web.UrlDispatcher, submit: Submit, body: Body) -> None:
    """The group write resources; `submit` is the API's job submission (dry-run, reason)."""

    async def add(request: web.Request) -> web.Response:
        data = await body(request)
        if "name" in data:
            if "group_name" in data:
                raise p.bad_request("Parameter 'name' and 'group_name' are the same; give only one")
            data["group_name"] = data.pop("name")
        return await submit(request, [{**data, "OP_ID": "OP_GROUP_ADD"}])

    def with_group(op_id: str, flags: tuple[str, ...] = ()) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handler(request: web.Request) -> web.Response:
            data = await body(request)
            for flag in flags:
                value = p.query_flag(request, flag)
                if value is not None:
                    data[flag] = value
            return await submit(request, [{**data, "OP_ID": op_id, "group_name": request.match_info["name"]}])

        return handler

    router.add_post("/2/groups", add)
    router.add_delete("/2/groups/{name}", with_group("OP_GROUP_REMOVE"))
    router.add_put("/2/groups/{name}/rename", with_group("OP_GROUP_RENAME"))
    router.add_put("/2/groups/{name}/modify", with_group("OP_GROUP_SET_PARAMS"))
    router.add_put("/2/groups/{name}/assign-nodes", with_group("OP_GROUP_ASSIGN_NODES", ("force",)))
