"""RAPI: instance info, multi-allocation and change-group (Ganeti's paths, bodies and query
parameters become the right opcodes; bad bodies are 400 before any job). The queue is not
started: a submitted job stays queued, so the test reads exactly what was submitted."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.api.conftest import READER, RapiServer


def _ops(server: RapiServer, job_id: int) -> list[dict[str, Any]]:
    return server.master.queue.get(job_id).ops


def test_info_is_a_query_data_job_with_static(rapi_server: RapiServer) -> None:
    status, job_id = rapi_server.call("GET", "/2/instances/web1/info?static=1")
    assert status == 200
    (op,) = _ops(rapi_server, job_id)
    assert (op["OP_ID"], op["instances"], op["static"]) == ("OP_INSTANCE_QUERY_DATA", ["web1"], True)
    status, job_id = rapi_server.call("GET", "/2/instances/web1/info")
    assert _ops(rapi_server, job_id)[0]["static"] is False


def test_info_with_a_bad_static_flag_is_400(rapi_server: RapiServer) -> None:
    before = rapi_server.state()
    status, answer = rapi_server.call("GET", "/2/instances/web1/info?static=maybe")
    assert status == 400 and "static" in answer["explain"]
    assert rapi_server.state() == before


def _alloc(name: str, **kw: Any) -> dict[str, Any]:
    """An entry as Ganeti's client builds it (InstanceAllocation): `name`, `os`, `mode`."""
    return {"mode": "create", "name": name, "disk_template": "diskless", "disks": [], "nics": [], "os": "noop", **kw}


def test_multi_alloc_renames_ganetis_aliases_and_is_one_job(rapi_server: RapiServer) -> None:
    body = {"instances": [_alloc("m1"), _alloc("m2")], "iallocator": "hail", "__version__": 1}
    status, job_id = rapi_server.call("POST", "/2/instances-multi-alloc?dry-run=1", body)
    assert status == 200
    (op,) = _ops(rapi_server, job_id)
    assert (op["OP_ID"], op["iallocator"], op["dry_run"]) == ("OP_INSTANCE_MULTI_ALLOC", "hail", True)
    assert [(i["instance_name"], i["os_type"]) for i in op["instances"]] == [("m1", "noop"), ("m2", "noop")]
    assert all("name" not in i and "os" not in i for i in op["instances"])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "Request is missing required 'instances' field in body"),
        ({"instances": {}}, "'instances' must be"),
        ({"instances": [5]}, "Instance 0 must be an object"),
        ({"instances": [_alloc("m1", instance_name="m1")]}, "Instance 0: parameter 'name' and 'instance_name'"),
        ({"instances": [_alloc("m1"), _alloc("m1")]}, "There are duplicate instance names: m1"),
        ({"instances": [_alloc("m1", bogus=1)]}, "Instance 0: Parameter 'bogus' is not valid for OP_INSTANCE_CREATE"),
        ({"instances": [_alloc("m1", pnode="node1"), _alloc("m2")]}, "providing pnode/snode while others do not"),
        ({"instances": [_alloc("m1")], "bogus": 1}, "Parameter 'bogus' is not valid for OP_INSTANCE_MULTI_ALLOC"),
        ({"instances": []}, "No instances given to allocate"),
    ],
)
def test_bad_multi_alloc_bodies_are_400_before_any_job(rapi_server: RapiServer, body: Any, message: str) -> None:
    before = rapi_server.state()
    status, answer = rapi_server.call("POST", "/2/instances-multi-alloc", body)
    assert status == 400 and message in answer["explain"], answer
    assert rapi_server.state() == before


def test_a_reader_may_not_multi_allocate(rapi_server: RapiServer) -> None:
    assert rapi_server.call("POST", "/2/instances-multi-alloc", {"instances": [_alloc("m1")]}, user=READER)[0] == 403


def test_change_group_body_becomes_the_opcode(rapi_server: RapiServer) -> None:
    body = {"target_groups": ["rack2"], "iallocator": "hail", "early_release": True}
    status, job_id = rapi_server.call("PUT", "/2/instances/web1/change-group", body)
    assert status == 200
    (op,) = _ops(rapi_server, job_id)
    assert (op["OP_ID"], op["instance_name"], op["target_groups"], op["early_release"]) == (
        "OP_INSTANCE_CHANGE_GROUP",
        "web1",
        ["rack2"],
        True,
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"target_groups": "rack2"}, "OP_INSTANCE_CHANGE_GROUP.target_groups' fails validation"),
        ({"bogus": 1}, "Parameter 'bogus' is not valid for OP_INSTANCE_CHANGE_GROUP"),
        ({"early_release": "yes"}, "OP_INSTANCE_CHANGE_GROUP.early_release' fails validation"),
    ],
)
def test_bad_change_group_bodies_are_400_before_any_job(rapi_server: RapiServer, body: Any, message: str) -> None:
    before = rapi_server.state()
    status, answer = rapi_server.call("PUT", "/2/instances/web1/change-group", body)
    assert status == 400 and message in answer["explain"], answer
    assert rapi_server.state() == before
    assert rapi_server.call("PUT", "/2/instances/web1/change-group", {}, user=READER)[0] == 403
