"""Stopping a migration half-way: the source keeps the guest, the target keeps nothing."""

from __future__ import annotations

from tests.integration.vcluster import ADD_DISKLESS, VCluster, alive, wait_for

ADD = ADD_DISKLESS


def test_cancel_running_migration_keeps_source(slow_migration_cluster: VCluster) -> None:
    vc = slow_migration_cluster
    vc.ok(*ADD, "-B", "memory=128M", "-n", "node1", "slow-a")
    pid = vc.guest_pid("node1", "slow-a")
    job = vc.submit("gnt-instance", "migrate", "-f", "-n", "node2", "slow-a")
    wait_for(lambda: "starting memory transfer" in vc.ok("gnt-job", "info", str(job)), 20)
    out = vc.ok("gnt-job", "cancel", str(job))
    assert "will be canceled" in out
    assert vc.wait_job(job, 30) == "canceled"
    assert "canceled by request" in vc.ok("gnt-job", "info", str(job))
    assert vc.instance_field("slow-a", "pnode") == "node1"
    assert vc.instance_field("slow-a", "status") == "running"
    assert vc.guest_pid("node1", "slow-a") == pid and alive(pid)
    assert not vc.guest_dir("node2", "slow-a").exists()


def test_target_daemon_dying_mid_migration_keeps_source(slow_migration_cluster: VCluster) -> None:
    vc = slow_migration_cluster
    vc.ok(*ADD, "-B", "memory=128M", "-n", "node1", "slow-b")
    job = vc.submit("gnt-instance", "migrate", "-f", "-n", "node2", "slow-b")
    wait_for(lambda: "starting memory transfer" in vc.ok("gnt-job", "info", str(job)), 20)
    vc.kill_daemon("node2", "gnt-noded")
    assert vc.wait_job(job, 60) == "error"
    assert "Could not migrate instance slow-b" in vc.ok("gnt-job", "info", str(job))
    assert vc.instance_field("slow-b", "pnode") == "node1"
    assert vc.instance_field("slow-b", "status") == "running"
    vc.start_noded("node2")
