"""RAPI tag resources: Ganeti's paths, `?tag=` parameters, dry-run, job ids, and its errors as 4xx."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.unit.api.conftest import READER, RapiServer


def _run_queue(server: RapiServer) -> None:
    """This module's jobs must run: start the queue the shared fixture leaves stopped."""

    async def start() -> None:
        if not server.master.queue._started:  # noqa: SLF001 - the fixture's queue is loaded, not started
            server.master.queue.start()

    server.run(start())


def _finish(server: RapiServer, job_id: int) -> dict[str, Any]:
    async def wait() -> Any:
        job = await server.master.queue.wait_for_change(job_id, None, 0, 0)
        while job is not None and job.status not in ("success", "error", "canceled"):
            job = await server.master.queue.wait_for_change(job_id, str(job.status), 0, 5)
        return server.master.queue.get(job_id)

    job = server.run(wait())
    return {"status": str(job.status), "result": job.opresult}


@pytest.fixture
def tagged(rapi_server: RapiServer) -> RapiServer:
    _run_queue(rapi_server)
    return rapi_server


@pytest.mark.parametrize(
    ("path", "read"),
    [
        ("/2/tags", lambda m: m.cfg.cluster.tags),
        ("/2/nodes/node2/tags", lambda m: m.cfg.node("node2").tags),
        ("/2/groups/default/tags", lambda m: m.cfg.group("default").tags),
    ],
)
def test_put_get_delete_round_trip_through_jobs(tagged: RapiServer, path: str, read: Any) -> None:
    status, job_id = tagged.call("PUT", f"{path}?tag=rack:a1&tag=env.prod")
    assert status == 200 and isinstance(job_id, int)
    assert _finish(tagged, job_id)["status"] == "success"
    assert tagged.call("GET", path) == (200, ["env.prod", "rack:a1"])
    assert tagged.call("GET", path, user=READER) == (200, ["env.prod", "rack:a1"])
    status, job_id = tagged.call("DELETE", f"{path}?tag=rack:a1")
    assert status == 200 and _finish(tagged, job_id)["status"] == "success"
    assert read(tagged.master) == ["env.prod"]
    status, job_id = tagged.call("DELETE", f"{path}?tag=env.prod")
    assert _finish(tagged, job_id)["status"] == "success" and read(tagged.master) == []


def test_dry_run_submits_a_job_that_changes_nothing(tagged: RapiServer) -> None:
    status, job_id = tagged.call("PUT", "/2/nodes/node1/tags?tag=dry&dry-run=1")
    assert status == 200
    assert tagged.master.queue.get(job_id).ops[0]["dry_run"] is True
    assert _finish(tagged, job_id)["status"] == "success"
    assert tagged.master.cfg.node("node1").tags == []


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("tag=a%20b", "Tag contains invalid characters"),
        ("tag=" + "x" * 129, r"Tag too long \(>128 characters\)"),
        ("tag=", "Tags cannot be empty"),
    ],
)
def test_invalid_tags_are_400_before_any_job(tagged: RapiServer, query: str, message: str) -> None:
    before = tagged.state()
    for method in ("PUT", "DELETE"):
        status, body = tagged.call(method, f"/2/tags?{query}")
        assert status == 400 and body["code"] == 400 and body["message"] == "Bad Request"
        assert re.search(message, body["explain"]), body
    assert tagged.state() == before


def test_unknown_objects(tagged: RapiServer) -> None:
    status, body = tagged.call("GET", "/2/instances/ghost/tags")
    assert status == 404 and body["explain"] == "Instance 'ghost' not known"
    assert body["error_class"] == "OpPrereqError" and body["error_args"][1] == "unknown_entity"
    assert tagged.call("GET", "/2/nodes/node9/tags")[0] == 404
    status, job_id = tagged.call("PUT", "/2/nodes/node9/tags?tag=a")  # as Ganeti: a job id, the job fails
    assert status == 200
    job = _finish(tagged, job_id)
    assert job["status"] == "error" and job["result"][0][1][0] == "Node 'node9' not known"


def test_removing_a_tag_that_is_not_there_fails_the_job_with_ganetis_message(tagged: RapiServer) -> None:
    status, job_id = tagged.call("DELETE", "/2/tags?tag=never-set")
    assert status == 200
    job = _finish(tagged, job_id)
    assert job["status"] == "error"
    assert job["result"][0] == ["OpPrereqError", ["Tag(s) 'never-set' not found", "unknown_entity"]]


def test_a_reader_may_not_change_tags(tagged: RapiServer) -> None:
    before = tagged.state()
    assert tagged.call("PUT", "/2/tags?tag=a", user=READER)[0] == 403
    assert tagged.call("DELETE", "/2/tags?tag=a", user=READER)[0] == 403
    assert tagged.state() == before


def test_concurrent_tag_jobs_on_one_object_lose_nothing(tagged: RapiServer) -> None:
    """Cluster tag jobs hold only the shared BGL and run side by side: each must keep the others' tags."""
    jobs = [tagged.call("PUT", f"/2/tags?tag=burst{i}&tag=common")[1] for i in range(12)]
    assert all(_finish(tagged, job)["status"] == "success" for job in jobs)
    status, tags = tagged.call("GET", "/2/tags")
    assert status == 200 and {f"burst{i}" for i in range(12)} | {"common"} <= set(tags)
    removal = tagged.call("DELETE", "/2/tags?" + "&".join(f"tag=burst{i}" for i in range(12)) + "&tag=common")[1]
    assert _finish(tagged, removal)["status"] == "success"
    assert not {t for t in tagged.call("GET", "/2/tags")[1] if t.startswith("burst") or t == "common"}
