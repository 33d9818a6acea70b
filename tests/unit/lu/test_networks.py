"""The network LUs and instance NICs on networks, on a real ConfigManager: add, modify, connect,
disconnect, remove; `network=NAME` and `ip=pool` at instance create; addresses freed on removal."""

from __future__ import annotations

import asyncio

import pytest

from gnt import opcodes
from gnt.config.manager import ConfigManager
from gnt.errors import ECODE_EXISTS, ECODE_INVAL, ECODE_NOENT, ECODE_NOTUNIQUE, ECODE_STATE, OpPrereqError
from gnt.instance.create import LUInstanceCreate
from gnt.instance.lifecycle import LUInstanceRemove
from gnt.network.logic import (
    LUNetworkAdd,
    LUNetworkConnect,
    LUNetworkDisconnect,
    LUNetworkQuery,
    LUNetworkRemove,
    LUNetworkSetParams,
)
from gnt.network.opcodes import (
    OpNetworkAdd,
    OpNetworkConnect,
    OpNetworkDisconnect,
    OpNetworkQuery,
    OpNetworkRemove,
    OpNetworkSetParams,
)
from gnt.network.pool import AddressPool
from gnt.opcodes import OpInstanceCreate, OpInstanceRemove
from tests.unit.lu.conftest import Harness


def _reloaded(harness: Harness) -> ConfigManager:
    fresh = ConfigManager(harness.cfg._writer)  # noqa: SLF001 - read back what was persisted
    fresh.load()
    return fresh


def _add(harness: Harness, name: str = "net1", cidr: str = "10.9.0.0/28", **kw: object) -> None:
    harness.run(OpNetworkAdd(network_name=name, network=cidr, **kw), LUNetworkAdd)  # type: ignore[arg-type]


def _connect(harness: Harness, name: str = "net1", group: str = "default") -> None:
    op = OpNetworkConnect(network_name=name, group_name=group, network_mode="bridged", network_link="br0")
    harness.run(op, LUNetworkConnect)


def _create(harness: Harness, name: str, nics: list[dict[str, object]], **kw: object) -> None:
    op = OpInstanceCreate(
        instance_name=name, disk_template="diskless", os_type="noop", pnode="node1", start=False, nics=nics, **kw
    )  # type: ignore[arg-type]
    harness.run(op, LUInstanceCreate)


def _query(harness: Harness, *fields: str) -> list[list[object]]:
    return harness.run(OpNetworkQuery(output_fields=list(fields)), LUNetworkQuery)


def test_add_persists_the_network_and_its_pool(harness: Harness) -> None:
    _add(harness, gateway="10.9.0.1", add_reserved_ips=["10.9.0.5"], tags=["t1"], mac_prefix="aa:bb:cc")
    net = _reloaded(harness).network("net1")
    assert (net.network, net.gateway, net.mac_prefix, net.tags) == ("10.9.0.0/28", "10.9.0.1", "aa:bb:cc", ["t1"])
    assert AddressPool(net).external_reservations() == ["10.9.0.0", "10.9.0.1", "10.9.0.5", "10.9.0.15"]
    assert _query(harness, "name", "free_count", "reserved_count", "map") == [["net1", 12, 4, "XX...X.........X"]]


def test_add_reserves_node_addresses_inside_the_network_unless_told_not_to(harness: Harness) -> None:
    _add(harness, "nodes", "192.0.2.0/29")
    assert AddressPool(harness.cfg.network("nodes")).external_reservations() == [
        "192.0.2.0", "192.0.2.1", "192.0.2.2", "192.0.2.7"
    ]  # fmt: skip
    _add(harness, "free", "192.0.2.8/29", conflicts_check=False)
    _add(harness, "nodes2", "192.0.2.0/30", conflicts_check=False)
    assert AddressPool(harness.cfg.network("nodes2")).external_reservations() == ["192.0.2.0", "192.0.2.3"]


