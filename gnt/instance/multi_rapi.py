"""RAPI resources of instance info, multi-allocation and change-group, with Ganeti's paths and bodies.

- `GET /2/instances/NAME/info[?static=1]`: a job of OP_INSTANCE_QUERY_DATA (Ganeti answers a job id,
  its clients wait for it and read `{NAME: {...}}` from the result).
- `POST /2/instances-multi-alloc`: OP_INSTANCE_MULTI_ALLOC's fields (`instances`, `iallocator`,
  `opportunistic_locking`); each instance body takes Ganeti's `os` alias for `os_type` as
  `POST /2/instances` does.
- `PUT /2/instances/NAME/change-group`: OP_INSTANCE_CHANGE_GROUP's fields (`iallocator`,
  `target_groups`, `early_release`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from gnt.api import params as p

__all__ = ["add_routes"]

Submit = Callable[[web.Request, list[dict[str, Any]]], Awaitable[web.Response]]
Body = Callable[[web.Request], Awaitable[dict[str, Any]]]


def _create_body(item: Any) -> Any:
    """Ganeti's server renames the create body's `os` to `os_type`; anything else is the opcode's."""
    if isinstance(item, dict) and "os" in item:
        item = dict(item)
        if "os_type" in item:
            raise p.bad_request("Instance definition gives both 'os' and 'os_type'")
        item["os_type"] = item.pop("os")
    if isinstance(item, dict):
        item.pop("__version__", None)
    return item


def add_routes(router: web.UrlDispatcher, submit: Submit, body: Body) -> None:
    """The three resources; `submit` is the API's job submission (it honours dry-run and reason)."""

    async def info(request: web.Request) -> web.Response:
        static = bool(p.query_flag(request, "static"))
        op = {"OP_ID": "OP_INSTANCE_QUERY_DATA", "instances": [request.match_info["name"]], "static": static}
        return await submit(request, [op])

    async def multi_alloc(request: web.Request) -> web.Response:
        data = await body(request)
        data.pop("__version__", None)
        instances = data.get("instances")
        if not isinstance(instances, list):
            raise p.bad_request("Parameter 'instances' must be a list of instance definitions")
        op = {**data, "OP_ID": "OP_INSTANCE_MULTI_ALLOC", "instances": [_create_body(i) for i in instances]}
        return await submit(request, [op])

    async def change_group(request: web.Request) -> web.Response:
        data = await body(request)
        op = {**data, "OP_ID": "OP_INSTANCE_CHANGE_GROUP", "instance_name": request.match_info["name"]}
        return await submit(request, [op])

    router.add_get("/2/instances/{name}/info", info)
    router.add_post("/2/instances-multi-alloc", multi_alloc)
    router.add_put("/2/instances/{name}/change-group", change_group)
