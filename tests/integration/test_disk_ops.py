"""The disk operations through the real CLI on a virtual cluster: activate-disks, deactivate-disks,
grow-disk, recreate-disks and modify --disk on file disks (real files on the virtual nodes), with
their refusals: each a one-line error, exit 1, and nothing changed.

plain disks need device-mapper, which this machine's kernel lacks: their LVs are exercised in the
LU tests and in the host test bed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.test_rapi import ADMIN, Rapi, rapi  # noqa: F401 - fixture
from tests.integration.vcluster import ADD_INSTANCE, VCluster

MIB = 1024 * 1024


def disk_files(cluster: VCluster, node: str, instance: str) -> list[Path]:
    """The instance's disk files on `node`, in disk order (`<uuid>.file.disk<N>`)."""
    found = (cluster.dir / node / "srv/gnt/file-storage" / instance).glob("*")
    return sorted(found, key=lambda p: int(p.name.rsplit("disk", 1)[1]))


def sizes(cluster: VCluster, instance: str) -> str:
    return cluster.instance_field(instance, "disk.sizes")


def refused(cluster: VCluster, *argv: str) -> str:
    """Run a command that must fail cleanly: exit 1, no traceback; returns its output."""
    result = cluster.run(*argv)
    assert result.rc == 1, result.text
    assert "Traceback" not in result.text
    return result.text


@pytest.fixture
def stopped(cluster: VCluster) -> Iterator[str]:
    """A stopped file instance with disks of 16M and 8M on node2."""
    cluster.ok(
        *ADD_INSTANCE, "-t", "file", "--disk", "0:size=16M", "--disk", "1:size=8M", "-B", "memory=32M",
        "--no-start", "-n", "node2", "dops",
    )  # fmt: skip
    yield "dops"
    cluster.run("gnt-instance", "remove", "-f", "dops")


def test_activate_prints_node_disk_device_and_deactivate_undoes_it(cluster: VCluster, stopped: str) -> None:
    out = cluster.ok("gnt-instance", "activate-disks", stopped)
    lines = [line for line in out.splitlines() if line.startswith("node2:")]
    files = disk_files(cluster, "node2", stopped)
    assert len(lines) == 2 and len(files) == 2
    for index, line in enumerate(lines):
        node, iv_name, device = line.split(":", 2)
        assert (node, iv_name) == ("node2", f"disk/{index}")
        assert Path(device) in files  # the node-local path the hypervisor opens
    assert cluster.instance_field(stopped, "disks_active") == "Y"
    cluster.ok("gnt-instance", "deactivate-disks", stopped)
    assert cluster.instance_field(stopped, "disks_active") == "N"


def test_deactivate_refuses_a_running_instance_unless_forced(cluster: VCluster, stopped: str) -> None:
    cluster.ok("gnt-instance", "startup", stopped)
    text = refused(cluster, "gnt-instance", "deactivate-disks", stopped)
    assert "Instance 'dops' is marked to be up, cannot shutdown disks" in text
    cluster.ok("gnt-instance", "deactivate-disks", "-f", stopped)
    assert cluster.instance_field(stopped, "status") == "running"


def test_activate_on_an_offline_node_is_refused(cluster: VCluster, stopped: str) -> None:
    cluster.ok("gnt-node", "modify", "-O", "yes", "node2")
    try:
        text = refused(cluster, "gnt-instance", "activate-disks", stopped)
        assert "Can't use offline primary node node2" in text
    finally:
        cluster.ok("gnt-node", "modify", "-O", "no", "node2")


def test_activate_of_an_unknown_or_diskless_instance_is_refused(cluster: VCluster) -> None:
    assert "nosuch" in refused(cluster, "gnt-instance", "activate-disks", "nosuch")
    cluster.ok(*ADD_INSTANCE, "-t", "diskless", "-B", "memory=32M", "--no-start", "-n", "node1", "dops-nod")
    try:
        assert "Instance 'dops-nod' has no disks" in refused(cluster, "gnt-instance", "activate-disks", "dops-nod")
    finally:
        cluster.ok("gnt-instance", "remove", "-f", "dops-nod")


