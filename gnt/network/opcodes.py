"""The network opcodes, with Ganeti's ids and fields (`network_name`, `network`, `gateway`,
`network6`, `gateway6`, `mac_prefix`, `add_reserved_ips`, `remove_reserved_ips`,
`conflicts_check`, `group_name`, `network_mode`, `network_link`, `network_vlan`).

Registered into `gnt.opcodes.OPCODES` (which imports this module), so the RAPI, `POST /2/jobs`
and `gnt-network` refuse the same malformed input with the same message before any job exists.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any, ClassVar

from gnt import constants
from gnt import opchecks as ck
from gnt.opcodes import OpCode, _f, register

__all__ = [
    "OpNetworkAdd",
    "OpNetworkConnect",
    "OpNetworkDisconnect",
    "OpNetworkQuery",
    "OpNetworkRemove",
    "OpNetworkSetParams",
    "check_network_name",
]

#: a network name reaches hook environments and NIC parameters: letters, digits and . _ + - only
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}\Z")
#: Ganeti's "none" value, which resets an optional field (`--gateway=none`)
VALUE_NONE = "none"


def check_network_name(value: Any) -> None:
    if value is not None and not (isinstance(value, str) and _NAME_RE.match(value)):
        raise ValueError(
            f"{str(value)[:60]!r} is not a valid network name (1 to 128 letters, digits, '.', '_', '+', '-')"
        )


def _cidr4(value: Any) -> None:
    if value is None:
        return
    try:
        ipaddress.IPv4Network(value)
    except (ValueError, TypeError) as err:
        raise ValueError(f"{str(value)[:60]!r} is not an IPv4 network (a.b.c.d/n): {err}") from None


def _cidr6(value: Any) -> None:
    if value is None or value == VALUE_NONE:
        return
    try:
        ipaddress.IPv6Network(value)
    except (ValueError, TypeError) as err:
        raise ValueError(f"{str(value)[:60]!r} is not an IPv6 network: {err}") from None


def _addr(version: int) -> ck.Check:
    def check(value: Any) -> None:
        if value is None or value == VALUE_NONE:
            return
        try:
            addr = ipaddress.ip_address(value)
        except (ValueError, TypeError):
            addr = None
        if addr is None or addr.version != version:
            raise ValueError(f"{str(value)[:60]!r} is not an IPv{version} address")

    return check


def _ip4_list(value: Any) -> None:
    if value is None:
        return
    if len(value) > 65536:
        raise ValueError("too many addresses in one request")
    for item in value:
        _addr(4)(item)
        if item == VALUE_NONE:
            raise ValueError("'none' is not an IPv4 address")


def _mac_prefix(value: Any) -> None:
    if value is not None and value != VALUE_NONE:
        ck.mac_prefix(value)


def _mode(value: Any) -> None:
    if value not in constants.NIC_MODES:
        raise ValueError(f"Invalid NIC mode {str(value)[:40]!r}; expected one of {', '.join(constants.NIC_MODES)}")


@register
@dataclass(kw_only=True)
class OpNetworkAdd(OpCode):
    OP_ID: ClassVar[str] = "OP_NETWORK_ADD"
    SUMMARY_FIELD: ClassVar[str | None] = "network_name"
    network_name: str = _f(doc="Name of the new network", check=check_network_name)
    network: str = _f(doc="IPv4 subnet (a.b.c.d/n, /16 to /30)", check=_cidr4)
    gateway: str | None = _f(None, "IPv4 gateway (reserved in the pool)", _addr(4))
    network6: str | None = _f(None, "IPv6 subnet", _cidr6)
    gateway6: str | None = _f(None, "IPv6 gateway", _addr(6))
    mac_prefix: str | None = _f(None, "MAC prefix of the network's NICs (three octets)", _mac_prefix)
    add_reserved_ips: list[str] | None = _f(None, "Addresses reserved outside gnt's control", _ip4_list)
    conflicts_check: bool = _f(True, "Reserve the nodes' and the master's addresses found in the network")
    tags: list[str] = _f([], "Tags", ck.tag_list)


@register
@dataclass(kw_only=True)
class OpNetworkRemove(OpCode):
    OP_ID: ClassVar[str] = "OP_NETWORK_REMOVE"
    SUMMARY_FIELD: ClassVar[str | None] = "network_name"
    network_name: str = _f(doc="Network to remove (connected to no group)", check=check_network_name)
    force: bool = _f(False, "Accepted for Ganeti compatibility")


@register
@dataclass(kw_only=True)
class OpNetworkSetParams(OpCode):
    OP_ID: ClassVar[str] = "OP_NETWORK_SET_PARAMS"
    SUMMARY_FIELD: ClassVar[str | None] = "network_name"
    network_name: str = _f(doc="Network to modify", check=check_network_name)
    gateway: str | None = _f(None, "New IPv4 gateway ('none' removes it)", _addr(4))
    network6: str | None = _f(None, "New IPv6 subnet ('none' removes it)", _cidr6)
    gateway6: str | None = _f(None, "New IPv6 gateway ('none' removes it)", _addr(6))
    mac_prefix: str | None = _f(None, "New MAC prefix ('none' removes it)", _mac_prefix)
    add_reserved_ips: list[str] | None = _f(None, "Addresses to reserve externally", _ip4_list)
    remove_reserved_ips: list[str] | None = _f(None, "External reservations to release", _ip4_list)

    def check_fields(self) -> None:
        if self.gateway and (self.add_reserved_ips or self.remove_reserved_ips):
            raise ValueError("Cannot modify gateway and reserved ips at once")


@register
@dataclass(kw_only=True)
class OpNetworkConnect(OpCode):
    OP_ID: ClassVar[str] = "OP_NETWORK_CONNECT"
    SUMMARY_FIELD: ClassVar[str | None] = "network_name"
    group_name: str = _f(doc="Node group to connect the network to", check=ck.hostname)
    network_name: str = _f(doc="Network to connect", check=check_network_name)
    network_mode: str = _f(doc="NIC mode in that group: bridged, routed or openvswitch", check=_mode)
    network_link: str = _f(doc="NIC link in that group (bridge, routing table, switch)", check=ck.nic_link)
    network_vlan: str = _f("", "VLAN of the NICs (openvswitch)", ck.nic_vlan)
    conflicts_check: bool = _f(True, "Refuse when instance NICs of the group already use the network's addresses")


@register
@dataclass(kw_only=True)
class OpNetworkDisconnect(OpCode):
    OP_ID: ClassVar[str] = "OP_NETWORK_DISCONNECT"
    SUMMARY_FIELD: ClassVar[str | None] = "network_name"
    group_name: str = _f(doc="Node group to disconnect the network from", check=ck.hostname)
    network_name: str = _f(doc="Network to disconnect", check=check_network_name)


@register
@dataclass(kw_only=True)
class OpNetworkQuery(OpCode):
    OP_ID: ClassVar[str] = "OP_NETWORK_QUERY"
    output_fields: list[str] = _f(doc="Fields to answer (see gnt-network list-fields)")
    names: list[str] = _f([], "Networks to answer (all when empty)")
    use_locking: bool = _f(False, "Accepted for Ganeti compatibility (the config is read as it is)")
