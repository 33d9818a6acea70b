"""Forthcoming instances (`gnt-instance add --forthcoming`, then `--commit`) and `--file-storage-dir`
through the real CLI and RAPI on a virtual cluster: a reservation is listed and counted but has no
disk on its node, its commit makes and starts the real instance where it was reserved, operations
needing disks refuse it, and bad input is a one-line error that leaves nothing behind."""

from __future__ import annotations

from pathlib import Path

from tests.integration.test_rapi import ADMIN, Rapi, rapi  # noqa: F401 - fixture
from tests.integration.vcluster import ADD_INSTANCE, VCluster

ADD_FILE = [*ADD_INSTANCE, "-t", "file", "--disk", "0:size=4M", "-B", "memory=32M"]


def _storage(cluster: VCluster, node: str) -> Path:
    return cluster.dir / node / "srv/gnt/file-storage"


def _jobs(cluster: VCluster) -> list[str]:
    return cluster.ok("gnt-job", "list", "--no-headers", "-o", "id").split()


def _one_line_error(cluster: VCluster, *argv: str) -> str:
    """The error's one line (a prerequisite failure comes in Ganeti's frame: two heading lines)."""
    result = cluster.run(*argv)
    assert result.rc == 1, result.text
    lines = result.err.strip().splitlines()
    if lines[0] == "Failure: prerequisites not met for this operation:":
        assert lines[1].startswith("error type: ") and len(lines) == 3, result.err
        lines = lines[2:]
    assert len(lines) == 1, result.err
    return lines[0]


def test_reserve_count_commit_start_remove(cluster: VCluster) -> None:
    out = cluster.ok(*ADD_FILE, "--forthcoming", "-n", "node2", "fc-a")
    assert "creating no disks" in out
    assert cluster.instance_field("fc-a", "forthcoming") == "Y"
    assert cluster.instance_field("fc-a", "pnode") == "node2"
    assert "fc-a" in cluster.ok("gnt-node", "list", "--no-headers", "-o", "pinst_list", "node2")
    assert not (_storage(cluster, "node2") / "fc-a").exists()  # reserved, nothing made
    error = _one_line_error(cluster, "gnt-instance", "startup", "fc-a")
    assert "Instance 'fc-a' is forthcoming" in error and "--commit" in error
    error = _one_line_error(cluster, *ADD_FILE, "fc-a")
    assert "already in the cluster (a forthcoming one" in error
    cluster.ok(*ADD_FILE, "--commit", "fc-a")  # where it was reserved, no -n needed
    assert cluster.instance_field("fc-a", "forthcoming") == "N"
    assert cluster.instance_field("fc-a", "status") == "running"
    (disk,) = list((_storage(cluster, "node2") / "fc-a").iterdir())
    assert disk.read_bytes()[:8] == b"gnt-noop"  # the OS was installed on it
    error = _one_line_error(cluster, *ADD_FILE, "--commit", "fc-a")
    assert "'fc-a' is not forthcoming but --commit was passed" in error
    cluster.ok("gnt-instance", "remove", "-f", "fc-a")
    assert not (_storage(cluster, "node2") / "fc-a").exists()


def test_commit_of_a_name_never_reserved_is_refused(cluster: VCluster) -> None:
    error = _one_line_error(cluster, *ADD_FILE, "--commit", "-n", "node1", "fc-none")
    assert "'fc-none' is not in the cluster; --commit needs a forthcoming instance" in error
    assert "fc-none" not in cluster.ok("gnt-instance", "list", "--no-headers", "-o", "name").split()
    assert not (_storage(cluster, "node1") / "fc-none").exists()


def test_removing_a_reservation_leaves_nothing(cluster: VCluster) -> None:
    cluster.ok(*ADD_FILE, "--forthcoming", "-n", "node3", "fc-b")
    cluster.ok("gnt-instance", "remove", "-f", "fc-b")
    assert "fc-b" not in cluster.ok("gnt-instance", "list", "--no-headers", "-o", "name").split()
    assert not (_storage(cluster, "node3") / "fc-b").exists()
    cluster.ok(*ADD_FILE, "--no-start", "-n", "node3", "fc-b")  # the name is free again
    cluster.ok("gnt-instance", "remove", "-f", "fc-b")


def test_rapi_reserves_with_the_forthcoming_field(cluster: VCluster, rapi: Rapi) -> None:  # noqa: F811
    body = {
        "__version__": 1,
        "instance_name": "fc-r",
        "disk_template": "file",
        "disks": [{"size": 4}],
        "os_type": "noop",
        "pnode": "node1",
        "nics": [],
        "name_check": False,
        "ip_check": False,
        "beparams": {"memory": 32},
        "forthcoming": True,
    }
    status, job_id = rapi.call("POST", "/2/instances", body, ADMIN)
    assert status == 200, job_id
    assert cluster.wait_job(int(job_id)) == "success"
    assert cluster.instance_field("fc-r", "forthcoming") == "Y"
    assert not (_storage(cluster, "node1") / "fc-r").exists()
    status, job_id = rapi.call("DELETE", "/2/instances/fc-r", None, ADMIN)
    assert status == 200 and cluster.wait_job(int(job_id)) == "success"


def test_file_storage_dir_places_the_disks_and_remove_cleans_up(cluster: VCluster) -> None:
    cluster.ok(*ADD_FILE, "--no-start", "-n", "node1", "--file-storage-dir", "sub/dir", "fsd-a")
    (disk,) = list((_storage(cluster, "node1") / "sub/dir/fsd-a").iterdir())
    assert disk.name.endswith(".file.disk0")
    assert not (_storage(cluster, "node1") / "fsd-a").exists()
    cluster.ok("gnt-instance", "remove", "-f", "fsd-a")
    # the instance's directory goes with its disks; the admin's subdirectory stays, as in Ganeti
    assert not (_storage(cluster, "node1") / "sub/dir/fsd-a").exists()
    assert (_storage(cluster, "node1") / "sub/dir").is_dir()


def test_bad_file_storage_dirs_are_one_line_errors_with_no_job(cluster: VCluster) -> None:
    before = _jobs(cluster)
    for directory, reason in (
        ("../x", "must not contain '..'"),
        ("/etc", "must be relative"),
        ("", "non-empty relative path"),
    ):
        error = _one_line_error(cluster, *ADD_FILE, "-n", "node1", "--file-storage-dir", directory, "fsd-bad")
        assert reason in error
    assert _jobs(cluster) == before
    assert "fsd-bad" not in cluster.ok("gnt-instance", "list", "--no-headers", "-o", "name").split()
    assert not list(_storage(cluster, "node1").glob("**/fsd-bad"))
    assert not (cluster.dir / "node1/srv/gnt/x").exists()
