"""Instance lifecycle through the real CLI on a real 3-node virtual cluster."""

from __future__ import annotations

import os
import signal
import time

from tests.integration.vcluster import ADD_INSTANCE, VCluster, alive, wait_for

ADD = ADD_INSTANCE


def test_add_diskless_prints_feedback_and_runs(cluster: VCluster) -> None:
    out = cluster.ok(*ADD, "-t", "diskless", "-B", "memory=64M", "-n", "node1", "life-a")
    assert "* creating instance disks..." in out and "* starting instance..." in out
    assert (
        cluster.ok(
            "gnt-instance",
            "list",
            "--no-headers",
            "--separator=:",
            "-o",
            "name,pnode,status,oper_state,be/memory",
            "life-a",
        ).strip()
        == "life-a:node1:running:Y:64"
    )
    assert alive(cluster.guest_pid("node1", "life-a"))
    cluster.ok("gnt-instance", "remove", "-f", "life-a")
    assert not cluster.guest_dir("node1", "life-a").exists()
    assert "life-a" not in cluster.ok("gnt-instance", "list")


def test_file_instance_disk_created_written_by_os_and_removed(cluster: VCluster) -> None:
    out = cluster.ok(*ADD, "-t", "file", "--disk", "0:size=16M", "-B", "memory=64M", "-n", "node3", "life-f")
    assert "* disk 0, size 16M" in out and "* running the instance OS create scripts..." in out
    info = cluster.ok("gnt-instance", "info", "life-f")
    path = next(line.split(": ", 1)[1].split(" (")[0] for line in info.splitlines() if "on primary:" in line)
    local = cluster.dir / "node3" / path.lstrip("/")
    assert local.stat().st_size == 16 * 1024 * 1024
    assert local.read_bytes()[:8] == b"gnt-noop"  # the noop OS create script wrote its marker
    cluster.ok("gnt-instance", "remove", "-f", "life-f")
    assert not local.exists()


def test_stopped_instance_shows_admin_down_and_starts(cluster: VCluster) -> None:
    cluster.ok(*ADD, "-t", "diskless", "-B", "memory=32M", "--no-start", "-n", "node1", "life-c")
    assert cluster.instance_field("life-c", "status") == "ADMIN_down"
    assert cluster.instance_field("life-c", "oper_ram") == "-"
    cluster.ok("gnt-instance", "startup", "life-c")
    assert cluster.instance_field("life-c", "status") == "running"
    cluster.ok("gnt-instance", "shutdown", "--timeout=5", "life-c")
    assert cluster.instance_field("life-c", "status") == "ADMIN_down"
    cluster.ok("gnt-instance", "remove", "-f", "life-c")


def test_reboot_keeps_instance_running(cluster: VCluster) -> None:
    cluster.ok(*ADD, "-t", "diskless", "-B", "memory=32M", "-n", "node2", "life-r")
    pid = cluster.guest_pid("node2", "life-r")
    cluster.ok("gnt-instance", "reboot", "-t", "hard", "life-r")
    assert cluster.instance_field("life-r", "status") == "running"
    assert cluster.guest_pid("node2", "life-r") != pid  # a hard reboot is a new process
    cluster.ok("gnt-instance", "remove", "-f", "life-r")


def test_migrate_keeps_guest_state(cluster: VCluster) -> None:
    cluster.ok(*ADD, "-t", "diskless", "-B", "memory=64M", "-n", "node1", "mig-a")
    time.sleep(1.2)
    before = cluster.guest_counter("node1", "mig-a")
    out = cluster.ok("gnt-instance", "migrate", "-f", "-n", "node2", "mig-a")
    assert "* memory transfer complete" in out and "* done" in out
    assert cluster.instance_field("mig-a", "pnode") == "node2"
    assert not cluster.guest_dir("node1", "mig-a").exists()
    assert cluster.guest_counter("node2", "mig-a") >= before  # the counter travelled with the guest
    wait_for(lambda: cluster.guest_counter("node2", "mig-a") > before, 5)
    cluster.ok("gnt-instance", "remove", "-f", "mig-a")


def test_failover_sharedfile_moves_and_restarts(cluster: VCluster) -> None:
    cluster.ok(*ADD, "-t", "sharedfile", "--disk", "0:size=8M", "-B", "memory=64M", "-n", "node2", "fo-b")
    out = cluster.ok("gnt-instance", "failover", "-f", "-n", "node3", "fo-b")
    assert "shutting down instance on source node node2" in out
    assert cluster.instance_field("fo-b", "pnode") == "node3"
    assert cluster.instance_field("fo-b", "status") == "running"
    cluster.ok("gnt-instance", "remove", "-f", "fo-b")
    assert not list((cluster.dir / "shared-file-storage").glob("fo-b/*"))


