"""RAPI: instance rename/reinstall (Ganeti's bodies become the right opcodes), job priority, kill
only on the unix socket, and the job query's status filter. The queue is not started: a submitted
job stays queued, so the test reads exactly what was submitted."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.api.conftest import READER, RapiServer


def _ops(server: RapiServer, job_id: int) -> list[dict[str, Any]]:
    return server.master.queue.get(job_id).ops


def test_rename_body_becomes_op_instance_rename(rapi_server: RapiServer) -> None:
    body = {"new_name": "web2", "name_check": False, "ip_check": False}
    status, job_id = rapi_server.call("PUT", "/2/instances/web1/rename", body)
    assert status == 200
    (op,) = _ops(rapi_server, job_id)
    assert op["OP_ID"] == "OP_INSTANCE_RENAME"
    assert (op["instance_name"], op["new_name"], op["name_check"], op["ip_check"]) == ("web1", "web2", False, False)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "Required parameter 'OP_INSTANCE_RENAME.new_name' missing"),
        ({"new_name": "bad name"}, "is not a valid host name"),
        ({"new_name": "b", "name_check": False, "ip_check": True}, "IP address check requires a name check"),
        ({"new_name": "b", "bogus": 1}, "Parameter 'bogus' is not valid for OP_INSTANCE_RENAME"),
    ],
)
def test_bad_rename_bodies_are_400_before_any_job(rapi_server: RapiServer, body: Any, message: str) -> None:
    before = rapi_server.state()
    status, answer = rapi_server.call("PUT", "/2/instances/web1/rename", body)
    assert status == 400 and message in answer["explain"]
    assert rapi_server.state() == before


def test_reinstall_body_is_shutdown_reinstall_startup(rapi_server: RapiServer) -> None:
    body = {"os": "noop", "osparams": {"a": "1"}}
    status, job_id = rapi_server.call("POST", "/2/instances/web1/reinstall", body)
    assert status == 200
    ops = _ops(rapi_server, job_id)
    assert [op["OP_ID"] for op in ops] == ["OP_INSTANCE_SHUTDOWN", "OP_INSTANCE_REINSTALL", "OP_INSTANCE_STARTUP"]
    assert ops[1]["os_type"] == "noop" and ops[1]["osparams"] == {"a": "1"}
    assert all(op["instance_name"] == "web1" for op in ops)


def test_reinstall_without_start_or_body_uses_the_query(rapi_server: RapiServer) -> None:
    status, job_id = rapi_server.call("POST", "/2/instances/web1/reinstall", {"start": False})
    assert [op["OP_ID"] for op in _ops(rapi_server, job_id)] == ["OP_INSTANCE_SHUTDOWN", "OP_INSTANCE_REINSTALL"]
    status, job_id = rapi_server.call("POST", "/2/instances/web1/reinstall?os=other&nostartup=1")
    ops = _ops(rapi_server, job_id)
    assert len(ops) == 2 and ops[1]["os_type"] == "other"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"start": "yes"}, "'start' must be a boolean"),
        ({"os": 5}, "'os' must be a string"),
        ({"osparams": {"bad name": "x"}}, "is not a valid OS parameter name"),
        ({"os": "noop", "extra": 1}, "Unknown reinstall parameter(s): extra"),
    ],
)
def test_bad_reinstall_bodies_are_400_before_any_job(rapi_server: RapiServer, body: Any, message: str) -> None:
    before = rapi_server.state()
    status, answer = rapi_server.call("POST", "/2/instances/web1/reinstall", body)
    assert status == 400 and message in answer["explain"]
    assert rapi_server.state() == before


def test_a_reader_may_not_rename_or_reinstall(rapi_server: RapiServer) -> None:
    assert rapi_server.call("PUT", "/2/instances/web1/rename", {"new_name": "x"}, user=READER)[0] == 403
    assert rapi_server.call("POST", "/2/instances/web1/reinstall", {}, user=READER)[0] == 403


def test_job_priority_changes_a_queued_job(rapi_server: RapiServer) -> None:
    status, job_id = rapi_server.call("PUT", "/2/instances/web1/rename", {"new_name": "web3", "name_check": False})
    status, answer = rapi_server.call("PUT", f"/2/jobs/{job_id}/priority", {"priority": 10})
    assert status == 200
    assert answer == [True, f"Priorities of pending opcodes for job {job_id} have been changed to 10"]
    assert rapi_server.master.queue.get(job_id).priority == 10


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("/2/jobs/999999/priority", {"priority": 0}, 404, "Job 999999 not found"),
        ("/2/jobs/1/priority", {"priority": "high"}, 400, "'priority' must be an integer"),
        ("/2/jobs/1/priority", {"priority": 99}, 400, "out of range"),
        ("/2/jobs/x/priority", {"priority": 0}, 404, "not found"),
    ],
)
def test_bad_priority_requests(rapi_server: RapiServer, path: str, body: Any, status: int, message: str) -> None:
    rapi_server.call("PUT", "/2/instances/web1/rename", {"new_name": "web4", "name_check": False})
    got, answer = rapi_server.call("PUT", path, body)
    assert got == status and message in answer["explain"]


def test_kill_is_not_served_over_https(rapi_server: RapiServer) -> None:
    status, job_id = rapi_server.call("PUT", "/2/instances/web1/rename", {"new_name": "web5", "name_check": False})
    assert rapi_server.call("DELETE", f"/2/jobs/{job_id}/kill")[0] in (404, 405)
    assert str(rapi_server.master.queue.get(job_id).status) == "queued"


def test_job_query_filters_by_status_and_refuses_unknown_ones(rapi_server: RapiServer) -> None:
    rapi_server.call("PUT", "/2/instances/web1/rename", {"new_name": "web6", "name_check": False})
    status, answer = rapi_server.call("GET", "/2/query/job?fields=id,status&status=queued")
    assert status == 200 and answer["data"] and all(row[1][1] == "queued" for row in answer["data"])
    status, answer = rapi_server.call("GET", "/2/query/job?fields=id&status=running")
    assert status == 200 and answer["data"] == []
    status, answer = rapi_server.call("GET", "/2/query/job?fields=id&status=bogus")
    assert status == 400 and "Unknown job status 'bogus'" in answer["explain"]
