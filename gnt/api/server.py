"""RAPI v2 resources served by the master, on a unix socket (CLI) and HTTPS (scripts).

Paths, query parameters (`bulk`, `fields`, `dry-run`) and bodies follow Ganeti's RAPI; every
change returns a job id. A few gnt additions serve the CLI (`POST /2/jobs` submits opcodes as
they are, `/2/queue/...` drains the queue). Errors answer with Ganeti's body
`{"code", "message", "explain"}` and the error's HTTP status.
"""

from __future__ import annotations

import base64
import hmac
import json
import os
import platform
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from gnt import CONFIG_VERSION, EXPORT_VERSION, OS_API_VERSION, PROTOCOL_VERSION, __version__, constants
from gnt import hvparams as hvdefaults
from gnt import query as q
from gnt.errors import ECODE_INVAL, ApiError, GntError, JobLost, OpPrereqError, RpcError
from gnt.instance import query as iq
from gnt.jobs import query as jq
from gnt.node import query as nq

Handler = Callable[[web.Request], Awaitable[Any]]
STATUS_TEXT = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    500: "Internal Server Error",
    502: "Bad Gateway",
}


def error_response(status: int, explain: str, extra: dict[str, Any] | None = None) -> web.Response:
    body = {"code": status, "message": STATUS_TEXT.get(status, "Error"), "explain": explain, **(extra or {})}
    headers = {"WWW-Authenticate": 'Basic realm="Ganeti Remote API"'} if status == 401 else None
    return web.json_response(body, status=status, headers=headers)


def _json(value: Any) -> web.Response:
    return web.Response(text=json.dumps(value), content_type="application/json")


