"""What Ganeti's own clients (GanetiRapiClient, htools) rely on: anonymous reads, `/` and `/2`, the
`/2/info` keys, groups as {name, uri} with a filled ipolicy, node roles, create-body aliases."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from gnt import paths
from tests.unit.api.conftest import ADMIN, READER, RapiServer, _make_config, free_port, write_users

REFERENCE = Path("/work/shared/reference/ganeti-3.0/rapi-info.json")


def test_reads_are_anonymous_and_writes_need_a_write_user(rapi_server: RapiServer) -> None:
    assert rapi_server.call("GET", "/2/info", user=None)[0] == 200
    assert rapi_server.call("GET", "/2/nodes?bulk=1", user=None)[0] == 200
    status, body = rapi_server.call("POST", "/2/instances", {"name": "x"}, user=None)
    assert status == 401 and body["explain"] == "No permission -- see authorization schemes"
    assert rapi_server.call("POST", "/2/instances", {"name": "x"}, user=READER)[0] == 403


def test_an_unauthenticated_get_of_an_unknown_instance_is_404(rapi_server: RapiServer) -> None:
    status, body = rapi_server.call("GET", "/2/instances/no-such-instance", user=None)
    assert status == 404 and body["code"] == 404
    # an unknown path is 404 before any login is asked, whatever the method
    assert rapi_server.call("POST", "/2/no/such/path", {}, user=None)[0] == 404


def test_console_and_job_wait_need_a_write_user_and_query_a_login(rapi_server: RapiServer) -> None:
    assert rapi_server.call("GET", "/2/instances/x/console", user=None)[0] == 401
    assert rapi_server.call("GET", "/2/instances/x/console", user=READER)[0] == 403
    assert rapi_server.call("GET", "/2/jobs/1/wait", user=READER)[0] == 403
    assert rapi_server.call("GET", "/2/query/node?fields=name", user=None)[0] == 401
    assert rapi_server.call("GET", "/2/query/node?fields=name", user=READER)[0] == 200


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RapiServer]:
    """A RAPI started as with ganeti-rapi's --require-authentication."""
    root = tmp_path_factory.mktemp("vc") / "node1"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(paths.ENV_ROOTDIR, str(root))
        mp.setenv(paths.ENV_HOSTNAME, "node1")
        _make_config(free_port())
        write_users(paths.rapi_users())
        server = RapiServer(header_timeout=1.0, require_auth=True)
        try:
            yield server
        finally:
            server.close()


def test_require_authentication_makes_reads_need_a_user(strict_server: RapiServer) -> None:
    status, body = strict_server.call("GET", "/2/info", user=None)
    assert status == 401 and body["explain"] == "No permission -- see authorization schemes"
    assert strict_server.call("GET", "/2/info", user=READER)[0] == 200


def test_root_and_version_2_answer_null(rapi_server: RapiServer) -> None:
    assert rapi_server.call("GET", "/", user=None) == (200, None)
    assert rapi_server.call("GET", "/2", user=None) == (200, None)


def test_info_has_every_key_ganeti_answers(rapi_server: RapiServer) -> None:
    ganeti_keys = set(json.loads(REFERENCE.read_text()))
    status, info = rapi_server.call("GET", "/2/info", user=None)
    assert status == 200
    assert sorted(ganeti_keys - set(info)) == []
    assert {"minmax", "std", "disk-templates", "vcpu-ratio", "spindle-ratio"} <= set(info["ipolicy"])
    assert info["primary_ip_version"] == 4 and info["hidden_os"] == [] and info["uid_pool"] == []


def test_groups_are_name_uri_and_bulk_has_a_filled_ipolicy(rapi_server: RapiServer) -> None:
    assert rapi_server.call("GET", "/2/groups", user=None) == (200, [{"name": "default", "uri": "/2/groups/default"}])
    status, bulk = rapi_server.call("GET", "/2/groups?bulk=1", user=None)
    assert status == 200 and len(bulk) == 1
    group = bulk[0]
    assert group["name"] == "default" and group["node_cnt"] == 2 and group["node_list"] == ["node1", "node2"]
    assert group["custom_ipolicy"] == {}
    assert group["ipolicy"]["minmax"][0]["max"]["memory-size"] == 32768
    assert group["ipolicy"]["std"]["memory-size"] == 128
    assert {"alloc_policy", "uuid", "tags", "ndparams", "diskparams", "serial_no"} <= set(group)
    status, one = rapi_server.call("GET", "/2/groups/default?fields=name,node_cnt", user=None)
    assert (status, one) == (200, {"name": "default", "node_cnt": 2})
    assert rapi_server.call("GET", "/2/groups/nonesuch", user=None)[0] == 404


