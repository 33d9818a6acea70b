"""The watcher's pause, as Ganeti's luxi calls SetWatcherPause / QueryConfigValues(watcher_pause) give
it: `GET /2/watcher/pause` answers `{"paused_until": epoch | null}`; `PUT /2/watcher/pause` with
`{"duration": seconds}` pauses it from now (the master's clock), with `{"duration": null}` ends
the pause. Not a Ganeti RAPI resource: `gnt-cluster watcher` speaks it over the local socket.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from gnt import watcher_pause
from gnt.api import params as p

__all__ = ["PATH", "add_routes"]

PATH = watcher_pause.API_PATH
Body = Callable[[web.Request], Awaitable[dict[str, Any]]]


def _answer(until: float | None) -> web.Response:
    return web.Response(text=json.dumps({"paused_until": until}), content_type="application/json")


def add_routes(router: web.UrlDispatcher, body: Body) -> None:
    async def info(request: web.Request) -> web.Response:
        return _answer(watcher_pause.paused_until())

    async def pause(request: web.Request) -> web.Response:
        data = await body(request)
        unknown = sorted(set(data) - {"duration"})
        if unknown:
            raise p.bad_request(f"Unknown field(s) for the watcher pause: {', '.join(unknown)}")
        duration = p.body_field(data, "duration", "number")
        if duration is not None and not 0 < duration <= watcher_pause.MAX_PAUSE:
            raise p.bad_request(f"'duration' must be between 1 and {watcher_pause.MAX_PAUSE} seconds")
        if p.query_flag(request, "dry-run"):
            return _answer(None if duration is None else time.time() + duration)
        return _answer(watcher_pause.set_pause(None if duration is None else time.time() + duration))

    router.add_get(PATH, info)
    router.add_put(PATH, pause)
