"""RAPI resources of job filter rules, with Ganeti's paths and bodies.

`GET /2/filters` (`bulk=1` for whole rules), `POST /2/filters` (add; answers the new uuid),
`GET /2/filters/UUID`, `PUT /2/filters/UUID` (replace, or create under that uuid; answers the
uuid) and `DELETE /2/filters/UUID` (answers null). `dry-run=1` checks a write and changes
nothing. Writes need a user with write access (the server's auth middleware). A malformed body,
action, predicate or uuid is a 400; an unknown uuid a 404.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aiohttp import web

from gnt.api import params as p
from gnt.errors import ECODE_NOENT, ApiError, OpPrereqError
from gnt.filters import manage
from gnt.filters import query as fq
from gnt.query import as_dicts, evaluate, select

__all__ = ["add_routes"]


def _json(value: Any) -> web.Response:
    return web.Response(text=json.dumps(value), content_type="application/json")


def _not_found_is_404(err: OpPrereqError) -> Exception:
    """An unknown rule answers 404, as an unknown instance or node does (Ganeti's status)."""
    return ApiError(err.message, 404) if err.code == ECODE_NOENT else err


def add_routes(router: web.UrlDispatcher, master: Any, raw_body: Callable[[web.Request], Any]) -> None:
    """`raw_body(request)`: the request's JSON body as sent (None when empty)."""

    def rows(uuids: list[str] | None) -> list[dict[str, Any]]:
        selected = select(fq.FIELDS, fq.BULK_FIELDS)
        rules = fq.pick(master.cfg.filters, uuids)
        return as_dicts(selected, evaluate(selected, rules, None))

    async def list_rules(request: web.Request) -> web.Response:
        if p.query_flag(request, "bulk"):
            return _json(rows(None))
        return _json([{"uuid": r.uuid, "uri": f"/2/filters/{r.uuid}"} for r in fq.pick(master.cfg.filters, None)])

    async def add(request: web.Request) -> web.Response:
        body = raw_body(request)
        dry_run = bool(p.query_flag(request, "dry-run"))
        return _json(await manage.replace_rule(master, None, {} if body is None else body, dry_run))

    async def get(request: web.Request) -> web.Response:
        try:
            return _json(rows([request.match_info["uuid"]])[0])
        except OpPrereqError as err:
            raise _not_found_is_404(err) from None

    async def replace(request: web.Request) -> web.Response:
        body = raw_body(request)
        uuid, dry_run = request.match_info["uuid"], bool(p.query_flag(request, "dry-run"))
        return _json(await manage.replace_rule(master, uuid, {} if body is None else body, dry_run))

    async def delete(request: web.Request) -> web.Response:
        try:
            await manage.delete_rule(master, request.match_info["uuid"], bool(p.query_flag(request, "dry-run")))
        except OpPrereqError as err:
            raise _not_found_is_404(err) from None
        return _json(None)

    router.add_get("/2/filters", list_rules)
    router.add_post("/2/filters", add)
    router.add_get("/2/filters/{uuid}", get)
    router.add_put("/2/filters/{uuid}", replace)
    router.add_delete("/2/filters/{uuid}", delete)