def test_grow_disk_by_an_amount_and_to_an_absolute_size(cluster: VCluster, stopped: str) -> None:
    out = cluster.ok("gnt-instance", "grow-disk", stopped, "1", "24M")
    assert "Growing disk 1 of instance 'dops' by 24M to 32M" in out
    assert [f.stat().st_size // MIB for f in disk_files(cluster, "node2", stopped)] == [16, 32]
    cluster.ok("gnt-instance", "grow-disk", "--absolute", stopped, "0", "40M")
    assert sizes(cluster, stopped) == "40,32"
    assert cluster.instance_field(stopped, "disks_active") == "N"  # brought up for the grow only


def test_grow_disk_of_a_running_instance(cluster: VCluster, stopped: str) -> None:
    cluster.ok("gnt-instance", "startup", stopped)
    out = cluster.ok("gnt-instance", "grow-disk", stopped, "0", "16M")
    assert "The running instance dops sees the new size of disk 0" in out
    assert sizes(cluster, stopped) == "32,8"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["5", "1G"], "Invalid disk index: '5'"),
        (["x", "1G"], "Invalid disk index: 'x'"),
        (["0", "--", "-5G"], "'amount' (value -5G) is not a valid size"),
        (["0", "lots"], "'amount' (value lots) is not a valid size"),
        (["0", "512T"], "Cannot grow disk 0 of instance dops by 512.0T on node node2: Not enough free space"),
    ],
)
def test_grow_disk_refuses_bad_input_and_changes_nothing(
    cluster: VCluster, stopped: str, args: list[str], message: str
) -> None:
    text = refused(cluster, "gnt-instance", "grow-disk", stopped, *args)
    assert message in text
    assert sizes(cluster, stopped) == "16,8"
    assert [f.stat().st_size // MIB for f in disk_files(cluster, "node2", stopped)] == [16, 8]


def test_grow_disk_by_a_bare_negative_amount_is_a_usage_error(cluster: VCluster, stopped: str) -> None:
    result = cluster.run("gnt-instance", "grow-disk", stopped, "0", "-5G")
    assert result.rc == 2 and "No such option" in result.text and "Traceback" not in result.text
    assert sizes(cluster, stopped) == "16,8"


def test_grow_disk_absolute_below_the_current_size_is_refused(cluster: VCluster, stopped: str) -> None:
    text = refused(cluster, "gnt-instance", "grow-disk", "--absolute", stopped, "0", "8M")
    assert "Requested size (8M) is smaller than current disk size (16M)" in text


def test_recreate_disks_makes_a_lost_disk_again(cluster: VCluster, stopped: str) -> None:
    lost = disk_files(cluster, "node2", stopped)[1]
    lost.unlink()
    out = cluster.ok("gnt-instance", "recreate-disks", "--disk", "1:size=12M", stopped)
    assert "creating disk 1 (12M) on node node2" in out
    assert lost.stat().st_size == 12 * MIB
    assert sizes(cluster, stopped) == "16,12"


def test_recreate_disks_refuses_existing_disks_and_bad_indices(cluster: VCluster, stopped: str) -> None:
    text = refused(cluster, "gnt-instance", "recreate-disks", stopped)
    assert "Disk 0 of instance dops still exists on node node2" in text
    assert "Invalid disk index: '7'" in refused(cluster, "gnt-instance", "recreate-disks", "--disk", "7", stopped)
    assert "Invalid disk index 'a'" in refused(cluster, "gnt-instance", "recreate-disks", "--disk", "a", stopped)


def test_recreate_disks_on_another_node(cluster: VCluster, stopped: str) -> None:
    for path in disk_files(cluster, "node2", stopped):
        path.unlink()
    cluster.ok("gnt-instance", "recreate-disks", "-n", "node3", stopped)
    assert cluster.instance_field(stopped, "pnode") == "node3"
    assert [f.stat().st_size // MIB for f in disk_files(cluster, "node3", stopped)] == [16, 8]


def test_modify_adds_and_removes_disks_of_a_stopped_instance(cluster: VCluster, stopped: str) -> None:
    out = cluster.ok("gnt-instance", "modify", "--disk", "add:size=4M", stopped)
    assert " - disk/2 -> add:size=4,mode=rw" in out
    assert sizes(cluster, stopped) == "16,8,4"
    assert [f.stat().st_size // MIB for f in disk_files(cluster, "node2", stopped)] == [16, 8, 4]
    first = disk_files(cluster, "node2", stopped)[0]
    out = cluster.ok("gnt-instance", "modify", "--disk", "0:remove", stopped)
    assert " - disk/0 -> remove" in out
    assert sizes(cluster, stopped) == "8,4" and not first.exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("5:remove", "Invalid disk index: '5'"),
        ("add", "Missing size for the new disk"),
        ("add:size=lots", "'disk size' (value lots) is not a valid size"),
        ("0:size=4M", "Disk size change not possible, use grow-disk"),
        ("x:remove", "Lookup of disk 'x' failed"),
        ("0:remove,size=1", "No settings should be passed when removing or detaching a disk"),
    ],
)
def test_modify_refuses_bad_disk_changes(cluster: VCluster, stopped: str, change: str, message: str) -> None:
    assert message in refused(cluster, "gnt-instance", "modify", "--disk", change, stopped)
    assert sizes(cluster, stopped) == "16,8"
    assert len(disk_files(cluster, "node2", stopped)) == 2


def test_modify_disks_of_a_running_instance_is_refused(cluster: VCluster, stopped: str) -> None:
    cluster.ok("gnt-instance", "startup", stopped)
    text = refused(cluster, "gnt-instance", "modify", "--disk", "add:size=4M", stopped)
    assert "cannot add or remove disks without hotplug" in text
    assert len(disk_files(cluster, "node2", stopped)) == 2


def test_modify_cannot_remove_the_last_disk(cluster: VCluster, stopped: str) -> None:
    cluster.ok("gnt-instance", "modify", "--disk", "remove", stopped)
    assert "Cannot remove the last disk of instance dops" in refused(
        cluster, "gnt-instance", "modify", "--disk", "remove", stopped
    )
    assert sizes(cluster, stopped) == "16"


def test_repair_disk_sizes_records_the_size_found_on_the_node(cluster: VCluster, stopped: str) -> None:
    grown = disk_files(cluster, "node2", stopped)[1]
    with open(grown, "r+b") as handle:
        handle.truncate(10 * MIB)  # grown by hand, behind gnt's back
    out = cluster.ok("gnt-cluster", "repair-disk-sizes", stopped)
    assert "Disk 1 of instance dops has mismatched size, correcting: recorded 8, actual 10" in out
    assert sizes(cluster, stopped) == "16,10"
    out = cluster.ok("gnt-cluster", "repair-disk-sizes")  # all instances: nothing left to correct
    assert "mismatched size" not in out


def test_repair_disk_sizes_of_an_unknown_instance_is_refused(cluster: VCluster) -> None:
    assert "nosuch" in refused(cluster, "gnt-cluster", "repair-disk-sizes", "nosuch")


def test_verify_disks_without_plain_disks_succeeds(cluster: VCluster, stopped: str) -> None:
    result = cluster.run("gnt-cluster", "verify-disks")
    assert result.rc == 0 and "Traceback" not in result.text, result.text


def test_disk_operations_through_rapi(cluster: VCluster, stopped: str, rapi: Rapi) -> None:  # noqa: F811
    status, job_id = rapi.call("POST", f"/2/instances/{stopped}/disk/0/grow", {"amount": 8}, user=ADMIN)
    assert status == 200 and cluster.wait_job(job_id) == "success"
    assert sizes(cluster, stopped) == "24,8"
    _, job_id = rapi.call("PUT", f"/2/instances/{stopped}/activate-disks", user=ADMIN)
    assert cluster.wait_job(job_id) == "success" and cluster.instance_field(stopped, "disks_active") == "Y"
    _, job_id = rapi.call("PUT", f"/2/instances/{stopped}/deactivate-disks", user=ADMIN)
    assert cluster.wait_job(job_id) == "success" and cluster.instance_field(stopped, "disks_active") == "N"
    disk_files(cluster, "node2", stopped)[1].unlink()
    _, job_id = rapi.call("POST", f"/2/instances/{stopped}/recreate-disks", {"disks": [1]}, user=ADMIN)
    assert cluster.wait_job(job_id) == "success" and len(disk_files(cluster, "node2", stopped)) == 2
    status, body = rapi.call("POST", f"/2/instances/{stopped}/disk/9/grow", {"amount": 8}, user=ADMIN)
    assert status == 200 and cluster.wait_job(body) == "error"  # checked by the LU: a job error, as Ganeti
    assert sizes(cluster, stopped) == "24,8"


def test_dry_runs_change_nothing(cluster: VCluster, stopped: str) -> None:
    cluster.ok("gnt-instance", "grow-disk", "--dry-run", stopped, "0", "8M")
    cluster.ok("gnt-instance", "modify", "--dry-run", "--disk", "add:size=4M", stopped)
    cluster.ok("gnt-instance", "activate-disks", "--dry-run", stopped)
    assert sizes(cluster, stopped) == "16,8" and cluster.instance_field(stopped, "disks_active") == "N"
    assert [f.stat().st_size // MIB for f in disk_files(cluster, "node2", stopped)] == [16, 8]


def test_recreate_disks_with_the_allocator_when_the_node_is_gone(cluster: VCluster, stopped: str) -> None:
    for path in disk_files(cluster, "node2", stopped):
        path.unlink()
    cluster.ok("gnt-node", "modify", "-O", "yes", "node2")
    try:
        assert "is offline; recreate the disks elsewhere" in refused(cluster, "gnt-instance", "recreate-disks", stopped)
        out = cluster.ok("gnt-instance", "recreate-disks", "-I", "hail", stopped)
        assert "via iallocator hail" in out
        new = cluster.instance_field(stopped, "pnode")
        assert new in ("node1", "node3")
        assert [f.stat().st_size // MIB for f in disk_files(cluster, new, stopped)] == [16, 8]
    finally:
        cluster.ok("gnt-node", "modify", "-O", "no", "node2")
