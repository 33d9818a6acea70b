"""The network logical units: add, remove, modify, connect, disconnect and query.

Each write takes the big cluster lock exclusively: network changes are rare, and a network that
goes away or leaves a group must not do so while an instance create is placing a NIC on it (a
create holds the BGL shared from its checks to its commit). Every check runs in `check_prereq`,
on a scratch pool where needed, so a refused request changes nothing; each LU is one commit.
"""

from __future__ import annotations

import copy
import ipaddress
from typing import Any

from gnt.errors import ECODE_EXISTS, ECODE_INVAL, ECODE_STATE, OpPrereqError
from gnt.jobs.lu import LogicalUnit, register
from gnt.network.opcodes import (
    VALUE_NONE,
    OpNetworkAdd,
    OpNetworkConnect,
    OpNetworkDisconnect,
    OpNetworkQuery,
    OpNetworkRemove,
    OpNetworkSetParams,
)
from gnt.network.pool import AddressPool
from gnt.network.query import FIELDS, NetworkQueryContext
from gnt.objects import Network, NodeGroup
from gnt.query import evaluate, select

__all__ = [
    "LUNetworkAdd",
    "LUNetworkConnect",
    "LUNetworkDisconnect",
    "LUNetworkQuery",
    "LUNetworkRemove",
    "LUNetworkSetParams",
]


def _hooks_env(net: Network) -> dict[str, Any]:
    """Ganeti's network hook variables (only those with a value)."""
    env = {
        "NETWORK_NAME": net.name,
        "NETWORK_SUBNET": net.network,
        "NETWORK_GATEWAY": net.gateway,
        "NETWORK_SUBNET6": net.network6,
        "NETWORK_GATEWAY6": net.gateway6,
        "NETWORK_MAC_PREFIX": net.mac_prefix,
        "NETWORK_TAGS": " ".join(net.tags),
    }
    return {k: v for k, v in env.items() if v}


def _check_gateway6(network6: str | None, gateway6: str | None) -> None:
    if not gateway6:
        return
    addr = ipaddress.IPv6Address(gateway6)
    if network6 and addr not in ipaddress.IPv6Network(network6) and not addr.is_link_local:
        raise OpPrereqError(f"IPv6 gateway {gateway6} is not in the IPv6 network {network6}", ECODE_INVAL)


def _group_instances(cfg: Any, group: NodeGroup) -> list[Any]:
    """Instances whose primary node is in `group` (their NICs take the group's connections)."""
    members = {n.uuid for n in cfg.nodes.values() if n.group == group.uuid}
    return sorted((i for i in cfg.instances.values() if i.primary_node in members), key=lambda i: i.name)


class NetworkLU(LogicalUnit):
    BGL_EXCLUSIVE = True
    HTYPE = "NETWORK"
    op: Any

    def hooks_env(self) -> dict[str, Any]:
        net = getattr(self, "net", None)
        return _hooks_env(net) if net is not None else {"NETWORK_NAME": self.op.network_name}


@register
class LUNetworkAdd(NetworkLU):
    OPCODE = OpNetworkAdd
    HPATH = "network-add"
    op: OpNetworkAdd

    def check_prereq(self) -> None:
        op, cfg = self.op, self.cfg
        existing = cfg.find_network(op.network_name)
        if existing is not None and existing.name == op.network_name:
            raise OpPrereqError(
                f"Desired network name '{op.network_name}' already exists as a network (UUID: {existing.uuid})",
                ECODE_EXISTS,
            )
        net = Network(
            name=op.network_name,
            network=op.network,
            gateway=op.gateway,
            network6=op.network6,
            gateway6=op.gateway6,
            mac_prefix=op.mac_prefix,
            tags=sorted(set(op.tags)),
        )
        if op.gateway and not AddressPool(net).contains(op.gateway):
            raise OpPrereqError(f"Gateway {op.gateway} is not in network {op.network}", ECODE_INVAL)
        _check_gateway6(op.network6, op.gateway6)
        pool = AddressPool.initialise(net)
        for ip in op.add_reserved_ips or []:
            pool.index(ip)  # in the network, or a clear error
            if not pool.is_reserved(ip, external=True):
                pool.reserve(ip, external=True)
        self.reserved_nodes: list[str] = []
        if op.conflicts_check:
            for node in sorted(cfg.nodes.values(), key=lambda n: n.name):
                for ip in {node.primary_ip, node.secondary_ip}:
                    if pool.contains(ip) and not pool.is_reserved(ip, external=True):
                        pool.reserve(ip, external=True)
                        self.reserved_nodes.append(f"Reserved IP address of node '{node.name}' ({ip})")
        self.net = net

    async def exec(self) -> None:
        for line in self.reserved_nodes:
            self.info(line)
        await self.cfg.commit([self.net])


