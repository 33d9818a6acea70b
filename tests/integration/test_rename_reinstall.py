"""gnt-instance rename and reinstall through the real CLI (and RAPI) on a virtual cluster."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.test_rapi import ADMIN, Rapi
from tests.integration.vcluster import ADD_INSTANCE, VCluster

ADD_FILE = [*ADD_INSTANCE, "-t", "file", "--disk", "0:size=4M", "-B", "memory=32M"]


@pytest.fixture
def rapi(cluster: VCluster) -> Rapi:
    """The RAPI over HTTPS with test_rapi's users (admin may write)."""
    users = cluster.dir / "node1/var/lib/gnt/rapi/users"
    users.parent.mkdir(parents=True, exist_ok=True)
    users.write_text("# name password options\nadmin s3cret write\nreader r3ad\n")
    users.chmod(0o600)
    return Rapi(cluster)


def _disk_dir(cluster: VCluster, node: str, instance: str) -> Path:
    return cluster.dir / node / "srv/gnt/file-storage" / instance


def _os_logs(cluster: VCluster, node: str, prefix: str) -> list[Path]:
    return sorted((cluster.dir / node / "var/log/gnt/os").glob(f"{prefix}*"))


def test_rename_moves_the_disks_runs_the_os_script_and_the_instance_starts(cluster: VCluster) -> None:
    cluster.ok(*ADD_FILE, "--no-start", "-n", "node3", "ren-a")
    (disk,) = list(_disk_dir(cluster, "node3", "ren-a").iterdir())
    out = cluster.ok("gnt-instance", "rename", "--no-name-check", "--no-ip-check", "ren-a", "ren-b")
    assert "Instance 'ren-a' renamed to 'ren-b'" in out
    assert "ren-a" not in cluster.ok("gnt-instance", "list", "--no-headers", "-o", "name").split()
    assert cluster.instance_field("ren-b", "pnode") == "node3"
    assert not _disk_dir(cluster, "node3", "ren-a").exists()
    moved = _disk_dir(cluster, "node3", "ren-b") / disk.name
    assert moved.read_bytes()[:8] == b"gnt-noop"  # the same disk, with what the OS wrote at create
    (log,) = _os_logs(cluster, "node3", "rename-noop-ren-a-ren-b-")
    assert "noop rename: ren-a -> ren-b" in log.read_text()
    cluster.ok("gnt-instance", "startup", "ren-b")
    assert cluster.instance_field("ren-b", "status") == "running"
    cluster.ok("gnt-instance", "remove", "-f", "ren-b")
    assert not moved.exists()


def test_rename_of_a_running_instance_is_refused_and_changes_nothing(cluster: VCluster) -> None:
    cluster.ok(*ADD_FILE, "-n", "node2", "ren-up")
    before = sorted(_disk_dir(cluster, "node2", "ren-up").iterdir())
    result = cluster.run("gnt-instance", "rename", "--no-name-check", "--no-ip-check", "ren-up", "ren-down")
    assert result.rc == 1
    assert "Instance 'ren-up' is marked to be up, cannot rename" in result.err and "wrong_state" in result.err
    assert cluster.instance_field("ren-up", "status") == "running"
    assert sorted(_disk_dir(cluster, "node2", "ren-up").iterdir()) == before
    assert not _disk_dir(cluster, "node2", "ren-down").exists()
    cluster.ok("gnt-instance", "remove", "-f", "ren-up")


def test_rename_to_a_name_in_use_is_refused_and_changes_nothing(cluster: VCluster) -> None:
    cluster.ok(*ADD_FILE, "--no-start", "-n", "node1", "ren-x")
    cluster.ok(*ADD_INSTANCE, "-t", "diskless", "-B", "memory=32M", "--no-start", "-n", "node1", "ren-y")
    result = cluster.run("gnt-instance", "rename", "--no-name-check", "--no-ip-check", "ren-x", "ren-y")
    assert result.rc == 1
    assert "Instance 'ren-y' is already in the cluster" in result.err and "already_exists" in result.err
    assert cluster.instance_field("ren-x", "disk_template") == "file"
    assert cluster.instance_field("ren-y", "disk_template") == "diskless"
    assert len(list(_disk_dir(cluster, "node1", "ren-x").iterdir())) == 1
    cluster.ok("gnt-instance", "remove", "-f", "ren-x")
    cluster.ok("gnt-instance", "remove", "-f", "ren-y")


def test_rename_checks_the_new_name_unless_told_not_to(cluster: VCluster) -> None:
    cluster.ok(*ADD_INSTANCE, "-t", "diskless", "-B", "memory=32M", "--no-start", "-n", "node1", "ren-n")
    result = cluster.run("gnt-instance", "rename", "ren-n", "no-such-host.invalid")
    assert result.rc == 1 and "Cannot resolve the new name 'no-such-host.invalid'" in result.err
    result = cluster.run("gnt-instance", "rename", "--no-name-check", "ren-n", "ren-m")
    assert result.rc == 1 and "IP address check requires a name check" in result.err
    result = cluster.run("gnt-instance", "rename", "--no-name-check", "--no-ip-check", "nosuch", "ren-m")
    assert result.rc == 1 and "Instance 'nosuch' not known" in result.err
    assert cluster.instance_field("ren-n", "name") == "ren-n"
    cluster.ok("gnt-instance", "remove", "-f", "ren-n")


