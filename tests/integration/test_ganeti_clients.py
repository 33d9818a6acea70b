"""Ganeti 3.0's own clients against a gnt cluster, unchanged: its Python RAPI client
(`ganeti.rapi.client.GanetiRapiClient`, Debian's `ganeti-3.0`) and htools reading the RAPI over TLS
(`hbal -m`, `hspace -m`, `hinfo -m`, `hcheck -m`, `hscan`), which must agree with gnt's own
`gnt-cluster balance` and `capacity`."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from gnt.jobs.services import LIVE_CACHE_TTL
from tests.integration.vcluster import ADD_DISKLESS, ADD_INSTANCE, VCluster

DRIVER = Path(__file__).with_name("ganeti_rapi_driver.py")
GANETI_LIB = Path("/usr/share/ganeti/3.0/ganeti/rapi/client.py")
HTOOLS = Path("/usr/lib/ganeti/3.0/usr/bin")
SYSTEM_PYTHON = "/usr/bin/python3"


class GanetiClient:
    """Calls GanetiRapiClient methods in the system Python (where Debian installs Ganeti's library)."""

    def __init__(self, vc: VCluster, user: tuple[str, str] | None) -> None:
        self.vc = vc
        cafile = str(vc.dir / "node1/var/lib/gnt/rapi.pem")
        self.argv = [SYSTEM_PYTHON, str(DRIVER), vc.address("node1"), "5080", cafile]
        self.argv += list(user or ())

    def calls(self, *calls: tuple[str, list[Any], dict[str, Any]]) -> list[dict[str, Any]]:
        proc = subprocess.run(self.argv, input=json.dumps(calls), capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        return list(json.loads(proc.stdout))

    def __call__(self, method: str, *args: Any, **kwargs: Any) -> Any:
        (outcome,) = self.calls((method, list(args), kwargs))
        assert outcome["ok"], f"{method}{args}: {outcome}"
        return outcome["result"]

    def job(self, method: str, *args: Any, **kwargs: Any) -> None:
        """A call answering a job id; waits for the job through Ganeti's client too."""
        job_id = self(method, *args, **kwargs)
        assert isinstance(job_id, int), job_id
        assert self("WaitForJobCompletion", job_id, period=0.2) is True, self("GetJobStatus", job_id)


@pytest.fixture(scope="module")
def users(cluster: VCluster) -> None:
    if not GANETI_LIB.exists():
        pytest.skip("Debian's ganeti-3.0 (Ganeti's RAPI client) is not installed: tools/install-deps.sh")
    path = cluster.dir / "node1/var/lib/gnt/rapi/users"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("admin s3cret write\nreader r3ad\n")
    path.chmod(0o600)


@pytest.fixture
def admin(cluster: VCluster, users: None) -> GanetiClient:
    return GanetiClient(cluster, ("admin", "s3cret"))


@pytest.fixture
def anonymous(cluster: VCluster, users: None) -> GanetiClient:
    return GanetiClient(cluster, None)


def test_ganetis_client_reads_anonymously(anonymous: GanetiClient) -> None:
    assert anonymous("GetVersion") == 2
    assert "instance-create-reqv1" in anonymous("GetFeatures")
    info = anonymous("GetInfo")
    assert info["master"] == "node1" and info["primary_ip_version"] == 4 and "minmax" in info["ipolicy"]
    assert "noop" in anonymous("GetOperatingSystems")
    assert anonymous("GetNodes") == ["node1", "node2", "node3"]
    assert {n["name"] for n in anonymous("GetNodes", bulk=True)} == {"node1", "node2", "node3"}
    assert anonymous("GetNode", "node2")["name"] == "node2"
    assert anonymous("GetNodeRole", "node1") == "master"
    assert anonymous("GetNodeRole", "node3") in ("master-candidate", "regular")
    assert anonymous("GetGroups") == ["default"]
    (group,) = anonymous("GetGroups", bulk=True)
    assert group["name"] == "default" and group["node_cnt"] == 3 and group["ipolicy"]["std"]["memory-size"] == 128
    assert anonymous("GetGroup", "default")["node_list"] == ["node1", "node2", "node3"]
    assert isinstance(anonymous("GetInstances"), list) and isinstance(anonymous("GetJobs"), list)
    (refused,) = anonymous.calls(("GetInstance", ["no-such-instance"], {}))
    assert refused["ok"] is False and refused["code"] == 404
    (refused,) = anonymous.calls(("AddClusterTags", [["x"]], {}))
    assert refused["ok"] is False and refused["code"] == 401


def test_ganetis_client_creates_and_drives_an_instance(cluster: VCluster, admin: GanetiClient) -> None:
    admin.job(
        "CreateInstance",
        "create",
        "gclient1",
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
        assert "gclient1" in admin("GetInstances")
        inst = admin("GetInstance", "gclient1")
        assert inst["pnode"] == "node2" and inst["os"] == "noop" and inst["status"] == "running"
        admin.job("AddInstanceTags", "gclient1", ["web", "tier:1"])
        assert admin("GetInstanceTags", "gclient1") == ["tier:1", "web"]
        admin.job("DeleteInstanceTags", "gclient1", ["web"])
        assert admin("GetInstanceTags", "gclient1") == ["tier:1"]
        admin.job("ShutdownInstance", "gclient1")
        assert admin("GetInstance", "gclient1")["status"] == "ADMIN_down"
        admin.job("StartupInstance", "gclient1")
        admin.job("RebootInstance", "gclient1", reboot_type="hard")
        admin.job("ModifyInstance", "gclient1", beparams={"maxmem": 48, "minmem": 48})
        assert admin("GetInstance", "gclient1")["beparams"]["maxmem"] == 48
        status = admin("GetJobStatus", admin("GetJobs")[-1])
        assert status["status"] == "success"
    finally:
        admin.job("DeleteInstance", "gclient1")
    assert "gclient1" not in admin("GetInstances")


def test_ganetis_client_manages_tags_and_roles(cluster: VCluster, admin: GanetiClient) -> None:
    admin.job("RedistributeConfig")
    admin.job("AddClusterTags", ["site:lab"], reason="ganeti client test")
    assert admin("GetClusterTags") == ["site:lab"]
    admin.job("DeleteClusterTags", ["site:lab"])
    admin.job("AddNodeTags", "node3", ["rack:r1"])
    assert admin("GetNodeTags", "node3") == ["rack:r1"]
    admin.job("DeleteNodeTags", "node3", ["rack:r1"])
    admin.job("AddGroupTags", "default", ["zone:a"])
    assert admin("GetGroupTags", "default") == ["zone:a"]
    admin.job("DeleteGroupTags", "default", ["zone:a"])
    assert admin("GetGroupTags", "default") == [] and admin("GetClusterTags") == []


def test_ganetis_client_evacuates_a_node_and_queries_storage(cluster: VCluster, admin: GanetiClient) -> None:
    cluster.ok(*ADD_DISKLESS, "-B", "memory=32M", "-n", "node3", "gev1")
    try:
        admin.job("EvacuateNode", "node3", iallocator="hail", mode="primary-only")
        assert admin("GetInstance", "gev1")["pnode"] in ("node1", "node2")
    finally:
        cluster.ok("gnt-instance", "remove", "-f", "gev1")
    job_id = admin("GetNodeStorageUnits", "node2", "lvm-vg", "name,size")
    admin("WaitForJobCompletion", job_id, period=0.2)  # no LVM in a virtual cluster: the job's outcome varies
    assert admin("GetJobStatus", job_id)["ops"][0]["OP_ID"] == "OP_NODE_QUERY_STORAGE"


def _htool(name: str) -> str:
    path = HTOOLS / name
    if not path.exists():
        pytest.skip(f"ganeti-htools-3.0 ({name}) is not installed")
    return str(path)


def _run(argv: list[str], cwd: Path | None = None) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=cwd)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def _number(pattern: str, text: str) -> str:
    match = re.search(pattern, text)
    assert match, f"{pattern!r} not in:\n{text}"
    return match.group(1)


def test_htools_read_gnts_rapi_and_agree_with_gnt(cluster: VCluster, users: None, tmp_path: Path) -> None:
    for name, node in (("ht1", "node1"), ("ht2", "node1"), ("ht3", "node2")):
        cluster.ok(*ADD_DISKLESS, "-B", "memory=256M", "-n", node, name)
    try:
        # the master caches live node data for LIVE_CACHE_TTL seconds: wait until nothing cached predates
        # the new instances, so every tool below reads the same (settled) free memory
        time.sleep(LIVE_CACHE_TTL + 0.5)
        master = cluster.address("node1")
        hbal = _run([_htool("hbal"), "-m", master])
        gnt_balance = cluster.ok("gnt-cluster", "balance")
        # both print 8 decimals of the same sum, added in a different order: the last digit may round apart
        score = float(_number(r"Initial score: ([0-9.]+)", hbal))
        assert float(_number(r"Initial score: ([0-9.]+)", gnt_balance)) == pytest.approx(score, abs=2e-8)
        assert "Loaded 3 nodes, 3 instances" in hbal
        hinfo = _run([_htool("hinfo"), "-m", master])
        assert "Loaded 3 nodes, 3 instances, 1 node group" in hinfo
        hcheck = _run([_htool("hcheck"), "-m", master])
        assert float(_number(r"Group score: ([0-9.]+)", hcheck)) == pytest.approx(score, abs=2e-8)
        hspace = _run([_htool("hspace"), "-m", master])
        capacity = cluster.ok("gnt-cluster", "capacity")
        normal = r"Normal \(fixed-size\) allocation results:\n\s+-\s+(\d+) instances allocated"
        assert _number(normal, hspace) == _number(normal, capacity)
        _run([_htool("hscan"), master], cwd=tmp_path)
        data = (tmp_path / f"{master}.data").read_text()
        assert all(f"\n{n}|" in data or data.startswith(f"{n}|") for n in ("node1", "node2", "node3"))
        assert "ht3|" in data
    finally:
        for name in ("ht1", "ht2", "ht3"):
            cluster.ok("gnt-instance", "remove", "-f", name)


LOCATION_TAGS = ("htools:nlocation:rack", "htools:iextags:svc", "htools:desiredlocation:rack")
NODE_RACKS = (("node1", "rack:a"), ("node2", "rack:a"), ("node3", "rack:b"))


def _coefficient(name: str, text: str) -> float:
    return float(_number(rf"\n\s+{name}\s+([0-9.]+)\s+x", text))


def test_htools_read_location_tags_from_gnts_rapi_and_agree_with_gnt(cluster: VCluster, users: None) -> None:
    """Failure domains: node locations, exclusion tags and a desired location, read by hbal/hinfo
    over gnt's RAPI; their location components and score equal the ones gnt reports."""
    cluster.ok("gnt-cluster", "add-tags", *LOCATION_TAGS)
    for node, rack in NODE_RACKS:
        cluster.ok("gnt-node", "add-tags", node, rack)
    # lt1, lt2: one service on two primaries in rack a (exclusion: 1); lt3 wants rack b, runs in a (location: 1)
    placed = (("lt1", "node1", "svc:web"), ("lt2", "node2", "svc:web"), ("lt3", "node1", "rack:b"))
    for name, node, tag in placed:
        cluster.ok(*ADD_DISKLESS, "-B", "memory=128M", "--tags", tag, "-n", node, name)
    try:
        time.sleep(LIVE_CACHE_TTL + 0.5)  # as above: every tool reads the same settled free memory
        master = cluster.address("node1")
        hinfo = _run([_htool("hinfo"), "-m", master, "-v"])
        assert _coefficient("location_score", hinfo) == 1.0
        assert _coefficient("location_exclusion_score", hinfo) == 1.0
        hbal = _run([_htool("hbal"), "-m", master])
        gnt_balance = cluster.ok("gnt-cluster", "balance")
        score = float(_number(r"Initial score: ([0-9.]+)", hbal))
        assert float(_number(r"Initial score: ([0-9.]+)", gnt_balance)) == pytest.approx(score, abs=2e-8)
        assert "Location score: 1, location exclusion score: 1" in gnt_balance
        assert "lt3: primary node1 is not in desired location rack:b" in gnt_balance
    finally:
        for name, _, _ in placed:
            cluster.run("gnt-instance", "remove", "-f", name)
        for node, rack in NODE_RACKS:
            cluster.run("gnt-node", "remove-tags", node, rack)
        cluster.run("gnt-cluster", "remove-tags", *LOCATION_TAGS)


MIGRATION_TAGS = ("htools:migration:hv",)
NODE_HV = (("node1", "hv:a"), ("node2", "hv:b"), ("node3", "hv:a"))


def _plan(text: str) -> list[tuple[str, str, float]]:
    steps = re.findall(r"^\s+\d+\. (\S+)\s+\S+\s+=>\s+(\S+)\s+([0-9.]+)", text, re.M)
    return [(name, target.rstrip(":"), float(score)) for name, target, score in steps]


def test_htools_read_migration_tags_from_gnts_rapi_and_plan_as_gnt(cluster: VCluster, users: None) -> None:
    """Migration classes: node1 and node3 are hv:a, node2 is hv:b, so instances on node1 may move to
    node3 only. hbal reads the tags over gnt's RAPI and plans the same moves as gnt-cluster balance."""
    cluster.ok("gnt-cluster", "add-tags", *MIGRATION_TAGS)
    for node, tag in NODE_HV:
        cluster.ok("gnt-node", "add-tags", node, tag)
    names = ("mt1", "mt2", "mt3")
    for name in names:  # externally mirrored (hbal moves these with failover-to-any), all on node1
        cluster.ok(*ADD_INSTANCE, "-t", "sharedfile", "--disk", "0:size=4M", "-B", "memory=128M", "--no-start",
                   "-n", "node1", name)  # fmt: skip
    try:
        time.sleep(LIVE_CACHE_TTL + 0.5)  # as above: every tool reads the same settled free memory
        master = cluster.address("node1")
        hbal = _plan(_run([_htool("hbal"), "-m", master]))
        gnt = _plan(cluster.ok("gnt-cluster", "balance"))
        assert hbal, "hbal finds moves: three instances on one of three nodes"
        assert [(n, t) for n, t, _ in gnt] == [(n, t) for n, t, _ in hbal]
        # the nodes' free disk is live (the test bed's file system) and read by each tool at its own moment
        assert [s for _, _, s in gnt] == pytest.approx([s for _, _, s in hbal], rel=1e-5)
        assert {t for _, t, _ in gnt} == {"node3"}  # never to node2, whose class differs
    finally:
        for name in names:
            cluster.run("gnt-instance", "remove", "-f", name)
        for node, tag in NODE_HV:
            cluster.run("gnt-node", "remove-tags", node, tag)
        cluster.run("gnt-cluster", "remove-tags", *MIGRATION_TAGS)


def test_hbal_options_over_gnts_rapi_plan_as_gnt(cluster: VCluster, users: None, tmp_path: Path) -> None:
    """hbal's --exclusion-tags, -U and --ignore-soft-errors: hbal reading gnt's RAPI and
    `gnt-cluster balance` with the same options plan the same moves."""
    placed = (("xo1", "svc:web"), ("xo2", "svc:web"), ("xo3", "other:x"))
    for name, tag in placed:  # externally mirrored, all on node1: hbal moves them with failover-to-any
        cluster.ok(*ADD_INSTANCE, "-t", "sharedfile", "--disk", "0:size=4M", "-B", "memory=128M", "--no-start",
                   "--tags", tag, "-n", "node1", name)  # fmt: skip
    util = tmp_path / "util.txt"
    util.write_text("xo1 0.9 0.2 0.1 0.5\nxo2 0.8 0.3 0.1 0.4\nxo3 0.1 0.1 2 0.1\n")
    options = ["--exclusion-tags=svc", "-U", str(util), "--ignore-soft-errors"]
    try:
        time.sleep(LIVE_CACHE_TTL + 0.5)  # every tool reads the same settled free memory
        master = cluster.address("node1")
        hbal_text = _run([_htool("hbal"), "-m", master, *options])
        gnt_text = cluster.ok("gnt-cluster", "balance", *options)
        score = float(_number(r"Initial score: ([0-9.]+)", hbal_text))
        assert float(_number(r"Initial score: ([0-9.]+)", gnt_text)) == pytest.approx(score, rel=1e-5)
        hbal, gnt = _plan(hbal_text), _plan(gnt_text)
        assert hbal, "hbal finds moves: three instances on one of three nodes"
        assert [(n, t) for n, t, _ in gnt] == [(n, t) for n, t, _ in hbal]
        assert [s for _, _, s in gnt] == pytest.approx([s for _, _, s in hbal], rel=1e-5)
        plain = _plan(cluster.ok("gnt-cluster", "balance"))
        assert plain != gnt, "the options changed the plan"
    finally:
        for name, _ in placed:
            cluster.run("gnt-instance", "remove", "-f", name)


def test_ganetis_client_manages_node_groups(cluster: VCluster, admin: GanetiClient) -> None:
    admin.job("CreateGroup", "gc-rack", alloc_policy="last_resort")
    try:
        assert admin("GetGroup", "gc-rack")["alloc_policy"] == "last_resort"
        admin.job("CreateGroup", "gc-dry", dry_run=True)
        assert "gc-dry" not in admin("GetGroups")
        admin.job("RenameGroup", "gc-rack", "gc-rack2")
        admin.job("ModifyGroup", "gc-rack2", alloc_policy="preferred", ipolicy={"vcpu-ratio": 3.0})
        group = admin("GetGroup", "gc-rack2")
        assert group["alloc_policy"] == "preferred" and group["ipolicy"]["vcpu-ratio"] == 3.0
        admin.job("ModifyGroup", "gc-rack2", diskparams={"drbd": {"resync-rate": 2048}})
        group = admin("GetGroup", "gc-rack2")
        assert group["diskparams"]["drbd"]["resync-rate"] == 2048
        assert group["custom_diskparams"] == {"drbd": {"resync-rate": 2048}}
        (refused,) = admin.calls(("ModifyGroup", ["gc-rack2"], {"diskparams": {"drbd": {"resync-rate": "fast"}}}))
        assert refused["ok"] is False and refused["code"] == 400, refused
        admin.job("AssignGroupNodes", "gc-rack2", ["node3"], force=True)
        assert admin("GetGroup", "gc-rack2")["node_list"] == ["node3"]
        job_id = admin("DeleteGroup", "gc-rack2")
        assert admin("WaitForJobCompletion", job_id, period=0.2) is False
        assert "not empty, has the following node(s): node3" in json.dumps(admin("GetJobStatus", job_id)["opresult"])
        assert "gc-rack2" in admin("GetGroups")
    finally:
        admin.job("AssignGroupNodes", "default", ["node3"])
        for name in admin("GetGroups"):
            if name != "default":
                admin.job("DeleteGroup", name)
    assert admin("GetGroups") == ["default"]


def test_ganetis_client_queries_with_a_filter(cluster: VCluster, anonymous: GanetiClient) -> None:
    cluster.ok(*ADD_DISKLESS, "-B", "memory=32M", "-n", "node2", "gq1")
    try:
        reader = GanetiClient(cluster, ("reader", "r3ad"))
        answer = reader(
            "Query", "instance", ["name", "pnode"], qfilter=["&", ["=", "pnode", "node2"], ["=~", "name", "^gq"]]
        )
        assert answer["data"] == [[[0, "gq1"], [0, "node2"]]]
        assert reader("Query", "node", ["name"], qfilter=["=", "role", "M"])["data"] == [[[0, "node1"]]]
        fields = reader("QueryFields", "group", fields=["name", "alloc_policy"])["fields"]
        assert [f["name"] for f in fields] == ["name", "alloc_policy"]
        (refused,) = anonymous.calls(("Query", ["node", ["name"]], {}))
        assert refused["ok"] is False and refused["code"] == 401  # queries need a login, as in Ganeti
        out = cluster.ok(
            "gnt-instance", "list", "--no-headers", "-o", "name", "-F", 'pnode == "node2" and name =~ /^gq/'
        )
        assert out.split() == ["gq1"]
        out = cluster.ok("gnt-node", "list", "--no-headers", "-o", "name", "-F", 'not master_candidate or role == "M"')
        assert "node1" in out.split()
        bad = cluster.run("gnt-instance", "list", "-F", "pnode ==")
        assert bad.rc == 1 and "Invalid query filter: expected value, found the end" in bad.text
    finally:
        cluster.ok("gnt-instance", "remove", "-f", "gq1")


def test_ganetis_client_reads_instance_info_and_multi_allocates(
    cluster: VCluster, admin: GanetiClient, tmp_path: Path
) -> None:
    def entry(name: str) -> dict[str, Any]:
        allocation = admin(
            "InstanceAllocation", "create", name, "diskless", [], [], os="noop", name_check=False, ip_check=False
        )
        return {**allocation, "beparams": {"maxmem": 32, "minmem": 32}}

    names = ["gma1", "gma2"]
    try:
        job_id = admin("InstancesMultiAlloc", [entry(n) for n in names], iallocator="hail", dry_run=True)
        assert admin("WaitForJobCompletion", job_id, period=0.2) is True, admin("GetJobStatus", job_id)
        assert admin("GetJobStatus", job_id)["opresult"] == [{"allocatable": names, "failed": [], "jobs": []}]
        assert not set(names) & set(admin("GetInstances"))
        job_id = admin("InstancesMultiAlloc", [entry(n) for n in names], iallocator="hail")
        assert admin("WaitForJobCompletion", job_id, period=0.2) is True, admin("GetJobStatus", job_id)
        (result,) = admin("GetJobStatus", job_id)["opresult"]
        assert result["allocatable"] == names and result["failed"] == []
        for ok, create_job in result["jobs"]:
            assert ok and admin("WaitForJobCompletion", create_job, period=0.2) is True
        assert set(names) <= set(admin("GetInstances"))
        job_id = admin("GetInstanceInfo", "gma1", static=True)
        assert admin("WaitForJobCompletion", job_id, period=0.2) is True
        (static,) = admin("GetJobStatus", job_id)["opresult"]
        assert static["gma1"]["run_state"] is None and static["gma1"]["config_state"] == "up"
        job_id = admin("GetInstanceInfo", "gma1")
        assert admin("WaitForJobCompletion", job_id, period=0.2) is True
        (live,) = admin("GetJobStatus", job_id)["opresult"]
        assert live["gma1"]["run_state"] == "up" and live["gma1"]["pnode"] in ("node1", "node2", "node3")
        assert live["gma1"]["be_actual"]["maxmem"] == 32 and live["gma1"]["os"] == "noop"
        job_id = admin("GetInstanceInfo", "no-such-gma")
        assert admin("WaitForJobCompletion", job_id, period=0.2) is False
        assert "Instance 'no-such-gma' not known" in json.dumps(admin("GetJobStatus", job_id)["opresult"])
        (refused,) = admin.calls(("InstancesMultiAlloc", [[entry("gma3"), entry("gma3")]], {}))
        assert refused["ok"] is False and refused["code"] == 400 and "duplicate instance names" in refused["error"]
        out = cluster.ok("gnt-instance", "info", "--static", "gma2")
        assert "State: configured to be up\n" in out and "actual state" not in out
        assert "actual state is up" in cluster.ok("gnt-instance", "info", "gma2")
        batch = tmp_path / "batch.json"
        batch.write_text(json.dumps([{"instance_name": "gma3", "disk_template": "diskless", "templat": "file"}]))
        bad = cluster.run("gnt-instance", "batch-create", str(batch))
        assert bad.rc != 0 and "Unknown fields in definition 0" in bad.text, bad.text
        creates = [
            {
                "instance_name": n,
                "disk_template": "diskless",
                "os_type": "noop",
                "name_check": False,
                "ip_check": False,
                "beparams": {"maxmem": 32, "minmem": 32},
            }
            for n in ("gma3", "gma4")
        ]
        batch.write_text(json.dumps(creates))
        names += ["gma3", "gma4"]
        out = cluster.ok("gnt-instance", "batch-create", "-I", "hail", str(batch))
        assert "All instances created successfully." in out
        assert {"gma3", "gma4"} <= set(admin("GetInstances"))
    finally:
        for name in names:
            cluster.run("gnt-instance", "remove", "-f", name)


def test_ganetis_client_changes_an_instances_group(cluster: VCluster, admin: GanetiClient) -> None:
    cluster.ok(*ADD_DISKLESS, "-B", "memory=32M", "-n", "node1", "gcg1")
    admin.job("CreateGroup", "gc-rack3")
    try:
        admin.job("AssignGroupNodes", "gc-rack3", ["node3"], force=True)
        bad = cluster.run("gnt-instance", "change-group", "--to", "default", "gcg1")
        assert bad.rc != 0 and "Can't use group(s) 'default' as targets, they are used by" in bad.text, bad.text
        assert len(bad.text.strip().splitlines()) <= 3 and "Traceback" not in bad.text
        # Ganeti 3.0's client has no method for this resource: its generic request drives it
        body = {"target_groups": ["gc-rack3"], "iallocator": "hail"}
        job_id = admin("_SendRequest", "PUT", "/2/instances/gcg1/change-group", None, body)
        assert admin("WaitForJobCompletion", job_id, period=0.2) is True, admin("GetJobStatus", job_id)
        ((ok, move_job),) = admin("GetJobStatus", job_id)["opresult"][0]["jobs"]
        assert ok and admin("WaitForJobCompletion", move_job, period=0.2) is True, admin("GetJobStatus", move_job)
        assert admin("GetInstance", "gcg1")["pnode"] == "node3"
        out = cluster.ok("gnt-instance", "change-group", "-I", "hail", "gcg1")
        assert "Instance 'gcg1' changed group successfully." in out
        assert admin("GetInstance", "gcg1")["pnode"] in ("node1", "node2")
        (refused,) = admin.calls(("_SendRequest", ["PUT", "/2/instances/gcg1/change-group", None, {"bogus": 1}], {}))
        assert refused["ok"] is False and refused["code"] == 400
    finally:
        cluster.run("gnt-instance", "remove", "-f", "gcg1")
        admin.job("AssignGroupNodes", "default", ["node3"], force=True)
        admin.job("DeleteGroup", "gc-rack3")


def test_ganetis_client_manages_networks(cluster: VCluster, admin: GanetiClient, anonymous: GanetiClient) -> None:
    net = "gc-net"
    admin.job("CreateNetwork", net, "198.51.100.0/28", gateway="198.51.100.1", add_reserved_ips="198.51.100.5",
              tags="lab,web")  # fmt: skip
    try:
        assert anonymous("GetNetworks") == [net]
        (bulk,) = anonymous("GetNetworks", bulk=True)
        assert bulk["name"] == net and bulk["free_count"] == 12 and bulk["reserved_count"] == 4
        info = anonymous("GetNetwork", net)
        assert info["external_reservations"] == "198.51.100.0, 198.51.100.1, 198.51.100.5, 198.51.100.15"
        assert info["map"] == "XX...X.........X" and info["tags"] == ["lab", "web"] and info["group_list"] == []
        admin.job("ConnectNetwork", net, "default", "routed", "rt-gc")
        assert anonymous("GetNetwork", net)["group_list"] == [["default", "routed", "rt-gc", ""]]
        admin.job(
            "CreateInstance", "create", "gcnet1", "diskless", [], [{"network": net, "ip": "pool"}], os="noop",
            pnode="node2", name_check=False, ip_check=False, beparams={"maxmem": 32, "minmem": 32},
        )  # fmt: skip
        try:
            inst = anonymous("GetInstance", "gcnet1")
            assert inst["nic.ips"] == ["198.51.100.2"] and inst["nic.networks.names"] == [net]
            assert inst["nic.modes"] == ["routed"] and inst["nic.links"] == ["rt-gc"]
            assert anonymous("GetNetwork", net)["inst_list"] == ["gcnet1"]
            job_id = admin("DisconnectNetwork", net, "default")
            assert admin("WaitForJobCompletion", job_id, period=0.2) is False
            assert "still used in node group 'default'" in json.dumps(admin("GetJobStatus", job_id)["opresult"])
        finally:
            admin.job("DeleteInstance", "gcnet1")
        assert anonymous("GetNetwork", net)["free_count"] == 12
        admin.job("ModifyNetwork", net, add_reserved_ips=["198.51.100.6"], mac_prefix="aa:00:42")
        info = anonymous("GetNetwork", net)
        assert "198.51.100.6" in info["external_reservations"] and info["mac_prefix"] == "aa:00:42"
        admin.job("AddNetworkTags", net, ["rack:1"])
        assert admin("GetNetworkTags", net) == ["lab", "rack:1", "web"]
        admin.job("DeleteNetworkTags", net, ["lab"])
        assert admin("GetNetworkTags", net) == ["rack:1", "web"]
        job_id = admin("DeleteNetwork", net)
        assert admin("WaitForJobCompletion", job_id, period=0.2) is False  # still connected
        admin.job("DisconnectNetwork", net, "default")
        admin.job("DeleteNetwork", net, dry_run=True)
        assert anonymous("GetNetworks") == [net]
        admin.job("DeleteNetwork", net)
        assert anonymous("GetNetworks") == []
    finally:  # already done when the test passed: each job then fails, harmlessly
        for method, args in (("DisconnectNetwork", [net, "default"]), ("DeleteNetwork", [net])):
            (outcome,) = admin.calls((method, args, {}))
            if outcome["ok"]:
                admin("WaitForJobCompletion", outcome["result"], period=0.2)
    outcomes = anonymous.calls(("GetNetworks", [], {}), ("GetNetwork", ["no-such-net"], {}))
    assert outcomes[0]["result"] == [] and outcomes[1]["code"] == 404
    (bad,) = admin.calls(("CreateNetwork", ["bad-net", "198.51.100.0/8"], {}))
    assert bad["ok"] is False and bad["code"] == 400 and "is not an IPv4 network" in bad["error"]


def test_ganetis_client_manages_filter_rules(cluster: VCluster, admin: GanetiClient, anonymous: GanetiClient) -> None:
    predicates = [["opcode", ["&", ["=", "OP_ID", "OP_TAGS_SET"], ["=[]", "tags", "gc-filtered"]]]]
    uuid = admin("AddFilter", 2, predicates, "REJECT", reason_trail=[["gnt:user", "gc test", 1]])
    try:
        assert anonymous("GetFilters") == [uuid]
        rule = admin("GetFilter", uuid)
        assert rule["uuid"] == uuid and rule["priority"] == 2 and rule["action"] == "REJECT"
        assert rule["predicates"] == predicates
        assert [entry[:2] for entry in rule["reason_trail"]] == [["gnt:user", "gc test"], ["gnt:client", ""]]
        assert anonymous("GetFilters", bulk=True) == [rule]
        job_id = admin("AddClusterTags", ["gc-filtered"])
        assert admin("WaitForJobCompletion", job_id, period=0.2) is False
        assert admin("GetJobStatus", job_id)["status"] == "canceled"
        assert admin("GetClusterTags") == []
        assert admin("ReplaceFilter", uuid, 0, predicates, ["RATE_LIMIT", 1]) == uuid
        assert admin("GetFilter", uuid)["action"] == ["RATE_LIMIT", 1]
        admin.job("AddClusterTags", ["gc-filtered"])  # one at a time: it runs
        assert admin("GetClusterTags") == ["gc-filtered"]
        (refused,) = anonymous.calls(("AddFilter", [0, [], "PAUSE"], {}))
        assert refused["ok"] is False and refused["code"] == 401
        (bad,) = admin.calls(("AddFilter", [0, [["jobid", ["=", "name", 1]]], "PAUSE"], {}))
        assert bad["ok"] is False and bad["code"] == 400
        assert admin("GetFilters") == [uuid]
    finally:
        assert admin("DeleteFilter", uuid) is None
        if "gc-filtered" in admin("GetClusterTags"):
            admin.job("DeleteClusterTags", ["gc-filtered"])
    assert admin("GetFilters") == []
    (gone,) = admin.calls(("GetFilter", [uuid], {}))
    assert gone["ok"] is False and gone["code"] == 404
