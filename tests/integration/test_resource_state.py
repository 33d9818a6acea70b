"""Static resource state on a virtual cluster: `--hypervisor-state` and `--disk-state` set on the
cluster, a group and nodes, shown by `info` and `list -o`, served over RAPI (read and written by
Ganeti's own client), and honoured by the allocator: a node whose declared memory leaves no room
for a new instance receives none."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration import test_ganeti_clients as ganeti
from tests.integration.vcluster import ADD_DISKLESS, VCluster

#: Ganeti's RAPI client fixtures (Debian's ganeti-3.0), shared with test_ganeti_clients
users = ganeti.users
admin = ganeti.admin


def _memory(cluster: VCluster, node: str) -> tuple[int, int, int]:
    out = cluster.ok("gnt-node", "list", "-o", "mtotal,mnode,mfree", "--units=m", "--no-headers", "--separator=:", node)
    total, dom0, free = (int(float(v)) for v in out.strip().split(":"))
    return total, dom0, free


def _tight(cluster: VCluster, node: str) -> int:
    """A mem_total for `node` under which its guests' free memory is 0: its node memory and what is in
    use now, less a GiB (so that memory freed meanwhile on the host cannot make room)."""
    total, dom0, free = _memory(cluster, node)
    used = total - dom0 - free
    return max(dom0 + 1, dom0 + used - 1024)


@pytest.fixture
def reset_state(cluster: VCluster) -> Iterator[None]:
    """The shared cluster gets every state key this module sets dropped again, pass or fail."""
    yield
    for node in ("node1", "node2", "node3"):
        cluster.run(
            "gnt-node",
            "modify",
            "--hypervisor-state",
            "fake:mem_total=default,mem_node=default",
            "--disk-state",
            "plain/xenvg:disk_reserved=default",
            node,
        )
    cluster.run("gnt-group", "modify", "--hypervisor-state", "fake:cpu_node=default,mem_hv=default", "default")
    cluster.run("gnt-cluster", "modify", "--hypervisor-state", "fake:mem_hv=default")
    cluster.run("gnt-instance", "remove", "-f", "rs-a")


def test_state_is_set_shown_and_honoured_by_the_allocator(cluster: VCluster, reset_state: None) -> None:
    cluster.ok("gnt-cluster", "modify", "--hypervisor-state", "fake:mem_hv=16")
    cluster.ok("gnt-group", "modify", "--hypervisor-state", "fake:cpu_node=1", "default")
    for node in ("node1", "node2"):
        cluster.ok("gnt-node", "modify", "--hypervisor-state", f"fake:mem_total={_tight(cluster, node)}", node)
    cluster.ok("gnt-node", "modify", "--disk-state", "plain/xenvg:disk_reserved=512", "node3")

    info = cluster.ok("gnt-node", "info", "node1")
    assert "Hypervisor state:" in info and "mem_hv: 16" in info and "cpu_node: 1" in info and "mem_total:" in info
    assert "Disk state:" in cluster.ok("gnt-node", "info", "node3")
    assert "Disk state:" not in info
    group = cluster.ok("gnt-group", "info", "default")
    assert "cpu_node: 1" in group and "mem_hv: 16" in group and "mem_total" not in group
    assert "mem_hv: 16" in cluster.ok("gnt-cluster", "info")
    own = cluster.ok("gnt-node", "list", "-o", "name,custom_hv_state", "--no-headers", "--separator=|", "node3")
    assert own.strip() == "node3|"  # an empty dict, as gnt-node list shows one

    out = cluster.ok(*ADD_DISKLESS, "-B", "memory=32M", "rs-a")
    assert "Selected nodes for instance rs-a via iallocator hail: node3" in out
    pinned = cluster.run(*ADD_DISKLESS, "-B", "memory=32M", "-n", "node1", "rs-b")
    assert pinned.rc == 1 and "Not enough memory on node node1" in pinned.err
    assert "rs-b" not in cluster.ok("gnt-instance", "list")


def test_bad_state_is_one_line_and_changes_nothing(cluster: VCluster) -> None:
    before = cluster.ok("gnt-node", "list", "-o", "custom_hv_state,custom_disk_state", "--no-headers", "node2")
    for argv, needle in [
        (["--hypervisor-state", "qemu:mem_total=1"], "invalid hypervisor 'qemu'"),
        (["--hypervisor-state", "kvm:mem_free=1"], "unknown parameter 'mem_free'"),
        (["--disk-state", "plain/xenvg:disk_total=lots"], "disk_total must be an integer"),
        (["--disk-state", "xenvg:disk_total=1"], "expected storage_type/name"),
    ]:
        result = cluster.run("gnt-node", "modify", *argv, "node2")
        assert result.rc == 1 and len(result.err.strip().splitlines()) == 1 and needle in result.err, result.text
    after = cluster.ok("gnt-node", "list", "-o", "custom_hv_state,custom_disk_state", "--no-headers", "node2")
    assert after == before


def test_ganetis_client_reads_and_writes_the_state(
    cluster: VCluster, admin: ganeti.GanetiClient, reset_state: None
) -> None:
    admin.job("ModifyNode", "node2", hv_state={"fake": {"mem_node": 2048}})
    admin.job("ModifyGroup", "default", hv_state={"fake": {"mem_hv": 8}})
    admin.job("ModifyCluster", hv_state={"fake": {"mem_hv": 4}})
    node = admin("GetNode", "node2")
    assert node["hv_state"] == {"fake": {"mem_node": 2048, "mem_hv": 8}}
    assert node["disk_state"] == {}
    assert admin("GetGroup", "default")["custom_hv_state"] == {"fake": {"mem_hv": 8}}
    assert admin("GetInfo")["hv_state"] == {"fake": {"mem_hv": 4}}
    (outcome,) = admin.calls(("ModifyNode", ["node2"], {"disk_state": {"lvm": {"xenvg": {"disk_total": 1}}}}))
    assert not outcome["ok"] and "invalid storage type 'lvm'" in str(outcome), outcome
