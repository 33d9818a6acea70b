"""grow-disk of a running kvm guest: the node's QMP `block_resize` on a real QEMU (the driver half of
LUInstanceGrowDisk's online path)."""

from __future__ import annotations

import os

import pytest
from kvmtest import make_disk, make_spec, run

from gnt.errors import HypervisorError

MIB = 1024 * 1024


def _virtual_sizes(node, name: str) -> dict[str, int]:  # type: ignore[no-untyped-def]
    nodes = run(node.driver.command(name, "query-named-block-nodes"))
    return {n["node-name"]: n["image"]["virtual-size"] for n in nodes if n["node-name"].startswith("disk")}


def test_running_guest_sees_its_grown_disk(make_node) -> None:  # type: ignore[no-untyped-def]
    node = make_node()
    path = os.path.join(node.disk_dir(), "d0.img")
    spec = make_spec(disks=[make_disk(path, "file", "raw", size=64)])
    run(node.driver.start(spec))
    assert _virtual_sizes(node, spec.name)["disk0"] == 64 * MIB
    os.truncate(path, 96 * MIB)  # what the storage driver's grow does to a file disk
    run(node.driver.resize_disk(spec, 0, 96))
    assert _virtual_sizes(node, spec.name)["disk0"] == 96 * MIB
    run(node.driver.stop(spec, timeout=5, force=True))
    with pytest.raises(HypervisorError, match="is not running on this node"):
        run(node.driver.resize_disk(spec, 0, 128))


def test_a_hotplugged_disk_is_resized_by_its_own_node(make_node) -> None:  # type: ignore[no-untyped-def]
    """The config's disk 1 is the hotplugged `hdisk<uuid8>`, not a boot-time `disk1`: the resize reaches
    it by uuid and leaves the boot disk alone."""
    node = make_node()
    boot = make_disk(os.path.join(node.disk_dir(), "d0.img"), "file", "raw", size=64)
    spec = make_spec(disks=[boot])
    run(node.driver.start(spec))
    path = os.path.join(node.disk_dir(), "d1.img")
    extra = make_disk(path, "file", "raw", size=32, index=1)
    run(node.driver.hotplug_disk(spec, extra, path))
    spec.disks.append(extra)
    os.truncate(path, 48 * MIB)
    run(node.driver.resize_disk(spec, 1, 48))
    sizes = {
        n["node-name"]: n["image"]["virtual-size"]
        for n in run(node.driver.command(spec.name, "query-named-block-nodes"))
    }
    hot = [name for name in sizes if name.startswith("hdisk")]
    assert [sizes[name] for name in hot] == [48 * MIB]
    assert sizes["disk0"] == 64 * MIB
    run(node.driver.stop(spec, timeout=5, force=True))
