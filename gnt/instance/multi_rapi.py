"""RAPI resources of instance info and multi-allocation, with Ganeti's paths and bodies.

- `GET /2/instances/NAME/info[?static=1]`: a job of OP_INSTANCE_QUERY_DATA (Ganeti answers a job id,
  its clients wait for it and read `{NAME: {...}}` from the result).
- `POST /2/instances-multi-alloc`: OP_INSTANCE_MULTI_ALLOC's fields (`instances`, `iallocator`,
  `opportunistic_locking`); each instance body takes Ganeti's `name` and `os` aliases for
  `instance_name` and `os_type`, as Ganeti's server renames them.

`PUT /2/instances/NAME/change-group` (OP_INSTANCE_CHANGE_GROUP's fields) is derived from its
declaration in gnt.surface (gnt.api.declared_routes).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from gnt.api import params as p
from gnt.api.declared_routes import rename_aliases

__all__ = ["add_routes"]

Submit = Callable[[web.Request, list[dict[str, Any]]], Awaitable[web.Response]]
Body = Callable[[web.Request], Awaitable[dict[str, Any]]]


#: Ganeti's server renames these keys of each instance body (its rlib2 multi-alloc resource)
_ALIASES = {"os": "os_type", "name": "instance_name"}


def _create_body(index: int, item: Any) -> Any:
    """One instance body under the opcode's names; anything else is OP_INSTANCE_CREATE's to check."""
    if not isinstance(item, dict):
        raise p.bad_request(f"Instance {index} must be an object")
    item = {k: v for k, v in item.items() if k != "__version__"}
    return rename_aliases(item, _ALIASES, where=f"Instance {index}: ")


def add_routes(router: web.UrlDispatcher, submit: Submit, body: Body) -> None:
    """The two resources; `submit` is the API's job submission (it honours dry-run and reason)."""

    async def info(request: web.Request) -> web.Response:
        static = bool(p.query_flag(request, "static"))
        op = {"OP_ID": "OP_INSTANCE_QUERY_DATA", "instances": [request.match_info["name"]], "static": static}
        return await submit(request, [op])

    async def multi_alloc(request: web.Request) -> web.Response:
        data = await body(request)
        data.pop("__version__", None)
        if "instances" not in data:
            raise p.bad_request("Request is missing required 'instances' field in body")
        instances = p.check_kind(data["instances"], "list", "'instances'")
        bodies = [_create_body(index, item) for index, item in enumerate(instances)]
        op = {**data, "OP_ID": "OP_INSTANCE_MULTI_ALLOC", "instances": bodies}
        return await submit(request, [op])

    router.add_get("/2/instances/{name}/info", info)
    router.add_post("/2/instances-multi-alloc", multi_alloc)
