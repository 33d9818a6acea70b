"""Network-aware placement at instance create with an allocator (`gnt-instance add -I`): a NIC on a
network (`network=NAME`, `ip=pool` too) lands only in a node group that network is connected to."""

from __future__ import annotations

import asyncio

import pytest

from gnt.errors import ECODE_NORES, OpPrereqError
from gnt.group.logic import LUGroupAdd, LUGroupAssignNodes
from gnt.group.opcodes import OpGroupAdd, OpGroupAssignNodes
from gnt.instance import placement
from gnt.instance.create import LUInstanceCreate
from gnt.instance.disks import LUInstanceRecreateDisks
from gnt.network.logic import LUNetworkAdd, LUNetworkConnect
from gnt.network.opcodes import OpNetworkAdd, OpNetworkConnect
from gnt.network.pool import AddressPool
from gnt.objects import Nic, new_uuid
from gnt.opcodes import OpInstanceCreate, OpInstanceRecreateDisks
from tests.unit.lu.conftest import Harness
from tests.unit.lu.test_instance_multi_alloc import _full_node_info


@pytest.fixture
def two_groups(harness: Harness) -> Harness:
    """node1 in `default`, node2 in `rack2`; net1 connected to rack2 only, net2 to no group."""
    harness.run(OpGroupAdd(group_name="rack2"), LUGroupAdd)
    harness.run(OpGroupAssignNodes(group_name="rack2", nodes=["node2"]), LUGroupAssignNodes)
    for name, cidr in (("net1", "10.9.0.0/28"), ("net2", "10.8.0.0/28")):
        harness.run(OpNetworkAdd(network_name=name, network=cidr), LUNetworkAdd)
    op = OpNetworkConnect(network_name="net1", group_name="rack2", network_mode="bridged", network_link="br9")
    harness.run(op, LUNetworkConnect)
    _full_node_info(harness)
    return harness


def _create(harness: Harness, name: str, nics: list[dict[str, object]]) -> None:
    op = OpInstanceCreate(
        instance_name=name, disk_template="diskless", os_type="noop", iallocator="hail", start=False, nics=nics
    )
    harness.run(op, LUInstanceCreate)


def test_a_pool_address_sends_the_instance_to_the_group_of_its_network(two_groups: Harness) -> None:
    for i in range(3):  # each time the allocator would otherwise spread them over both groups
        _create(two_groups, f"web{i}", [{"network": "net1", "ip": "pool"}])
        inst = two_groups.cfg.instance(f"web{i}")
        assert two_groups.cfg.node(inst.primary_node).name == "node2"
        assert inst.nics[0].nicparams["link"] == "br9"
    pool = AddressPool(two_groups.cfg.network("net1"))
    assert pool.instance_reservations() == ["10.9.0.1", "10.9.0.2", "10.9.0.3"]


def test_without_a_network_the_allocator_prefers_the_other_group(two_groups: Harness) -> None:
    """The control for the test above: left free, the allocator picks node1's group."""
    for i in range(3):
        _create(two_groups, f"plain{i}", [{}])
        assert two_groups.cfg.node(two_groups.cfg.instance(f"plain{i}").primary_node).name == "node1"


def test_a_network_no_group_is_connected_to_is_refused_by_name(two_groups: Harness) -> None:
    serial = two_groups.cfg.serial
    with pytest.raises(OpPrereqError, match="network net2 is connected to no node group") as err:
        _create(two_groups, "lost", [{"network": "net2", "ip": "pool"}])
    assert err.value.args[1] == ECODE_NORES
    assert two_groups.cfg.find_instance("lost") is None and two_groups.cfg.serial == serial


def test_an_instance_needing_two_networks_of_different_groups_cannot_be_placed(two_groups: Harness) -> None:
    op = OpNetworkConnect(network_name="net2", group_name="default", network_mode="routed", network_link="100")
    two_groups.run(op, LUNetworkConnect)
    with pytest.raises(OpPrereqError, match="group rack2 is not connected to network net2") as err:
        _create(two_groups, "split", [{"network": "net1"}, {"network": "net2"}])
    assert err.value.args[1] == ECODE_NORES and two_groups.cfg.find_instance("split") is None