@pytest.mark.parametrize(
    ("fields", "message", "code"),
    [
        ({"network_name": "net1", "network": "10.9.0.0/28"}, "already exists as a network", ECODE_EXISTS),
        ({"network_name": "n2", "network": "10.0.0.0/8"}, "at most a /16", ECODE_INVAL),
        ({"network_name": "n2", "network": "10.8.0.0/24", "gateway": "10.9.0.1"}, "not in network", ECODE_INVAL),
        (
            {"network_name": "n2", "network": "10.8.0.0/24", "add_reserved_ips": ["10.7.0.1"]},
            "does not belong to network n2",
            ECODE_INVAL,
        ),
        (
            {"network_name": "n2", "network": "10.8.0.0/24", "network6": "2001:db8::/64", "gateway6": "2001:db9::1"},
            "is not in the IPv6 network",
            ECODE_INVAL,
        ),
    ],
)
def test_bad_adds_are_refused_and_change_nothing(
    harness: Harness, fields: dict[str, object], message: str, code: str
) -> None:
    _add(harness)
    serial = harness.cfg.serial
    with pytest.raises(OpPrereqError, match=message) as err:
        harness.run(OpNetworkAdd(**fields), LUNetworkAdd)  # type: ignore[arg-type]
    assert err.value.code == code and harness.cfg.serial == serial
    assert [n.name for n in _reloaded(harness).networks.values()] == ["net1"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"OP_ID": "OP_NETWORK_ADD", "network_name": "n", "network": "10.0.0.1/33"}, "is not an IPv4 network"),
        ({"OP_ID": "OP_NETWORK_ADD", "network_name": "a b", "network": "10.0.0.0/24"}, "not a valid network name"),
        ({"OP_ID": "OP_NETWORK_ADD", "network_name": "n", "network": "10.0.0.0/24", "gateway": "::1"}, "IPv4"),
        (
            {"OP_ID": "OP_NETWORK_CONNECT", "network_name": "n", "group_name": "g", "network_mode": "x"},
            "network_link|Invalid NIC mode",
        ),
        (
            {"OP_ID": "OP_NETWORK_SET_PARAMS", "network_name": "n", "gateway": "10.0.0.1", "add_reserved_ips": []},
            "",
        ),
        (
            {
                "OP_ID": "OP_NETWORK_CONNECT",
                "network_name": "n",
                "group_name": "g",
                "network_mode": "routed",
                "network_link": "-rf",
            },
            "not starting with '-'",
        ),
        (
            {
                "OP_ID": "OP_NETWORK_CONNECT",
                "network_name": "n",
                "group_name": "g",
                "network_mode": "bridged",
                "network_link": "br0",
                "network_vlan": ".5:6",
            },
            "Invalid VLAN",
        ),
    ],
)
def test_malformed_opcodes_are_refused_before_any_job(data: dict[str, object], message: str) -> None:
    if not message:  # an empty list is no change: the gateway alone is fine
        opcodes.from_dict(data)
        return
    with pytest.raises(OpPrereqError, match=message):
        opcodes.from_dict(data)


def test_modify_gateway_and_reservations(harness: Harness) -> None:
    _add(harness, gateway="10.9.0.1")
    harness.run(OpNetworkSetParams(network_name="net1", gateway="10.9.0.14"), LUNetworkSetParams)
    ext = AddressPool(_reloaded(harness).network("net1")).external_reservations()
    assert ext == ["10.9.0.0", "10.9.0.14", "10.9.0.15"]
    op = OpNetworkSetParams(network_name="net1", add_reserved_ips=["10.9.0.3", "10.9.0.4"], mac_prefix="aa:00:01")
    harness.run(op, LUNetworkSetParams)
    harness.run(OpNetworkSetParams(network_name="net1", remove_reserved_ips=["10.9.0.3"]), LUNetworkSetParams)
    net = _reloaded(harness).network("net1")
    assert AddressPool(net).external_reservations() == ["10.9.0.0", "10.9.0.4", "10.9.0.14", "10.9.0.15"]
    assert net.mac_prefix == "aa:00:01"
    harness.run(OpNetworkSetParams(network_name="net1", gateway="none", mac_prefix="none"), LUNetworkSetParams)
    net = _reloaded(harness).network("net1")
    assert net.gateway is None and net.mac_prefix is None
    assert "10.9.0.14" not in AddressPool(net).external_reservations()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"remove_reserved_ips": ["10.9.0.1"]}, "Cannot unreserve the gateway"),
        ({"remove_reserved_ips": ["10.9.0.3"]}, "is not externally reserved"),
        ({"add_reserved_ips": ["10.9.1.3"]}, "does not belong to network"),
        ({"gateway": "10.9.0.15"}, "already reserved"),
        ({}, "at least one of the parameters"),
        ({"add_reserved_ips": ["10.9.0.4"], "remove_reserved_ips": ["10.9.0.9"]}, "not externally reserved"),
    ],
)
def test_bad_modifies_change_nothing(harness: Harness, fields: dict[str, object], message: str) -> None:
    _add(harness, gateway="10.9.0.1")
    before = _reloaded(harness).network("net1")
    with pytest.raises(OpPrereqError, match=message):
        harness.run(OpNetworkSetParams(network_name="net1", **fields), LUNetworkSetParams)  # type: ignore[arg-type]
    after = harness.cfg.network("net1")
    assert (after.ext_reservations, after.gateway, after.serial_no) == (
        before.ext_reservations,
        before.gateway,
        before.serial_no,
    )