def test_node_role_get_answers_ganetis_role_names(rapi_server: RapiServer) -> None:
    assert rapi_server.call("GET", "/2/nodes/node1/role", user=None) == (200, "master")
    assert rapi_server.call("GET", "/2/nodes/node2/role", user=None) == (200, "regular")
    assert rapi_server.call("GET", "/2/nodes/node9/role", user=None)[0] == 404


def _create(server: RapiServer, body: dict[str, object]) -> tuple[int, object]:
    return server.call("POST", "/2/instances", body, user=ADMIN)


def test_create_takes_ganetis_aliases_and_version(rapi_server: RapiServer) -> None:
    body = {"__version__": 1, "name": "alias1", "os": "noop", "disk_template": "diskless", "mode": "create"}
    status, job_id = _create(rapi_server, body)
    assert status == 200, job_id
    op = rapi_server.master.queue.get(job_id).ops[0]
    assert op["instance_name"] == "alias1" and op["os_type"] == "noop"
    assert "name" not in op and "os" not in op and "__version__" not in op


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"__version__": 0, "name": "v0"}, "version 0 is no longer supported"),
        ({"__version__": 2, "name": "v2"}, "Unsupported request data version 2"),
        ({"__version__": 1, "name": "a", "instance_name": "b"}, "give only one"),
        ({"__version__": 1, "os": "a", "os_type": "b", "name": "c"}, "give only one"),
    ],
)
def test_create_refuses_other_versions_and_double_names(rapi_server: RapiServer, body: dict, message: str) -> None:
    before = rapi_server.state()
    status, answer = _create(rapi_server, body)
    assert status == 400 and message in answer["explain"]
    assert rapi_server.state() == before


def test_reason_parameter_lands_in_every_opcodes_reason_trail(rapi_server: RapiServer) -> None:
    status, job_id = rapi_server.call("PUT", "/2/tags?tag=t1&reason=maintenance%20window", user=ADMIN)
    assert status == 200
    trail = rapi_server.master.queue.get(job_id).ops[0]["reason"]
    assert trail[-1][:2] == ["gnt:library:rlib2", "maintenance window"] and isinstance(trail[-1][2], int)


def test_group_writes_become_ganetis_opcodes(rapi_server: RapiServer) -> None:
    def op(method: str, path: str, body: object = None) -> dict:
        status, job_id = rapi_server.call(method, path, body, user=ADMIN)
        assert status == 200, job_id
        return rapi_server.master.queue.get(job_id).ops[0]

    added = op("POST", "/2/groups?dry-run=1", {"name": "rack2", "alloc_policy": None})
    assert added["OP_ID"] == "OP_GROUP_ADD" and added["group_name"] == "rack2" and added["dry_run"] is True
    assert op("DELETE", "/2/groups/rack2")["OP_ID"] == "OP_GROUP_REMOVE"
    renamed = op("PUT", "/2/groups/rack2/rename", {"new_name": "rack3"})
    assert (renamed["group_name"], renamed["new_name"]) == ("rack2", "rack3")
    assert op("PUT", "/2/groups/rack2/modify", {"alloc_policy": "unallocable"})["alloc_policy"] == "unallocable"
    assigned = op("PUT", "/2/groups/rack2/assign-nodes?force=1", {"nodes": ["node2"]})
    assert assigned["OP_ID"] == "OP_GROUP_ASSIGN_NODES" and assigned["nodes"] == ["node2"] and assigned["force"]


