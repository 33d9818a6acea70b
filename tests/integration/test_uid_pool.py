"""The user-id pool on a real virtual cluster: `gnt-cluster init/modify --uid-pool/--add-uids/
--remove-uids` and `--maintain-node-health` change the config, `gnt-cluster info` and RAPI /2/info
show them in Ganeti's format, every node gets the pool in its ssconf, bad input fails with one line
and changes nothing, and a kvm instance with security_model=pool cannot start without a pool.

The node side (a free uid per QEMU, `-runas`, locks given back) is in
tests/unit/backends/test_kvm_uids.py, with a real QEMU switching to the uid."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import make_cluster
from tests.integration.test_rapi import ADMIN, READER, Rapi
from tests.integration.test_rapi import rapi as rapi  # noqa: F401 - the fixture
from tests.integration.vcluster import ADD_DISKLESS, VCluster


def _cluster_param(cluster: VCluster, name: str) -> str:
    for line in cluster.ok("gnt-cluster", "info").splitlines():
        if line.strip().startswith(f"{name}:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"no {name!r} line in gnt-cluster info")


@pytest.fixture
def pooled(cluster: VCluster) -> Iterator[VCluster]:
    try:
        yield cluster
    finally:
        cluster.ok("gnt-cluster", "modify", "--uid-pool", "", "--maintain-node-health", "no")


def test_uid_pool_edits_show_in_info_and_reach_every_node(pooled: VCluster) -> None:
    cluster = pooled
    assert _cluster_param(cluster, "uid pool") == ""
    assert _cluster_param(cluster, "maintenance of node health") == "False"

    cluster.ok("gnt-cluster", "modify", "--uid-pool", " 3000, 1000 - 2000", "--maintain-node-health", "yes")
    assert _cluster_param(cluster, "uid pool") == "1000-2000, 3000"
    assert _cluster_param(cluster, "maintenance of node health") == "True"
    cluster.ok("gnt-cluster", "modify", "--add-uids", "3000,4000-4010")  # 3000 is there: not added twice
    assert _cluster_param(cluster, "uid pool") == "1000-2000, 3000, 4000-4010"
    for node in ("node1", "node2", "node3"):
        ssconf = cluster.dir / node / "var/lib/gnt/ssconf_uid_pool"
        assert ssconf.read_text().strip() == "1000-2000\n3000\n4000-4010"

    cluster.ok("gnt-cluster", "modify", "--remove-uids", "3000")
    assert _cluster_param(cluster, "uid pool") == "1000-2000, 4000-4010"
    cluster.ok("gnt-cluster", "modify", "--uid-pool", "")
    assert _cluster_param(cluster, "uid pool") == ""


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--remove-uids", "1000-1500"],
            "User-id range to be removed is not found in the current user-id pool: 1000-1500",
        ),
        (["--add-uids", "5-3"], "Lower user-id range boundary value (5) is larger than higher boundary value (3)"),
        (["--uid-pool", "1000-x"], "Invalid --uid-pool: Invalid user-id value for higher boundary"),
        (["--add-uids", "1-2-3"], "Only one hyphen allowed"),
        (["--uid-pool", "4294967295"], "is larger than 4294967294"),
    ],
)
def test_bad_uid_pool_input_fails_and_changes_nothing(pooled: VCluster, argv: list[str], message: str) -> None:
    cluster = pooled
    cluster.ok("gnt-cluster", "modify", "--uid-pool", "1000-2000")
    result = cluster.run("gnt-cluster", "modify", *argv)
    assert result.rc == 1 and message in result.text
    assert "Traceback" not in result.text
    assert _cluster_param(cluster, "uid pool") == "1000-2000"


def test_rapi_shows_and_edits_the_pool_as_ranges(pooled: VCluster, rapi: Rapi) -> None:
    cluster = pooled
    cluster.ok("gnt-cluster", "modify", "--uid-pool", "1000-2000,3000")
    status, info = rapi.call("GET", "/2/info", user=READER)
    assert status == 200
    assert info["uid_pool"] == [[1000, 2000], [3000, 3000]] and info["maintain_node_health"] is False

    status, job = rapi.call("PUT", "/2/modify", {"add_uids": [[5000, 5001]], "maintain_node_health": True}, user=ADMIN)
    assert status == 200 and cluster.wait_job(job) == "success"
    status, info = rapi.call("GET", "/2/info", user=READER)
    assert info["uid_pool"] == [[1000, 2000], [3000, 3000], [5000, 5001]] and info["maintain_node_health"] is True

    status, body = rapi.call("PUT", "/2/modify", {"uid_pool": [[9, 1]]}, user=ADMIN)
    assert status == 400 and "larger than higher boundary" in body["explain"]
    status, job = rapi.call("PUT", "/2/modify", {"remove_uids": [[1000, 1001]]}, user=ADMIN)
    assert status == 200 and cluster.wait_job(job) == "error"  # a prerequisite: the job fails, nothing changes
    assert rapi.call("GET", "/2/info", user=READER)[1]["uid_pool"] == [[1000, 2000], [3000, 3000], [5000, 5001]]


def test_a_pool_instance_cannot_start_while_the_pool_is_empty(pooled: VCluster) -> None:
    cluster = pooled
    cluster.ok("gnt-cluster", "modify", "--enabled-hypervisors", "fake,kvm")
    try:
        cluster.ok(*ADD_DISKLESS, "-H", "kvm:security_model=pool", "--no-start", "-n", "node1", "pooled1")
        result = cluster.run("gnt-instance", "startup", "pooled1")
        assert result.rc == 1
        assert "has security_model=pool but the cluster's user-id pool is empty" in result.text
        assert cluster.instance_field("pooled1", "status") == "ADMIN_down"
        bad = cluster.run("gnt-instance", "modify", "-H", "security_model=jail", "pooled1")
        assert bad.rc == 1 and "Invalid security model 'jail'" in bad.text
        bad = cluster.run("gnt-instance", "modify", "-H", "security_model=user", "pooled1")
        assert bad.rc == 1 and "A security domain (user to run kvm as) must be specified" in bad.text
        bad = cluster.run(*ADD_DISKLESS, "-H", "kvm:security_model=pool", "-n", "node1", "pooled2")
        assert bad.rc == 1 and "user-id pool is empty" in bad.text
        assert "pooled2" not in cluster.ok("gnt-instance", "list", "--no-headers", "-o", "name")
    finally:
        cluster.run("gnt-instance", "remove", "-f", "pooled1")
        cluster.run("gnt-instance", "remove", "-f", "pooled2")
        cluster.ok("gnt-cluster", "modify", "--enabled-hypervisors", "fake")


def test_init_takes_the_pool_and_the_health_flag_and_a_bad_pool_leaves_no_cluster(tmp_path: Path) -> None:
    vc = make_cluster(tmp_path / "vc", 1)
    vc.start()
    try:
        shared = f"--shared-file-storage-dir={vc.dir / 'shared-file-storage'}"
        bad = vc.run("gnt-cluster", "init", shared, "--uid-pool", "2000-1000", "cluster")
        assert bad.rc == 1 and "Lower user-id range boundary value (2000) is larger" in bad.text
        assert not (vc.dir / "node1/var/lib/gnt/config.db").exists()
        vc.ok("gnt-cluster", "init", shared, "--uid-pool", "100-199, 300", "--maintain-node-health", "yes", "cluster")
        assert _cluster_param(vc, "uid pool") == "100-199, 300"
        assert _cluster_param(vc, "maintenance of node health") == "True"
        assert (vc.dir / "node1/var/lib/gnt/ssconf_uid_pool").read_text().strip() == "100-199\n300"
    finally:
        vc.stop()