def test_connect_disconnect_and_remove(harness: Harness) -> None:
    _add(harness)
    _connect(harness)
    group = _reloaded(harness).group("default")
    assert group.networks == {harness.cfg.network("net1").uuid: {"mode": "bridged", "link": "br0", "vlan": ""}}
    assert _query(harness, "group_list", "group_cnt") == [[[["default", "bridged", "br0", ""]], 1]]
    _connect(harness)  # again: a warning, no change
    assert any("already mapped" in line for line in harness.log)
    with pytest.raises(OpPrereqError, match=r"still connected to node group\(s\) default") as err:
        harness.run(OpNetworkRemove(network_name="net1"), LUNetworkRemove)
    assert err.value.code == ECODE_STATE
    harness.run(OpNetworkDisconnect(network_name="net1", group_name="default"), LUNetworkDisconnect)
    assert _reloaded(harness).group("default").networks == {}
    harness.run(OpNetworkRemove(network_name="net1"), LUNetworkRemove)
    assert _reloaded(harness).networks == {}


def test_unknown_network_or_group_is_unknown_entity(harness: Harness) -> None:
    with pytest.raises(OpPrereqError, match="^Network 'nope' not found$") as err:
        harness.run(OpNetworkRemove(network_name="nope"), LUNetworkRemove)
    assert err.value.code == ECODE_NOENT
    _add(harness)
    with pytest.raises(OpPrereqError, match="Node group 'nogroup' not known"):
        _connect(harness, group="nogroup")


def test_instance_takes_pool_addresses_group_parameters_and_frees_them(harness: Harness) -> None:
    _add(harness, gateway="10.9.0.1", mac_prefix="aa:bb:cc")
    _connect(harness)
    _create(harness, "inst1", [{"network": "net1", "ip": "pool"}, {"network": "net1", "ip": "pool"}])
    _create(harness, "inst2", [{"network": "net1", "ip": "10.9.0.9"}])
    inst = harness.cfg.instance("inst1")
    assert [n.ip for n in inst.nics] == ["10.9.0.2", "10.9.0.3"]
    assert inst.nics[0].network == harness.cfg.network("net1").uuid
    assert inst.nics[0].nicparams == {"mode": "bridged", "link": "br0", "vlan": ""}
    assert inst.nics[0].mac.startswith("aa:bb:cc:")
    fresh = _reloaded(harness)
    assert AddressPool(fresh.network("net1")).instance_reservations() == ["10.9.0.2", "10.9.0.3", "10.9.0.9"]
    assert _query(harness, "inst_list", "inst_cnt") == [[["inst1", "inst2"], 2]]
    with pytest.raises(OpPrereqError, match="still used in node group 'default' by inst1: nic0/10.9.0.2"):
        harness.run(OpNetworkDisconnect(network_name="net1", group_name="default"), LUNetworkDisconnect)
    harness.run(OpInstanceRemove(instance_name="inst1"), LUInstanceRemove)
    assert AddressPool(_reloaded(harness).network("net1")).instance_reservations() == ["10.9.0.9"]
    _create(harness, "inst3", [{"network": "net1", "ip": "pool"}])
    assert harness.cfg.instance("inst3").nics[0].ip == "10.9.0.2"


@pytest.mark.parametrize(
    ("nic", "message", "code"),
    [
        ({"network": "net1", "ip": "10.9.0.2"}, "already in use or reserved in network net1", ECODE_NOTUNIQUE),
        ({"network": "net1", "ip": "10.9.0.1"}, "already in use or reserved in network net1", ECODE_NOTUNIQUE),
        ({"network": "net1", "ip": "10.8.0.1"}, "does not belong to network net1", ECODE_INVAL),
        ({"ip": "pool"}, "parameter network must be passed too", ECODE_INVAL),
        ({"ip": "10.9.0.7"}, r"belongs to network net1, but the target NIC 0 does not", ECODE_STATE),
        ({"network": "net1", "mode": "routed"}, "no mode or link is allowed", ECODE_INVAL),
        ({"network": "net2", "ip": "pool"}, "not connected to node group default of node node1", ECODE_INVAL),
        ({"network": "nonet"}, "Network 'nonet' not found", ECODE_NOENT),
    ],
)
def test_bad_nics_are_refused_and_leave_nothing(
    harness: Harness, nic: dict[str, object], message: str, code: str
) -> None:
    _add(harness, gateway="10.9.0.1")
    _add(harness, "net2", "10.10.0.0/28")
    _connect(harness)
    _create(harness, "inst1", [{"network": "net1", "ip": "pool"}])
    pools = {n.name: n.reservations for n in harness.cfg.networks.values()}
    with pytest.raises(OpPrereqError, match=message) as err:
        _create(harness, "bad", [nic])
    assert err.value.code == code
    assert harness.cfg.find_instance("bad") is None
    assert {n.name: n.reservations for n in _reloaded(harness).networks.values()} == pools