def test_group_disk_parameters_travel_as_ganetis_diskparams(rapi_server: RapiServer) -> None:
    """Ganeti's rlib2 hands the body to OpGroupAdd/OpGroupSetParams; GET answers the filled ones."""

    def op(method: str, path: str, body: object) -> dict:
        status, job_id = rapi_server.call(method, path, body, user=ADMIN)
        assert status == 200, job_id
        return rapi_server.master.queue.get(job_id).ops[0]

    added = op("POST", "/2/groups", {"name": "rack2", "diskparams": {"drbd": {"resync-rate": 2048}}})
    assert added["OP_ID"] == "OP_GROUP_ADD" and added["diskparams"] == {"drbd": {"resync-rate": 2048}}
    modified = op("PUT", "/2/groups/rack2/modify", {"diskparams": {"drbd": {"resync-rate": None}}})
    assert modified["OP_ID"] == "OP_GROUP_SET_PARAMS" and modified["diskparams"] == {"drbd": {"resync-rate": None}}
    cfg = rapi_server.master.cfg
    group, cluster = cfg.group("default"), cfg.cluster
    saved = (group.diskparams, cluster.diskparams)
    group.diskparams, cluster.diskparams = {"drbd": {"resync-rate": 4096}}, {"drbd": {"resync-rate": 1024}}
    try:
        status, answer = rapi_server.call("GET", "/2/groups/default", user=None)
        assert status == 200 and answer["diskparams"] == {"drbd": {"resync-rate": 4096}}
        assert answer["custom_diskparams"] == {"drbd": {"resync-rate": 4096}}
        group.diskparams = {}
        status, answer = rapi_server.call("GET", "/2/groups/default", user=None)
        assert answer["diskparams"] == {"drbd": {"resync-rate": 1024}} and answer["custom_diskparams"] == {}
    finally:
        group.diskparams, cluster.diskparams = saved


@pytest.mark.parametrize(
    ("method", "path", "body", "message"),
    [
        ("POST", "/2/groups", {"name": "a", "group_name": "b"}, "give only one"),
        ("POST", "/2/groups", {"name": "bad name"}, "not a valid host name"),
        ("PUT", "/2/groups/g/modify", {"alloc_policy": "often"}, "Invalid allocation policy"),
        ("PUT", "/2/groups/g/modify", {"ipolicy": {"minmax": []}}, "non-empty list"),
        ("PUT", "/2/groups/g/modify", {"diskparams": {"drbd": {"resync-rate": -1}}}, "must be an integer from 1"),
        ("POST", "/2/groups", {"name": "g", "diskparams": {"drbd": {"al-extents": 1}}}, "unknown drbd disk parameter"),
        ("PUT", "/2/groups/g/assign-nodes", {"nodes": "node2"}, "OP_GROUP_ASSIGN_NODES.nodes"),
        ("PUT", "/2/groups/g/assign-nodes?force=maybe", {"nodes": []}, "expected 0 or 1"),
        ("PUT", "/2/groups/g/rename", {}, "Required parameter 'OP_GROUP_RENAME.new_name' missing"),
    ],
)
def test_malformed_group_writes_are_400_and_change_nothing(
    rapi_server: RapiServer, method: str, path: str, body: dict, message: str
) -> None:
    before = rapi_server.state()
    status, answer = rapi_server.call(method, path, body, user=ADMIN)
    assert status == 400 and message in answer["explain"], answer
    assert rapi_server.state() == before


def test_put_query_filters_with_ganetis_list_language(rapi_server: RapiServer) -> None:
    body = {"fields": ["name"], "qfilter": ["|", ["=", "role", "M"], ["=~", "name", "^nomatch"]]}
    status, answer = rapi_server.call("PUT", "/2/query/node", body, user=READER)
    assert status == 200 and answer["data"] == [[[0, "node1"]]]
    assert [f["name"] for f in answer["fields"]] == ["name"]  # the filter's own field is not shown
    body = {"fields": ["name", "node_cnt"], "filter": ["!", ["?", "tags"]]}  # Ganeti's older key
    status, answer = rapi_server.call("PUT", "/2/query/group", body, user=READER)
    assert status == 200 and answer["data"] == [[[0, "default"], [0, 2]]]
    status, answer = rapi_server.call("PUT", "/2/query/node", {"fields": ["name", "uuid"]}, user=READER)
    assert status == 200 and len(answer["data"]) == 2


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"fields": ["name"], "qfilter": ["=", "nosuch", 1]}, "unknown field 'nosuch'"),
        ({"fields": ["name"], "qfilter": "name"}, "expected a list starting with an operator"),
        ({"fields": ["name"], "qfilter": ["?", "tags"], "filter": ["?", "name"]}, "'qfilter' and 'filter' differ"),
        ({"fields": "name"}, "'fields' must be a list"),
        ({"fields": ["nosuch"]}, "Unknown output fields selected: nosuch"),
    ],
)
def test_put_query_refuses_bad_filters(rapi_server: RapiServer, body: dict, message: str) -> None:
    status, answer = rapi_server.call("PUT", "/2/query/node", body, user=READER)
    assert status == 400 and message in answer["explain"], answer


