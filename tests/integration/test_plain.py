"""The plain template's master side through the real CLI on a virtual cluster.

This machine's kernel has no device-mapper, so no virtual node has a volume group: what runs
here is the configuration (`--vg-name`, the nodes' lvm-volume-groups files) and the refusals,
each a clear one-line error that changes nothing. LVs themselves are made in the host test bed
(tests/system/testbed/test_plain_lvm.py) and in the LU tests.
"""

from __future__ import annotations

from tests.integration.vcluster import ADD_INSTANCE, VCluster


def _info_vg(cluster: VCluster) -> str:
    info = cluster.ok("gnt-cluster", "info")
    return next(line.split(":", 1)[1].strip() for line in info.splitlines() if "lvm volume group:" in line)


def test_cluster_has_xenvg_and_every_node_allows_it(cluster: VCluster) -> None:
    assert _info_vg(cluster) == "xenvg"
    assert "lvm reserved volumes: (none)" in cluster.ok("gnt-cluster", "info")
    for node in ("node1", "node2", "node3"):
        allowed = (cluster.dir / node / "var/lib/gnt/lvm-volume-groups").read_text().split("\n")
        assert "xenvg" in allowed, node


def test_vg_name_is_changed_and_a_bad_one_refused(cluster: VCluster) -> None:
    cluster.ok("gnt-cluster", "modify", "--vg-name", "gntvg")  # plain is not enabled: nothing to check
    try:
        assert _info_vg(cluster) == "gntvg"
        bad = cluster.run("gnt-cluster", "modify", "--vg-name=-ay")
        assert bad.rc != 0 and "invalid volume group name '-ay'" in bad.text and "Traceback" not in bad.text
        assert _info_vg(cluster) == "gntvg"
        cluster.ok("gnt-cluster", "modify", "--reserved-lvs", "gntvg/swap.*,gntvg/root")
        assert "lvm reserved volumes: gntvg/swap.*, gntvg/root" in cluster.ok("gnt-cluster", "info")
        bad = cluster.run("gnt-cluster", "modify", "--reserved-lvs", "gntvg/(")
        assert bad.rc != 0 and "invalid regular expression" in bad.text and "Traceback" not in bad.text
    finally:
        cluster.ok("gnt-cluster", "modify", "--reserved-lvs", "")
        cluster.ok("gnt-cluster", "modify", "--vg-name", "xenvg")


def test_plain_is_refused_until_enabled_and_enabling_needs_the_vg(cluster: VCluster) -> None:
    add = cluster.run(*ADD_INSTANCE, "-t", "plain", "--disk", "0:size=64M", "-n", "node1", "plain-a")
    assert add.rc == 1 and "Disk template 'plain' is not enabled in cluster" in add.text
    enable = cluster.run("gnt-cluster", "modify", "--enabled-disk-templates", "diskless,file,sharedfile,plain")
    assert enable.rc == 1, enable.text
    assert "Error on node 'node1': volume group 'xenvg' missing" in enable.text and "Traceback" not in enable.text
    info = cluster.ok("gnt-cluster", "info")
    assert "enabled disk templates: diskless, file, sharedfile" in info
    assert "plain-a" not in cluster.ok("gnt-instance", "list")


def test_node_volumes_answers_without_a_traceback(cluster: VCluster) -> None:
    """No node here has LVM: either an empty listing or one error naming the nodes, never a crash."""
    result = cluster.run("gnt-node", "volumes")
    assert "Traceback" not in result.text
    assert result.rc == 0 or "Can't get storage data from node(s)" in result.text, result.text
    storage = cluster.run("gnt-node", "list-storage", "-t", "lvm-vg", "--no-headers")
    assert storage.rc == 1 and "Can't get storage data from node node1: " in storage.text, storage.text
    assert len(storage.text.strip().splitlines()) == 2  # the heading and one line saying why
