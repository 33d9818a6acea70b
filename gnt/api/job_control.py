"""Job queue controls the CLI needs beyond Ganeti's RAPI (gnt additions, like `/2/queue`).

`PUT /2/jobs/ID/priority` (body `{"priority": N}`) is Ganeti's LUXI ChangeJobPriority and answers
`[changed, message]`. `DELETE /2/jobs/ID/kill` is LUXI's CancelJob with kill: served on the
master's unix socket only (root on the master node), never over HTTPS, since it stops an
operation where it stands. `GET /2/query/job` takes `status=a,b` and `archived=1` (the filters of
`gnt-job list`), read by `job_filter`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aiohttp import web

from gnt.api import params as p
from gnt.jobs.job import JobStatus

__all__ = ["add_routes", "job_filter"]

JobId = Callable[[web.Request], int]
Body = Callable[[web.Request], Any]


def _json(value: Any) -> web.Response:
    return web.Response(text=json.dumps(value), content_type="application/json")


def job_filter(request: web.Request) -> tuple[list[str] | None, bool]:
    """The `status` (comma-separated job statuses) and `archived` query parameters."""
    raw = request.query.get("status")
    statuses = None
    if raw is not None:
        statuses = [s for s in raw.split(",") if s]
        known = {str(s) for s in JobStatus}
        unknown = [s for s in statuses if s not in known]
        if unknown:
            raise p.bad_request(f"Unknown job status '{unknown[0][:40]}'; expected one of {', '.join(sorted(known))}")
    return statuses, bool(p.query_flag(request, "archived"))


def add_routes(router: web.UrlDispatcher, master: Any, job_id: JobId, body: Body, local: bool) -> None:
    """`local`: the app serves the master's unix socket (the kill route exists only there)."""

    async def priority(request: web.Request) -> web.Response:
        data = await body(request)
        value = p.check_kind(data.get("priority"), "int", "'priority'")
        target = job_id(request)
        if p.query_flag(request, "dry-run"):
            job = master.queue.get(target)  # 404 for an unknown job, as the real change
            return _json([not job.finalized, f"Priority of job {target} would be changed to {value} (dry run)"])
        ok, message = await master.queue.change_priority(target, value)
        return _json([ok, message])

    async def kill(request: web.Request) -> web.Response:
        ok, message = await master.queue.cancel(job_id(request), kill=True)
        return _json([ok, message])

    router.add_put("/2/jobs/{id}/priority", priority)
    if local:
        router.add_delete("/2/jobs/{id}/kill", kill)
