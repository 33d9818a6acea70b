"""gnt-group on a real cluster: add, list, info, rename, modify, assign-nodes, remove, tags; the
allocator placing within the groups their policy allows; `gnt-node add -g`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.vcluster import ADD_DISKLESS, VCluster


def _groups(cluster: VCluster) -> dict[str, str]:
    """node -> its group's name."""
    out = cluster.ok("gnt-node", "list", "--no-headers", "--separator=|", "-o", "name,group")
    return dict(line.split("|") for line in out.splitlines())


@pytest.fixture
def rack2(cluster: VCluster) -> Iterator[str]:
    """A group `rack2` holding node3; afterwards node3 is back in `default` and every extra group gone."""
    cluster.ok("gnt-group", "add", "rack2")
    cluster.ok("gnt-group", "assign-nodes", "rack2", "node3")
    try:
        yield "rack2"
    finally:
        cluster.run("gnt-group", "modify", "--alloc-policy=preferred", "default")
        cluster.ok("gnt-group", "assign-nodes", "default", "node3")
        names = cluster.ok("gnt-group", "list", "--no-headers", "-o", "name").split()
        for name in names:
            if name != "default":
                cluster.ok("gnt-group", "remove", name)


def test_list_and_info_show_members_and_policy(cluster: VCluster, rack2: str) -> None:
    lines = cluster.ok("gnt-group", "list").splitlines()
    assert lines[0].split() == ["Group", "Nodes", "Instances", "AllocPolicy", "NDParams"]
    rows = {line.split()[0]: line.split()[1:4] for line in lines[1:]}
    assert rows == {"default": ["2", "0", "preferred"], "rack2": ["1", "0", "preferred"]}
    assert _groups(cluster) == {"node1": "default", "node2": "default", "node3": "rack2"}
    info = cluster.ok("gnt-group", "info", "rack2")
    assert "Group: rack2" in info and "Allocation policy: preferred" in info and "node3" in info
    assert "memory-size: 32768" in info  # the filled instance policy's max bound
    fields = cluster.ok("gnt-group", "list-fields", "--no-headers", "--separator=|")
    assert "alloc_policy|AllocPolicy|Allocation policy for group" in fields.splitlines()


def test_a_group_with_nodes_cannot_be_removed(cluster: VCluster, rack2: str) -> None:
    result = cluster.run("gnt-group", "remove", "rack2")
    assert result.rc == 1
    assert "Group 'rack2' not empty, has the following node(s): node3" in result.text
    assert "rack2" in cluster.ok("gnt-group", "list", "--no-headers", "-o", "name").split()


def test_rename_modify_and_tags(cluster: VCluster, rack2: str) -> None:
    cluster.ok("gnt-group", "rename", "rack2", "rack9")
    assert _groups(cluster)["node3"] == "rack9"
    out = cluster.ok("gnt-group", "modify", "--alloc-policy=last_resort", "--ipolicy-vcpu-ratio=2", "rack9")
    assert "Modified node group rack9" in out and "alloc_policy -> last_resort" in out
    row = cluster.ok("gnt-group", "list", "--no-headers", "--separator=|", "-o", "alloc_policy,custom_ipolicy", "rack9")
    assert row.strip() == "last_resort|vcpu-ratio=2.0"
    cluster.ok("gnt-group", "add-tags", "rack9", "room:b")
    assert cluster.ok("gnt-group", "list-tags", "rack9").split() == ["room:b"]
    cluster.ok("gnt-group", "remove-tags", "rack9", "room:b")
    bad = cluster.run("gnt-group", "modify", "--alloc-policy=sometimes", "rack9")
    assert bad.rc != 0 and "Invalid allocation policy" in bad.text
    clash = cluster.run("gnt-group", "rename", "rack9", "default")
    assert clash.rc == 1 and "Desired new name 'default' clashes with existing node group" in clash.text


def test_disk_parameters_per_group(cluster: VCluster, rack2: str) -> None:
    cluster.ok("gnt-cluster", "modify", "-D", "drbd:resync-rate=1000")
    try:
        cluster.ok("gnt-group", "add", "-D", "drbd:resync-rate=2048", "rack3")
        info = cluster.ok("gnt-group", "info", "rack3")
        assert "Disk parameters: \n    drbd: \n      resync-rate: 2048\n" in info, info
        assert "resync-rate: default (1000)" in cluster.ok("gnt-group", "info", rack2)
        out = cluster.ok("gnt-group", "modify", "-D", "drbd:resync-rate=default", "rack3")
        assert "Modified node group rack3" in out and "diskparams -> {}" in out, out
        assert "resync-rate: default (1000)" in cluster.ok("gnt-group", "info", "rack3")
        bad = cluster.run("gnt-group", "modify", "-D", "drbd:resync-rate=0", "rack3")
        assert bad.rc == 1 and "drbd disk parameter resync-rate must be an integer from 1 to" in bad.text, bad.text
        bad = cluster.run("gnt-group", "add", "-D", "plain:stripes=2", "rack4")
        assert bad.rc == 1 and "no disk parameters for disk template 'plain'" in bad.text, bad.text
        assert "rack4" not in cluster.ok("gnt-group", "list", "--no-headers", "-o", "name").split()
    finally:
        cluster.run("gnt-cluster", "modify", "-D", "drbd:resync-rate=61440")


def test_allocator_places_only_in_allocatable_groups(cluster: VCluster, rack2: str) -> None:
    cluster.ok("gnt-group", "modify", "--alloc-policy=unallocable", "default")
    names = ["grp-a", "grp-b", "grp-c"]
    try:
        for name in names:
            cluster.ok(*ADD_DISKLESS, "-B", "memory=32M", name)
        assert {cluster.instance_field(n, "pnode") for n in names} == {"node3"}
        lines = cluster.ok("gnt-group", "list", "--no-headers", "--separator=|", "-o", "name,pinst_cnt").splitlines()
        assert "rack2|3" in lines
    finally:
        for name in names:
            cluster.run("gnt-instance", "remove", "-f", name)


def test_node_add_readd_into_a_group(cluster: VCluster, rack2: str) -> None:
    cluster.ok("gnt-group", "add", "rack3")
    cluster.ok("gnt-node", "add", "--readd", "-g", "rack3", "node3")
    assert _groups(cluster)["node3"] == "rack3"
    unknown = cluster.run("gnt-node", "add", "--readd", "-g", "nosuchgroup", "node3")
    assert unknown.rc == 1 and "Node group 'nosuchgroup' not known" in unknown.text
    assert _groups(cluster)["node3"] == "rack3"
