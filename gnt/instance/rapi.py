"""The RAPI resource of `gnt-instance reinstall`, with Ganeti's path and body.

(`PUT /2/instances/NAME/rename`, OP_INSTANCE_RENAME's fields as its body, is derived from its
declaration in gnt.surface.) `POST /2/instances/NAME/reinstall` is Ganeti's "instance-reinstall-reqv1":
a body `{"os": ..., "start": true, "osparams": {...}}` (or, with no body, the query parameters
`os` and `nostartup`) becomes one job: shutdown, reinstall, then startup unless told not to.
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
    """The reinstall resource; `submit` is the API's job submission (it honours dry-run)."""

    async def reinstall(request: web.Request) -> web.Response:
        data = await body(request)
        name = request.match_info["name"]
        if data:
            os_type = p.body_field(data, "os", "str")
            start = p.body_field(data, "start", "bool", True)
            osparams = p.body_field(data, "osparams", "dict")
            unknown = sorted(set(data) - {"os", "start", "osparams"})
            if unknown:
                raise p.bad_request(f"Unknown reinstall parameter(s): {', '.join(u[:40] for u in unknown)}")
        else:
            os_type = request.query.get("os")
            start = not p.query_flag(request, "nostartup")
            osparams = None
        ops: list[dict[str, Any]] = [
            {"OP_ID": "OP_INSTANCE_SHUTDOWN", "instance_name": name},
            {"OP_ID": "OP_INSTANCE_REINSTALL", "instance_name": name, "os_type": os_type, "osparams": osparams},
        ]
        if start:
            ops.append({"OP_ID": "OP_INSTANCE_STARTUP", "instance_name": name, "force": False})
        return await submit(request, ops)

    router.add_post("/2/instances/{name}/reinstall", reinstall)
