"""Network query fields: what `gnt-network list -o`, `/2/networks?bulk=1` and `/2/query/network` answer.

Names, titles and kinds are Ganeti's. `group_list` is `[group, mode, link, vlan]` per connected
group; `inst_list` the instances with a NIC on the network; `external_reservations` the
comma-separated addresses reserved outside gnt's control.
"""

from __future__ import annotations

from typing import Any

from gnt.network.pool import AddressPool
from gnt.query import Field

__all__ = ["BULK_FIELDS", "DEFAULT_FIELDS", "FIELDS", "NetworkQueryContext"]


class NetworkQueryContext:
    """The config the getters read: groups and instances per network, worked out once per query."""

    def __init__(self, cfg: Any) -> None:
        self.cfg = cfg
        self.groups: dict[str, list[list[str]]] = {uuid: [] for uuid in cfg.networks}
        for group in sorted(cfg.groups.values(), key=lambda g: g.name):
            for net_uuid, params in group.networks.items():
                self.groups.setdefault(net_uuid, []).append(
                    [group.name, params.get("mode", ""), params.get("link", ""), params.get("vlan", "")]
                )
        self.instances: dict[str, set[str]] = {uuid: set() for uuid in cfg.networks}
        for inst in cfg.instances.values():
            for nic in inst.nics:
                if nic.network:
                    self.instances.setdefault(nic.network, set()).add(inst.name)
        self._pools: dict[str, AddressPool] = {}

    def pool(self, net: Any) -> AddressPool:
        if net.uuid not in self._pools:
            self._pools[net.uuid] = AddressPool(net)
        return self._pools[net.uuid]


_FIELDS = [
    Field("name", "Network", "text", "Name", lambda n, c: n.name),
    Field("network", "Subnet", "text", "IPv4 subnet", lambda n, c: n.network),
    Field("gateway", "Gateway", "other", "IPv4 gateway", lambda n, c: n.gateway),
    Field("network6", "IPv6Subnet", "other", "IPv6 subnet", lambda n, c: n.network6),
    Field("gateway6", "IPv6Gateway", "other", "IPv6 gateway", lambda n, c: n.gateway6),
    Field("mac_prefix", "MacPrefix", "other", "MAC address prefix", lambda n, c: n.mac_prefix),
    Field("free_count", "FreeCount", "number", "Number of available addresses", lambda n, c: c.pool(n).free_count()),
    Field(
        "reserved_count",
        "ReservedCount",
        "number",
        "Number of reserved addresses",
        lambda n, c: c.pool(n).reserved_count(),
    ),
    Field("map", "Map", "text", "Actual mapping", lambda n, c: c.pool(n).map()),
    Field(
        "external_reservations",
        "ExternalReservations",
        "text",
        "External reservations",
        lambda n, c: ", ".join(c.pool(n).external_reservations()),
    ),
    Field("group_cnt", "NodeGroups", "number", "Number of nodegroups", lambda n, c: len(c.groups.get(n.uuid, []))),
    Field(
        "group_list",
        "GroupList",
        "other",
        "List of nodegroups (group name, NIC mode, NIC link)",
        lambda n, c: c.groups.get(n.uuid, []),
    ),
    Field("inst_cnt", "Instances", "number", "Number of instances", lambda n, c: len(c.instances.get(n.uuid, ()))),
    Field("inst_list", "InstanceList", "other", "List of instances", lambda n, c: sorted(c.instances.get(n.uuid, ()))),
    Field("tags", "Tags", "other", "Tags", lambda n, c: list(n.tags)),
    Field("serial_no", "SerialNo", "number", "Network object serial number", lambda n, c: n.serial_no),
    Field("uuid", "UUID", "text", "Network UUID", lambda n, c: n.uuid),
    Field("ctime", "CTime", "timestamp", "Creation timestamp", lambda n, c: n.ctime),
    Field("mtime", "MTime", "timestamp", "Modification timestamp", lambda n, c: n.mtime),
]
FIELDS = {f.name: f for f in _FIELDS}
#: `gnt-network list` without -o, as Ganeti's
DEFAULT_FIELDS = ["name", "network", "gateway", "mac_prefix", "group_list", "tags"]
#: `/2/networks?bulk=1` and `/2/networks/N`: Ganeti's rlib2 NET_FIELDS and common fields
BULK_FIELDS = [
    "name",
    "network",
    "gateway",
    "network6",
    "gateway6",
    "mac_prefix",
    "free_count",
    "reserved_count",
    "map",
    "group_list",
    "inst_list",
    "external_reservations",
    "ctime",
    "mtime",
    "uuid",
    "serial_no",
    "tags",
]
