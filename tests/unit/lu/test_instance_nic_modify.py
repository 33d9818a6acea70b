"""`gnt-instance modify --net ...` through LUInstanceSetParams on the in-process transport: NICs
added, removed and changed by index, name or uuid; addresses taken from and given back to the
networks' pools; MAC, IP, mode and link checks; hotplug into a running instance and its undo."""

from __future__ import annotations

from typing import Any

import pytest

from gnt.errors import ECODE_INVAL, ECODE_NOTUNIQUE, ECODE_STATE, HypervisorError, OpExecError, OpPrereqError
from gnt.instance.lifecycle import LUInstanceSetParams
from gnt.network import nics as netnics
from gnt.network.pool import AddressPool
from gnt.objects import Nic, new_uuid
from gnt.opcodes import OpInstanceSetParams
from tests.unit.lu.conftest import Harness
from tests.unit.lu.test_networks import _add, _connect


def modify(*changes: list[Any], name: str = "inst1", **kw: Any) -> OpInstanceSetParams:
    return OpInstanceSetParams(instance_name=name, nics=list(changes), **kw)


@pytest.fixture
def net(harness: Harness) -> Harness:
    """node1's group connected to net1 (10.9.0.0/28, bridged on br0); inst1 (stopped) with one NIC on it."""
    _add(harness)
    _connect(harness)
    nic = Nic(uuid=new_uuid(), mac="aa:00:00:00:00:01", ip="10.9.0.4", name="eth0")
    nic.network = harness.cfg.network("net1").uuid
    nic.nicparams = {"mode": "bridged", "link": "br0"}
    inst = harness.add_instance("inst1", "node1", up=False, nics=[nic])
    pool = AddressPool(harness.cfg.network("net1"))
    pool.reserve("10.9.0.4")
    import asyncio

    asyncio.run(harness.cfg.commit([inst, harness.cfg.network("net1")]))
    return harness


def pool(h: Harness) -> list[str]:
    return AddressPool(h.cfg.network("net1")).instance_reservations()


def nics(h: Harness, name: str = "inst1") -> list[Nic]:
    return h.cfg.instance(name).nics


def hotplug_calls(h: Harness, node: str = "node1") -> list[tuple[str, str]]:
    return [
        (args.action, args.nic.mac if args.nic else f"disk:{args.disk.uuid}")
        for name, args in h.nodes[node].calls
        if name == "instance_hotplug"
    ]


def running(h: Harness, name: str = "inst1", node: str = "node1") -> None:
    from gnt import serial
    from gnt.runtime import InstanceSpec

    inst = h.cfg.instance(name)
    h.nodes[node].running[name] = serial.from_dict(
        InstanceSpec, {"name": name, "uuid": inst.uuid, "hypervisor": "fake", "memory": 128, "vcpus": 1}
    )


def test_add_a_nic_on_a_network_takes_a_pool_address_and_a_new_mac(net: Harness) -> None:
    result = net.run(modify(["add", -1, {"network": "net1", "ip": "pool", "name": "eth1"}]), LUInstanceSetParams)
    new = nics(net)[1]
    assert (new.ip, new.name, new.network) == ("10.9.0.1", "eth1", net.cfg.network("net1").uuid)
    assert (new.nicparams["mode"], new.nicparams["link"]) == ("bridged", "br0")
    assert new.mac.startswith(net.cfg.cluster.mac_prefix) and new.mac != nics(net)[0].mac
    assert pool(net) == ["10.9.0.1", "10.9.0.4"]
    assert result == [["nic.1", f"add:mac={new.mac},ip=10.9.0.1,link=br0,mode=bridged"]]
    assert netnics.held(net.cfg).get(new.network, set()) == set()  # the job's hold went with it


def test_add_a_nic_at_an_index_without_a_network(net: Harness) -> None:
    net.run(modify(["add", 0, {"mode": "routed", "link": "100", "ip": "192.0.2.9"}]), LUInstanceSetParams)
    first = nics(net)[0]
    assert (first.ip, first.network, first.nicparams) == ("192.0.2.9", None, {"mode": "routed", "link": "100"})
    assert nics(net)[1].name == "eth0"


