"""RAPI v2 over HTTPS with the users file: Ganeti's paths, bodies, errors and auth."""

from __future__ import annotations

import base64
import json
import ssl
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.integration.vcluster import VCluster, wait_for


class Rapi:
    def __init__(self, vc: VCluster) -> None:
        self.base = f"https://{vc.address('node1')}:5080"
        self.ctx = ssl.create_default_context(cafile=str(vc.dir / "node1/var/lib/gnt/rapi.pem"))
        self.ctx.check_hostname = False

    def call(self, method: str, path: str, body: Any = None, user: str | None = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if user:
            request.add_header("Authorization", "Basic " + base64.b64encode(user.encode()).decode())
        try:
            with urllib.request.urlopen(request, context=self.ctx, timeout=30) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read())


@pytest.fixture
def rapi(cluster: VCluster) -> Rapi:
    users = cluster.dir / "node1/var/lib/gnt/rapi/users"
    users.parent.mkdir(parents=True, exist_ok=True)
    users.write_text("# name password options\nadmin s3cret write\nreader r3ad\n")
    users.chmod(0o600)
    return Rapi(cluster)


ADMIN, READER = "admin:s3cret", "reader:r3ad"


def test_unauthenticated_request_gets_401_body(rapi: Rapi) -> None:
    status, body = rapi.call("POST", "/2/instances", {"instance_name": "x"})
    assert status == 401
    assert body == {"code": 401, "message": "Unauthorized", "explain": "No permission -- see authorization schemes"}
    assert rapi.call("GET", "/2/info", user="admin:wrong")[0] == 401


def test_reader_may_read_but_not_write(rapi: Rapi) -> None:
    status, info = rapi.call("GET", "/2/info", user=READER)
    assert status == 200 and info["name"] == "cluster" and info["master"] == "node1"
    status, body = rapi.call("POST", "/2/instances", {"instance_name": "x"}, user=READER)
    assert status == 403 and body["code"] == 403


def test_version_and_lists(rapi: Rapi) -> None:
    assert rapi.call("GET", "/version", user=READER) == (200, 2)
    status, nodes = rapi.call("GET", "/2/nodes", user=READER)
    assert status == 200 and nodes[0] == {"id": "node1", "uri": "/2/nodes/node1"}
    status, bulk = rapi.call("GET", "/2/nodes?bulk=1", user=READER)
    assert {"name", "mtotal", "mfree", "dtotal", "pinst_cnt", "role", "group.uuid"} <= set(bulk[0])
    status, fields = rapi.call("GET", "/2/nodes?bulk=1&fields=name,role", user=READER)
    assert fields[0] == {"name": "node1", "role": "M"}


def test_unknown_instance_is_404_with_ganeti_body(rapi: Rapi) -> None:
    status, body = rapi.call("GET", "/2/instances/no-such-instance", user=READER)
    assert status == 404 and body["code"] == 404 and body["message"] == "Not Found"
    status, body = rapi.call("GET", "/2/no/such/path", user=READER)
    assert status == 404 and body["explain"] == "Nothing matches the given URI"


def test_create_returns_job_id_and_failure_is_in_the_job(cluster: VCluster, rapi: Rapi) -> None:
    body = {
        "__version__": 1,
        "instance_name": "rapi-r",
        "disk_template": "diskless",
        "disks": [],
        "nics": [],
        "os_type": "noop",
        "pnode": "node99",
        "name_check": False,
        "ip_check": False,
    }
    status, job_id = rapi.call("POST", "/2/instances", body, user=ADMIN)
    assert status == 200 and isinstance(job_id, int)
    wait_for(lambda: rapi.call("GET", f"/2/jobs/{job_id}", user=READER)[1]["status"] == "error", 20)
    job = rapi.call("GET", f"/2/jobs/{job_id}", user=READER)[1]
    assert job["summary"] == ["INSTANCE_CREATE(rapi-r)"]
    assert job["opresult"][0] == ["OpPrereqError", ["Node 'node99' not known", "unknown_entity"]]
    assert job["ops"][0]["OP_ID"] == "OP_INSTANCE_CREATE" and job["ops"][0]["pnode"] == "node99"