def test_a_mirror_placed_inside_one_failure_domain_is_warned_about(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The allocator keeps a DRBD pair in distinct locations when it can; when its answer shares one
    (no other pair fitted), the create job says so."""
    cfg = harness.cfg
    cfg.cluster.tags = ["htools:nlocation:rack"]
    cfg.node("node1").tags, cfg.node("node2").tags = ["rack:a"], ["rack:a"]

    async def answer(lu: object, name: object, request: dict[str, object]) -> list[str]:
        assert request["required_nodes"] == 2
        return ["node1", "node2"]

    monkeypatch.setattr(placement, "run_iallocator", answer)

    class Lu:
        def __init__(self) -> None:
            self.cfg, self.warnings = cfg, []

        def warning(self, message: str) -> None:
            self.warnings.append(message)

    lu = Lu()
    nodes = asyncio.run(placement.nodes_for_new_instance(lu, "db1", "hail", "drbd", 128, 1, [1024], []))  # type: ignore[arg-type]
    assert [n.name for n in nodes] == ["node1", "node2"]
    assert lu.warnings == [
        "Primary node1 and secondary node2 of db1 share failure domain rack:a: the allocator found no fitting"
        " pair in distinct locations"
    ]
    cfg.node("node2").tags = ["rack:b"]
    lu.warnings.clear()
    asyncio.run(placement.nodes_for_new_instance(lu, "db2", "hail", "drbd", 128, 1, [1024], []))  # type: ignore[arg-type]
    assert lu.warnings == []


def _file_instance_on_net1(h: Harness) -> None:
    """inst1 (file disks, stopped) on node1 with a NIC on net1, its disks lost: recreate-disks -I
    must find it new nodes."""
    from tests.unit.lu.test_instance_disks import two_disk_instance, with_blockdevs

    for node in h.nodes.values():
        with_blockdevs(node)
    inst = two_disk_instance(h)
    inst.nics = [Nic(uuid=new_uuid(), mac="aa:00:00:11:22:33", network=h.cfg.network("net1").uuid)]
    inst.tags = ["svc:web"]
    asyncio.run(h.cfg.commit([inst]))
    for disk in inst.disks:
        del h.nodes["node1"].disks[disk.uuid]


def test_recreate_disks_with_an_allocator_keeps_the_nic_in_its_networks_group(two_groups: Harness) -> None:
    """Left free, the allocator would pick node1's group (see the control above); the NIC on net1
    sends the recreated disks to node2, the only node of a group net1 is connected to."""
    _file_instance_on_net1(two_groups)
    sizes = [[0, {"size": 1024}], [1, {"size": 1024}]]  # within the policy's minimum disk size
    op = OpInstanceRecreateDisks(instance_name="inst1", iallocator="hail", disks=sizes)
    two_groups.run(op, LUInstanceRecreateDisks)
    inst = two_groups.cfg.instance("inst1")
    assert two_groups.cfg.node(inst.primary_node).name == "node2"
    assert {d.uuid for d in inst.disks} <= set(two_groups.nodes["node2"].disks)


def test_recreate_disks_sends_the_allocator_the_instances_networks_and_tags(
    two_groups: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    _file_instance_on_net1(two_groups)
    seen: list[dict[str, object]] = []

    async def answer(lu: object, name: object, request: dict[str, object]) -> list[str]:
        seen.append(request)
        return ["node2"]

    monkeypatch.setattr(placement, "run_iallocator", answer)
    two_groups.run(OpInstanceRecreateDisks(instance_name="inst1", iallocator="hail"), LUInstanceRecreateDisks)
    (request,) = seen
    assert request["nics"] == [{"network": two_groups.cfg.network("net1").uuid, "ip": None}]
    assert request["tags"] == ["svc:web"]