class Api:
    """Routes bound to a running master (its config, queue and services)."""

    def __init__(self, master: Any) -> None:
        self.m = master

    # -- app ---------------------------------------------------------------------------------
    def app(self, users: UsersFile | None = None) -> web.Application:
        """`users` enables basic auth from Ganeti's users file; None is the trusted unix socket."""
        app = web.Application(middlewares=[self._errors_middleware(users)], client_max_size=16 * 1024 * 1024)
        r = app.router
        r.add_get("/version", lambda _: self._ok(2))
        r.add_get("/2/info", self.info)
        r.add_get(
            "/2/features",
            lambda _: self._ok(
                ["instance-create-reqv1", "instance-reinstall-reqv1", "node-migrate-reqv1", "node-evac-res1"]
            ),
        )
        r.add_get("/2/os", self.os_list)
        r.add_put("/2/modify", self.cluster_modify)
        r.add_get("/2/groups", self.groups)
        r.add_get("/2/nodes", self.nodes)
        r.add_get("/2/nodes/{name}", self.node)
        r.add_post("/2/nodes/{name}/migrate", self.node_migrate)
        r.add_post("/2/nodes/{name}/modify", self.node_modify)
        r.add_put("/2/nodes/{name}/role", self.node_role)
        r.add_get("/2/instances", self.instances)
        r.add_post("/2/instances", self.instance_create)
        r.add_get("/2/instances/{name}", self.instance)
        r.add_delete("/2/instances/{name}", self.instance_remove)
        r.add_put("/2/instances/{name}/startup", self.instance_op("OP_INSTANCE_STARTUP"))
        r.add_put("/2/instances/{name}/shutdown", self.instance_op("OP_INSTANCE_SHUTDOWN"))
        r.add_post("/2/instances/{name}/reboot", self.instance_op("OP_INSTANCE_REBOOT"))
        r.add_put("/2/instances/{name}/migrate", self.instance_op("OP_INSTANCE_MIGRATE"))
        r.add_put("/2/instances/{name}/failover", self.instance_op("OP_INSTANCE_FAILOVER"))
        r.add_put("/2/instances/{name}/modify", self.instance_op("OP_INSTANCE_SET_PARAMS"))
        r.add_get("/2/instances/{name}/console", self.instance_console)
        r.add_get("/2/jobs", self.jobs)
        r.add_post("/2/jobs", self.jobs_submit)
        r.add_get("/2/jobs/{id}", self.job)
        r.add_delete("/2/jobs/{id}", self.job_cancel)
        r.add_get("/2/jobs/{id}/wait", self.job_wait)
        r.add_post("/2/jobs/{id}/wait", self.job_wait)
        r.add_post("/2/jobs/archive", self.jobs_archive)
        r.add_get("/2/query/{resource}/fields", self.query_fields)
        r.add_get("/2/query/{resource}", self.query)
        r.add_get("/2/queue", self.queue_info)
        r.add_put("/2/queue/drain", self.queue_drain)
        return app

    def _errors_middleware(self, users: UsersFile | None) -> Any:
        @web.middleware
        async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
            if users is not None:
                denied = _check_auth(request, users.current())
                if denied is not None:
                    return denied
            try:
                return await handler(request)
            except web.HTTPNotFound:
                return error_response(404, "Nothing matches the given URI")
            except web.HTTPMethodNotAllowed:
                return error_response(405, f"Method {request.method} is unsupported for this resource")
            except GntError as err:
                status = err.http_status if 400 <= err.http_status < 600 else 500
                extra = {"error_class": type(err).__name__, "error_args": list(err.args)}
                if isinstance(err, RpcError):
                    status = 502  # a node, not the master, failed
                return error_response(status, err.message, extra)
            except (json.JSONDecodeError, UnicodeDecodeError):
                return error_response(400, "Request body is not valid JSON")

        return middleware

    @staticmethod
    async def _ok(value: Any) -> web.Response:
        return _json(value)

    @staticmethod
    async def _body(request: web.Request) -> dict[str, Any]:
        if not request.can_read_body:
            return {}
        body = await request.json()
        if not isinstance(body, dict):
            raise OpPrereqError("Request body must be a JSON object", ECODE_INVAL)
        return body

    async def _submit(self, ops: list[dict[str, Any]]) -> web.Response:
        return _json(await self.m.queue.submit(ops))

    # -- cluster -----------------------------------------------------------------------------
    async def info(self, request: web.Request) -> web.Response:
        cfg = self.m.cfg
        c = cfg.cluster
        return _json(
            {
                "software_version": __version__,
                "protocol_version": PROTOCOL_VERSION,
                "config_version": CONFIG_VERSION,
                "os_api_version": OS_API_VERSION,
                "export_version": EXPORT_VERSION,
                "vcs_version": f"(gnt) version {__version__}",
                "architecture": [platform.architecture()[0], platform.machine()],
                "name": c.cluster_name,
                "master": cfg.master().name,
                "uuid": c.uuid,
                "default_hypervisor": c.default_hypervisor,
                "enabled_hypervisors": c.enabled_hypervisors,
                "hvparams": {
                    hv: {**hvdefaults.DEFAULTS.get(hv, {}), **c.hvparams.get(hv, {})} for hv in c.enabled_hypervisors
                },
                "beparams": {"default": {**constants.BE_DEFAULTS, **c.beparams.get("default", {})}},
                "nicparams": {"default": {**constants.NIC_DEFAULTS, **c.nicparams.get("default", {})}},
                "ndparams": {**constants.ND_DEFAULTS, **c.ndparams},
                "ipolicy": c.ipolicy,
                "candidate_pool_size": c.candidate_pool_size,
                "max_running_jobs": c.max_running_jobs,
                "mac_prefix": c.mac_prefix,
                "master_netdev": c.master_netdev,
                "master_netmask": c.master_netmask,
                "file_storage_dir": c.file_storage_dir,
                "shared_file_storage_dir": c.shared_file_storage_dir,
                "enabled_disk_templates": c.enabled_disk_templates,
                "default_iallocator": c.default_iallocator,
                "ctime": c.ctime,
                "mtime": c.mtime,
                "serial_no": c.serial_no,
                "config_serial": cfg.serial,
                "tags": c.tags,
                "drain_flag": self.m.queue.drained,
            }
        )

    async def cluster_modify(self, request: web.Request) -> web.Response:
        return await self._submit([{**await self._body(request), "OP_ID": "OP_CLUSTER_SET_PARAMS"}])

    async def os_list(self, request: web.Request) -> web.Response:
        entries = await self.m.os_diagnose()
        if request.query.get("bulk") == "1":
            return _json(entries)
        return _json(sorted({e["name"] for e in entries if e["valid"]}))

    async def groups(self, request: web.Request) -> web.Response:
        groups = sorted(self.m.cfg.groups.values(), key=lambda g: g.name)
        if request.query.get("bulk") == "1":
            return _json(
                [
                    {
                        "name": g.name,
                        "uuid": g.uuid,
                        "alloc_policy": g.alloc_policy,
                        "tags": g.tags,
                        "ipolicy": g.ipolicy,
                        "node_cnt": sum(1 for n in self.m.cfg.nodes.values() if n.group == g.uuid),
                    }
                    for g in groups
                ]
            )
        return _json([{"id": g.name, "uri": f"/2/groups/{g.name}"} for g in groups])

    # -- nodes -------------------------------------------------------------------------------
    async def _node_rows(self, request: web.Request, names: list[str] | None) -> list[dict[str, Any]]:
        fields = _fields_param(request) or nq.BULK_FIELDS
        selected = q.select(nq.FIELDS, fields)
        nodes = self._pick(self.m.cfg.nodes.values(), names, "Node")
        live = await self.m.node_live(nodes) if any(f.live for f in selected) else {}
        return q.as_dicts(selected, q.evaluate(selected, nodes, nq.NodeQueryContext(self.m.cfg, live)))

    @staticmethod
    def _pick(objects: Any, names: list[str] | None, what: str) -> list[Any]:
        items = sorted(objects, key=lambda o: o.name)
        if names is None:
            return items
        by_name = {o.name: o for o in items}
        missing = [n for n in names if n not in by_name]
        if missing:
            raise OpPrereqError(f"{what} '{missing[0]}' not known", "unknown_entity")
        return [by_name[n] for n in names]

    async def nodes(self, request: web.Request) -> web.Response:
        if request.query.get("bulk") == "1":
            return _json(await self._node_rows(request, None))
        return _json(
            [
                {"id": n.name, "uri": f"/2/nodes/{n.name}"}
                for n in sorted(self.m.cfg.nodes.values(), key=lambda n: n.name)
            ]
        )

    async def node(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if self.m.cfg.find_node(name) is None:
            raise ApiError(f"Node '{name}' not known", 404)
        return _json((await self._node_rows(request, [name]))[0])

    async def node_migrate(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        return await self._submit([{**body, "OP_ID": "OP_NODE_MIGRATE", "node_name": request.match_info["name"]}])

    async def node_modify(self, request: web.Request) -> web.Response:
        body = {**await self._body(request), **_query_bool_params(request, ("force", "auto_promote", "dry_run"))}
        return await self._submit([{**body, "OP_ID": "OP_NODE_SET_PARAMS", "node_name": request.match_info["name"]}])

    async def node_role(self, request: web.Request) -> web.Response:
        role = await request.json()
        flags = {
            "master-candidate": {"master_candidate": True},
            "regular": {"master_candidate": False, "drained": False, "offline": False},
            "drained": {"drained": True},
            "offline": {"offline": True},
        }
        if role not in flags:
            raise OpPrereqError(f"Invalid role '{role}'", ECODE_INVAL)
        op = {
            "OP_ID": "OP_NODE_SET_PARAMS",
            "node_name": request.match_info["name"],
            **flags[role],
            "force": request.query.get("force") == "1",
            "auto_promote": True,
        }
        return await self._submit([op])

    # -- instances ---------------------------------------------------------------------------
    async def _instance_rows(self, request: web.Request, names: list[str] | None) -> list[dict[str, Any]]:
        fields = _fields_param(request) or iq.BULK_FIELDS
        selected = q.select(iq.FIELDS, fields)
        instances = self._pick(self.m.cfg.instances.values(), names, "Instance")
        live = await self.m.instance_live(instances) if any(f.live for f in selected) else {}
        return q.as_dicts(selected, q.evaluate(selected, instances, iq.InstanceQueryContext(self.m.cfg, live)))

    async def instances(self, request: web.Request) -> web.Response:
        if request.query.get("bulk") == "1":
            return _json(await self._instance_rows(request, None))
        return _json(
            [
                {"id": i.name, "uri": f"/2/instances/{i.name}"}
                for i in sorted(self.m.cfg.instances.values(), key=lambda i: i.name)
            ]
        )

    async def instance(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if self.m.cfg.find_instance(name) is None:
            raise ApiError(f"Instance '{name}' not known", 404)
        return _json((await self._instance_rows(request, [name]))[0])

    async def instance_create(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        body.pop("__version__", None)
        if "name" in body and "instance_name" not in body:
            body["instance_name"] = body.pop("name")
        body.update(_query_bool_params(request, ("dry_run",)))
        return await self._submit([{**body, "OP_ID": "OP_INSTANCE_CREATE"}])

    async def instance_remove(self, request: web.Request) -> web.Response:
        op = {
            "OP_ID": "OP_INSTANCE_REMOVE",
            "instance_name": request.match_info["name"],
            **_query_bool_params(request, ("dry_run", "ignore_failures")),
        }
        return await self._submit([op])

    def instance_op(self, op_id: str) -> Handler:
        async def handler(request: web.Request) -> web.Response:
            body = await self._body(request)
            params = _query_bool_params(request, ("dry_run", "force", "no_remember", "cleanup"))
            if "type" in request.query:
                params["reboot_type"] = request.query["type"]
            if "mode" in request.query:
                params["mode"] = request.query["mode"]
            return await self._submit([{**body, **params, "OP_ID": op_id, "instance_name": request.match_info["name"]}])

        return handler

    async def instance_console(self, request: web.Request) -> web.Response:
        return _json(await self.m.instance_console(request.match_info["name"]))

    # -- jobs --------------------------------------------------------------------------------
    async def jobs(self, request: web.Request) -> web.Response:
        queue = self.m.queue
        jobs = sorted(queue.jobs.values(), key=lambda j: j.id)
        if request.query.get("bulk") == "1":
            fields = _fields_param(request) or jq.BULK_FIELDS
            return _json(jq.rows(jobs, fields))
        return _json([{"id": j.id, "uri": f"/2/jobs/{j.id}"} for j in jobs])

    async def jobs_submit(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        if "jobs" in body:
            results = await self.m.queue.submit_many(body["jobs"])
            return _json([[ok, value] for ok, value in results])
        return await self._submit(body.get("ops", []))

    async def job(self, request: web.Request) -> web.Response:
        job = self.m.queue.get(_job_id(request))
        fields = _fields_param(request)
        return _json(jq.rows([job], fields)[0] if fields else jq.job_dict(job))

    async def job_cancel(self, request: web.Request) -> web.Response:
        ok, message = await self.m.queue.cancel(_job_id(request))
        return _json([ok, message])

    async def job_wait(self, request: web.Request) -> web.Response:
        """Long poll: answers when the job's status or log moved past what the client saw."""
        body = await self._body(request)
        job_id = _job_id(request)
        prev = body.get("previous_job_info") or [None]
        prev_status = prev[0] if isinstance(prev, list) and prev else None
        timeout = min(float(body.get("timeout", 30)), 60.0)
        job = await self.m.queue.wait_for_change(
            job_id, prev_status, int(body.get("previous_log_serial") or 0), timeout
        )
        if job is None:
            return _json(None)
        since = int(body.get("previous_log_serial") or 0)
        fields = body.get("fields") or ["status"]
        return _json(
            {
                "job_info": [jq.job_dict(job).get(f) for f in fields],
                "log_entries": [e for e in job.all_log() if e[0] > since],
            }
        )

    async def jobs_archive(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        count = await self.m.queue.archive(body.get("ids"), body.get("age"))
        return _json(count)

    async def queue_info(self, request: web.Request) -> web.Response:
        return _json({"drained": self.m.queue.drained, "jobs": len(self.m.queue.jobs)})

    async def queue_drain(self, request: web.Request) -> web.Response:
        self.m.queue.set_drained(bool(await request.json()))
        return _json(self.m.queue.drained)

    # -- query -------------------------------------------------------------------------------
    def _resource_fields(self, request: web.Request) -> dict[str, q.Field]:
        resource = request.match_info["resource"]
        table = {"node": nq.FIELDS, "instance": iq.FIELDS, "job": jq.FIELDS}.get(resource)
        if table is None:
            raise ApiError(f"Unknown query resource '{resource}'", 404)
        return table

    async def query_fields(self, request: web.Request) -> web.Response:
        table = self._resource_fields(request)
        names = _fields_param(request) or list(table)
        return _json({"fields": [table[n].describe() for n in names if n in table]})

    async def query(self, request: web.Request) -> web.Response:
        resource = request.match_info["resource"]
        table = self._resource_fields(request)
        selected = q.select(table, _fields_param(request) or ["name"])
        names = [n for n in request.query.get("names", "").split(",") if n] or None
        if resource == "node":
            items = self._pick(self.m.cfg.nodes.values(), names, "Node")
            live = await self.m.node_live(items) if any(f.live for f in selected) else {}
            data = q.evaluate(selected, items, nq.NodeQueryContext(self.m.cfg, live))
        elif resource == "instance":
            items = self._pick(self.m.cfg.instances.values(), names, "Instance")
            live = await self.m.instance_live(items) if any(f.live for f in selected) else {}
            data = q.evaluate(selected, items, iq.InstanceQueryContext(self.m.cfg, live))
        else:
            jobs = sorted(self.m.queue.jobs.values(), key=lambda j: j.id)
            if names:
                jobs = [self.m.queue.get(int(n)) for n in names]
            data = q.evaluate(selected, jobs, None)
        return _json({"fields": [f.describe() for f in selected], "data": data})


def _fields_param(request: web.Request) -> list[str]:
    return [f for f in request.query.get("fields", "").split(",") if f]


def _query_bool_params(request: web.Request, names: tuple[str, ...]) -> dict[str, bool]:
    result = {}
    for name in names:
        raw = request.query.get(name.replace("_", "-"), request.query.get(name))
        if raw is not None:
            result[name] = raw in ("1", "true", "True")
    return result


def _job_id(request: web.Request) -> int:
    try:
        return int(request.match_info["id"])
    except ValueError as err:
        raise JobLost(f"Job ID {request.match_info['id']} not found") from err


def _check_auth(request: web.Request, users: dict[str, tuple[str, bool]]) -> web.Response | None:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Basic "):
        return error_response(401, "No permission -- see authorization schemes")
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return error_response(401, "No permission -- see authorization schemes")
    entry = users.get(user)
    if entry is None or not hmac.compare_digest(entry[0], password):
        return error_response(401, "No permission -- see authorization schemes")
    if request.method != "GET" and not entry[1]:
        return error_response(403, "Permission denied: this user has read-only access")
    return None


class UsersFile:
    """The RAPI users file, re-read whenever it changes (no restart to add a user)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._stamp: float | None = None
        self._users: dict[str, tuple[str, bool]] = {}

    def current(self) -> dict[str, tuple[str, bool]]:
        try:
            stamp = os.stat(self.path).st_mtime
        except OSError:
            self._stamp, self._users = None, {}
            return self._users
        if stamp != self._stamp:
            self._stamp, self._users = stamp, read_users_file(self.path)
        return self._users


def read_users_file(path: str) -> dict[str, tuple[str, bool]]:
    """Ganeti's RAPI users file: `name password [write]` per line ('#' comments)."""
    users: dict[str, tuple[str, bool]] = {}
    if not os.path.exists(path):
        return users
    with open(path) as handle:
        for line in handle:
            parts = line.split("#", 1)[0].split()
            if len(parts) >= 2:
                users[parts[0]] = (parts[1], len(parts) > 2 and "write" in parts[2].split(","))
    return users