@pytest.mark.parametrize("ident", [0, "0", -1, "eth0", "uuid"])
def test_remove_a_nic_by_index_name_or_uuid_gives_its_address_back(net: Harness, ident: Any) -> None:
    ident = nics(net)[0].uuid if ident == "uuid" else ident
    result = net.run(modify(["remove", ident, {}]), LUInstanceSetParams)
    assert result == [["nic.0", "remove"]]
    assert nics(net) == [] and pool(net) == []


def test_modify_the_ip_moves_the_reservation(net: Harness) -> None:
    result = net.run(modify(["modify", "eth0", {"ip": "10.9.0.9"}]), LUInstanceSetParams)
    assert nics(net)[0].ip == "10.9.0.9" and pool(net) == ["10.9.0.9"]
    assert result == [["nic.ip/0", "10.9.0.9"]]


def test_modify_off_the_network_releases_the_address_and_takes_mode_and_link(net: Harness) -> None:
    net.run(modify(["modify", 0, {"network": "none", "ip": "none", "link": "br7"}]), LUInstanceSetParams)
    nic = nics(net)[0]
    assert (nic.network, nic.ip, nic.nicparams) == (None, None, {"link": "br7"})
    assert pool(net) == []


def test_modify_the_mac(net: Harness) -> None:
    net.run(modify(["modify", 0, {"mac": "AA:00:00:12:34:56"}]), LUInstanceSetParams)
    assert nics(net)[0].mac == "aa:00:00:12:34:56"


def test_legacy_two_element_form_adds_at_the_end(net: Harness) -> None:
    net.run(modify(["add", {"mode": "bridged", "link": "br1"}]), LUInstanceSetParams)
    assert [n.name for n in nics(net)] == ["eth0", None] and nics(net)[1].nicparams == {
        "mode": "bridged",
        "link": "br1",
    }


def test_a_mac_used_by_another_instance_is_refused(net: Harness) -> None:
    net.add_instance("other", "node1", up=False, nics=[Nic(uuid=new_uuid(), mac="aa:00:00:00:00:77")])
    with pytest.raises(OpPrereqError, match="MAC address 'aa:00:00:00:00:77' already in use in cluster") as err:
        net.run(modify(["add", -1, {"mac": "aa:00:00:00:00:77"}]), LUInstanceSetParams)
    assert err.value.code == ECODE_NOTUNIQUE
    assert len(nics(net)) == 1


@pytest.mark.parametrize(
    ("changes", "message", "code"),
    [
        ([["remove", 3, {}]], "Invalid NIC index 3", ECODE_INVAL),
        ([["modify", "eth9", {"ip": "10.9.0.2"}]], "Cannot find NIC with identifier eth9", ECODE_INVAL),
        ([["add", 5, {}]], "Invalid NIC index 5 for a new NIC", ECODE_INVAL),
        ([["add", "eth1", {}]], "A new NIC's position is an index", ECODE_INVAL),
        ([["add", -1, {"network": "net1", "ip": "10.8.0.1"}]], "does not belong to network net1", ECODE_INVAL),
        ([["add", -1, {"network": "net1", "ip": "10.9.0.4"}]], "IP 10.9.0.4 not available in network net1", None),
        ([["add", -1, {"ip": "pool"}]], "If ip=pool, parameter network cannot be none", ECODE_INVAL),
        ([["add", -1, {"network": "net1", "mode": "routed"}]], "If network is given, mode or link", ECODE_INVAL),
        ([["modify", 0, {"mac": "auto"}]], "'auto' is not a valid MAC address when modifying", ECODE_INVAL),
        ([["add", -1, {"mac": "zz:00:00:00:00:01"}]], "Invalid MAC address 'zz:00:00:00:00:01'", ECODE_INVAL),
        ([["add", -1, {"mode": "routed"}]], "Cannot set the NIC IP address to None on a routed NIC", ECODE_INVAL),
        ([["add", -1, {"mode": "tunnel"}]], "Invalid NIC mode 'tunnel'", ECODE_INVAL),
        ([["add", -1, {"link": "br 0"}]], "Invalid NIC link 'br 0'", ECODE_INVAL),
        ([["add", -1, {"bridge": "br0"}]], "Unknown NIC parameter", ECODE_INVAL),
        ([["remove", 0, {"ip": "none"}]], "No settings should be passed when removing a NIC", ECODE_INVAL),
        ([["modify", 0, {"link": "br1"}]], "Not allowed to change link or mode of a NIC that is connected", None),
        ([["add", -1, {"name": "eth0"}]], "NIC names must be unique in an instance", ECODE_INVAL),
        ([["add", -1, {"ip": "10.9.0.7"}]], "belongs to network net1, but the target NIC does not", ECODE_STATE),
        ([["add", -1, {}]] * 8, "too many network interfaces", ECODE_STATE),
        ([["swap", 0, {}]], "Invalid NIC operation 'swap'", ECODE_INVAL),
        ([["add", {}], ["remove", {}]], "Only one NIC add/remove operation is supported at a time", ECODE_INVAL),
    ],
)
def test_bad_nic_changes_are_refused_and_change_nothing(
    net: Harness, changes: list[Any], message: str, code: str | None
) -> None:
    before = [(n.uuid, n.mac, n.ip) for n in nics(net)]
    with pytest.raises(OpPrereqError, match=message) as err:
        LUInstanceSetParams.check_opcode(modify(*changes))
        net.run(modify(*changes), LUInstanceSetParams)
    if code:
        assert err.value.code == code
    assert [(n.uuid, n.mac, n.ip) for n in nics(net)] == before and pool(net) == ["10.9.0.4"]


