"""Malformed RAPI requests are 4xx with Ganeti's error body and change nothing (issue 7)."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest

from gnt.api import params
from tests.unit.api.conftest import READER, RapiServer


def _refused(server: RapiServer, method: str, path: str, status: int = 400, **kwargs: Any) -> str:
    before = server.state()
    got, body = server.call(method, path, **kwargs)
    assert got == status, body
    assert body["code"] == status and isinstance(body["message"], str) and isinstance(body["explain"], str)
    assert server.state() == before
    return str(body["explain"])


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/2/modify"),
        ("POST", "/2/instances"),
        ("POST", "/2/jobs"),
        ("PUT", "/2/instances/inst1/modify"),
        ("POST", "/2/nodes/node1/migrate"),
    ],
)
def test_deeply_nested_json_is_400(rapi_server: RapiServer, method: str, path: str) -> None:
    raw = b'{"beparams": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert "nested deeper" in _refused(rapi_server, method, path, raw=raw)


@pytest.mark.parametrize("raw", [b'{"a": 1, "a": 2}', b'{"duration": NaN}', b'{"x": 1e999}', b"\xff\xfe", b"{"])
def test_json_that_is_not_sane_is_400(rapi_server: RapiServer, raw: bytes) -> None:
    assert "Request body" in _refused(rapi_server, "PUT", "/2/modify", raw=raw)


@pytest.mark.parametrize("body", [["drained"], {"role": "drained"}, 5, None])
def test_node_role_must_be_a_role_string(rapi_server: RapiServer, body: Any) -> None:
    _refused(rapi_server, "PUT", "/2/nodes/node1/role", body=body)


@pytest.mark.parametrize(
    "body",
    [
        {"timeout": "soon"},
        {"timeout": [1]},
        {"timeout": True},
        {"timeout": -1},
        {"fields": "status"},
        {"fields": [5]},
        {"previous_log_serial": "3"},
        {"previous_log_serial": 1.5},
        {"previous_job_info": "queued"},
        {"previous_job_info": [5]},
    ],
)
def test_job_wait_refuses_wrongly_typed_parameters(rapi_server: RapiServer, body: dict[str, Any]) -> None:
    _, job_id = rapi_server.call("POST", "/2/jobs", {"ops": [{"OP_ID": "OP_TEST_DELAY", "duration": 0}]})
    _refused(rapi_server, "POST", f"/2/jobs/{job_id}/wait", body=body)


def test_a_job_id_beyond_int64_is_404(rapi_server: RapiServer) -> None:
    assert "not found" in _refused(rapi_server, "GET", "/2/jobs/99999999999999999999999", status=404)
    assert "not found" in _refused(rapi_server, "GET", "/2/query/job?names=abc&fields=id", status=404)


@pytest.mark.parametrize(
    "body",
    [
        {"jobs": 5},
        {"jobs": [5]},
        {"jobs": "x"},
        {"ops": 5},
        {"ops": [5]},
        {"ops": [{"OP_ID": ["OP_TEST_DELAY"]}]},  # an unhashable opcode id was a 500
        {"ops": [{"OP_ID": {"x": 1}, "duration": 0}]},
    ],
)
def test_job_submission_refuses_wrong_shapes(rapi_server: RapiServer, body: dict[str, Any]) -> None:
    _refused(rapi_server, "POST", "/2/jobs", body=body)


@pytest.mark.parametrize("body", [5, "x", None, [True], {"drain": True}])
def test_queue_drain_takes_only_a_boolean(rapi_server: RapiServer, body: Any) -> None:
    _refused(rapi_server, "PUT", "/2/queue/drain", body=body)


def test_queue_drain_with_a_boolean_and_its_dry_run(rapi_server: RapiServer) -> None:
    assert rapi_server.call("PUT", "/2/queue/drain?dry-run=1", True) == (200, True)
    assert rapi_server.master.queue.drained is False
    assert rapi_server.call("PUT", "/2/queue/drain", True) == (200, True)
    assert rapi_server.call("PUT", "/2/queue/drain", False) == (200, False)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", "/2/modify?dry-run=1", {"candidate_pool_size": 5}),
        ("POST", "/2/instances?dry-run=1", {"instance_name": "i1", "disk_template": "diskless"}),
        ("DELETE", "/2/instances/i1?dry-run=1", None),
        ("PUT", "/2/instances/i1/shutdown?dry-run=1", {}),
        ("PUT", "/2/nodes/node2/role?dry-run=1", "drained"),
        ("POST", "/2/jobs?dry-run=1", {"ops": [{"OP_ID": "OP_TEST_DELAY", "duration": 0}]}),
    ],
)
def test_dry_run_reaches_every_opcode(rapi_server: RapiServer, method: str, path: str, body: Any) -> None:
    status, job_id = rapi_server.call(method, path, body)
    assert status == 200, job_id
    ops = rapi_server.master.queue.get(job_id).ops
    assert ops and all(op["dry_run"] is True for op in ops)


def test_bad_query_flags_are_400(rapi_server: RapiServer) -> None:
    _refused(rapi_server, "PUT", "/2/modify?dry-run=yesplease", body={})
    _refused(rapi_server, "GET", "/2/nodes?bulk=2")


@pytest.mark.parametrize(
    ("directory", "reason"),
    [("/etc", "must be relative"), ("../etc", "must not contain '..'"), ("", "non-empty relative path")],
)
def test_a_file_storage_dir_outside_the_cluster_directory_is_400(
    rapi_server: RapiServer, directory: str, reason: str
) -> None:
    body = {"instance_name": "i1", "disk_template": "file", "disks": [{"size": 1}], "file_storage_dir": directory}
    assert reason in _refused(rapi_server, "POST", "/2/instances", body=body)  # and no job


def test_out_of_range_values_are_400(rapi_server: RapiServer) -> None:
    body = {"instance_name": "i1", "disk_template": "diskless", "beparams": {"vcpus": 99999999999999999999}}
    assert "64-bit" in _refused(rapi_server, "POST", "/2/instances", body=body)
    body = {"instance_name": "i1", "disk_template": "diskless", "nics": [{"mac": "zz:zz"}]}
    assert "MAC" in _refused(rapi_server, "POST", "/2/instances", body=body)


def test_a_body_larger_than_the_limit_is_413(rapi_server: RapiServer) -> None:
    raw = b'{"comment": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    _refused(rapi_server, "PUT", "/2/modify", status=413, raw=raw)


def _raw_exchange(server: RapiServer, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(data)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        return received


def test_a_body_shorter_than_its_content_length_is_408(
    rapi_server: RapiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(params, "BODY_TIMEOUT", 0.3)
    head = b"PUT /2/modify HTTP/1.1\r\nHost: x\r\nAuthorization: Basic YWRtaW46czNjcmV0\r\nContent-Length: 100\r\n\r\n"
    answer = _raw_exchange(rapi_server, head + b'{"a":')
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b'"code": 408' in answer


def test_a_client_trickling_its_headers_is_disconnected(rapi_server: RapiServer) -> None:
    """One header byte at a time never completes a request: the server closes the connection."""
    with socket.create_connection(("127.0.0.1", rapi_server.port), timeout=30) as sock:
        sent = 0
        try:
            for byte in b"GET /2/info HTTP/1.1\r\nX-Slow: " + b"a" * 1000:
                sock.send(bytes([byte]))
                sent += 1
                time.sleep(0.05)
        except (BrokenPipeError, ConnectionResetError):
            pass
        assert sock.recv(100) == b""  # closed by the server (header timeout 1 s in this fixture)
    assert sent < 1000


def test_reader_cannot_write_and_wrong_credentials_cannot_read(rapi_server: RapiServer) -> None:
    """Anonymous reads pass (Ganeti's default, see test_rapi_ganeti_compat); wrong credentials never do."""
    assert _refused(rapi_server, "PUT", "/2/queue/drain", status=403, body=True, user=READER)
    assert rapi_server.call("GET", "/2/info", user=READER)[0] == 200
    assert rapi_server.call("GET", "/2/info", user=("admin", "wrong"))[0] == 401
    assert _refused(rapi_server, "PUT", "/2/queue/drain", status=401, body=True, user=None)


def test_the_depth_scan_is_linear_on_unterminated_escaped_strings(rapi_server: RapiServer) -> None:
    """'"' followed by '\\"' pairs: a scanner that retries from every quote would take hours here."""
    raw = b'"' + b'\\"' * 400_000
    assert "not valid JSON" in _refused(rapi_server, "PUT", "/2/modify", raw=raw)
