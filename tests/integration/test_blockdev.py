"""The blockdev template and adoption through the real CLI on a virtual cluster.

No virtual node has a block device it may adopt (the node roots default to /dev/disk), so what
runs here are the refusals, each a clear one-line error from the master or the node that leaves
no instance behind; the adoption itself runs in the host test bed
(tests/system/testbed/test_blockdev_san.py) and in the LU tests.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from gnt.confine import write_blockdev_roots
from tests.integration.vcluster import ADD_INSTANCE, VCluster

TEMPLATES = "diskless,file,sharedfile"


@pytest.fixture
def blockdev(cluster: VCluster) -> Iterator[VCluster]:
    cluster.ok("gnt-cluster", "modify", "--enabled-disk-templates", f"{TEMPLATES},blockdev")
    try:
        yield cluster
    finally:
        cluster.ok("gnt-cluster", "modify", "--enabled-disk-templates", TEMPLATES)


def _refused(cluster: VCluster, *args: str) -> str:
    result = cluster.run(*ADD_INSTANCE, *args, "-n", "node1", "bd-a")
    assert result.rc != 0 and "Traceback" not in result.text, result.text
    assert "bd-a" not in cluster.ok("gnt-instance", "list")
    return result.text


def test_blockdev_needs_an_adopted_path(blockdev: VCluster) -> None:
    text = _refused(blockdev, "-t", "blockdev", "--disk", "0:size=64M")
    assert "Disk template blockdev requires disk adoption" in text


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/dev/sda", "Cannot adopt the disks of instance bd-a on node node1: .*/dev/sda is outside the directories"),
        ("/dev/disk/../sda", "Disk 0: cannot adopt /dev/disk/../sda must not contain '..'"),
        ("/dev/disk/by-id/gnt-test-missing", "Block device /dev/disk/by-id/gnt-test-missing not found on this node"),
    ],
)
def test_paths_the_master_or_node_refuses(blockdev: VCluster, path: str, message: str) -> None:
    text = _refused(blockdev, "-t", "blockdev", "--disk", f"0:adopt={path}")
    assert re.search(message, text), text


def test_a_character_device_is_refused_by_the_node_that_allows_its_directory(blockdev: VCluster) -> None:
    roots = blockdev.dir / "node1" / "var/lib/gnt/adoptable-blockdev-roots"
    write_blockdev_roots(str(roots), ["/dev"])
    try:
        text = _refused(blockdev, "-t", "blockdev", "--disk", "0:adopt=/dev/null")
        assert "/dev/null is not a block device (a character device)" in text, text
    finally:
        roots.unlink()


def test_adoption_where_ganeti_refuses_it(blockdev: VCluster) -> None:
    text = _refused(blockdev, "-t", "file", "--disk", "0:adopt=olddata")
    assert "Disk adoption is not supported for the file disk template" in text
    text = _refused(blockdev, "-t", "blockdev", "--disk", "0:adopt=/dev/disk/by-id/x", "--disk", "1:size=1G")
    assert "Either all disks are adopted or none is" in text
