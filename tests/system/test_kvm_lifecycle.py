"""Real QEMU guests through the kvm driver: boot, stop, reboot, crash vs poweroff, daemon restart."""

from __future__ import annotations

import os
import shutil
import signal
import time

from guest_console import GuestConsole, counters, read_log, wait_for_text, wait_ready
from kvmtest import make_disk, make_spec, run

from backends.kvm import accel as accel_probe
from backends.kvm import proc
from gnt.runtime import RunState


def test_accel_probe_boot_tests_and_caches(accel_verdict, guest_files, make_node) -> None:
    assert accel_verdict["accel"] in ("kvm", "tcg")
    assert accel_verdict["reason"]
    data = os.path.join(make_node().root, "data")
    os.makedirs(data, exist_ok=True)
    proc.save_state(accel_probe.cache_path(data), accel_verdict)  # as if this node had probed
    again = run(accel_probe.detect(shutil.which("qemu-system-x86_64"), data, [guest_files[0]]))
    assert again == accel_verdict  # the cached verdict, probe time included: no new probe ran


def test_boot_prints_marker_and_counts(make_node) -> None:
    node = make_node()
    spec = make_spec(disks=[make_disk(os.path.join(node.disk_dir(), "d0.qcow2"), "file", "qcow2")])
    run(node.driver.start(spec))
    paths = node.driver.paths_for(spec.name)
    run(wait_ready(paths.serial_log))
    info = run(node.driver.instance_info(spec.name))
    assert info.state == RunState.RUNNING and info.pid
    assert run(node.driver.list_instances()) == [spec.name]
    assert node.driver.console_command(spec)[-1] == f"UNIX-CONNECT:{paths.serial}"
    run(wait_for_text(paths.serial_log, "GNT-COUNTER 5"))
    node_info = run(node.driver.node_info())
    assert node_info["accel"] in ("kvm", "tcg") and node_info["memory_total"] > 0


def test_start_paused_runs_no_guest_code(make_node) -> None:
    node = make_node()
    spec = make_spec()
    run(node.driver.start(spec, paused=True))
    assert run(node.driver.instance_info(spec.name)).state == RunState.PAUSED
    run(node.driver.command(spec.name, "cont"))
    run(wait_ready(node.driver.paths_for(spec.name).serial_log))


def test_soft_stop_powers_guest_off_before_timeout(make_node) -> None:
    node = make_node()
    spec = make_spec()
    run(node.driver.start(spec))
    log_path = node.driver.paths_for(spec.name).serial_log
    run(wait_ready(log_path))
    state = node.driver.load(spec.name)
    start = time.monotonic()
    run(node.driver.stop(spec, timeout=60))
    assert time.monotonic() - start < 30, "ACPI shutdown should not need the timeout"
    assert not node.driver.alive(state)
    assert run(node.driver.instance_info(spec.name)) is None


def test_hard_stop_kills_at_once(make_node) -> None:
    node = make_node()
    spec = make_spec()
    run(node.driver.start(spec))
    state = node.driver.load(spec.name)
    start = time.monotonic()
    run(node.driver.stop(spec, timeout=60, force=True))
    assert time.monotonic() - start < 5 and not node.driver.alive(state)


def test_user_poweroff_is_shutdown_and_kill_is_crash(make_node) -> None:
    node = make_node()
    user, victim = make_spec(), make_spec()
    for spec in (user, victim):
        run(node.driver.start(spec))
    for spec in (user, victim):
        run(wait_ready(node.driver.paths_for(spec.name).serial_log))

    async def poweroff() -> None:
        async with GuestConsole(node.driver.paths_for(user.name).serial) as console:
            await console.check("true")  # the shell is up and reading
            await console.send("poweroff -f")  # no prompt comes back from a powered-off guest
            # stay connected until QEMU has read the line: it drops unread input on disconnect
            await wait_for_text(node.driver.paths_for(user.name).serial_log, "reboot: Power down", 30)

    run(poweroff())
    deadline = time.monotonic() + 30
    while run(node.driver.instance_info(user.name)).state != RunState.SHUTDOWN:
        assert time.monotonic() < deadline, "guest poweroff not seen as SHUTDOWN"
        time.sleep(0.2)
    state = node.driver.load(victim.name)
    os.kill(state["pid"], signal.SIGKILL)
    time.sleep(0.5)
    assert run(node.driver.instance_info(victim.name)).state == RunState.CRASHED
    # the poweroff is remembered even once the process is gone (e.g. the node rebooted)
    os.kill(node.driver.load(user.name)["pid"], signal.SIGKILL)
    time.sleep(0.5)
    assert run(node.driver.instance_info(user.name)).state == RunState.SHUTDOWN
    for spec in (user, victim):
        run(node.driver.cleanup(spec.name))
        assert run(node.driver.instance_info(spec.name)) is None


def test_restarted_driver_finds_running_guest(make_node) -> None:
    node = make_node()
    spec = make_spec()
    run(node.driver.start(spec))
    log_path = node.driver.paths_for(spec.name).serial_log
    run(wait_ready(log_path))
    node.driver = node.new_driver(node.driver._accel_override, None)  # the node daemon restarted
    assert run(node.driver.list_instances()) == [spec.name]
    assert run(node.driver.instance_info(spec.name)).state == RunState.RUNNING
    before = max(counters(read_log(log_path)))
    run(wait_for_text(log_path, f"GNT-COUNTER {before + 3}"))
    run(node.driver.stop(spec, timeout=30))


def test_soft_and_hard_reboot(make_node) -> None:
    node = make_node()
    spec = make_spec()
    run(node.driver.start(spec))
    paths = node.driver.paths_for(spec.name)
    run(wait_ready(paths.serial_log))
    pid = node.driver.load(spec.name)["pid"]
    run(node.driver.reboot(spec))
    deadline = time.monotonic() + 60
    while read_log(paths.serial_log).count("GNT-GUEST-READY") < 2:
        assert time.monotonic() < deadline, "guest did not come back after system_reset"
        time.sleep(0.2)
    assert node.driver.load(spec.name)["pid"] == pid
    run(node.driver.reboot(spec, hard=True))
    assert node.driver.load(spec.name)["pid"] != pid
    run(wait_ready(node.driver.paths_for(spec.name).serial_log))