def test_rename_over_rapi(cluster: VCluster, rapi: Rapi) -> None:
    cluster.ok(*ADD_INSTANCE, "-t", "diskless", "-B", "memory=32M", "--no-start", "-n", "node2", "ren-r")
    body = {"new_name": "ren-s", "name_check": False, "ip_check": False}
    status, job_id = rapi.call("PUT", "/2/instances/ren-r/rename", body, user=ADMIN)
    assert status == 200
    assert cluster.wait_job(job_id) == "success"
    assert cluster.instance_field("ren-s", "pnode") == "node2"
    cluster.ok("gnt-instance", "remove", "-f", "ren-s")


def test_reinstall_runs_the_os_create_script_again(cluster: VCluster) -> None:
    cluster.ok(*ADD_FILE, "--no-start", "-n", "node2", "rei-a")
    (disk,) = list(_disk_dir(cluster, "node2", "rei-a").iterdir())
    with disk.open("r+b") as handle:
        handle.write(b"\0" * 8)
    out = cluster.ok("gnt-instance", "reinstall", "-f", "rei-a")
    assert "Running the instance OS create scripts..." in out
    assert disk.read_bytes()[:8] == b"gnt-noop"
    cluster.ok("gnt-instance", "reinstall", "-f", "-o", "noop", "rei-a")
    assert cluster.instance_field("rei-a", "os") == "noop"
    cluster.ok("gnt-instance", "remove", "-f", "rei-a")


def test_reinstall_select_os_asks_for_a_number(cluster: VCluster) -> None:
    cluster.ok(*ADD_FILE, "--no-start", "-n", "node1", "rei-s")
    result = cluster.run("gnt-instance", "reinstall", "-f", "--select-os", "rei-s", input="0\n")
    assert result.rc == 0, result.text
    assert "Available OS templates:\n  0: noop" in result.out
    assert "Enter OS template number (or x to abort):" in result.out
    result = cluster.run("gnt-instance", "reinstall", "-f", "--select-os", "rei-s", input="x\n")
    assert result.rc == 1 and "User aborted reinstall, exiting" in result.err
    cluster.ok("gnt-instance", "remove", "-f", "rei-s")


def test_reinstall_failures_change_nothing(cluster: VCluster) -> None:
    cluster.ok(*ADD_FILE, "-n", "node3", "rei-f")
    jobs_before = cluster.ok("gnt-job", "list", "--no-headers", "-o", "id").split()
    result = cluster.run("gnt-instance", "reinstall", "rei-f")  # no terminal, no -f: nothing is submitted
    assert result.rc == 1 and "removes all data. Continue?; use -f/--force" in result.err
    assert cluster.ok("gnt-job", "list", "--no-headers", "-o", "id").split() == jobs_before
    result = cluster.run("gnt-instance", "reinstall", "-f", "rei-f")
    assert result.rc == 1 and "Instance 'rei-f' is marked to be up, cannot reinstall" in result.err
    cluster.ok("gnt-instance", "shutdown", "--timeout=5", "rei-f")
    result = cluster.run("gnt-instance", "reinstall", "-f", "-o", "nosuchos", "rei-f")
    assert result.rc == 1 and "OS 'nosuchos' not in supported OS list for node node3" in result.err
    assert cluster.instance_field("rei-f", "os") == "noop"
    cluster.ok("gnt-instance", "remove", "-f", "rei-f")


def test_reinstall_over_rapi_reinstalls_and_starts(cluster: VCluster, rapi: Rapi) -> None:
    cluster.ok(*ADD_FILE, "-n", "node1", "rei-r")
    status, job_id = rapi.call("POST", "/2/instances/rei-r/reinstall", {"os": "noop"}, user=ADMIN)
    assert status == 200
    assert cluster.wait_job(job_id) == "success"
    assert cluster.instance_field("rei-r", "status") == "running"
    cluster.ok("gnt-instance", "remove", "-f", "rei-r")


def test_reinstall_by_tag_reinstalls_each_tagged_instance(cluster: VCluster) -> None:
    for name, node in (("rei-t1", "node1"), ("rei-t2", "node2")):
        cluster.ok(*ADD_FILE, "--no-start", "--tags", "reinstall-me", "-n", node, name)
        (disk,) = list(_disk_dir(cluster, node, name).iterdir())
        disk.write_bytes(b"\0" * 8 + disk.read_bytes()[8:])
    result = cluster.run("gnt-instance", "reinstall", "--tags", "reinstall-me")
    assert result.rc == 1 and "use --force-multiple" in result.err
    out = cluster.ok("gnt-instance", "reinstall", "--tags", "reinstall-me", "--force-multiple")
    assert "Submitted jobs" in out
    for name, node in (("rei-t1", "node1"), ("rei-t2", "node2")):
        (disk,) = list(_disk_dir(cluster, node, name).iterdir())
        assert disk.read_bytes()[:8] == b"gnt-noop"
        cluster.ok("gnt-instance", "remove", "-f", name)


def test_rename_of_a_sharedfile_instance_leaves_no_orphan_for_verify(cluster: VCluster) -> None:
    cluster.ok(
        *ADD_INSTANCE,
        "-t",
        "sharedfile",
        "--disk",
        "0:size=4M",
        "-B",
        "memory=32M",
        "--no-start",
        "-n",
        "node2",
        "ren-sf",
    )
    cluster.ok("gnt-instance", "rename", "--no-name-check", "--no-ip-check", "ren-sf", "ren-sg")
    info = cluster.ok("gnt-instance", "info", "ren-sg")
    assert "/ren-sg/" in info and "/ren-sf/" not in info
    result = cluster.run("gnt-cluster", "verify")
    assert "is unknown" not in result.out and "ren-sf" not in result.out, result.out
    cluster.ok("gnt-instance", "startup", "ren-sg")
    cluster.ok("gnt-instance", "remove", "-f", "ren-sg")
