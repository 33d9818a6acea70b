"""A RAPI client with Ganeti's GanetiRapiClient's method names, arguments and return values.

Scripts written for Ganeti's client (`ganeti.rapi.client`) run against gnt (and Ganeti) by
changing the import: `GanetiRapiClient(host, port=5080, username=..., password=...)`, the same
methods (`GetInstances(bulk=True)`, `CreateInstance(...)`, `WaitForJobCompletion(job_id)`, ...),
the same answers, and `GanetiApiError` with the HTTP status as `code`. Instead of Ganeti's
`curl_config_fn`, TLS is set with `cafile=`, `verify_hostname=` and `verify=` (see `_transport`).
`wait_for_job` adds what most scripts write by hand: wait for a job and get its result or error.

Every method of Ganeti 3.0's client is here: cluster, tags, nodes and node storage, groups,
networks, instances (with disks, moves, export, rename, reinstall, multi-allocation), jobs,
queries and job filter rules; the less common ones live in `_instance_calls` and
`_node_network_calls`.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from gnt.rapi._instance_calls import InstanceCalls
from gnt.rapi._node_network_calls import NodeNetworkCalls
from gnt.rapi._query import Query
from gnt.rapi._query import flags as _flags
from gnt.rapi._query import tags as _tags
from gnt.rapi._transport import Transport

__all__ = [
    "GANETI_RAPI_PORT",
    "JOB_STATUS_FINALIZED",
    "CertificateError",
    "Error",
    "GanetiApiError",
    "GanetiRapiClient",
]

GANETI_RAPI_PORT = 5080
GANETI_RAPI_VERSION = 2
JOB_STATUS_SUCCESS = "success"
JOB_STATUS_FINALIZED = frozenset({"success", "error", "canceled"})
_REQ_DATA_VERSION = "__version__"
#: the reason trail source Ganeti's client adds to filter rules
_CLIENT_REASON = "gnt:client"


class Error(Exception):
    """Base class of this module's errors."""


class GanetiApiError(Error):
    """The RAPI refused a request (`code` is the HTTP status) or could not be reached (`code` None)."""

    def __init__(self, msg: str, code: int | None = None) -> None:
        super().__init__(msg)
        self.code = code


class CertificateError(GanetiApiError):
    """The server's TLS certificate did not verify."""


