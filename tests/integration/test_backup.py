"""gnt-backup export / list / import / remove on a virtual cluster, with disk checksums compared."""

from __future__ import annotations

import configparser
import hashlib
import os
from pathlib import Path

import pytest

from tests.integration.test_ganeti_clients import GANETI_LIB, GanetiClient
from tests.integration.test_rapi import ADMIN, Rapi
from tests.integration.vcluster import ADD_INSTANCE, VCluster, wait_for

ADD_FILE = [*ADD_INSTANCE, "-t", "file", "-B", "memory=32M"]


def _disk_files(cluster: VCluster, node: str, instance: str) -> list[Path]:
    directory = cluster.dir / node / "srv/gnt/file-storage" / instance
    files = list(directory.iterdir()) if directory.exists() else []
    return sorted(files, key=lambda p: int(p.name.rsplit("disk", 1)[-1]))  # in disk order (names hold uuids)


def _export_dir(cluster: VCluster, node: str) -> Path:
    return cluster.dir / node / "srv/gnt/export"


def _fill(path: Path) -> str:
    data = os.urandom(path.stat().st_size)
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_export_remove_instance_import_gives_the_same_disks(cluster: VCluster) -> None:
    cluster.ok(*ADD_FILE, "--disk", "0:size=3M", "--disk", "1:size=1M", "-n", "node1", "bk-a", "--no-start")
    sums = [_fill(p) for p in _disk_files(cluster, "node1", "bk-a")]
    cluster.ok("gnt-instance", "startup", "bk-a")
    out = cluster.ok("gnt-backup", "export", "-n", "node2", "--transport-compression", "gzip", "bk-a")
    assert "Exporting disk/1 from node1 to node2" in out
    assert cluster.instance_field("bk-a", "status") == "running"  # started again after the copy
    export = _export_dir(cluster, "node2") / "bk-a"
    assert sorted(p.name for p in export.iterdir()) == ["config.ini", "disk0.dump", "disk1.dump"]
    ini = configparser.ConfigParser(interpolation=None)
    ini.read_string((export / "config.ini").read_text())
    assert ini["export"]["source"] == "node1" and ini["export"]["os"] == "noop"
    assert ini["instance"]["disk_count"] == "2" and ini["instance"]["disk0_size"] == "3"
    assert [_sha(export / f"disk{i}.dump") for i in range(2)] == sums
    assert not (_export_dir(cluster, "node2") / "bk-a.new").exists()
    listed = cluster.ok("gnt-backup", "list", "--no-headers", "--separator", "|").split()
    assert "node2|bk-a" in listed

    cluster.ok("gnt-instance", "remove", "-f", "bk-a")
    out = cluster.ok("gnt-backup", "import", "-n", "node3", "--src-node", "node2", "--no-name-check",
                     "--no-ip-check", "--compress", "gzip-fast", "bk-a")  # fmt: skip
    assert "Importing disk/0" in out
    assert cluster.instance_field("bk-a", "pnode") == "node3"
    assert cluster.instance_field("bk-a", "disk_template") == "file"
    assert cluster.instance_field("bk-a", "status") == "ADMIN_down"
    assert [_sha(p) for p in _disk_files(cluster, "node3", "bk-a")] == sums
    cluster.ok("gnt-instance", "startup", "bk-a")
    assert cluster.instance_field("bk-a", "status") == "running"
    cluster.ok("gnt-instance", "remove", "-f", "bk-a")

    cluster.ok("gnt-backup", "remove", "bk-a")
    assert not export.exists()
    gone = cluster.run("gnt-backup", "remove", "bk-a")
    assert gone.rc == 1 and "No export of instance bk-a found on any node" in gone.err


def test_export_with_remove_instance_and_import_found_without_src_node(cluster: VCluster) -> None:
    cluster.ok(*ADD_FILE, "--disk", "0:size=2M", "-n", "node2", "bk-b", "--no-start")
    (disk,) = _disk_files(cluster, "node2", "bk-b")
    digest = _fill(disk)
    cluster.ok("gnt-backup", "export", "-f", "-n", "node3", "--remove-instance", "bk-b")
    assert "bk-b" not in cluster.ok("gnt-instance", "list", "--no-headers", "-o", "name").split()
    assert _disk_files(cluster, "node2", "bk-b") == []
    cluster.ok("gnt-group", "add", "rack2")
    cluster.ok("gnt-group", "assign-nodes", "rack2", "node1")
    try:  # -g: the allocator places the import in rack2, whose only node is node1
        out = cluster.ok("gnt-backup", "import", "-I", "hail", "-g", "rack2", "--file-driver", "loop",
                         "--no-name-check", "--no-ip-check", "bk-b")  # fmt: skip
        assert "Selected nodes for instance bk-b via iallocator hail: node1" in out
        assert [_sha(p) for p in _disk_files(cluster, "node1", "bk-b")] == [digest]
        cluster.ok("gnt-instance", "remove", "-f", "bk-b")
    finally:
        cluster.run("gnt-instance", "remove", "-f", "bk-b")
        cluster.ok("gnt-group", "assign-nodes", "default", "node1")
        cluster.ok("gnt-group", "remove", "rack2")
    cluster.ok("gnt-backup", "remove", "bk-b")