def test_malformed_opcode_is_400_and_no_job(cluster: VCluster, rapi: Rapi) -> None:
    before = cluster.ok("gnt-job", "list", "--no-headers", "-o", "id").split()
    status, body = rapi.call(
        "POST", "/2/instances", {"instance_name": "bad", "disk_template": "diskless", "memory_of_doom": 1}, user=ADMIN
    )
    assert status == 400 and "memory_of_doom" in body["explain"]
    status, body = rapi.call("POST", "/2/instances", {"instance_name": 5, "disk_template": "diskless"}, user=ADMIN)
    assert status == 400 and "instance_name" in body["explain"]
    status, body = rapi.call("POST", "/2/instances", ["not", "an", "object"], user=ADMIN)
    assert status == 400
    assert cluster.ok("gnt-job", "list", "--no-headers", "-o", "id").split() == before


def test_instance_actions_through_rapi(cluster: VCluster, rapi: Rapi) -> None:
    body = {
        "__version__": 1,
        "instance_name": "rapi-ok",
        "disk_template": "diskless",
        "disks": [],
        "nics": [],
        "os_type": "noop",
        "pnode": "node2",
        "name_check": False,
        "ip_check": False,
        "beparams": {"maxmem": 32, "minmem": 32},
    }
    _, job_id = rapi.call("POST", "/2/instances", body, user=ADMIN)
    assert cluster.wait_job(job_id) == "success"
    status, inst = rapi.call("GET", "/2/instances/rapi-ok", user=READER)
    assert inst["status"] == "running" and inst["pnode"] == "node2" and inst["oper_ram"] == 32
    _, job_id = rapi.call("PUT", "/2/instances/rapi-ok/shutdown", {}, user=ADMIN)
    assert cluster.wait_job(job_id) == "success"
    assert rapi.call("GET", "/2/instances/rapi-ok", user=READER)[1]["status"] == "ADMIN_down"
    _, job_id = rapi.call("DELETE", "/2/instances/rapi-ok", user=ADMIN)
    assert cluster.wait_job(job_id) == "success"
    assert rapi.call("GET", "/2/instances/rapi-ok", user=READER)[0] == 404


def test_tags_through_rapi_as_ganetis_client_sends_them(cluster: VCluster, rapi: Rapi) -> None:
    """The calls of Ganeti's GanetiRapiClient (Add/Get/DeleteNodeTags, ...): `?tag=` repeated, optional
    `dry-run=1` and `reason=`, no body; PUT/DELETE answer a job id, GET the tags."""
    status, job_id = rapi.call("PUT", "/2/nodes/node3/tags?tag=rack%3Ar3&tag=ssd&reason=cabling", user=ADMIN)
    assert status == 200 and cluster.wait_job(job_id) == "success"
    assert rapi.call("GET", "/2/nodes/node3/tags", user=READER) == (200, ["rack:r3", "ssd"])
    assert cluster.ok("gnt-node", "list-tags", "node3").split() == ["rack:r3", "ssd"]
    status, job_id = rapi.call("DELETE", "/2/nodes/node3/tags?tag=ssd&dry-run=1", user=ADMIN)
    assert status == 200 and cluster.wait_job(job_id) == "success"
    assert rapi.call("GET", "/2/nodes/node3/tags", user=READER)[1] == ["rack:r3", "ssd"]  # dry run: unchanged
    status, body = rapi.call("PUT", "/2/tags?tag=bad%20tag", user=ADMIN)
    assert status == 400 and "Tag contains invalid characters" in body["explain"]
    status, body = rapi.call("GET", "/2/instances/no-such-instance/tags", user=READER)
    assert status == 404 and body["explain"] == "Instance 'no-such-instance' not known"
    status, job_id = rapi.call("DELETE", "/2/nodes/node3/tags?tag=rack%3Ar3&tag=ssd", user=ADMIN)
    assert cluster.wait_job(job_id) == "success"
    assert rapi.call("GET", "/2/nodes/node3/tags", user=READER)[1] == []
