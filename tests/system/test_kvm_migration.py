"""Live migration between two nodes (two driver objects, own dirs, loopback) with real guests."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from guest_console import GuestConsole, counters, read_log, wait_for_text, wait_ready
from kvmtest import Node, make_disk, make_spec, run

from backends.kvm.migration import runs_tcg
from gnt.runtime import InstanceSpec, MigrationPhase, NicSpec, RunState
from gnt.serial import from_dict, to_dict

ADDRESS = "127.0.0.1"
DATA = "gnt-data-written-before-migration"


def target_spec(spec: InstanceSpec, target: Node) -> InstanceSpec:
    """The spec the master sends the target: local (file) disks live under the target's dir."""
    copy = from_dict(InstanceSpec, to_dict(spec))
    for disk in copy.disks:
        if disk.dev_type == "file":
            disk.path = os.path.join(target.disk_dir(), os.path.basename(disk.path or ""))
            disk.logical_id = ["loop", disk.path]
    return copy


def migrate(src: Node, dst: Node, spec: InstanceSpec, live: bool = True, poll: float = 0.3) -> Any:
    """The master's step protocol; returns the final MigrationStatus (finalized on both sides)."""
    tspec = target_spec(spec, dst)
    info = run(dst.driver.accept_instance(tspec, ADDRESS))
    run(src.driver.migrate_instance(spec, ADDRESS, info, live))
    status = poll_until_final(src, spec, poll)
    ok = status.phase == MigrationPhase.COMPLETED
    run(dst.driver.finalize_migration_dst(tspec, info, ok))
    run(src.driver.finalize_migration_src(spec, ok))
    return status


