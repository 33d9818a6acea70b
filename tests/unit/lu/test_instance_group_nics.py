"""An instance changing node group takes its NICs' mode and link from the new group: a NIC on a
network has them from the network's connection in the group of its primary (Ganeti's rule), so
change-group and group evacuation (their migrate/failover steps) re-derive them on the target."""

from __future__ import annotations

import asyncio

import pytest

from gnt.errors import ECODE_STATE, OpPrereqError
from gnt.group.logic import LUGroupAdd, LUGroupAssignNodes
from gnt.group.opcodes import OpGroupAdd, OpGroupAssignNodes
from gnt.instance.change_group import LUInstanceChangeGroup
from gnt.instance.migrate import LUInstanceFailover, LUInstanceMigrate
from gnt.instance.multi_opcodes import OpInstanceChangeGroup
from gnt.network.logic import LUNetworkAdd, LUNetworkConnect
from gnt.network.opcodes import OpNetworkAdd, OpNetworkConnect
from gnt.objects import Nic, new_uuid
from gnt.opcodes import OpInstanceFailover, OpInstanceMigrate, from_dict
from tests.unit.lu.conftest import Harness
from tests.unit.lu.test_instance_multi_alloc import _full_node_info


@pytest.fixture
def groups(harness: Harness) -> Harness:
    """node1 in `default` (net1 bridged on br1), node2 in `rack2` (net1 routed, table 100);
    net2 connected to `default` only."""
    harness.run(OpGroupAdd(group_name="rack2"), LUGroupAdd)
    harness.run(OpGroupAssignNodes(group_name="rack2", nodes=["node2"]), LUGroupAssignNodes)
    return _networks(harness)


def _networks(harness: Harness) -> Harness:
    for name, cidr in (("net1", "10.9.0.0/28"), ("net2", "10.8.0.0/28")):
        harness.run(OpNetworkAdd(network_name=name, network=cidr), LUNetworkAdd)
    connections = [("net1", "default", "bridged", "br1"), ("net2", "default", "bridged", "br2")]
    if "rack2" in {g.name for g in harness.cfg.groups.values()}:
        connections.append(("net1", "rack2", "routed", "100"))
    for net, group, mode, link in connections:
        op = OpNetworkConnect(network_name=net, group_name=group, network_mode=mode, network_link=link)
        harness.run(op, LUNetworkConnect)
    _full_node_info(harness)
    return harness


def _on_networks(h: Harness, name: str, up: bool, *nets: str, template: str | None = None) -> None:
    """`name` on node1 (diskless unless `template`) with one NIC per network, as `default` connects
    it, and one plain NIC."""
    inst = h.add_instance(name, "node1", up=up, **({"template": template} if template else {}))
    inst.nics = [
        Nic(
            uuid=new_uuid(),
            mac=f"aa:00:00:00:00:{i:02x}",
            network=h.cfg.network(net).uuid,
            nicparams=dict(h.cfg.group("default").networks[h.cfg.network(net).uuid]),
        )  # fmt: skip
        for i, net in enumerate(nets)
    ]
    inst.nics.append(Nic(uuid=new_uuid(), mac="aa:00:00:00:01:00", nicparams={"mode": "bridged", "link": "br0"}))
    asyncio.run(h.cfg.commit([inst]))


def _modes(h: Harness, name: str) -> list[tuple[str | None, str | None]]:
    return [(n.nicparams.get("mode"), n.nicparams.get("link")) for n in h.cfg.instance(name).nics]


def test_failover_to_another_group_takes_its_connection(groups: Harness) -> None:
    _on_networks(groups, "web1", False, "net1")
    groups.run(OpInstanceFailover(instance_name="web1", target_node="node2"), LUInstanceFailover)
    assert groups.cfg.instance("web1").primary_node == groups.cfg.node("node2").uuid
    # the NIC on net1 is routed in rack2; the NIC on no network keeps what it was given
    assert _modes(groups, "web1") == [("routed", "100"), ("bridged", "br0")]


def test_a_live_migration_starts_the_guest_with_the_new_groups_link(groups: Harness) -> None:
    _on_networks(groups, "web1", True, "net1")
    groups.run(OpInstanceMigrate(instance_name="web1", target_node="node2"), LUInstanceMigrate)
    accepted = [a for n, a in groups.nodes["node2"].calls if n == "accept_instance"]
    assert [(n.mode, n.link) for n in accepted[0].instance.nics] == [("routed", "100"), ("bridged", "br0")]
    assert _modes(groups, "web1") == [("routed", "100"), ("bridged", "br0")]


def test_a_move_inside_the_group_keeps_the_nics(harness: Harness) -> None:
    one_group = _networks(harness)  # node1 and node2 both in `default`
    _on_networks(one_group, "web1", False, "net1", "net2")
    one_group.run(OpInstanceFailover(instance_name="web1", target_node="node2"), LUInstanceFailover)
    assert one_group.cfg.instance("web1").primary_node == one_group.cfg.node("node2").uuid
    assert _modes(one_group, "web1") == [("bridged", "br1"), ("bridged", "br2"), ("bridged", "br0")]


