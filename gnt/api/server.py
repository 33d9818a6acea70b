"""RAPI v2 resources served by the master, on a unix socket (CLI) and HTTPS (scripts).

Paths, query parameters (`bulk`, `fields`, `dry-run`) and bodies follow Ganeti's RAPI; every
change returns a job id. A few gnt additions serve the CLI (`POST /2/jobs` submits opcodes as
they are, `/2/queue/...` drains the queue). Errors answer with Ganeti's body
`{"code", "message", "explain"}` and the error's HTTP status.

The routes whose handler is a plain body -> opcode -> submit are derived from the opcode table
(`gnt.surface`, served by `gnt.api.declared_routes`); the rest are written here and in the areas'
modules, each declared in the same table (doc/design/021-opcode-declarations.md).

Requests are read through `gnt.api.params` (bounded bodies and JSON, typed parameters) and every
opcode through `opcodes.from_dict`, so malformed input is a 4xx before any job exists; `dry-run`
is honoured by every write (see doc/rapi.md for the limits).
"""

from __future__ import annotations

import json
import platform
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from gnt import CONFIG_VERSION, EXPORT_VERSION, OS_API_VERSION, PROTOCOL_VERSION, __version__, constants, qlang, surface
from gnt import hvparams as hvdefaults
from gnt import query as q
from gnt.api import declared_routes, job_control, node_routes, openapi, watcher_routes
from gnt.api import params as p
from gnt.api.auth import UsersFile, authenticate, read_users_file
from gnt.backup import rapi as backup_routes
from gnt.debug import locks as lq
from gnt.errors import ECODE_INVAL, ECODE_NOENT, ApiError, GntError, JobLost, OpPrereqError, RpcError
from gnt.filters import query as fq
from gnt.filters import rapi as filter_routes
from gnt.group import query as gq
from gnt.instance import multi_rapi as instance_multi_routes
from gnt.instance import query as iq
from gnt.instance import rapi as instance_admin_routes
from gnt.jobs import query as jq
from gnt.network import query as netq
from gnt.network import rapi as network_routes
from gnt.node import query as nq
from gnt.tags import rapi as tag_routes

__all__ = ["Api", "UsersFile", "error_response", "openapi_text", "read_users_file"]

Handler = Callable[[web.Request], Awaitable[Any]]
STATUS_TEXT = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    413: "Request Entity Too Large",
    500: "Internal Server Error",
    502: "Bad Gateway",
}
#: body limit on the HTTPS RAPI (scripts); the CLI's unix socket (root only) allows batch submissions
MAX_BODY_HTTPS = 1024 * 1024
MAX_BODY_UNIX = 64 * 1024 * 1024
#: job ids are SQLite integers: more digits than int64 holds name no job
_JOB_ID_RE = re.compile(r"^[0-9]{1,18}\Z")
#: the request's JSON body, read (bounded, within a timeout) by the middleware before any handler;
#: typed key where aiohttp has one; Debian 12's aiohttp 3.8 (the test bed's hosts) has only string keys
BODY: Any = web.RequestKey("body", object) if hasattr(web, "RequestKey") else "gnt.body"
#: GET resources that need an authenticated user even when reads are anonymous, as in Ganeti: the
#: console (it hands out a way in), job waits, node storage and instance info (each queues a job: an
#: anonymous reader must not be able to fill the queue) need `write`; queries any user
_GET_NEEDS_WRITE = frozenset(
    {"/2/instances/{name}/console", "/2/jobs/{id}/wait", node_routes.STORAGE_PATH, "/2/instances/{name}/info"}
)
_GET_NEEDS_USER = frozenset({"/2/query/{resource}"})
#: the declaration of POST /2/instances (hand-written for its `__version__`; the aliases are the table's)
_CREATE_ROUTE = next(r for op, r in surface.routes() if op == "OP_INSTANCE_CREATE" and r.path == "/2/instances")
#: the opcode's reason trail entry a `reason=` query parameter becomes (Ganeti's source name)
REASON_SOURCE = "gnt:library:rlib2"
#: Ganeti's names of node roles (GET/PUT /2/nodes/N/role), by gnt's one-letter role
ROLE_NAMES = {
    constants.ROLE_MASTER: "master",
    constants.ROLE_CANDIDATE: "master-candidate",
    constants.ROLE_REGULAR: "regular",
    constants.ROLE_DRAINED: "drained",
    constants.ROLE_OFFLINE: "offline",
}
_ROLES: dict[str, dict[str, bool]] = {
    "master-candidate": {"master_candidate": True},
    "regular": {"master_candidate": False, "drained": False, "offline": False},
    "drained": {"drained": True},
    "offline": {"offline": True},
}


