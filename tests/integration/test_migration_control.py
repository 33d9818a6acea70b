"""Stopping a migration half-way: the source keeps the guest, the target keeps nothing."""

from __future__ import annotations

import time

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


def test_cleanup_after_master_died_mid_migration_keeps_exactly_one_copy(slow_migration_cluster: VCluster) -> None:
    vc = slow_migration_cluster
    vc.ok(*ADD, "-B", "memory=128M", "-n", "node1", "slow-c")
    job = vc.submit("gnt-instance", "migrate", "-f", "-n", "node2", "slow-c")
    wait_for(lambda: "starting memory transfer" in vc.ok("gnt-job", "info", str(job)), 20)
    vc.kill_daemon("node1", "gnt-masterd")  # the orchestrator dies half-way
    vc.start_masterd("node1")
    assert vc.wait_job(job, 30) == "error"
    time.sleep(1)  # whatever the nodes were doing on their own has finished by now
    out = vc.ok("gnt-instance", "migrate", "-f", "--cleanup", "-n", "node2", "slow-c")
    assert "instance state:" in out
    pnode = vc.instance_field("slow-c", "pnode")
    other = "node2" if pnode == "node1" else "node1"
    assert vc.instance_field("slow-c", "status") == "running"
    assert alive(vc.guest_pid(pnode, "slow-c"))
    assert not vc.guest_dir(other, "slow-c").exists()  # never two copies
    assert vc.run("gnt-cluster", "verify").rc == 0


def test_node_failover_moves_every_primary(slow_migration_cluster: VCluster) -> None:
    vc = slow_migration_cluster
    vc.ok(*ADD, "-B", "memory=32M", "-n", "node2", "nf-a")
    vc.ok(*ADD, "-B", "memory=32M", "--no-start", "-n", "node2", "nf-b")
    out = vc.ok("gnt-node", "failover", "-f", "node2")
    assert "Failover instance nf-a" in out
    assert vc.instance_field("nf-a", "pnode") == "node1" and vc.instance_field("nf-a", "status") == "running"
    assert vc.instance_field("nf-b", "pnode") == "node1" and vc.instance_field("nf-b", "status") == "ADMIN_down"
    assert "No primary instances on node node2" in vc.ok("gnt-node", "failover", "-f", "node2")