def test_no_conflicts_check_accepts_an_address_outside_its_network(net: Harness) -> None:
    net.run(modify(["add", -1, {"ip": "10.9.0.7"}], conflicts_check=False), LUInstanceSetParams)
    assert nics(net)[1].ip == "10.9.0.7" and nics(net)[1].network is None


def test_without_hotplug_a_running_instance_gets_the_nic_at_next_start(net: Harness) -> None:
    running(net)
    net.run(modify(["add", -1, {}]), LUInstanceSetParams)
    assert len(nics(net)) == 2 and hotplug_calls(net) == []


def test_hotplug_adds_the_nic_to_the_running_instance(net: Harness) -> None:
    running(net)
    net.run(modify(["add", -1, {"network": "net1", "ip": "pool"}], hotplug=True), LUInstanceSetParams)
    new = nics(net)[1]
    assert hotplug_calls(net) == [("add", new.mac)]
    args = next(a for n, a in net.nodes["node1"].calls if n == "instance_hotplug")
    assert (args.nic.ip, args.nic.mode, args.nic.link, args.nic.uuid) == ("10.9.0.1", "bridged", "br0", new.uuid)


def test_hotplug_modify_replaces_the_device(net: Harness) -> None:
    running(net)
    old_mac = nics(net)[0].mac
    net.run(modify(["modify", 0, {"mac": "aa:00:00:00:00:99"}], hotplug=True), LUInstanceSetParams)
    assert hotplug_calls(net) == [("remove", old_mac), ("add", "aa:00:00:00:00:99")]


def test_hotplug_modify_then_remove_of_one_nic_only_removes_it(net: Harness) -> None:
    """A NIC modified and then removed in one call is removed, not also replaced (it was a KeyError)."""
    running(net)
    old_mac = nics(net)[0].mac
    net.run(modify(["modify", 0, {"mac": "aa:00:00:00:00:99"}], ["remove", 0, {}], hotplug=True), LUInstanceSetParams)
    assert nics(net) == [] and hotplug_calls(net) == [("remove", old_mac)]


def test_a_failed_hotplug_changes_nothing_and_releases_the_pool_address(net: Harness) -> None:
    running(net)
    net.nodes["node1"].fail["instance_hotplug"] = HypervisorError("netdev_add failed: no bridge br0")
    with pytest.raises(OpExecError, match="Could not hotplug \\(add\\) NIC of instance inst1: .*no bridge br0"):
        net.run(modify(["add", -1, {"network": "net1", "ip": "pool"}], hotplug=True), LUInstanceSetParams)
    assert len(nics(net)) == 1 and pool(net) == ["10.9.0.4"]
    assert netnics.held(net.cfg).get(net.cfg.network("net1").uuid, set()) == set()