def test_a_group_not_connected_to_a_nics_network_is_refused(groups: Harness) -> None:
    _on_networks(groups, "web1", False, "net1", "net2")
    with pytest.raises(OpPrereqError, match="network\\(s\\) net2, not connected to node group rack2") as err:
        groups.run(OpInstanceFailover(instance_name="web1", target_node="node2"), LUInstanceFailover)
    assert err.value.args[1] == ECODE_STATE
    inst = groups.cfg.instance("web1")
    assert inst.primary_node == groups.cfg.node("node1").uuid
    assert _modes(groups, "web1") == [("bridged", "br1"), ("bridged", "br2"), ("bridged", "br0")]


def test_change_group_steps_re_derive_the_nics(groups: Harness) -> None:
    """change-group answers a migration to rack2; running that step re-derives the NIC."""
    _on_networks(groups, "web1", True, "net1")
    groups.run(OpInstanceChangeGroup(instance_name="web1", target_groups=["rack2"]), LUInstanceChangeGroup)
    ((step,),) = groups.queue.jobs
    groups.run(from_dict(step), LUInstanceMigrate)
    assert groups.cfg.instance("web1").primary_node == groups.cfg.node("node2").uuid
    assert _modes(groups, "web1") == [("routed", "100"), ("bridged", "br0")]


def test_a_move_to_another_group_takes_its_connection_and_starts_with_it(groups: Harness) -> None:
    from gnt.backup.move import LUInstanceMove
    from gnt.backup.opcodes import OpInstanceMove
    from tests.unit.lu.test_backup import _transfers

    _transfers(groups.nodes["node2"], groups.nodes["node1"])
    _on_networks(groups, "web1", True, "net1", template="file")
    groups.run(OpInstanceMove(instance_name="web1", target_node="node2"), LUInstanceMove)
    assert _modes(groups, "web1") == [("routed", "100"), ("bridged", "br0")]
    (started,) = [a for n, a in groups.nodes["node2"].calls if n == "instance_start"]
    assert [(n.mode, n.link) for n in started.instance.nics] == [("routed", "100"), ("bridged", "br0")]


def test_a_move_to_a_group_without_the_network_is_refused_before_anything(groups: Harness) -> None:
    from gnt.backup.move import LUInstanceMove
    from gnt.backup.opcodes import OpInstanceMove

    _on_networks(groups, "web1", True, "net2", template="file")  # net2 is connected to `default` only
    with pytest.raises(OpPrereqError, match="net2, not connected to node group rack2") as err:
        groups.run(OpInstanceMove(instance_name="web1", target_node="node2"), LUInstanceMove)
    assert err.value.code == ECODE_STATE
    assert "instance_shutdown" not in groups.nodes["node1"].names()
    assert _modes(groups, "web1") == [("bridged", "br2"), ("bridged", "br0")]


def test_a_new_primary_in_another_group_gives_the_nics_its_connection(groups: Harness) -> None:
    from gnt.instance.lifecycle import LUInstanceSetParams
    from gnt.opcodes import OpInstanceSetParams

    _on_networks(groups, "web1", False, "net1", template="file")
    groups.run(OpInstanceSetParams(instance_name="web1", pnode="node2"), LUInstanceSetParams)
    assert groups.cfg.instance("web1").primary_node == groups.cfg.node("node2").uuid
    assert _modes(groups, "web1") == [("routed", "100"), ("bridged", "br0")]


def test_a_new_primary_in_a_group_without_the_network_is_refused(groups: Harness) -> None:
    from gnt.instance.lifecycle import LUInstanceSetParams
    from gnt.opcodes import OpInstanceSetParams

    _on_networks(groups, "web1", False, "net2", template="file")
    with pytest.raises(OpPrereqError, match="net2, not connected to node group rack2"):
        groups.run(OpInstanceSetParams(instance_name="web1", pnode="node2"), LUInstanceSetParams)
    assert groups.cfg.instance("web1").primary_node == groups.cfg.node("node1").uuid


def test_disks_recreated_on_a_node_of_another_group_bring_its_connection(groups: Harness) -> None:
    from gnt.instance.disks import LUInstanceRecreateDisks
    from gnt.opcodes import OpInstanceRecreateDisks
    from tests.unit.lu.test_instance_disks import with_blockdevs

    for node in groups.nodes.values():
        with_blockdevs(node)
    _on_networks(groups, "web1", False, "net1", template="file")
    groups.run(OpInstanceRecreateDisks(instance_name="web1", nodes=["node2"]), LUInstanceRecreateDisks)
    assert groups.cfg.instance("web1").primary_node == groups.cfg.node("node2").uuid
    assert _modes(groups, "web1") == [("routed", "100"), ("bridged", "br0")]
    _on_networks(groups, "web2", False, "net2", template="file")
    with pytest.raises(OpPrereqError, match="net2, not connected to node group rack2"):
        groups.run(OpInstanceRecreateDisks(instance_name="web2", nodes=["node2"]), LUInstanceRecreateDisks)