def test_backup_refusals_leave_nothing_behind(cluster: VCluster) -> None:
    cluster.ok(*ADD_FILE, "--disk", "0:size=1M", "-n", "node1", "bk-c", "--no-start")
    both = cluster.run("gnt-backup", "export", "-n", "node2", "--noshutdown", "--remove-instance", "bk-c")
    assert both.rc != 0 and "Can not remove instance without shutting it down before" in both.err
    unknown_node = cluster.run("gnt-backup", "export", "-n", "node9", "bk-c")
    assert unknown_node.rc == 1 and "node9" in unknown_node.err
    missing = cluster.run("gnt-backup", "import", "-n", "node2", "--no-name-check", "--no-ip-check", "bk-nothere")
    assert missing.rc == 1 and "No export found for relative path bk-nothere" in missing.err
    escape = cluster.run("gnt-backup", "import", "-n", "node2", "--src-node", "node1", "--src-dir", "/etc",
                         "--no-name-check", "--no-ip-check", "bk-x")  # fmt: skip
    assert escape.rc == 1 and "is not inside /srv/gnt/export" in escape.err
    dotdot = cluster.run("gnt-backup", "import", "-n", "node2", "--src-node", "node1", "--src-dir", "../x",
                         "--no-name-check", "--no-ip-check", "bk-x")  # fmt: skip
    assert dotdot.rc == 1 and "Invalid export name '../x'" in dotdot.err
    driver = cluster.run("gnt-backup", "import", "-n", "node2", "--src-node", "node1", "--file-driver", "blktap",
                         "--no-name-check", "--no-ip-check", "bk-x")  # fmt: skip
    assert driver.rc == 1 and [line for line in driver.err.splitlines() if line.strip()] == [
        "Parameter Error: Parameter 'OP_INSTANCE_CREATE.file_driver' fails validation: 'blktap' is not one of loop"
    ]
    cluster.ok("gnt-cluster", "modify", "--compression-tools", "gzip")
    try:  # a tool the cluster's list leaves out is refused before the instance is touched
        slow = cluster.run("gnt-backup", "export", "-n", "node2", "--transport-compression", "gzip-slow", "bk-c")
    finally:
        cluster.ok("gnt-cluster", "modify", "--compression-tools", "")
    assert slow.rc == 1 and "Compression tool not allowed, tools allowed are [gzip]" in slow.err
    assert "compression tools: \n    - gzip\n    - gzip-fast\n    - gzip-slow" in cluster.ok("gnt-cluster", "info")
    assert "bk-x" not in cluster.ok("gnt-instance", "list", "--no-headers", "-o", "name").split()
    for node in ("node1", "node2", "node3"):
        assert not _export_dir(cluster, node).exists() or not any(_export_dir(cluster, node).iterdir())
    cluster.ok("gnt-instance", "remove", "-f", "bk-c")


@pytest.fixture
def rapi(cluster: VCluster) -> Rapi:
    """The RAPI over HTTPS with test_rapi's users (admin may write)."""
    users = cluster.dir / "node1/var/lib/gnt/rapi/users"
    users.parent.mkdir(parents=True, exist_ok=True)
    users.write_text("# name password options\nadmin s3cret write\nreader r3ad\n")
    users.chmod(0o600)
    return Rapi(cluster)