class GanetiRapiClient(InstanceCalls, NodeNetworkCalls):
    """Ganeti's RAPI client interface over urllib3; one instance keeps its connections alive."""

    def __init__(
        self,
        host: str,
        port: int = GANETI_RAPI_PORT,
        username: str | None = None,
        password: str | None = None,
        logger: Any = logging,
        *,
        cafile: str | None = None,
        verify: bool = True,
        verify_hostname: bool = True,
        timeout: float = 60.0,
    ) -> None:
        if username is not None and password is None:
            raise Error("Password not specified")
        if username is None and password:
            raise Error("Specified password without username")
        self._logger = logger
        self._transport = Transport(
            host,
            port,
            username,
            password,
            cafile=cafile,
            verify=verify,
            verify_hostname=verify_hostname,
            timeout=timeout,
        )

    # -- plumbing ------------------------------------------------------------------------------
    def _SendRequest(self, method: str, path: str, query: Query | None, content: Any) -> Any:  # noqa: N802
        """Send one request; the decoded answer, or GanetiApiError with the HTTP status."""
        import urllib3.exceptions

        self._logger.debug("Sending request %s %s", method, path)
        try:
            status, answer = self._transport.send(method, path, query, content)
        except urllib3.exceptions.SSLError as err:
            raise CertificateError(f"SSL certificate error {err}") from None
        except urllib3.exceptions.HTTPError as err:
            raise GanetiApiError(str(err)) from None
        if status != 200:
            if isinstance(answer, dict):
                msg = f"{answer.get('code')} {answer.get('message')}: {answer.get('explain')}"
            else:
                msg = str(answer)
            raise GanetiApiError(msg, code=status)
        return answer

    def _get(self, path: str, query: Query | None = None) -> Any:
        return self._SendRequest("GET", f"/{GANETI_RAPI_VERSION}{path}", query, None)

    def _names(self, path: str, bulk: bool, key: str, reason: str | None = None) -> Any:
        query: Query = [("bulk", 1)] if bulk else []
        query += _flags(reason=reason)
        items = self._get(path, query)
        return items if bulk else [item[key] for item in items]

    def close(self) -> None:
        self._transport.close()

    # -- cluster -------------------------------------------------------------------------------
    def GetVersion(self) -> int:  # noqa: N802
        return int(self._SendRequest("GET", "/version", None, None))

    def GetFeatures(self) -> list[str]:  # noqa: N802
        try:
            return list(self._get("/features"))
        except GanetiApiError as err:
            if err.code == 404:  # an old server: no features
                return []
            raise

    def GetInfo(self, reason: str | None = None) -> dict[str, Any]:  # noqa: N802
        return dict(self._get("/info", _flags(reason=reason)))

    def GetOperatingSystems(self, reason: str | None = None) -> list[str]:  # noqa: N802
        return list(self._get("/os", _flags(reason=reason)))

    def RedistributeConfig(self, reason: str | None = None) -> int:  # noqa: N802
        return int(self._SendRequest("PUT", "/2/redistribute-config", _flags(reason=reason), None))

    def GetClusterTags(self, reason: str | None = None) -> list[str]:  # noqa: N802
        return list(self._get("/tags", _flags(reason=reason)))

    def AddClusterTags(self, tags: list[str], dry_run: bool = False, reason: str | None = None) -> int:  # noqa: N802
        return int(self._SendRequest("PUT", "/2/tags", _tags(tags, dry_run, reason), None))

    def DeleteClusterTags(self, tags: list[str], dry_run: bool = False, reason: str | None = None) -> int:  # noqa: N802
        return int(self._SendRequest("DELETE", "/2/tags", _tags(tags, dry_run, reason), None))

    # -- tags of objects -------------------------------------------------------------------------
    def _object_tags(self, kind: str, name: str, reason: str | None) -> list[str]:
        return list(self._get(f"/{kind}/{name}/tags", _flags(reason=reason)))

    def _change_tags(self, method: str, kind: str, name: str, tags: list[str], dry_run: bool, reason: Any) -> int:
        return int(self._SendRequest(method, f"/2/{kind}/{name}/tags", _tags(tags, dry_run, reason), None))

    def GetInstanceTags(self, instance: str, reason: str | None = None) -> list[str]:  # noqa: N802
        return self._object_tags("instances", instance, reason)

    def AddInstanceTags(self, instance: str, tags: list[str], dry_run: bool = False, reason: Any = None) -> int:  # noqa: N802
        return self._change_tags("PUT", "instances", instance, tags, dry_run, reason)

    def DeleteInstanceTags(self, instance: str, tags: list[str], dry_run: bool = False, reason: Any = None) -> int:  # noqa: N802
        return self._change_tags("DELETE", "instances", instance, tags, dry_run, reason)

    def GetNodeTags(self, node: str, reason: str | None = None) -> list[str]:  # noqa: N802
        return self._object_tags("nodes", node, reason)

    def AddNodeTags(self, node: str, tags: list[str], dry_run: bool = False, reason: Any = None) -> int:  # noqa: N802
        return self._change_tags("PUT", "nodes", node, tags, dry_run, reason)

    def DeleteNodeTags(self, node: str, tags: list[str], dry_run: bool = False, reason: Any = None) -> int:  # noqa: N802
        return self._change_tags("DELETE", "nodes", node, tags, dry_run, reason)

    def GetGroupTags(self, group: str, reason: str | None = None) -> list[str]:  # noqa: N802
        return self._object_tags("groups", group, reason)

    def AddGroupTags(self, group: str, tags: list[str], dry_run: bool = False, reason: Any = None) -> int:  # noqa: N802
        return self._change_tags("PUT", "groups", group, tags, dry_run, reason)

    def DeleteGroupTags(self, group: str, tags: list[str], dry_run: bool = False, reason: Any = None) -> int:  # noqa: N802
        return self._change_tags("DELETE", "groups", group, tags, dry_run, reason)

    # -- nodes and groups ------------------------------------------------------------------------
    def GetNodes(self, bulk: bool = False, reason: str | None = None) -> list[Any]:  # noqa: N802
        return list(self._names("/nodes", bulk, "id", reason))

    def GetNode(self, node: str, reason: str | None = None) -> dict[str, Any]:  # noqa: N802
        return dict(self._get(f"/nodes/{node}", _flags(reason=reason)))

    def GetNodeRole(self, node: str, reason: str | None = None) -> str:  # noqa: N802
        return str(self._get(f"/nodes/{node}/role", _flags(reason=reason)))

    def GetGroups(self, bulk: bool = False, reason: str | None = None) -> list[Any]:  # noqa: N802
        return list(self._names("/groups", bulk, "name", reason))

    def GetGroup(self, group: str, reason: str | None = None) -> dict[str, Any]:  # noqa: N802
        return dict(self._get(f"/groups/{group}", _flags(reason=reason)))

    def CreateGroup(  # noqa: N802
        self, name: str, alloc_policy: str | None = None, dry_run: bool = False, reason: str | None = None
    ) -> int:
        body = {"name": name, "alloc_policy": alloc_policy}
        return int(self._SendRequest("POST", "/2/groups", _flags(dry_run, reason=reason), body))

    def ModifyGroup(self, group: str, reason: str | None = None, **kwargs: Any) -> int:  # noqa: N802
        return int(self._SendRequest("PUT", f"/2/groups/{group}/modify", _flags(reason=reason), kwargs))

    def RenameGroup(self, group: str, new_name: str, reason: str | None = None) -> int:  # noqa: N802
        body = {"new_name": new_name}
        return int(self._SendRequest("PUT", f"/2/groups/{group}/rename", _flags(reason=reason), body))

    def DeleteGroup(self, group: str, dry_run: bool = False, reason: str | None = None) -> int:  # noqa: N802
        return int(self._SendRequest("DELETE", f"/2/groups/{group}", _flags(dry_run, reason=reason), None))

    def AssignGroupNodes(  # noqa: N802
        self, group: str, nodes: list[str], force: bool = False, dry_run: bool = False, reason: str | None = None
    ) -> int:
        query = _flags(dry_run, force, reason)
        return int(self._SendRequest("PUT", f"/2/groups/{group}/assign-nodes", query, {"nodes": nodes}))

    # -- instances -------------------------------------------------------------------------------
    def GetInstances(self, bulk: bool = False, reason: str | None = None) -> list[Any]:  # noqa: N802
        return list(self._names("/instances", bulk, "id", reason))

    def GetInstance(self, instance: str, reason: str | None = None) -> dict[str, Any]:  # noqa: N802
        return dict(self._get(f"/instances/{instance}", _flags(reason=reason)))

    def CreateInstance(  # noqa: N802
        self,
        mode: str,
        name: str,
        disk_template: str,
        disks: list[dict[str, Any]],
        nics: list[dict[str, Any]],
        reason: str | None = None,
        **kwargs: Any,
    ) -> int:
        """Ganeti's request version 1 body; every keyword becomes a body field (`dry_run` a query flag)."""
        dry_run = bool(kwargs.pop("dry_run", False))
        body: dict[str, Any] = {
            _REQ_DATA_VERSION: 1,
            "mode": mode,
            "name": name,
            "disk_template": disk_template,
            "disks": disks,
            "nics": nics,
        }
        clash = sorted(set(kwargs) & set(body))
        if clash:
            raise GanetiApiError(f"Required fields can not be specified as keywords: {', '.join(clash)}")
        body.update(kwargs)
        return int(self._SendRequest("POST", "/2/instances", _flags(dry_run, reason=reason), body))

    def DeleteInstance(self, instance: str, dry_run: bool = False, reason: str | None = None, **kwargs: Any) -> int:  # noqa: N802
        body = kwargs or None
        return int(self._SendRequest("DELETE", f"/2/instances/{instance}", _flags(dry_run, reason=reason), body))

    def ModifyInstance(self, instance: str, reason: str | None = None, **kwargs: Any) -> int:  # noqa: N802
        return int(self._SendRequest("PUT", f"/2/instances/{instance}/modify", _flags(reason=reason), kwargs))

    def StartupInstance(  # noqa: N802
        self, instance: str, dry_run: bool = False, no_remember: bool = False, reason: str | None = None
    ) -> int:
        query = _flags(dry_run, reason=reason) + ([("no_remember", 1)] if no_remember else [])
        return int(self._SendRequest("PUT", f"/2/instances/{instance}/startup", query, None))

    def ShutdownInstance(  # noqa: N802
        self, instance: str, dry_run: bool = False, no_remember: bool = False, reason: str | None = None, **kwargs: Any
    ) -> int:
        query = _flags(dry_run, reason=reason) + ([("no_remember", 1)] if no_remember else [])
        return int(self._SendRequest("PUT", f"/2/instances/{instance}/shutdown", query, kwargs))

    def RebootInstance(  # noqa: N802
        self,
        instance: str,
        reboot_type: str | None = None,
        ignore_secondaries: bool | None = None,
        dry_run: bool = False,
        reason: str | None = None,
        **kwargs: Any,
    ) -> int:
        query = _flags(dry_run, reason=reason)
        if reboot_type:
            query.append(("type", reboot_type))
        if ignore_secondaries is not None:
            query.append(("ignore_secondaries", ignore_secondaries))
        return int(self._SendRequest("POST", f"/2/instances/{instance}/reboot", query, kwargs or None))

    # -- jobs ------------------------------------------------------------------------------------
    def GetJobs(self, bulk: bool = False) -> list[Any]:  # noqa: N802
        if bulk:
            return list(self._get("/jobs", [("bulk", 1)]))
        return [int(job["id"]) for job in self._get("/jobs")]

    def GetJobStatus(self, job_id: int) -> dict[str, Any]:  # noqa: N802
        return dict(self._get(f"/jobs/{job_id}"))

    def WaitForJobChange(  # noqa: N802
        self, job_id: int, fields: list[str], prev_job_info: Any, prev_log_serial: Any
    ) -> Any:
        body = {"fields": fields, "previous_job_info": prev_job_info, "previous_log_serial": prev_log_serial}
        return self._SendRequest("GET", f"/2/jobs/{job_id}/wait", None, body)

    def WaitForJobCompletion(self, job_id: int, period: float = 5, retries: int = -1) -> bool:  # noqa: N802
        """Poll until the job ends; True when it succeeded (Ganeti's semantics, retries -1: no limit)."""
        while retries != 0:
            status = self.GetJobStatus(job_id)
            if status and status["status"] == JOB_STATUS_SUCCESS:
                return True
            if not status or status["status"] in JOB_STATUS_FINALIZED:
                return False
            if period:
                time.sleep(period)
            if retries > 0:
                retries -= 1
        return False

    def CancelJob(self, job_id: int, dry_run: bool = False) -> Any:  # noqa: N802
        return self._SendRequest("DELETE", f"/2/jobs/{job_id}", _flags(dry_run), None)

    def wait_for_job(self, job_id: int, timeout: float | None = None) -> list[Any]:
        """Wait for the job through the server's long poll; its opcode results, or GanetiApiError.

        Unlike `WaitForJobCompletion` this does not poll on a timer: each call returns as soon as
        the job changes. A job that failed or was cancelled raises with its error message.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            status = self.GetJobStatus(job_id)
            if status["status"] in JOB_STATUS_FINALIZED:
                if status["status"] == JOB_STATUS_SUCCESS:
                    return list(status["opresult"])
                errors = [r for r in status["opresult"] if isinstance(r, list) and len(r) == 2]
                detail = errors[0][1][0] if errors and errors[0][1] else status["status"]
                raise GanetiApiError(f"Job {job_id} {status['status']}: {detail}")
            if deadline is not None and time.monotonic() >= deadline:
                raise GanetiApiError(f"Job {job_id} still {status['status']} after {timeout} seconds")
            serial = max((entry[0] for op in status.get("oplog") or [] for entry in op), default=0)
            self.WaitForJobChange(job_id, ["status"], [status["status"]], serial)

    # -- queries -----------------------------------------------------------------------------
    def Query(self, what: str, fields: list[str], qfilter: Any = None, reason: str | None = None) -> dict[str, Any]:  # noqa: N802
        body: dict[str, Any] = {"fields": fields}
        if qfilter is not None:
            body["qfilter"] = body["filter"] = qfilter
        return dict(self._SendRequest("PUT", f"/2/query/{what}", _flags(reason=reason) or None, body))

    def QueryFields(self, what: str, fields: list[str] | None = None, reason: str | None = None) -> dict[str, Any]:  # noqa: N802
        query = [("fields", ",".join(fields))] if fields is not None else []
        return dict(self._get(f"/query/{what}/fields", query + _flags(reason=reason) or None))

    # -- job filter rules ----------------------------------------------------------------------
    def GetFilters(self, bulk: bool = False) -> list[Any]:  # noqa: N802
        return list(self._names("/filters", bulk, "uuid"))

    def GetFilter(self, filter_uuid: str) -> dict[str, Any]:  # noqa: N802
        return dict(self._get(f"/filters/{filter_uuid}"))

    def _filter_body(self, priority: int, predicates: Any, action: Any, reason_trail: Any) -> dict[str, Any]:
        trail = list(reason_trail or [])
        trail.append([_CLIENT_REASON, "", time.time_ns()])
        return {"priority": priority, "predicates": predicates, "action": action, "reason": trail}

    def AddFilter(self, priority: int, predicates: Any, action: Any, reason_trail: Any = None) -> str:  # noqa: N802
        body = self._filter_body(priority, predicates, action, reason_trail)
        return str(self._SendRequest("POST", "/2/filters", None, body))

    def ReplaceFilter(  # noqa: N802
        self, uuid: str, priority: int, predicates: Any, action: Any, reason_trail: Any = None
    ) -> str:
        body = self._filter_body(priority, predicates, action, reason_trail)
        return str(self._SendRequest("PUT", f"/2/filters/{uuid}", None, body))

    def DeleteFilter(self, uuid: str) -> None:  # noqa: N802
        self._SendRequest("DELETE", f"/2/filters/{uuid}", None, {})