def test_migrate_without_target_uses_allocator(cluster: VCluster) -> None:
    cluster.ok(*ADD, "-t", "diskless", "-B", "memory=32M", "-n", "node1", "mig-auto")
    out = cluster.ok("gnt-instance", "migrate", "-f", "mig-auto")
    assert "Selected nodes for instance mig-auto via iallocator" in out
    assert cluster.instance_field("mig-auto", "pnode") != "node1"
    cluster.ok("gnt-instance", "remove", "-f", "mig-auto")


def test_modify_memory_applies_at_next_start(cluster: VCluster) -> None:
    cluster.ok(*ADD, "-t", "diskless", "-B", "memory=32M", "-n", "node1", "mod-a")
    out = cluster.ok("gnt-instance", "modify", "-B", "memory=48M", "mod-a")
    assert "be/maxmem -> 48" in out
    assert cluster.instance_field("mod-a", "be/memory") == "48M"
    cluster.ok("gnt-instance", "reboot", "-t", "full", "mod-a")
    assert cluster.instance_field("mod-a", "oper_ram") == "48M"
    cluster.ok("gnt-instance", "remove", "-f", "mod-a")


def test_with_user_shutdown_a_crash_is_restarted_by_the_watcher_a_poweroff_is_not(cluster: VCluster) -> None:
    cluster.ok("gnt-cluster", "modify", "--user-shutdown", "yes")
    try:
        assert "enabled user shutdown: True" in cluster.ok("gnt-cluster", "info")
        cluster.ok(*ADD, "-t", "diskless", "-B", "memory=32M", "-n", "node2", "wd-crash")
        cluster.ok(*ADD, "-t", "diskless", "-B", "memory=32M", "-n", "node2", "wd-user")
        os.kill(cluster.guest_pid("node2", "wd-crash"), signal.SIGKILL)
        os.kill(cluster.guest_pid("node2", "wd-user"), signal.SIGTERM)  # the guest's own poweroff
        wait_for(lambda: cluster.instance_field("wd-crash", "status") == "ERROR_down", 10)
        wait_for(lambda: cluster.instance_field("wd-user", "status") == "USER_down", 10)
        out = cluster.ok("gnt-watcher")
        assert "Restarted instance wd-crash" in out and "wd-user" not in out
        assert cluster.instance_field("wd-crash", "status") == "running"
        assert cluster.instance_field("wd-user", "status") == "USER_down"
        cluster.ok("gnt-instance", "startup", "wd-user")  # the admin starts it again
        assert cluster.instance_field("wd-user", "status") == "running"
        assert alive(cluster.guest_pid("node2", "wd-user"))
    finally:
        cluster.ok("gnt-cluster", "modify", "--user-shutdown", "no")
    for name in ("wd-crash", "wd-user"):
        cluster.ok("gnt-instance", "remove", "-f", name)


def test_without_user_shutdown_a_guests_poweroff_is_error_down_and_the_watcher_restarts_it(cluster: VCluster) -> None:
    assert "enabled user shutdown: False" in cluster.ok("gnt-cluster", "info")
    cluster.ok(*ADD, "-t", "diskless", "-B", "memory=32M", "-n", "node2", "wd-off")
    os.kill(cluster.guest_pid("node2", "wd-off"), signal.SIGTERM)  # the guest's own poweroff
    wait_for(lambda: cluster.instance_field("wd-off", "status") == "ERROR_down", 10)
    assert "Restarted instance wd-off" in cluster.ok("gnt-watcher")
    assert cluster.instance_field("wd-off", "status") == "running"
    cluster.ok("gnt-instance", "remove", "-f", "wd-off")


def test_dry_run_changes_nothing(cluster: VCluster) -> None:
    out = cluster.ok(*ADD, "-t", "diskless", "-B", "memory=32M", "-n", "node1", "--dry-run", "dry-a")
    assert "would be created on node(s) node1" in out
    assert "dry-a" not in cluster.ok("gnt-instance", "list")


def test_bulk_creates_submitted_together_all_succeed(cluster: VCluster) -> None:
    ids = [
        cluster.submit(*ADD, "-t", "diskless", "-B", "memory=16M", "-n", f"node{1 + i % 3}", f"bulk{i:02d}")
        for i in range(12)
    ]
    assert all(cluster.wait_job(j) == "success" for j in ids)
    listed = cluster.ok("gnt-instance", "list", "--no-headers", "-o", "name,status").split("\n")
    assert sum(1 for line in listed if line.startswith("bulk") and line.endswith("running")) == 12
    removes = [cluster.submit("gnt-instance", "remove", "-f", f"bulk{i:02d}") for i in range(12)]
    assert all(cluster.wait_job(j) == "success" for j in removes)
