"""RAPI routes derived from the opcode declarations of `gnt.surface`: body -> opcode -> submit.

Every declared route without a `custom` reason is served here by one generic handler: the JSON
body (when the route takes one) with Ganeti's aliases renamed to the opcode's fields, the declared
query flags and texts on top, then the opcode id and the path's variables (they win over the body).
`opcodes.from_dict` checks the result when the job is submitted, as for every other route, so a
malformed request is the same 400 (and the same message as the CLI's) before any job exists.
Hand-written routes stay with their areas and are declared in the same table.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from gnt import surface
from gnt.api import params as p

__all__ = ["add_routes", "handler", "rename_aliases"]

Submit = Callable[[web.Request, list[dict[str, Any]]], Awaitable[web.Response]]
Body = Callable[[web.Request], Awaitable[dict[str, Any]]]
Handler = Callable[[web.Request], Awaitable[web.Response]]


def rename_aliases(body: dict[str, Any], aliases: Any, where: str = "") -> dict[str, Any]:
    """The body with Ganeti's RAPI aliases under the opcode's names; both given is a 400 (its
    message starts with `where`, e.g. "Instance 2: " for one item of a multi-instance body)."""
    result = dict(body)
    for alias, name in aliases.items():
        if alias in result:
            if name in result:
                what = f"parameter '{alias}'" if where else f"Parameter '{alias}'"
                raise p.bad_request(f"{where}{what} and '{name}' are the same; give only one")
            result[name] = result.pop(alias)
    return result


def _query_fields(request: web.Request, route: surface.Route) -> dict[str, Any]:
    """The opcode fields the query string gives: flags as 0/1 (malformed is a 400), texts as strings."""
    fields: dict[str, Any] = {}
    for flag in route.flags:
        value = p.query_flag(request, flag.replace("_", "-"))
        if value is not None:
            fields[flag] = value
    for param, name in route.texts.items():
        if param in request.query:
            fields[name] = request.query[param]
    return fields


def handler(op_id: str, route: surface.Route, submit: Submit, body: Body) -> Handler:
    """The generic handler of a derived route; it carries `opcode` and `route` for the OpenAPI document."""

    async def handle(request: web.Request) -> web.Response:
        data = rename_aliases(await body(request), route.aliases) if route.body else {}
        names = {name: request.match_info[var] for var, name in route.names.items()}
        op = {**data, **_query_fields(request, route), "OP_ID": op_id, **names}
        return await submit(request, [op])

    handle.opcode = op_id  # type: ignore[attr-defined]
    handle.route = route  # type: ignore[attr-defined]
    return handle


def add_routes(router: web.UrlDispatcher, submit: Submit, body: Body) -> None:
    """Register every derived route of the table."""
    for op_id, route in surface.routes():
        if route.derived:
            router.add_route(route.method, route.path, handler(op_id, route, submit, body))
