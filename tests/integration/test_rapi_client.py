"""`gnt.rapi.client` against Ganeti's own GanetiRapiClient: the same calls, answers and error codes.

Each test runs once with Ganeti 3.0's client (Debian's `ganeti-3.0`, in the system Python) and once
with gnt's, through one small interface, so a difference between the two is a failing test.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from gnt.rapi.client import GanetiApiError, GanetiRapiClient
from tests.integration.test_ganeti_clients import GanetiClient, users  # noqa: F401 - users is a fixture
from tests.integration.vcluster import ADD_DISKLESS, VCluster


class GntClient:
    """gnt's client behind GanetiClient's interface: outcomes as {"ok", "result"|"error", "code"}."""

    def __init__(self, vc: VCluster, user: tuple[str, str] | None) -> None:
        cafile = str(vc.dir / "node1/var/lib/gnt/rapi.pem")
        name, password = user or (None, None)
        self.rapi = GanetiRapiClient(
            vc.address("node1"), 5080, name, password, cafile=cafile, verify_hostname=False, timeout=60
        )

    def calls(self, *calls: tuple[str, list[Any], dict[str, Any]]) -> list[dict[str, Any]]:
        outcomes: list[dict[str, Any]] = []
        for method, args, kwargs in calls:
            try:
                outcomes.append({"ok": True, "result": getattr(self.rapi, method)(*args, **kwargs)})
            except (GanetiApiError, ValueError) as err:
                outcomes.append({"ok": False, "error": str(err), "code": getattr(err, "code", None)})
        return outcomes

    def __call__(self, method: str, *args: Any, **kwargs: Any) -> Any:
        (outcome,) = self.calls((method, list(args), kwargs))
        assert outcome["ok"], f"{method}{args}: {outcome}"
        return outcome["result"]

    def job(self, method: str, *args: Any, **kwargs: Any) -> None:
        job_id = self(method, *args, **kwargs)
        assert isinstance(job_id, int), job_id
        assert self("WaitForJobCompletion", job_id, period=0.2) is True, self("GetJobStatus", job_id)["opresult"]


Factory = Callable[[tuple[str, str] | None], Any]


@pytest.fixture(params=["ganeti", "gnt"])
def client(request: pytest.FixtureRequest, cluster: VCluster, users: None) -> Factory:  # noqa: F811
    kind = GanetiClient if request.param == "ganeti" else GntClient
    return lambda user: kind(cluster, user)


ADMIN, READER = ("admin", "s3cret"), ("reader", "r3ad")


def test_reads_are_the_same(client: Factory) -> None:
    anonymous = client(None)
    assert anonymous("GetVersion") == 2
    assert "instance-create-reqv1" in anonymous("GetFeatures")
    assert anonymous("GetInfo")["master"] == "node1"
    assert anonymous("GetNodes") == ["node1", "node2", "node3"]
    assert {n["name"] for n in anonymous("GetNodes", bulk=True)} == {"node1", "node2", "node3"}
    assert anonymous("GetNodeRole", "node1") == "master"
    assert anonymous("GetGroups") == ["default"]
    assert anonymous("GetGroup", "default")["node_list"] == ["node1", "node2", "node3"]
    (missing,) = anonymous.calls(("GetInstance", ["no-such-instance"], {}))
    assert missing["ok"] is False and missing["code"] == 404
    (refused,) = anonymous.calls(("AddClusterTags", [["x"]], {}))
    assert refused["ok"] is False and refused["code"] == 401
    (readonly,) = client(READER).calls(("AddClusterTags", [["x"]], {}))
    assert readonly["ok"] is False and readonly["code"] == 403


def test_instance_lifecycle_and_tags(client: Factory) -> None:
    admin = client(ADMIN)
    admin.job(
        "CreateInstance",
        "create",
        "rc1",
        "diskless",
        [],
        [],
        os="noop",
        pnode="node2",
        name_check=False,
        ip_check=False,
        beparams={"maxmem": 32, "minmem": 32},
    )
    try:
        assert admin("GetInstance", "rc1")["status"] == "running"
        assert "rc1" in admin("GetInstances")
        admin.job("AddInstanceTags", "rc1", ["web"])
        assert admin("GetInstanceTags", "rc1") == ["web"]
        admin.job("ShutdownInstance", "rc1")
        assert admin("GetInstance", "rc1")["status"] == "ADMIN_down"
        admin.job("StartupInstance", "rc1")
        admin.job("RebootInstance", "rc1", reboot_type="hard")
        admin.job("ModifyInstance", "rc1", beparams={"maxmem": 48, "minmem": 48})
        assert admin("GetInstance", "rc1")["beparams"]["maxmem"] == 48
    finally:
        admin.job("DeleteInstance", "rc1")
    assert "rc1" not in admin("GetInstances")


def test_queries_and_filters(client: Factory, cluster: VCluster) -> None:
    admin, reader = client(ADMIN), client(READER)
    cluster.ok(*ADD_DISKLESS, "-B", "memory=32M", "-n", "node2", "rq1")
    try:
        answer = reader("Query", "instance", ["name", "pnode"], qfilter=["=", "name", "rq1"])
        assert answer["data"] == [[[0, "rq1"], [0, "node2"]]]
        assert [f["name"] for f in reader("QueryFields", "node", fields=["name"])["fields"]] == ["name"]
    finally:
        cluster.ok("gnt-instance", "remove", "-f", "rq1")
    predicates = [["opcode", ["&", ["=", "OP_ID", "OP_TAGS_SET"], ["=[]", "tags", "rc-filtered"]]]]
    uuid = admin("AddFilter", 1, predicates, "REJECT")
    try:
        assert admin("GetFilters") == [uuid]
        assert admin("GetFilter", uuid)["reason_trail"][-1][0] == "gnt:client"
        job_id = admin("AddClusterTags", ["rc-filtered"])
        assert admin("WaitForJobCompletion", job_id, period=0.2) is False
        assert admin("ReplaceFilter", uuid, 0, predicates, "ACCEPT") == uuid
        assert admin("GetFilters", bulk=True)[0]["action"] == "ACCEPT"
    finally:
        assert admin("DeleteFilter", uuid) is None
    (gone,) = admin.calls(("GetFilter", [uuid], {}))
    assert gone["ok"] is False and gone["code"] == 404
    assert admin("GetClusterTags") == []


def test_wait_for_job_returns_results_or_raises(cluster: VCluster, users: None) -> None:  # noqa: F811
    rapi = GntClient(cluster, ADMIN).rapi
    job_id = rapi.AddClusterTags(["rc-wait"])
    assert rapi.wait_for_job(job_id, timeout=60) == [None]
    rapi.wait_for_job(rapi.DeleteClusterTags(["rc-wait"]), timeout=60)
    failing = rapi.CreateGroup("default")  # exists: the job fails
    with pytest.raises(GanetiApiError, match=f"Job {failing} error: .*default"):
        rapi.wait_for_job(failing, timeout=60)
    with pytest.raises(GanetiApiError) as info:
        rapi.GetNode("no-such-node")
    assert info.value.code == 404
    rapi.close()


def test_instance_disk_move_and_export_calls(client: Factory, cluster: VCluster) -> None:
    """The instance methods added to gnt's client, each run by Ganeti's client too."""
    admin = client(ADMIN)
    admin.job("CreateInstance", "create", "rc2", "file", [{"size": 8}], [], os="noop", pnode="node2",
              name_check=False, ip_check=False, beparams={"maxmem": 32, "minmem": 32})  # fmt: skip
    name = "rc2"
    try:
        admin.job("GetInstanceInfo", "rc2", static=True)
        assert admin("GetInstanceConsole", "rc2")["kind"]
        admin.job("GrowInstanceDisk", "rc2", 0, 8)
        assert admin("GetInstance", "rc2")["disk.sizes"] == [16]
        admin.job("ActivateInstanceDisks", "rc2")
        admin.job("ShutdownInstance", "rc2")
        admin.job("DeactivateInstanceDisks", "rc2")
        for disk in (cluster.dir / "node2/srv/gnt/file-storage/rc2").iterdir():
            disk.unlink()  # lost: recreate-disks makes it again
        admin.job("RecreateInstanceDisks", "rc2")
        admin.job("ReinstallInstance", "rc2", os="noop", no_startup=True)
        admin.job("RenameInstance", "rc2", "rc2b", ip_check=False, name_check=False)
        name = "rc2b"
        assert admin("GetInstance", "rc2b")["status"] == "ADMIN_down"
        admin.job("PrepareExport", "rc2b", "local")
        admin.job("ExportInstance", "rc2b", "local", "node3", shutdown=False)
        assert "rc2b" in cluster.ok("gnt-backup", "list", "--no-headers", "-n", "node3")
    finally:
        admin.job("DeleteInstance", name)
        cluster.run("gnt-backup", "remove", "rc2b")
    params = {"os": "noop", "pnode": "node3", "name_check": False, "ip_check": False, "beparams": {"maxmem": 32}}
    allocs = [admin("InstanceAllocation", "create", f"rm{i}", "diskless", [], [], **params) for i in (1, 2)]
    admin.job("InstancesMultiAlloc", allocs)
    try:
        admin.job("MigrateInstance", "rm1", target_node="node2")
        admin.job("FailoverInstance", "rm2", target_node="node2")
        assert {admin("GetInstance", n)["pnode"] for n in ("rm1", "rm2")} == {"node2"}
    finally:
        for victim in ("rm1", "rm2"):
            admin.job("DeleteInstance", victim)


def test_node_network_and_cluster_calls(client: Factory, cluster: VCluster) -> None:
    """Node, node storage, network and cluster methods added to gnt's client, run by both clients."""
    admin = client(ADMIN)
    # a virtual cluster has no LVM: the storage jobs run and fail with the node storage LU's message
    for method, args, message in (
        ("GetNodeStorageUnits", ["node2", "file", "name,size"], "Unknown storage type 'file'"),
        ("ModifyNodeStorageUnits", ["node2", "lvm-vg", "xenvg"], "does not support this operation"),
        ("RepairNodeStorageUnits", ["node2", "lvm-pv", "/dev/sdz"], "does not support this operation"),
    ):
        job_id = admin(method, *args)
        assert admin("WaitForJobCompletion", job_id, period=0.2) is False
        assert message in str(admin("GetJobStatus", job_id)["opresult"])
    admin.job("SetNodeRole", "node3", "drained")
    assert admin("GetNodeRole", "node3") == "drained"
    admin.job("SetNodeRole", "node3", "regular")
    assert admin("GetNodeRole", "node3") == "regular"
    admin.job("SetNodeRole", "node3", "master-candidate")  # the shared cluster is left as it was found
    assert admin("GetNodeRole", "node3") == "master-candidate"
    admin.job("ModifyNode", "node3", ndparams={"spindle_count": 2})
    assert admin("GetNode", "node3")["ndparams"]["spindle_count"] == 2
    admin.job("ModifyNode", "node3", ndparams={"spindle_count": 1})
    admin.job("EvacuateNode", "node3", iallocator="hail", mode="all")
    admin.job("MigrateNode", "node3", mode="live")
    (both,) = admin.calls(("EvacuateNode", ["node3"], {"iallocator": "hail", "remote_node": "node2"}))
    assert both["ok"] is False and "Only one of iallocator or remote_node" in both["error"]
    admin.job("ModifyCluster", candidate_pool_size=9)
    assert admin("GetInfo")["candidate_pool_size"] == 9
    admin.job("ModifyCluster", candidate_pool_size=10)
    admin.job("CreateNetwork", "rcnet", "10.77.0.0/24", gateway="10.77.0.1", add_reserved_ips="10.77.0.5",
              tags="a,b")  # fmt: skip
    try:
        assert "rcnet" in admin("GetNetworks")
        assert admin("GetNetwork", "rcnet")["gateway"] == "10.77.0.1"
        assert sorted(admin("GetNetworkTags", "rcnet")) == ["a", "b"]
        admin.job("AddNetworkTags", "rcnet", ["c"])
        admin.job("DeleteNetworkTags", "rcnet", ["a"])
        assert sorted(admin("GetNetworkTags", "rcnet")) == ["b", "c"]
        admin.job("ModifyNetwork", "rcnet", gateway="10.77.0.254")
        assert admin("GetNetworks", bulk=True)[0]["gateway"] == "10.77.0.254"
        admin.job("ConnectNetwork", "rcnet", "default", "bridged", "br0")
        assert "default" in str(admin("GetNetwork", "rcnet")["group_list"])
        admin.job("DisconnectNetwork", "rcnet", "default")
    finally:
        admin.job("DeleteNetwork", "rcnet")
    assert "rcnet" not in admin("GetNetworks")


def test_job_change_cancel_and_replace_disks_calls(client: Factory, cluster: VCluster) -> None:
    """WaitForJobChange, CancelJob and ReplaceInstanceDisks (refused for a non-mirrored disk), both clients."""
    admin = client(ADMIN)
    job_id = cluster.submit("gnt-debug", "delay", "-n", "node3", "60")
    try:
        change = admin("WaitForJobChange", job_id, ["status"], None, None)
        assert change["job_info"][0] in ("queued", "waiting", "running")
    finally:
        admin("CancelJob", job_id)
    assert cluster.wait_job(job_id) == "canceled"
    cluster.ok(*ADD_DISKLESS, "-B", "memory=32M", "-n", "node2", "rr1")
    try:
        job_id = admin("ReplaceInstanceDisks", "rr1", disks=[0], mode="replace_on_secondary")
        assert admin("WaitForJobCompletion", job_id, period=0.2) is False
        assert "Can only run replace disks for DRBD8-based instances" in str(admin("GetJobStatus", job_id)["opresult"])
    finally:
        cluster.ok("gnt-instance", "remove", "-f", "rr1")