def test_no_conflicts_check_lets_an_address_be_shared(harness: Harness) -> None:
    _add(harness)
    _connect(harness)
    _create(harness, "inst1", [{"network": "net1", "ip": "10.9.0.4"}])
    _create(harness, "inst2", [{"network": "net1", "ip": "10.9.0.4"}], conflicts_check=False)
    _create(harness, "inst3", [{"ip": "10.9.0.5"}], conflicts_check=False)
    harness.run(OpInstanceRemove(instance_name="inst1"), LUInstanceRemove)
    assert AddressPool(harness.cfg.network("net1")).is_reserved("10.9.0.4")  # inst2 still has it
    harness.run(OpInstanceRemove(instance_name="inst2"), LUInstanceRemove)
    assert not AddressPool(harness.cfg.network("net1")).is_reserved("10.9.0.4")


def test_a_failed_create_gives_its_pool_address_back(harness: Harness) -> None:
    from gnt.errors import OpExecError

    _add(harness)
    _connect(harness)
    harness.nodes["node1"].fail["instance_os_add"] = OpExecError("disk full")
    with pytest.raises(OpExecError):
        _create(harness, "inst1", [{"network": "net1", "ip": "pool"}])
    assert harness.cfg.find_instance("inst1") is None
    assert AddressPool(_reloaded(harness).network("net1")).instance_reservations() == []


def test_connect_refuses_group_instances_already_using_the_networks_addresses(harness: Harness) -> None:
    _create(harness, "inst1", [{"ip": "10.9.0.6"}])
    _add(harness)
    with pytest.raises(OpPrereqError, match=r"Conflicting IP addresses found.*inst1: nic0/10.9.0.6") as err:
        _connect(harness)
    assert err.value.code == ECODE_STATE and harness.cfg.group("default").networks == {}
    op = OpNetworkConnect(
        network_name="net1", group_name="default", network_mode="routed", network_link="rt", conflicts_check=False
    )
    harness.run(op, LUNetworkConnect)
    assert harness.cfg.group("default").networks


def test_two_concurrent_creates_never_get_the_same_pool_address(harness: Harness) -> None:
    """Both plan before either commits: the holds of claim keep the second off the first's address."""
    _add(harness)
    _connect(harness)

    async def both() -> None:
        lus = []
        for name in ("a", "b"):
            op = OpInstanceCreate(
                instance_name=name,
                disk_template="diskless",
                os_type="noop",
                pnode="node1",
                start=False,
                nics=[{"network": "net1", "ip": "pool"}],
            )
            lu = LUInstanceCreate(op, harness.ctx, lambda m, k: None)
            lu.check_arguments()
            await lu.check_prereq()
            lus.append(lu)
        await asyncio.gather(*(lu.exec() for lu in lus))

    asyncio.run(both())
    assert sorted(harness.cfg.instance(n).nics[0].ip for n in ("a", "b")) == ["10.9.0.1", "10.9.0.2"]


def test_every_instance_gets_a_distinct_address_until_the_pool_is_exhausted(harness: Harness) -> None:
    _add(harness, cidr="10.9.0.0/27", gateway="10.9.0.1")  # 32 addresses, 29 free
    _connect(harness)
    for index in range(29):
        _create(harness, f"i{index}", [{"network": "net1", "ip": "pool"}])
    addresses = [harness.cfg.instance(f"i{index}").nics[0].ip for index in range(29)]
    assert len(set(addresses)) == 29 and "10.9.0.1" not in addresses and "10.9.0.31" not in addresses
    serial = harness.cfg.serial
    with pytest.raises(OpPrereqError, match=r"^Network net1 \(10.9.0.0/27\) has no free IP address$"):
        _create(harness, "full", [{"network": "net1", "ip": "pool"}])
    assert harness.cfg.serial == serial and harness.cfg.find_instance("full") is None
    harness.run(OpInstanceRemove(instance_name="i7"), LUInstanceRemove)
    _create(harness, "again", [{"network": "net1", "ip": "pool"}])
    assert harness.cfg.instance("again").nics[0].ip == addresses[7]
    assert _query(harness, "free_count") == [[0]]