@register
class LUNetworkRemove(NetworkLU):
    OPCODE = OpNetworkRemove
    HPATH = "network-remove"
    op: OpNetworkRemove

    def check_prereq(self) -> None:
        self.net = self.cfg.network(self.op.network_name)
        groups = sorted(g.name for g in self.cfg.groups.values() if self.net.uuid in g.networks)
        if groups:
            raise OpPrereqError(
                f"Network '{self.net.name}' is still connected to node group(s) {', '.join(groups)};"
                " disconnect it first (gnt-network disconnect)",
                ECODE_STATE,
            )
        users = sorted(i.name for i in self.cfg.instances.values() if any(n.network == self.net.uuid for n in i.nics))
        if users:
            raise OpPrereqError(
                f"Network '{self.net.name}' is still used by instance(s) {', '.join(users)}", ECODE_STATE
            )

    async def exec(self) -> None:
        await self.cfg.commit(delete=[self.net])


@register
class LUNetworkSetParams(NetworkLU):
    OPCODE = OpNetworkSetParams
    HPATH = "network-modify"
    op: OpNetworkSetParams

    def check_prereq(self) -> None:
        op = self.op
        if all(
            v is None
            for v in (op.gateway, op.network6, op.gateway6, op.mac_prefix, op.add_reserved_ips, op.remove_reserved_ips)
        ):
            raise OpPrereqError("Please give at least one of the parameters.", ECODE_INVAL)
        current = self.cfg.network(op.network_name)
        net = copy.deepcopy(current)  # the changes are made on a copy: a refused request changes nothing
        pool = AddressPool(net)
        if op.gateway is not None:
            new = None if op.gateway == VALUE_NONE else op.gateway
            if new != net.gateway:
                if new is not None:
                    pool.index(new)
                    if pool.is_taken(new):
                        raise OpPrereqError(f"Gateway IP address '{new}' is already reserved", ECODE_STATE)
                    pool.reserve(new, external=True)
                if net.gateway:
                    pool.release(net.gateway, external=True)
                net.gateway = new
            else:
                self.warning(f"Gateway is already {new}")
        for ip in op.add_reserved_ips or []:
            pool.index(ip)
            if pool.is_reserved(ip):
                raise OpPrereqError(f"IP {ip} is used by an instance; it cannot be reserved", ECODE_STATE)
            if not pool.is_reserved(ip, external=True):
                pool.reserve(ip, external=True)
        for ip in op.remove_reserved_ips or []:
            if ip == net.gateway:
                raise OpPrereqError(f"Cannot unreserve the gateway's IP {ip}; change the gateway first", ECODE_INVAL)
            pool.index(ip)
            if not pool.is_reserved(ip, external=True):
                raise OpPrereqError(f"IP {ip} is not externally reserved", ECODE_STATE)
            pool.release(ip, external=True)
        for attr in ("mac_prefix", "network6", "gateway6"):
            value = getattr(op, attr)
            if value is not None:
                setattr(net, attr, None if value == VALUE_NONE else value)
        _check_gateway6(net.network6, net.gateway6)
        self.current, self.net = current, net

    async def exec(self) -> None:
        for attr in ("gateway", "network6", "gateway6", "mac_prefix", "reservations", "ext_reservations"):
            setattr(self.current, attr, getattr(self.net, attr))
        await self.cfg.commit([self.current])


