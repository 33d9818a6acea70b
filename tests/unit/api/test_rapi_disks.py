"""The disk operations' RAPI resources: Ganeti's paths and parameters become the same opcodes the
CLI sends; malformed input is a 400 with Ganeti's error body and no job."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.api.conftest import RapiServer
from tests.unit.api.test_rapi_input import _refused


def _submitted(server: RapiServer, method: str, path: str, body: Any = None) -> dict[str, Any]:
    status, job_id = server.call(method, path, body=body)
    assert status == 200, job_id
    (op,) = server.master.queue.jobs[job_id].ops
    return {
        k: v for k, v in op.items() if k in ("OP_ID", "instance_name", *(body or {}), "disk", "ignore_size", "force")
    }


def test_activate_disks_with_ignore_size(rapi_server: RapiServer) -> None:
    op = _submitted(rapi_server, "PUT", "/2/instances/inst1/activate-disks?ignore_size=1")
    assert op == {"OP_ID": "OP_INSTANCE_ACTIVATE_DISKS", "instance_name": "inst1", "ignore_size": True}


def test_deactivate_disks_with_force(rapi_server: RapiServer) -> None:
    op = _submitted(rapi_server, "PUT", "/2/instances/inst1/deactivate-disks?force=1")
    assert op == {"OP_ID": "OP_INSTANCE_DEACTIVATE_DISKS", "instance_name": "inst1", "force": True}


@pytest.mark.parametrize("word", ["disk", "disks"])
def test_grow_disk_takes_the_index_from_the_path(rapi_server: RapiServer, word: str) -> None:
    body = {"amount": 1024, "wait_for_sync": False, "absolute": False}
    op = _submitted(rapi_server, "POST", f"/2/instances/inst1/{word}/1/grow", body)
    assert op == {"OP_ID": "OP_INSTANCE_GROW_DISK", "instance_name": "inst1", "disk": 1, **body}


def test_recreate_disks_with_disks_and_nodes(rapi_server: RapiServer) -> None:
    body = {"disks": [[0, {"size": 512}]], "nodes": ["node2"]}
    op = _submitted(rapi_server, "POST", "/2/instances/inst1/recreate-disks", body)
    assert op == {"OP_ID": "OP_INSTANCE_RECREATE_DISKS", "instance_name": "inst1", **body}


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/2/instances/inst1/disk/x/grow", {"amount": 1}, "Invalid disk index: 'x'"),
        ("/2/instances/inst1/disk/-1/grow", {"amount": 1}, "Invalid disk index: '-1'"),
        ("/2/instances/inst1/disk/0/grow", {"amount": -1}, "-1 is out of range"),
        ("/2/instances/inst1/disk/0/grow", {"amount": "1G"}, "expected int"),
        ("/2/instances/inst1/disk/0/grow", {}, "amount' missing"),
        ("/2/instances/inst1/recreate-disks", {"nodes": ["bad name"]}, "nodes"),
        ("/2/instances/inst1/recreate-disks", {"disk": [0]}, "Parameter 'disk' is not valid"),
    ],
)
def test_malformed_disk_requests_are_400_and_no_job(
    rapi_server: RapiServer, path: str, body: dict[str, Any], message: str
) -> None:
    assert message in _refused(rapi_server, "POST", path, body=body)


def test_activate_disks_flag_must_be_0_or_1(rapi_server: RapiServer) -> None:
    assert "expected 0 or 1" in _refused(rapi_server, "PUT", "/2/instances/inst1/activate-disks?ignore_size=maybe")


@pytest.mark.parametrize(
    ("method", "path", "body", "message"),
    [
        ("PUT", "/2/instances/inst1/modify", {"disks": [["add", -1, {}]]}, "Missing size for the new disk"),
        ("PUT", "/2/instances/inst1/modify", {"disks": [["grow", 0, {}]]}, "'grow' is not supported"),
        ("PUT", "/2/instances/inst1/modify", {"disks": [["add", -1, {"size": 8, "name": "a b"}]]}, "disk name"),
        ("PUT", "/2/instances/inst1/modify", {"disks": ["add"]}, "Invalid disk modification"),
        ("POST", "/2/instances/inst1/recreate-disks", {"disks": [[0, {"size": "lots"}]]}, "not a valid size"),
        ("POST", "/2/instances/inst1/recreate-disks", {"disks": [0, 0]}, "more than once: 0"),
        ("POST", "/2/instances/inst1/recreate-disks", {"disks": [{"index": 0}]}, "Invalid disk specification"),
    ],
)
def test_malformed_disk_lists_are_refused_before_a_job_exists(
    rapi_server: RapiServer, method: str, path: str, body: dict[str, Any], message: str
) -> None:
    assert message in _refused(rapi_server, method, path, body=body)


def test_replace_disks_takes_the_query_string_as_ganeti_does(rapi_server: RapiServer) -> None:
    status, job_id = rapi_server.call(
        "POST", "/2/instances/inst1/replace-disks?mode=replace_on_secondary&disks=0,1&early_release=1"
    )
    assert status == 200, job_id
    (op,) = rapi_server.master.queue.jobs[job_id].ops
    assert (op["OP_ID"], op["mode"], op["disks"], op["early_release"]) == (
        "OP_INSTANCE_REPLACE_DISKS", "replace_on_secondary", [0, 1], True
    )  # fmt: skip


def test_replace_disks_takes_a_body(rapi_server: RapiServer) -> None:
    body = {"mode": "replace_new_secondary", "remote_node": "node2"}
    op = _submitted(rapi_server, "POST", "/2/instances/inst1/replace-disks", body)
    assert op == {"OP_ID": "OP_INSTANCE_REPLACE_DISKS", "instance_name": "inst1", **body}


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/2/instances/inst1/replace-disks?mode=sideways", None, "Replace disks mode must be one of"),
        ("/2/instances/inst1/replace-disks?mode=replace_on_primary&disks=x", None, "Invalid disk index passed"),
        ("/2/instances/inst1/replace-disks", {"mode": "replace_new_secondary"}, "new node given"),
        ("/2/instances/inst1/replace-disks", {}, "mode' missing"),
    ],
)
def test_malformed_replace_disks_requests_are_400_and_no_job(
    rapi_server: RapiServer, path: str, body: dict[str, Any] | None, message: str
) -> None:
    assert message in _refused(rapi_server, "POST", path, body=body)


def test_modify_with_a_disk_template_conversion(rapi_server: RapiServer) -> None:
    body = {"disk_template": "drbd", "remote_node": "node2"}
    op = _submitted(rapi_server, "PUT", "/2/instances/inst1/modify", body)
    assert {k: v for k, v in op.items() if k != "force"} == {
        "OP_ID": "OP_INSTANCE_SET_PARAMS", "instance_name": "inst1", **body
    }  # fmt: skip