def test_a_failed_hotplug_puts_back_what_it_took_out(net: Harness) -> None:
    running(net)
    old_mac = nics(net)[0].mac
    net.nodes["node1"].fail["instance_hotplug"] = HypervisorError("device_add failed")
    net.nodes["node1"].fail_on["instance_hotplug"] = 2  # the remove works, the add fails
    with pytest.raises(OpExecError, match="device_add failed"):
        net.run(modify(["modify", 0, {"mac": "aa:00:00:00:00:99"}], hotplug=True), LUInstanceSetParams)
    assert hotplug_calls(net) == [("remove", old_mac), ("add", "aa:00:00:00:00:99"), ("add", old_mac)]
    assert nics(net)[0].mac == old_mac and pool(net) == ["10.9.0.4"]


def test_hotplug_of_a_stopped_instance_is_refused(net: Harness) -> None:
    with pytest.raises(OpPrereqError, match="Hotplug is not possible: instance inst1 is not running") as err:
        net.run(modify(["add", -1, {}], hotplug=True), LUInstanceSetParams)
    assert err.value.code == ECODE_STATE and len(nics(net)) == 1


def test_hotplug_if_possible_goes_on_without_it(net: Harness) -> None:
    net.run(modify(["add", -1, {}], hotplug_if_possible=True), LUInstanceSetParams)
    assert len(nics(net)) == 2 and hotplug_calls(net) == []
    assert any("Modification will take place without hotplugging." in line for line in net.log)


def test_hotplug_needs_a_hypervisor_that_can(net: Harness) -> None:
    inst = net.cfg.instance("inst1")
    inst.hypervisor = "xen-pvm"
    with pytest.raises(OpPrereqError, match="Hotplug is not possible: hypervisor xen-pvm does not support it"):
        net.run(modify(["add", -1, {}], hotplug=True), LUInstanceSetParams)


def test_dry_run_checks_hold_nothing_and_change_nothing(net: Harness) -> None:
    from gnt.instance.nic_modify import check, parse

    inst = net.cfg.instance("inst1")
    plan = check(net.cfg, inst, net.cfg.node("node1"), parse([["add", -1, {"network": "net1", "ip": "pool"}]]), True)
    assert len(plan.nics) == 2 and len(inst.nics) == 1 and pool(net) == ["10.9.0.4"]


@pytest.mark.parametrize("change", [["remove", 0, {}], ["add", -1, {"network": "net1", "ip": "pool"}]])
def test_a_failed_commit_leaves_the_instance_and_the_pools_as_they_were(
    net: Harness, monkeypatch: pytest.MonkeyPatch, change: list[Any]
) -> None:
    from gnt.errors import ConfigurationError

    async def broken(*args: Any, **kwargs: Any) -> int:
        raise ConfigurationError("cannot write the config: disk full")

    monkeypatch.setattr(net.cfg, "commit", broken)
    with pytest.raises(ConfigurationError, match="disk full"):
        net.run(modify(change), LUInstanceSetParams)
    assert [n.ip for n in nics(net)] == ["10.9.0.4"] and pool(net) == ["10.9.0.4"]


def test_an_address_given_back_may_be_taken_again_in_the_same_call(net: Harness) -> None:
    net.run(modify(["remove", 0, {}], ["add", -1, {"network": "net1", "ip": "10.9.0.4"}]), LUInstanceSetParams)
    assert [n.ip for n in nics(net)] == ["10.9.0.4"] and nics(net)[0].name is None and pool(net) == ["10.9.0.4"]


def test_hotplug_leaves_a_nic_whose_device_does_not_change_plugged_in(net: Harness) -> None:
    running(net)
    net.run(modify(["modify", 0, {"name": "uplink"}], hotplug=True), LUInstanceSetParams)
    assert hotplug_calls(net) == [] and nics(net)[0].name == "uplink"