def openapi_text(app: web.Application) -> str:
    """The OpenAPI document of `app` as served and shipped (doc/rapi-openapi.json)."""
    return openapi.render(openapi.build_document(app, _GET_NEEDS_USER, _GET_NEEDS_WRITE))


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
    def runner(
        self, users: UsersFile | None = None, header_timeout: float = p.HEADER_TIMEOUT, require_auth: bool = False
    ) -> web.AppRunner:
        """The app with its connection limits: headers must arrive within `header_timeout` seconds.

        aiohttp's keep-alive timer starts when a connection opens and again after each answer, and
        is not reset by partial data, so it bounds how long a client may take to send its headers.
        """
        return web.AppRunner(
            self.app(users, require_auth),
            access_log=None,
            keepalive_timeout=header_timeout,
            max_line_size=8190,
            max_field_size=8190,
            max_headers=64,
            lingering_time=1.0,  # after a refused body (408/413), drain the rest for at most 1 s
        )

    def app(self, users: UsersFile | None = None, require_auth: bool = False) -> web.Application:
        """`users` enables basic auth from Ganeti's users file; None is the trusted unix socket.

        As in Ganeti, reads are anonymous unless `require_auth` (ganeti-rapi's
        `--require-authentication`); writes always need a user with `write`.
        """
        max_body = MAX_BODY_UNIX if users is None else MAX_BODY_HTTPS
        middleware = self._errors_middleware(users, max_body, require_auth)
        app = web.Application(middlewares=[middleware], client_max_size=max_body)
        r = app.router
        r.add_get("/", self.root)
        r.add_get("/2", self.root)
        r.add_get("/version", self.version)
        r.add_get("/2/info", self.info)
        r.add_get("/2/features", self.features)
        r.add_get(openapi.OPENAPI_PATH, self.openapi_document)
        r.add_get("/2/os", self.os_list)
        r.add_get("/2/groups", self.groups)
        r.add_get("/2/groups/{name}", self.group)
        r.add_get("/2/nodes", self.nodes)
        r.add_get("/2/nodes/{name}", self.node)
        r.add_get("/2/nodes/{name}/role", self.node_role_get)
        r.add_put("/2/nodes/{name}/role", self.node_role)
        r.add_get("/2/instances", self.instances)
        r.add_post("/2/instances", self.instance_create)
        r.add_get("/2/instances/{name}", self.instance)
        r.add_get("/2/instances/{name}/console", self.instance_console)
        r.add_post("/2/instances/{name}/disk/{disk}/grow", self.instance_grow_disk)
        r.add_post("/2/instances/{name}/disks/{disk}/grow", self.instance_grow_disk)
        r.add_post("/2/instances/{name}/replace-disks", self.instance_replace_disks)
        r.add_get("/2/jobs", self.jobs)
        r.add_post("/2/jobs", self.jobs_submit)
        r.add_get("/2/jobs/{id}", self.job)
        r.add_delete("/2/jobs/{id}", self.job_cancel)
        r.add_get("/2/jobs/{id}/wait", self.job_wait)
        r.add_post("/2/jobs/{id}/wait", self.job_wait)
        r.add_post("/2/jobs/archive", self.jobs_archive)
        r.add_get("/2/query/{resource}/fields", self.query_fields)
        r.add_get("/2/query/{resource}", self.query)
        r.add_put("/2/query/{resource}", self.query_put)
        r.add_get("/2/queue", self.queue_info)
        r.add_put("/2/queue/drain", self.queue_drain)
        declared_routes.add_routes(r, self._submit, self._body)  # body -> opcode -> submit, from gnt.surface
        tag_routes.add_routes(r, self.m, self._submit)
        instance_admin_routes.add_routes(r, self._submit, self._body)
        instance_multi_routes.add_routes(r, self._submit, self._body)
        network_routes.add_routes(r, self.m)
        backup_routes.add_routes(r, self._submit, self._body)
        node_routes.add_routes(r, self._submit, self._body)
        watcher_routes.add_routes(r, self._body)
        job_control.add_routes(r, self.m, _job_id, self._body, local=users is None)
        filter_routes.add_routes(r, self.m, lambda request: request.get(BODY))
        if users is None:  # the master's unix socket: gnt-debug wconfd/metad, gnt-cluster upgrade
            from gnt.cluster import upgrade as upgrade_routes
            from gnt.debug import wconfd as wconfd_routes

            wconfd_routes.add_routes(r, self.m, self._body)
            upgrade_routes.add_routes(r, self.m, self._body)
        return app

    def _errors_middleware(self, users: UsersFile | None, max_body: int, require_auth: bool) -> Any:
        @web.middleware
        async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
            if users is not None and request.match_info.http_exception is None:
                # an unknown path or method answers 404/405 before any login is asked, as Ganeti's
                denied = _check_auth(request, users, require_auth)
                if denied is not None:
                    return denied
            try:
                request[BODY] = await p.read_json(request)
                return await handler(request)
            except web.HTTPNotFound:
                return error_response(404, "Nothing matches the given URI")
            except web.HTTPMethodNotAllowed:
                return error_response(405, f"Method {request.method} is unsupported for this resource")
            except web.HTTPRequestEntityTooLarge:
                response = error_response(413, f"Request body larger than {max_body} bytes")
                response.force_close()
                return response
            except GntError as err:
                status = err.http_status if 400 <= err.http_status < 600 else 500
                extra = {"error_class": type(err).__name__, "error_args": list(err.args)}
                if isinstance(err, RpcError):
                    status = 502  # a node, not the master, failed
                response = error_response(status, err.message, extra)
                if status == 408:
                    response.force_close()  # the rest of the body may still arrive: drop the connection
                return response

        return middleware

    @staticmethod
    async def root(request: web.Request) -> web.Response:
        """`/` and `/2`: Ganeti keeps them for old clients and answers null."""
        return _json(None)

    @staticmethod
    async def version(request: web.Request) -> web.Response:
        return _json(2)

    async def openapi_document(self, request: web.Request) -> web.Response:
        """This API's OpenAPI document, generated from the routes it answers and the opcodes."""
        cache = self.__dict__.setdefault("_openapi", {})
        if id(request.app) not in cache:  # generated once per app: the routes never change
            cache[id(request.app)] = openapi_text(request.app)
        return web.Response(text=cache[id(request.app)], content_type="application/json")

    @staticmethod
    async def features(request: web.Request) -> web.Response:
        return _json(["instance-create-reqv1", "instance-reinstall-reqv1", "node-migrate-reqv1", "node-evac-res1"])

    @staticmethod
    async def _body(request: web.Request) -> dict[str, Any]:
        """The body as a JSON object ({} when empty), already read and bounded by the middleware."""
        body = request.get(BODY)
        if body is None:
            return {}
        return dict(p.check_kind(body, "dict", "Request body"))

    async def _submit(self, request: web.Request, ops: list[dict[str, Any]]) -> web.Response:
        """Submit one job; `?dry-run=1` makes every opcode check its prerequisites only."""
        if p.query_flag(request, "dry-run"):
            ops = [{**op, "dry_run": True} if isinstance(op, dict) else op for op in ops]
        reason = request.query.get("reason")
        if reason is not None:
            entry = [REASON_SOURCE, reason[:1024], time.time_ns()]
            ops = [{**op, "reason": [*op.get("reason", []), entry]} if isinstance(op, dict) else op for op in ops]
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
                "hv_state": c.hv_state_static,
                "disk_state": c.disk_state_static,
                "ipolicy": gq.fill_ipolicy(c.ipolicy),
                "candidate_pool_size": c.candidate_pool_size,
                "max_running_jobs": c.max_running_jobs,
                "mac_prefix": c.mac_prefix,
                "master_netdev": c.master_netdev,
                "master_netmask": c.master_netmask,
                "master_ip": c.master_ip,
                "use_external_mip_script": c.use_external_mip_script,
                "file_storage_dir": c.file_storage_dir,
                "shared_file_storage_dir": c.shared_file_storage_dir,
                "volume_group_name": c.volume_group_name,
                "reserved_lvs": c.reserved_lvs,
                "drbd_usermode_helper": c.drbd_usermode_helper,
                "diskparams": c.diskparams,
                "enabled_disk_templates": c.enabled_disk_templates,
                "default_iallocator": c.default_iallocator,
                "default_iallocator_params": c.default_iallocator_params,
                "primary_ip_version": c.primary_ip_version,
                "enabled_user_shutdown": c.enabled_user_shutdown,
                "prealloc_wipe_disks": c.prealloc_wipe_disks,
                "maintain_node_health": c.maintain_node_health,
                "uid_pool": [list(entry) for entry in c.uid_pool],
                "compression_tools": list(c.compression_tools),
                "ssh_key_type": c.ssh_key_type,
                "ssh_key_bits": c.ssh_key_bits,
                "ctime": c.ctime,
                "mtime": c.mtime,
                "serial_no": c.serial_no,
                "config_serial": cfg.serial,
                "tags": c.tags,
                "drain_flag": self.m.queue.drained,
                **_ganeti_only_info(c),
            }
        )

    async def os_list(self, request: web.Request) -> web.Response:
        bulk = p.query_flag(request, "bulk")
        entries = await self.m.os_diagnose()
        if bulk:
            return _json(entries)
        from gnt.os.query import listed_names

        return _json(listed_names(entries))  # Ganeti's: valid, not hidden or blacklisted, name+variant

    def _group_rows(self, request: web.Request, names: list[str] | None) -> list[dict[str, Any]]:
        selected = q.select(gq.FIELDS, _fields_param(request) or gq.BULK_FIELDS)
        groups = self._pick(self.m.cfg.groups.values(), names, "Node group")
        return q.as_dicts(selected, q.evaluate(selected, groups, gq.GroupQueryContext(self.m.cfg)))

    async def groups(self, request: web.Request) -> web.Response:
        """Ganeti lists groups as {name, uri} (nodes and instances as {id, uri})."""
        if p.query_flag(request, "bulk"):
            return _json(self._group_rows(request, None))
        groups = sorted(self.m.cfg.groups.values(), key=lambda g: g.name)
        return _json([{"name": g.name, "uri": f"/2/groups/{g.name}"} for g in groups])

    async def group(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if not any(g.name == name for g in self.m.cfg.groups.values()):
            raise ApiError(f"Node group '{name}' not known", 404)
        return _json(self._group_rows(request, [name])[0])

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
            raise OpPrereqError(f"{what} '{missing[0][:80]}' not known", ECODE_NOENT)
        return [by_name[n] for n in names]

    async def nodes(self, request: web.Request) -> web.Response:
        if p.query_flag(request, "bulk"):
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

    async def node_role_get(self, request: web.Request) -> web.Response:
        """The role as a bare JSON string ("master", "master-candidate", "regular", "drained", "offline")."""
        node = self.m.cfg.find_node(request.match_info["name"])
        if node is None:
            raise ApiError(f"Node '{request.match_info['name']}' not known", 404)
        cell = q.evaluate([nq.FIELDS["role"]], [node], nq.NodeQueryContext(self.m.cfg, {}))[0][0]
        return _json(ROLE_NAMES[cell[1]])

    async def node_role(self, request: web.Request) -> web.Response:
        """Ganeti's body is the role as a bare JSON string."""
        role = p.check_kind(request.get(BODY), "str", "The role")
        if role not in _ROLES:
            raise p.bad_request(f"Invalid role {role[:40]!r}; expected one of {', '.join(_ROLES)}")
        op = {
            "OP_ID": "OP_NODE_SET_PARAMS",
            "node_name": request.match_info["name"],
            **_ROLES[role],
            "force": bool(p.query_flag(request, "force")),
            "auto_promote": True,
        }
        return await self._submit(request, [op])

    # -- instances ---------------------------------------------------------------------------
    async def _instance_rows(self, request: web.Request, names: list[str] | None) -> list[dict[str, Any]]:
        fields = _fields_param(request) or iq.BULK_FIELDS
        selected = q.select(iq.FIELDS, fields)
        instances = self._pick(self.m.cfg.instances.values(), names, "Instance")
        live = await self.m.instance_live(instances) if any(f.live for f in selected) else {}
        return q.as_dicts(selected, q.evaluate(selected, instances, iq.InstanceQueryContext(self.m.cfg, live)))

    async def instances(self, request: web.Request) -> web.Response:
        if p.query_flag(request, "bulk"):
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
        """Ganeti's "instance-create-reqv1": `__version__` 1 (gnt's CLI sends none), `name` and `os`
        standing for `instance_name` and `os_type`, as Ganeti's server renames them."""
        body = await self._body(request)
        version = body.pop("__version__", None)
        if version is not None:
            if version == 0:
                raise p.bad_request("Instance creation request version 0 is no longer supported")
            if version != 1 or isinstance(version, bool):
                raise p.bad_request(f"Unsupported request data version {json.dumps(version)[:40]}")
        body = declared_routes.rename_aliases(body, _CREATE_ROUTE.aliases)
        return await self._submit(request, [{**body, "OP_ID": "OP_INSTANCE_CREATE"}])

    async def instance_grow_disk(self, request: web.Request) -> web.Response:
        """POST /2/instances/[instance]/disk/[disk_index]/grow: body {amount, wait_for_sync, absolute}."""
        text = request.match_info["disk"]
        if not text.isascii() or not text.isdigit() or len(text) > 3:
            raise OpPrereqError(f"Invalid disk index: '{text[:40]}'", ECODE_INVAL)
        body = await self._body(request)
        op = {**body, "OP_ID": "OP_INSTANCE_GROW_DISK", "instance_name": request.match_info["name"], "disk": int(text)}
        return await self._submit(request, [op])

    async def instance_replace_disks(self, request: web.Request) -> web.Response:
        """POST /2/instances/[instance]/replace-disks: Ganeti takes mode, remote_node, iallocator and
        disks (a comma-separated list of indices) in the query string or the body."""
        body = await self._body(request)
        params: dict[str, Any] = {
            k: request.query[k] for k in ("mode", "remote_node", "iallocator") if k in request.query
        }
        if "disks" in request.query:
            params["disks"] = request.query["disks"]
        params.update(_query_bool_params(request, ("early_release", "ignore_ipolicy")))
        op = {**body, **params, "OP_ID": "OP_INSTANCE_REPLACE_DISKS", "instance_name": request.match_info["name"]}
        if isinstance(op.get("disks"), str):
            text = op["disks"]
            items = [t.strip() for t in text.split(",")] if text else []
            if not all(t.isascii() and t.isdigit() and len(t) <= 3 for t in items):
                raise OpPrereqError(f"Invalid disk index passed: '{text[:40]}'", ECODE_INVAL)
            op["disks"] = [int(t) for t in items]
        return await self._submit(request, [op])

    async def instance_console(self, request: web.Request) -> web.Response:
        return _json(await self.m.instance_console(request.match_info["name"]))

    # -- jobs --------------------------------------------------------------------------------
    async def jobs(self, request: web.Request) -> web.Response:
        queue = self.m.queue
        jobs = sorted(queue.jobs.values(), key=lambda j: j.id)
        if p.query_flag(request, "bulk"):
            fields = _fields_param(request) or jq.BULK_FIELDS
            return _json(jq.rows(jobs, fields))
        return _json([{"id": j.id, "uri": f"/2/jobs/{j.id}"} for j in jobs])

    async def jobs_submit(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        if "jobs" in body:
            jobs = p.check_kind(body["jobs"], "list", "'jobs'")
            for index, ops in enumerate(jobs):
                p.check_kind(ops, "list", f"'jobs[{index}]'")
            if p.query_flag(request, "dry-run"):
                jobs = [[{**op, "dry_run": True} if isinstance(op, dict) else op for op in ops] for ops in jobs]
            results = await self.m.queue.submit_many(jobs)
            return _json([[ok, value] for ok, value in results])
        return await self._submit(request, p.body_field(body, "ops", "list", []))

    async def job(self, request: web.Request) -> web.Response:
        job = self.m.queue.get(_job_id(request))
        fields = _fields_param(request)
        return _json(jq.rows([job], fields)[0] if fields else jq.job_dict(job))

    async def job_cancel(self, request: web.Request) -> web.Response:
        job_id = _job_id(request)
        if p.query_flag(request, "dry-run"):
            job = self.m.queue.get(job_id)  # 404 for an unknown job, as the real cancel
            return _json([not job.finalized, f"Job {job_id} would be asked to cancel (dry run)"])
        ok, message = await self.m.queue.cancel(job_id)
        return _json([ok, message])

    async def job_wait(self, request: web.Request) -> web.Response:
        """Long poll: answers when the job's status or log moved past what the client saw."""
        body = await self._body(request)
        job_id = _job_id(request)
        prev = p.body_field(body, "previous_job_info", "list", [None])
        prev_status = prev[0] if prev else None
        if prev_status is not None:
            p.check_kind(prev_status, "str", "'previous_job_info[0]'")
        timeout = p.body_field(body, "timeout", "number", 30)
        if not 0 <= timeout <= 1e9:  # finite: the JSON parser refuses inf and nan
            raise p.bad_request(f"'timeout' must be between 0 and 1e9 seconds, not {timeout}")
        since = p.body_field(body, "previous_log_serial", "int", 0)
        fields = p.body_field(body, "fields", "list", ["status"])
        for field in fields:
            p.check_kind(field, "str", "each of 'fields'")
        job = await self.m.queue.wait_for_change(job_id, prev_status, since, min(float(timeout), 60.0))
        if job is None:
            return _json(None)
        return _json(
            {
                "job_info": [jq.job_dict(job).get(f) for f in fields],
                "log_entries": [e for e in job.all_log() if e[0] > since],
            }
        )

    async def jobs_archive(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        ids = p.body_field(body, "ids", "list")
        for job_id in ids or []:
            p.check_kind(job_id, "int", "each of 'ids'")
        age = p.body_field(body, "age", "number")
        if p.query_flag(request, "dry-run"):
            raise p.bad_request("dry-run is not supported for archiving jobs; list them with GET /2/jobs?bulk=1")
        return _json(await self.m.queue.archive(ids, age))

    async def queue_info(self, request: web.Request) -> web.Response:
        return _json({"drained": self.m.queue.drained, "jobs": len(self.m.queue.jobs)})

    async def queue_drain(self, request: web.Request) -> web.Response:
        """Body: true to drain the queue (refuse new jobs), false to undrain it."""
        drain = p.check_kind(request.get(BODY), "bool", "The drain flag")
        if p.query_flag(request, "dry-run"):
            return _json(drain)
        self.m.queue.set_drained(drain)
        await self.m.services.push_candidate_files(["queue_drain"])  # a new master must stay drained
        return _json(self.m.queue.drained)

    # -- query -------------------------------------------------------------------------------
    def _resource_fields(self, request: web.Request) -> dict[str, q.Field]:
        resource = request.match_info["resource"]
        tables = {"node": nq.FIELDS, "instance": iq.FIELDS, "job": jq.FIELDS, "group": gq.FIELDS, "lock": lq.FIELDS}
        table = {**tables, "network": netq.FIELDS, "filter": fq.FIELDS}.get(resource)
        if table is None:
            raise ApiError(f"Unknown query resource '{resource}'", 404)
        return table

    async def query_fields(self, request: web.Request) -> web.Response:
        table = self._resource_fields(request)
        names = _fields_param(request) or list(table)
        return _json({"fields": [table[n].describe() for n in names if n in table]})

    async def query(self, request: web.Request) -> web.Response:
        """GET: `fields` and `names` in the query string (gnt's CLI lists this way)."""
        table = self._resource_fields(request)
        selected = q.select(table, _fields_param(request) or ["name"])
        names = [n for n in request.query.get("names", "").split(",") if n] or None
        data = await self._query_data(request, selected, names, None)
        return _json({"fields": [f.describe() for f in selected], "data": data})

    async def query_put(self, request: web.Request) -> web.Response:
        """PUT: Ganeti's body `{"fields": [...], "qfilter": [...]}` (`filter` is the older name)."""
        table = self._resource_fields(request)
        body = await self._body(request)
        fields = p.body_field(body, "fields", "list", ["name"])
        for name in fields:
            p.check_kind(name, "str", "each of 'fields'")
        if "qfilter" in body and "filter" in body and body["qfilter"] != body["filter"]:
            # Ganeti's client sends the same filter under both names; two different ones are a mistake
            raise p.bad_request("'qfilter' and 'filter' differ; give the filter once (as 'qfilter')")
        qfilter = body.get("qfilter", body.get("filter"))
        if qfilter is not None:
            qlang.check(qfilter, table)
        selected = q.select(table, fields)
        data = await self._query_data(request, selected, None, qfilter)
        return _json({"fields": [f.describe() for f in selected], "data": data})

    async def _query_data(
        self, request: web.Request, selected: list[q.Field], names: list[str] | None, qfilter: Any
    ) -> list[list[list[Any]]]:
        """The rows of `selected` fields, of the named objects (all when None) that pass `qfilter`.

        The filter's own fields are evaluated too (they need not be shown), then cut off again.
        """
        resource = request.match_info["resource"]
        table = self._resource_fields(request)
        extra = [table[n] for n in (qlang.fields_of(qfilter) if qfilter else []) if table[n] not in selected]
        needed = [*selected, *extra]
        live_wanted = any(f.live for f in needed)
        if resource == "node":
            items = self._pick(self.m.cfg.nodes.values(), names, "Node")
            live = await self.m.node_live(items) if live_wanted else {}
            data = q.evaluate(needed, items, nq.NodeQueryContext(self.m.cfg, live))
        elif resource == "group":
            items = self._pick(self.m.cfg.groups.values(), names, "Node group")
            data = q.evaluate(needed, items, gq.GroupQueryContext(self.m.cfg))
        elif resource == "lock":
            data = q.evaluate(needed, lq.rows(self.m.locks, names), None)
        elif resource == "network":
            items = self._pick(self.m.cfg.networks.values(), names, "Network")
            data = q.evaluate(needed, items, netq.NetworkQueryContext(self.m.cfg))
        elif resource == "instance":
            items = self._pick(self.m.cfg.instances.values(), names, "Instance")
            live = await self.m.instance_live(items) if live_wanted else {}
            data = q.evaluate(needed, items, iq.InstanceQueryContext(self.m.cfg, live))
        elif resource == "filter":
            data = q.evaluate(needed, fq.pick(self.m.cfg.filters, names), None)
        else:
            statuses, archived = job_control.job_filter(request)
            jobs = self.m.queue.select(statuses, archived)
            if names:
                jobs = [self.m.queue.get(_parse_job_id(n)) for n in names]
                jobs = [j for j in jobs if statuses is None or str(j.status) in statuses]
            data = q.evaluate(needed, jobs, None)
        if qfilter:
            keep = qlang.compile_filter(qfilter)
            index = {f.name: i for i, f in enumerate(needed)}

            def lookup(row: list[list[Any]]) -> Any:
                def value(name: str) -> Any:
                    status, item = row[index[name]]
                    return item if status == q.RS_NORMAL else qlang.MISSING

                return value

            data = [row for row in data if keep(lookup(row))]
        return [row[: len(selected)] for row in data]


#: the OpenAPI document's body of `PUT /2/nodes/N/role`: the role as a bare JSON string, no opcode fields
Api.node_role.openapi_body = {"type": "string", "enum": sorted(_ROLES)}  # type: ignore[attr-defined]


def _ganeti_only_info(c: Any) -> dict[str, Any]:
    """`/2/info` keys Ganeti answers for features gnt has not (or not by that name), with the
    values Ganeti answers when they are unused, so clients that read every key find them."""
    return {
        "os_hvp": {},
        "osparams": {},
        "hidden_os": [],
        "blacklisted_os": [],
        "max_tracked_jobs": 25,
        "gluster_storage_dir": "",
        "install_image": "",
        "instance_communication_network": "",
        "zeroing_image": "",
        "enabled_data_collectors": {},
        "data_collector_interval": {},
        "modify_ssh_setup": False,
        "vg_name": c.volume_group_name or None,
        "drbd_helper": c.drbd_usermode_helper or None,
    }


def _fields_param(request: web.Request) -> list[str]:
    return [f for f in request.query.get("fields", "").split(",") if f]


def _query_bool_params(request: web.Request, names: tuple[str, ...]) -> dict[str, bool]:
    """Opcode flags given as query parameters (`force=1`, `no-remember=1`); malformed is 400."""
    result = {}
    for name in names:
        value = p.query_flag(request, name.replace("_", "-"))
        if value is not None:
            result[name] = value
    return result


def _parse_job_id(text: str) -> int:
    if not _JOB_ID_RE.match(text):
        raise JobLost(f"Job ID {text[:40]} not found")
    return int(text)


def _job_id(request: web.Request) -> int:
    return _parse_job_id(request.match_info["id"])


def _access(request: web.Request) -> str:
    """Who may make the request: "anyone", "user" (any valid login) or "write" (a user with write)."""
    route = request.match_info.route.resource
    canonical = route.canonical if route is not None else ""
    if request.method == "PUT" and canonical == "/2/query/{resource}":
        return "user"  # a query with a filter in its body: a read, as Ganeti counts it
    if request.method not in ("GET", "HEAD"):
        return "write"
    if canonical in _GET_NEEDS_WRITE:
        return "write"
    return "user" if canonical in _GET_NEEDS_USER else "anyone"


def _check_auth(request: web.Request, users: UsersFile, require_auth: bool) -> web.Response | None:
    """Ganeti's rules: credentials, when sent, must be valid; without them only anonymous reads pass."""
    header = request.headers.get("Authorization")
    access = _access(request)
    if header is None and access == "anyone" and not require_auth:
        return None
    user = authenticate(header or "", users.current())
    if user is None:
        return error_response(401, "No permission -- see authorization schemes")
    if access == "write" and not user.write:
        return error_response(403, "Permission denied: this user has read-only access")
    return None
