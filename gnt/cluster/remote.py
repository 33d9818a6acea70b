"""The master's routes for cluster-wide work: `PUT /2/redistribute-config` (Ganeti's RAPI, a job).

`gnt-cluster command` and `copyfile` are not here: they run from the CLI over SSH
(gnt.cluster.remote_run), so neither the master daemon nor a node daemon ever runs a command line
or writes a path that a caller chose.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

__all__ = ["add_routes"]


def add_routes(router: web.UrlDispatcher, master: Any, submit: Any, body: Any, local: bool) -> None:
    """`PUT /2/redistribute-config`, on the unix socket and over HTTPS alike."""

    async def redist(request: web.Request) -> web.Response:
        return await submit(request, [{"OP_ID": "OP_CLUSTER_REDIST_CONF"}])

    router.add_put("/2/redistribute-config", redist)