def test_export_over_rapi_with_ganeti_body_and_remote_mode_refused(cluster: VCluster, rapi: Rapi) -> None:
    cluster.ok(*ADD_FILE, "--disk", "0:size=1M", "-n", "node1", "bk-r", "--no-start")
    status, job_id = rapi.call("PUT", "/2/instances/bk-r/prepare-export?mode=local", user=ADMIN)
    assert status == 200 and cluster.wait_job(job_id) == "success"
    status, body = rapi.call("PUT", "/2/instances/bk-r/prepare-export?mode=remote", user=ADMIN)
    assert status == 400 and "Remote (inter-cluster) exports are not supported" in body["explain"]
    status, body = rapi.call("PUT", "/2/instances/bk-r/prepare-export", user=ADMIN)
    assert status == 400 and "mode" in body["explain"]
    status, body = rapi.call(
        "PUT", "/2/instances/bk-r/export", {"mode": "remote", "destination": ["x"], "shutdown": True}, user=ADMIN
    )
    assert status == 400
    status, body = rapi.call("PUT", "/2/instances/bk-r/export", {"destination": "node3", "bogus": 1}, user=ADMIN)
    assert status == 400 and "bogus" in body["explain"]
    status, job_id = rapi.call(
        "PUT", "/2/instances/bk-r/export", {"mode": "local", "destination": "node3", "shutdown": True}, user=ADMIN
    )
    assert status == 200 and cluster.wait_job(job_id) == "success"
    assert (_export_dir(cluster, "node3") / "bk-r" / "config.ini").exists()
    cluster.ok("gnt-instance", "remove", "-f", "bk-r")
    body = {"__version__": 1, "mode": "import", "name": "bk-r", "src_node": "node3", "pnode": "node2",
            "name_check": False, "ip_check": False, "start": False}  # fmt: skip
    status, job_id = rapi.call("POST", "/2/instances", body, user=ADMIN)
    assert status == 200 and cluster.wait_job(job_id) == "success"
    assert cluster.instance_field("bk-r", "pnode") == "node2"
    cluster.ok("gnt-instance", "remove", "-f", "bk-r")
    cluster.ok("gnt-backup", "remove", "bk-r")


def test_target_node_dying_mid_export_leaves_the_instance_whole_and_no_export(fresh_cluster: VCluster) -> None:
    vc = fresh_cluster
    vc.ok(*ADD_FILE, "--disk", "0:size=256M", "-n", "node1", "bk-big", "--no-start")
    (disk,) = _disk_files(vc, "node1", "bk-big")
    digest = _fill(disk)  # random data: gzip cannot shrink it, so the copy takes a while
    vc.ok("gnt-instance", "startup", "bk-big")
    job = vc.submit("gnt-backup", "export", "-n", "node2", "--transport-compression", "gzip", "bk-big")
    staged = _export_dir(vc, "node2") / "bk-big.new/disk0.dump"
    wait_for(lambda: staged.exists() and staged.stat().st_size > 0, 120)
    vc.kill_daemon("node2", "gnt-noded")
    assert vc.wait_job(job, 120) == "error"
    assert vc.instance_field("bk-big", "pnode") == "node1"
    assert vc.instance_field("bk-big", "status") == "running"  # started again after the failed copy
    assert _sha(disk) == digest
    vc.start_noded("node2")
    wait_for(lambda: vc.run("gnt-backup", "list", "--no-headers", "-n", "node2").rc == 0, 30)
    assert vc.ok("gnt-backup", "list", "--no-headers").strip() == ""
    assert not (_export_dir(vc, "node2") / "bk-big.new").exists()  # swept by the restarted daemon
    assert not (_export_dir(vc, "node2") / "bk-big").exists()
    vc.ok("gnt-instance", "remove", "-f", "bk-big")


def test_move_to_a_node_whose_daemon_is_down_changes_nothing(fresh_cluster: VCluster) -> None:
    vc = fresh_cluster
    vc.ok(*ADD_FILE, "--disk", "0:size=2M", "-n", "node1", "mv-down", "--no-start")
    (disk,) = _disk_files(vc, "node1", "mv-down")
    digest = _fill(disk)
    vc.kill_daemon("node3", "gnt-noded")
    result = vc.run("gnt-instance", "move", "-f", "-n", "node3", "mv-down")
    assert result.rc == 1 and "Errors during disk copy: Could not create disk 0" in result.err
    assert vc.instance_field("mv-down", "pnode") == "node1"
    assert _sha(disk) == digest
    vc.start_noded("node3")
    vc.ok("gnt-instance", "remove", "-f", "mv-down")


@pytest.fixture
def admin(cluster: VCluster, rapi: Rapi) -> GanetiClient:
    """Ganeti 3.0's own RAPI client as the write user (rapi writes the users file)."""
    if not GANETI_LIB.exists():
        pytest.skip("Debian's ganeti-3.0 (Ganeti's RAPI client) is not installed: tools/install-deps.sh")
    return GanetiClient(cluster, ("admin", "s3cret"))


def test_ganetis_own_client_prepares_and_exports(cluster: VCluster, admin: GanetiClient) -> None:
    cluster.ok(*ADD_FILE, "--disk", "0:size=1M", "-n", "node2", "bk-g", "--no-start")
    try:
        admin.job("PrepareExport", "bk-g", "local")
        admin.job("ExportInstance", "bk-g", "local", "node1", shutdown=True, compress="gzip")
        assert (_export_dir(cluster, "node1") / "bk-g" / "config.ini").exists()
        (refused,) = admin.calls(("ExportInstance", ["bk-g", "remote", ["x"]], {}))
        assert refused["ok"] is False and refused["code"] == 400
    finally:
        cluster.run("gnt-instance", "remove", "-f", "bk-g")
        cluster.run("gnt-backup", "remove", "bk-g")
