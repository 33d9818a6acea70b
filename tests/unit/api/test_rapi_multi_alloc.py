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
