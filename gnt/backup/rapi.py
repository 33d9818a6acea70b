"""RAPI resources of exports, with Ganeti's paths and bodies.

`PUT /2/instances/NAME/prepare-export?mode=MODE` is OP_BACKUP_PREPARE; `PUT /2/instances/NAME/export`
takes OP_BACKUP_EXPORT's fields as its body, with Ganeti's `destination` for `target_node`
(its rlib2 renames it the same way). Remote mode is refused at submission with a 400 that says so
(gnt.backup.export.REMOTE_REFUSED), as is any unknown body field.
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
    """The two resources; `submit` is the API's job submission (it honours dry-run)."""

    async def prepare_export(request: web.Request) -> web.Response:
        mode = request.query.get("mode")
        if not mode:
            raise p.bad_request("Missing the 'mode' parameter (local)")
        op = {"OP_ID": "OP_BACKUP_PREPARE", "instance_name": request.match_info["name"], "mode": mode}
        return await submit(request, [op])

    async def export(request: web.Request) -> web.Response:
        data = dict(await body(request))
        if "destination" in data:
            if "target_node" in data:
                raise p.bad_request("Give either 'destination' or 'target_node', not both")
            data["target_node"] = data.pop("destination")
        op = {**data, "OP_ID": "OP_BACKUP_EXPORT", "instance_name": request.match_info["name"]}
        return await submit(request, [op])

    router.add_put("/2/instances/{name}/prepare-export", prepare_export)
    router.add_put("/2/instances/{name}/export", export)