def _fmt_conflicts(conflicts: list[tuple[str, list[tuple[int, str]]]]) -> str:
    return "; ".join(f"{name}: " + ", ".join(f"nic{idx}/{ip}" for idx, ip in nics) for name, nics in conflicts)


@register
class LUNetworkConnect(NetworkLU):
    OPCODE = OpNetworkConnect
    HPATH = "network-connect"
    op: OpNetworkConnect

    def hooks_env(self) -> dict[str, Any]:
        op = self.op
        return {
            "GROUP_NAME": op.group_name,
            "GROUP_NETWORK_MODE": op.network_mode,
            "GROUP_NETWORK_LINK": op.network_link,
            "GROUP_NETWORK_VLAN": op.network_vlan,
            **super().hooks_env(),
        }

    def check_prereq(self) -> None:
        op, cfg = self.op, self.cfg
        self.net = cfg.network(op.network_name)
        self.group = cfg.group(op.group_name)
        self.connected = self.net.uuid in self.group.networks
        if self.connected or not op.conflicts_check:
            return
        pool = AddressPool(self.net)
        conflicts = []
        for inst in _group_instances(cfg, self.group):
            found = [(idx, nic.ip) for idx, nic in enumerate(inst.nics) if nic.ip and pool.contains(nic.ip)]
            if found:
                conflicts.append((inst.name, found))
        if conflicts:
            raise OpPrereqError(
                f"Conflicting IP addresses found: IP addresses of network '{self.net.name}', which is about to"
                f" connect to node group '{self.group.name}', are in use: {_fmt_conflicts(conflicts)};"
                " remove/modify the corresponding network interfaces (or use --no-conflicts-check)",
                ECODE_STATE,
            )

    async def exec(self) -> None:
        if self.connected:
            self.warning(f"Network '{self.net.name}' is already mapped to group '{self.group.name}'")
            return
        op = self.op
        self.group.networks[self.net.uuid] = {
            "mode": op.network_mode,
            "link": op.network_link,
            "vlan": op.network_vlan,
        }
        await self.cfg.commit([self.group])


@register
class LUNetworkDisconnect(NetworkLU):
    OPCODE = OpNetworkDisconnect
    HPATH = "network-disconnect"
    op: OpNetworkDisconnect

    def hooks_env(self) -> dict[str, Any]:
        return {"GROUP_NAME": self.op.group_name, **super().hooks_env()}

    def check_prereq(self) -> None:
        cfg = self.cfg
        self.net = cfg.network(self.op.network_name)
        self.group = cfg.group(self.op.group_name)
        self.connected = self.net.uuid in self.group.networks
        if not self.connected:
            return
        conflicts = []
        for inst in _group_instances(cfg, self.group):
            found = [(idx, nic.ip or "-") for idx, nic in enumerate(inst.nics) if nic.network == self.net.uuid]
            if found:
                conflicts.append((inst.name, found))
        if conflicts:
            raise OpPrereqError(
                f"Network '{self.net.name}' is still used in node group '{self.group.name}' by"
                f" {_fmt_conflicts(conflicts)}; remove/modify the corresponding network interfaces first",
                ECODE_STATE,
            )

    async def exec(self) -> None:
        if not self.connected:
            self.warning(f"Network '{self.net.name}' is not mapped to group '{self.group.name}'")
            return
        del self.group.networks[self.net.uuid]
        await self.cfg.commit([self.group])


@register
class LUNetworkQuery(LogicalUnit):
    """The rows of `output_fields` of the named networks (all when none is named), as Ganeti answers."""

    OPCODE = OpNetworkQuery
    op: OpNetworkQuery

    def check_prereq(self) -> None:
        self.fields = select(FIELDS, self.op.output_fields)
        self.nets = [self.cfg.network(n) for n in self.op.names] or sorted(
            self.cfg.networks.values(), key=lambda n: n.name
        )

    async def exec(self) -> list[list[Any]]:
        rows = evaluate(self.fields, self.nets, NetworkQueryContext(self.cfg))
        return [[cell[1] for cell in row] for row in rows]