def poll_until_final(src: Node, spec: InstanceSpec, poll: float = 0.3, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        status = run(src.driver.migration_status(spec))
        if status.phase != MigrationPhase.ACTIVE:
            return status
        assert time.monotonic() < deadline, f"migration did not finish: {status}"
        time.sleep(poll)


async def write_disk(node: Node, name: str) -> None:
    async with GuestConsole(node.driver.paths_for(name).serial) as console:
        await console.check(f"echo {DATA} > /tmp/d; dd if=/tmp/d of=/dev/vda bs=512 count=1 conv=fsync 2>/dev/null")


async def check_guest_after(node: Node, name: str, ping: str | None) -> None:
    async with GuestConsole(node.driver.paths_for(name).serial) as console:
        out = await console.check("echo 3 > /proc/sys/vm/drop_caches; dd if=/dev/vda bs=512 count=1 2>/dev/null")
        assert DATA in out
        if ping:
            await console.check(f"ping -c 1 -W 5 {ping}", timeout=30)


def assert_counter_continues(src_log: str, dst: Node, name: str) -> None:
    before = counters(src_log)
    dst_log = dst.driver.paths_for(name).serial_log
    run(wait_for_text(dst_log, "GNT-COUNTER", 20))
    first = counters(read_log(dst_log))[0]
    assert before and first > max(before) - 3, f"counter restarted: {max(before)} -> {first}"
    run(wait_for_text(dst_log, f"GNT-COUNTER {first + 3}", 30))


def _migrate_and_check(make_node, netns: str, dev_type: str, fmt: str) -> None:
    src, dst = make_node(netns), make_node(netns)
    disk = make_disk(os.path.join(src.disk_dir(), f"disk0.{fmt}"), dev_type, fmt)
    nic = NicSpec("n0", "aa:00:00:00:10:02", mode="bridged", link="br0")
    spec = make_spec(disks=[disk], nics=[nic], args="gnt.ip=10.8.0.2/24")
    run(src.driver.start(spec))
    run(wait_ready(src.driver.paths_for(spec.name).serial_log))
    run(write_disk(src, spec.name))
    src_log_path = src.driver.paths_for(spec.name).serial_log
    status = migrate(src, dst, spec)
    assert status.phase == MigrationPhase.COMPLETED, status.message
    assert status.downtime is not None and status.total_time
    src_log = read_log(src_log_path) if os.path.exists(src_log_path) else ""
    assert run(src.driver.instance_info(spec.name)) is None
    assert run(dst.driver.instance_info(spec.name)).state == RunState.RUNNING
    run(check_guest_after(dst, spec.name, ping="10.8.0.1"))
    assert_counter_continues(src_log or "GNT-COUNTER 1", dst, spec.name)


def test_live_migration_shared_disk(make_node, netns) -> None:
    _migrate_and_check(make_node, netns, "sharedfile", "raw")


def test_live_migration_mirrors_local_qcow2_disk(make_node, netns) -> None:
    _migrate_and_check(make_node, netns, "file", "qcow2")


def test_non_live_migration_resumes_on_target(make_node) -> None:
    src, dst = make_node(), make_node()
    spec = make_spec(disks=[make_disk(os.path.join(src.disk_dir(), "d0"), "sharedfile")])
    run(src.driver.start(spec))
    run(wait_ready(src.driver.paths_for(spec.name).serial_log))
    status = migrate(src, dst, spec, live=False)
    assert status.phase == MigrationPhase.COMPLETED
    assert run(dst.driver.instance_info(spec.name)).state == RunState.RUNNING


def _slow_migration(make_node) -> tuple[Node, Node, InstanceSpec, InstanceSpec, dict]:
    """A migration that cannot finish on its own: dirtying guest, 8 MiB/s cap, no escalation room."""
    src, dst = make_node(), make_node()
    spec = make_spec(
        args="gnt.dirty=24",
        migration_bandwidth=8,
        migration_max_bandwidth=8,
        migration_max_downtime=30,
        migration_max_throttle=0,
        disks=[make_disk(os.path.join(src.disk_dir(), "d0"), "sharedfile")],
    )
    run(src.driver.start(spec))
    run(wait_ready(src.driver.paths_for(spec.name).serial_log))
    tspec = target_spec(spec, dst)
    info = run(dst.driver.accept_instance(tspec, ADDRESS))
    run(src.driver.migrate_instance(spec, ADDRESS, info, True))
    time.sleep(1.5)
    assert run(src.driver.migration_status(spec)).phase == MigrationPhase.ACTIVE
    return src, dst, spec, tspec, info


def _assert_source_keeps_running(src: Node, spec: InstanceSpec) -> None:
    assert run(src.driver.instance_info(spec.name)).state == RunState.RUNNING
    log = src.driver.paths_for(spec.name).serial_log
    last = max(counters(read_log(log)))
    run(wait_for_text(log, f"GNT-COUNTER {last + 3}", 30))


def test_cancel_keeps_source_running(make_node) -> None:
    src, dst, spec, tspec, info = _slow_migration(make_node)
    run(src.driver.abort_migration(spec))
    status = run(src.driver.migration_status(spec))
    assert status.phase == MigrationPhase.CANCELLED
    run(dst.driver.finalize_migration_dst(tspec, info, False))
    run(src.driver.finalize_migration_src(spec, False))
    assert run(dst.driver.instance_info(spec.name)) is None
    _assert_source_keeps_running(src, spec)


def test_target_dying_fails_cleanly(make_node) -> None:
    src, dst, spec, tspec, info = _slow_migration(make_node)
    os.kill(dst.driver.load(spec.name)["pid"], signal.SIGKILL)
    status = poll_until_final(src, spec)
    assert status.phase == MigrationPhase.FAILED
    assert "failed" in status.message and "source keeps the guest" in status.message
    run(dst.driver.finalize_migration_dst(tspec, info, False))
    run(src.driver.finalize_migration_src(spec, False))
    _assert_source_keeps_running(src, spec)


def test_target_dying_during_disk_mirror_fails_cleanly(make_node) -> None:
    src, dst = make_node(), make_node()
    spec = make_spec(disks=[make_disk(os.path.join(src.disk_dir(), "big"), "file", size=2048)])
    # a big, incompressible-enough disk keeps the mirror busy long enough to kill the target
    run(src.driver.start(spec))
    run(wait_ready(src.driver.paths_for(spec.name).serial_log))

    async def fill() -> None:
        async with GuestConsole(src.driver.paths_for(spec.name).serial) as console:
            await console.check("dd if=/dev/urandom of=/dev/vda bs=1M count=48 conv=fsync 2>/dev/null", 120)

    run(fill())
    tspec = target_spec(spec, dst)
    info = run(dst.driver.accept_instance(tspec, ADDRESS))
    run(src.driver.migrate_instance(spec, ADDRESS, info, True))
    os.kill(dst.driver.load(spec.name)["pid"], signal.SIGKILL)
    status = poll_until_final(src, spec)
    assert status.phase == MigrationPhase.FAILED, status
    run(dst.driver.finalize_migration_dst(tspec, info, False))
    run(src.driver.finalize_migration_src(spec, False))
    _assert_source_keeps_running(src, spec)


def test_dirtying_guest_converges_with_ganeti_defaults(make_node) -> None:
    """128 MiB guest dirtying 32 MiB/s at Ganeti's 32 MiB/s / 30 ms: the policy makes it finish."""
    src, dst = make_node(), make_node()
    spec = make_spec(args="gnt.dirty=32", disks=[make_disk(os.path.join(src.disk_dir(), "d0"), "sharedfile")])
    run(src.driver.start(spec))
    run(wait_ready(src.driver.paths_for(spec.name).serial_log))
    time.sleep(1)
    tcg = runs_tcg(src.driver.load(spec.name) or {})
    status = migrate(src, dst, spec)
    assert status.phase == MigrationPhase.COMPLETED, status.message
    if not tcg:  # under TCG the migration starts at the limits and finishes in one pass (migration_limits)
        assert status.extra["actions"], "the policy should have had to act"
    assert run(dst.driver.instance_info(spec.name)).state == RunState.RUNNING


def test_cleanup_info_tells_which_side_runs(make_node) -> None:
    src, dst = make_node(), make_node()
    spec = make_spec(disks=[make_disk(os.path.join(src.disk_dir(), "d0"), "sharedfile")])
    run(src.driver.start(spec))
    run(wait_ready(src.driver.paths_for(spec.name).serial_log))
    tspec = target_spec(spec, dst)
    info = run(dst.driver.accept_instance(tspec, ADDRESS))
    run(src.driver.migrate_instance(spec, ADDRESS, info, True))
    assert poll_until_final(src, spec).phase == MigrationPhase.COMPLETED
    # the master "crashed" here: no finalize. --cleanup asks both nodes.
    src_facts = run(src.driver.migration_cleanup_info(spec.name))
    dst_facts = run(dst.driver.migration_cleanup_info(spec.name))
    assert src_facts["migration"] == "completed" and src_facts["status"] == "postmigrate"
    assert dst_facts["status"] == "running"
    run(dst.driver.finalize_migration_dst(tspec, info, True))
    run(src.driver.finalize_migration_src(spec, True))
    assert run(src.driver.instance_info(spec.name)) is None