def test_put_query_needs_a_login_but_not_write(rapi_server: RapiServer) -> None:
    assert rapi_server.call("PUT", "/2/query/node", {"fields": ["name"]}, user=None)[0] == 401
    assert rapi_server.call("PUT", "/2/query/node", {"fields": ["name"]}, user=READER)[0] == 200


def test_node_evacuate_and_storage_become_ganetis_opcodes(rapi_server: RapiServer) -> None:
    def op(method: str, path: str, body: object = None) -> dict:
        status, job_id = rapi_server.call(method, path, body, user=ADMIN)
        assert status == 200, job_id
        return rapi_server.master.queue.get(job_id).ops[0]

    evac = op("POST", "/2/nodes/node2/evacuate", {"mode": "all", "iallocator": "hail"})
    assert (evac["OP_ID"], evac["node_name"], evac["iallocator"]) == ("OP_NODE_EVACUATE", "node2", "hail")
    assert evac["ignore_soft_errors"] is False
    soft = op("POST", "/2/nodes/node2/evacuate", {"mode": "all", "iallocator": "hail", "ignore_soft_errors": True})
    assert soft["ignore_soft_errors"] is True
    query = op("GET", "/2/nodes/node2/storage?storage_type=lvm-vg&output_fields=name,size")
    assert query["OP_ID"] == "OP_NODE_QUERY_STORAGE" and query["nodes"] == ["node2"]
    assert query["output_fields"] == ["name", "size"]
    modify = op("PUT", "/2/nodes/node2/storage/modify?storage_type=lvm-pv&name=/dev/sdb&allocatable=0")
    assert modify["changes"] == {"allocatable": False} and modify["name"] == "/dev/sdb"
    repair = op("PUT", "/2/nodes/node2/storage/repair?storage_type=lvm-vg&name=xenvg")
    assert (repair["OP_ID"], repair["name"]) == ("OP_REPAIR_NODE_STORAGE", "xenvg")


@pytest.mark.parametrize(
    ("method", "path", "message"),
    [
        ("GET", "/2/nodes/node2/storage?output_fields=name", "Missing the required 'storage_type' parameter"),
        ("GET", "/2/nodes/node2/storage?storage_type=lvm-vg", "Missing the required 'output_fields' parameter"),
        ("PUT", "/2/nodes/node2/storage/modify?storage_type=lvm-pv", "Missing the required 'name' parameter"),
        ("PUT", "/2/nodes/node2/storage/modify?storage_type=lvm-pv&name=x&allocatable=2", "expected 0 or 1"),
    ],
)
def test_storage_requests_missing_parameters_are_400(
    rapi_server: RapiServer, method: str, path: str, message: str
) -> None:
    before = rapi_server.state()
    status, answer = rapi_server.call(method, path, user=ADMIN)
    assert status == 400 and message in answer["explain"]
    assert rapi_server.state() == before


def test_node_storage_needs_a_write_user_even_to_read(rapi_server: RapiServer) -> None:
    path = "/2/nodes/node2/storage?storage_type=lvm-vg&output_fields=name"
    assert rapi_server.call("GET", path, user=None)[0] == 401
    assert rapi_server.call("GET", path, user=READER)[0] == 403


def test_redistribute_config_is_a_job(rapi_server: RapiServer) -> None:
    status, job_id = rapi_server.call("PUT", "/2/redistribute-config", user=ADMIN)
    assert status == 200 and rapi_server.master.queue.get(job_id).ops[0]["OP_ID"] == "OP_CLUSTER_REDIST_CONF"
    assert rapi_server.call("PUT", "/2/redistribute-config", user=READER)[0] == 403


def test_instance_info_queues_a_job_so_it_needs_a_write_user(rapi_server: RapiServer) -> None:
    """GET /2/instances/I/info submits OP_INSTANCE_QUERY_DATA: an anonymous or read-only caller
    gets no job (otherwise anyone could fill the queue with reads)."""
    before = rapi_server.state()
    assert rapi_server.call("GET", "/2/instances/inst1/info", user=None)[0] == 401
    assert rapi_server.call("GET", "/2/instances/inst1/info", user=READER)[0] == 403
    assert rapi_server.state() == before
