"""The RAPI tag resources: `/2/tags` (the cluster) and `/2/<objects>/<name>/tags`, as Ganeti serves them.

GET answers the object's tags at once (from the master's config, as Ganeti's QueryTags); PUT and
DELETE take the tags as repeated `tag` query parameters (`?tag=a&tag=b`), honour `dry-run`, and
answer a job id (OP_TAGS_SET / OP_TAGS_DEL), so scripts written for Ganeti's RAPI work unchanged.
Adding a kind is adding its row to `RESOURCES` (and to `gnt.tags.logic.KINDS`).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from gnt.errors import OpPrereqError
from gnt.tags import syntax
from gnt.tags.logic import KINDS

__all__ = ["RESOURCES", "add_routes"]

#: path -> tag kind; `{name}` is the object's name
RESOURCES: dict[str, str] = {
    "/2/tags": syntax.KIND_CLUSTER,
    "/2/groups/{name}/tags": syntax.KIND_NODEGROUP,
    "/2/nodes/{name}/tags": syntax.KIND_NODE,
    "/2/instances/{name}/tags": syntax.KIND_INSTANCE,
    "/2/networks/{name}/tags": syntax.KIND_NETWORK,
}

Submit = Callable[[web.Request, list[dict[str, Any]]], Awaitable[web.Response]]


def add_routes(router: web.UrlDispatcher, master: Any, submit: Submit) -> None:
    """GET/PUT/DELETE on every tag resource; `submit` is the API's job submission (handles dry-run)."""
    for path, kind in RESOURCES.items():
        resource = _TagResource(master, submit, kind)
        router.add_get(path, resource.get)
        router.add_put(path, resource.put)
        router.add_delete(path, resource.delete)


class _TagResource:
    def __init__(self, master: Any, submit: Submit, kind: str) -> None:
        self.m = master
        self.submit = submit
        self.kind = kind

    def _name(self, request: web.Request) -> str | None:
        return None if self.kind == syntax.KIND_CLUSTER else request.match_info["name"]

    async def get(self, request: web.Request) -> web.Response:
        try:
            target = KINDS[self.kind].find(self.m.cfg, self._name(request))  # type: ignore[arg-type]
        except OpPrereqError as err:
            # an unknown object is a 404, as GET /2/instances/NAME; the error's class and code stay in
            # the body, so the CLI prints Ganeti's "prerequisites not met ... unknown_entity" lines
            err.http_status = 404
            raise
        return web.Response(text=json.dumps(sorted(target.tags)), content_type="application/json")

    def _op(self, request: web.Request, op_id: str) -> dict[str, Any]:
        return {"OP_ID": op_id, "kind": self.kind, "name": self._name(request), "tags": request.query.getall("tag", [])}

    async def put(self, request: web.Request) -> web.Response:
        return await self.submit(request, [self._op(request, "OP_TAGS_SET")])

    async def delete(self, request: web.Request) -> web.Response:
        return await self.submit(request, [self._op(request, "OP_TAGS_DEL")])
