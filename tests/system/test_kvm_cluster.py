"""Real QEMU guests driven through the whole stack: CLI -> job -> LU -> RPC -> node daemon -> QEMU.

A 2-node virtual cluster with the kvm hypervisor; the guest is the test kernel and busybox
initramfs from guest.py. Needs qemu-system-x86 (tests/system/install-deps.sh installs it).
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import guest  # noqa: E402
from guest_console import counters, read_log  # noqa: E402

from tests.integration.conftest import make_cluster  # noqa: E402
from tests.integration.vcluster import ADD_INSTANCE, VCluster, wait_for  # noqa: E402

pytestmark = pytest.mark.skipif(
    shutil.which("qemu-system-x86_64") is None,
    reason="needs qemu-system-x86 (run tests/system/install-deps.sh as root)",
)

ADD = [*ADD_INSTANCE, "-B", "memory=128M"]


@pytest.fixture
def kvm_cluster(tmp_path: Path) -> Iterator[VCluster]:
    params = guest.hvparams()
    vc = make_cluster(tmp_path / "vc", 2)
    vc.start()
    try:
        hv = ",".join(f"{k}={v}" for k, v in params.items() if k != "serial_console")
        vc.ok(
            "gnt-cluster",
            "init",
            "--enabled-hypervisors=kvm,fake",
            f"--shared-file-storage-dir={vc.dir / 'shared-file-storage'}",
            "-H",
            f"kvm:{hv}",
            "cluster",
        )
        vc.ok("gnt-node", "add", "node2")
        yield vc
    finally:
        vc.stop()


def serial_log(vc: VCluster, node: str, name: str) -> Path:
    return vc.dir / node / "var/run/gnt/instances/kvm" / name / "serial.log"


def wait_counting(vc: VCluster, node: str, name: str, above: int = -1, timeout: float = 90) -> int:
    """Wait until the guest on `node` prints a counter above `above`; returns the newest counter."""

    def newest() -> int:
        values = counters(read_log(str(serial_log(vc, node, name))))
        return values[-1] if values else -1

    wait_for(lambda: newest() > above, timeout, 0.2)
    return newest()


def test_kvm_guest_boots_and_node_reports_acceleration(kvm_cluster: VCluster) -> None:
    vc = kvm_cluster
    vc.ok(*ADD, "-t", "diskless", "-n", "node1", "kvm-boot")
    wait_counting(vc, "node1", "kvm-boot")
    assert vc.instance_field("kvm-boot", "status") == "running"
    assert vc.instance_field("kvm-boot", "hypervisor") == "kvm"
    info = vc.ok("gnt-node", "info", "node1")
    assert "hypervisor acceleration: tcg" in info or "hypervisor acceleration: kvm" in info
    show = vc.ok("gnt-instance", "console", "--show-cmd", "kvm-boot")
    assert "socat" in show and "serial" in show
    vc.ok("gnt-instance", "shutdown", "--timeout=20", "kvm-boot")
    assert vc.instance_field("kvm-boot", "status") == "ADMIN_down"
    vc.ok("gnt-instance", "remove", "-f", "--shutdown-timeout=10", "kvm-boot")


def test_kvm_live_migration_sharedfile_keeps_counting(kvm_cluster: VCluster) -> None:
    vc = kvm_cluster
    vc.ok(*ADD, "-t", "sharedfile", "--disk", "0:size=32M", "-n", "node1", "kvm-mig")
    before = wait_counting(vc, "node1", "kvm-mig", above=3)
    out = vc.ok("gnt-instance", "migrate", "-f", "-n", "node2", "kvm-mig", timeout=300)
    assert "* memory transfer complete" in out and "* done" in out
    assert vc.instance_field("kvm-mig", "pnode") == "node2"
    # the target's QEMU carries on from the same RAM: its counters continue past the source's
    after = wait_counting(vc, "node2", "kvm-mig", above=before)
    assert after > before
    job = vc.ok("gnt-job", "list", "--no-headers", "-o", "id,summary").split("\n")
    assert any("INSTANCE_MIGRATE(kvm-mig)" in line for line in job)
    vc.ok("gnt-instance", "failover", "-f", "-n", "node1", "kvm-mig", timeout=300)
    assert vc.instance_field("kvm-mig", "pnode") == "node1"
    wait_counting(vc, "node1", "kvm-mig")
    vc.ok("gnt-instance", "remove", "-f", "--shutdown-timeout=10", "kvm-mig")


def test_kvm_live_migration_of_local_file_disk_mirrors_it(kvm_cluster: VCluster) -> None:
    vc = kvm_cluster
    vc.ok(*ADD, "-t", "file", "--disk", "0:size=32M", "-n", "node1", "kvm-file")
    before = wait_counting(vc, "node1", "kvm-file", above=3)
    disk = next((vc.dir / "node1/srv/gnt/file-storage/kvm-file").glob("*.disk0"))
    out = vc.ok("gnt-instance", "migrate", "-f", "-n", "node2", "kvm-file", timeout=300)
    assert "* done" in out and "removing the old disk copies on node1" in out
    assert wait_counting(vc, "node2", "kvm-file", above=before) > before
    moved = vc.dir / "node2/srv/gnt/file-storage/kvm-file" / disk.name
    assert moved.exists() and not disk.exists()
    assert moved.read_bytes()[:8] == b"gnt-noop"  # what the OS script wrote before the move came along
    assert vc.run("gnt-cluster", "verify").rc == 0  # no orphan disk left behind
    vc.ok("gnt-instance", "remove", "-f", "--shutdown-timeout=10", "kvm-file")


def test_kvm_failover_of_file_instance_refused_but_migration_allowed(kvm_cluster: VCluster) -> None:
    vc = kvm_cluster
    vc.ok(*ADD, "-t", "file", "--disk", "0:size=8M", "--no-start", "-n", "node1", "kvm-nofo")
    result = vc.run("gnt-instance", "failover", "-f", "kvm-nofo")
    assert result.rc == 1 and "does not allow failovers" in result.err
    vc.ok("gnt-instance", "remove", "-f", "--shutdown-timeout=10", "kvm-nofo")


def test_unknown_kvm_hvparam_refused(kvm_cluster: VCluster) -> None:
    result = kvm_cluster.run(*ADD, "-t", "diskless", "-H", "kvm:no_such_param=1", "-n", "node1", "kvm-bad")
    assert result.rc == 1 and "Unknown hypervisor parameter(s) for kvm: no_such_param" in result.err


def test_watcher_restarts_crashed_kvm_guest(kvm_cluster: VCluster) -> None:
    import os
    import signal

    vc = kvm_cluster
    vc.ok(*ADD, "-t", "diskless", "-n", "node2", "kvm-crash")
    wait_counting(vc, "node2", "kvm-crash")
    state = (vc.dir / "node2/var/run/gnt/instances/kvm/kvm-crash/runtime.json").read_text()
    import json

    os.kill(int(json.loads(state)["pid"]), signal.SIGKILL)
    wait_for(lambda: vc.instance_field("kvm-crash", "status") == "ERROR_down", 20)
    time.sleep(0.2)
    assert "Restarted instance kvm-crash" in vc.ok("gnt-watcher")
    wait_for(lambda: vc.instance_field("kvm-crash", "status") == "running", 30)
    vc.ok("gnt-instance", "remove", "-f", "--shutdown-timeout=10", "kvm-crash")
