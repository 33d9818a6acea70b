"""Instance NICs on networks: what `network=NAME` and `ip=pool` mean when an instance is created,
and giving the addresses back when it goes.

`plan` (at check_prereq, no change) resolves each NIC's network, takes mode and link from the
network's connection to the primary node's group, and checks its address: inside the network
and free, or outside every network connected to that group (Ganeti's conflict checks).
`claim` (at the start of exec) picks the pool addresses and *holds* them for the job: holds are
in memory only, so a job that fails before its commit leaves nothing behind, and two jobs running
at once never pick the same address. `reserve` marks the addresses in the pools right before the
instance's commit (the networks are committed with it); `release` frees them when it is removed.
"""

from __future__ import annotations

import random
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from gnt.errors import ECODE_INVAL, ECODE_NOTUNIQUE, ECODE_STATE, OpPrereqError
from gnt.network.pool import AddressPool
from gnt.objects import Instance, Network, Node

__all__ = [
    "CONNECTION_PARAMS",
    "NicPlan",
    "claim",
    "generate_mac",
    "held",
    "plan",
    "regroup",
    "release",
    "reserve",
    "unconnected",
]

POOL = "pool"
#: what a network's connection to a node group gives the NICs on it (`gnt-network connect -N ...`)
CONNECTION_PARAMS = ("mode", "link", "vlan")
#: per config (the master's one), network uuid -> addresses held by running jobs, not yet committed
_HELD: weakref.WeakKeyDictionary[Any, dict[str, set[str]]] = weakref.WeakKeyDictionary()


@dataclass
class NicPlan:
    """One NIC as asked for, resolved against the config."""

    ip: str | None
    network: str | None = None  # uuid
    nicparams: dict[str, str] = field(default_factory=dict)
    #: whether an address already taken is refused (false with --no-conflicts-check)
    checked: bool = True


def _held(cfg: Any) -> dict[str, set[str]]:
    return _HELD.setdefault(cfg, {})


def held(cfg: Any) -> dict[str, set[str]]:
    """Network uuid -> the addresses running jobs hold, not yet committed (read-only use)."""
    return _held(cfg)


def _connected_pools(cfg: Any, node: Node) -> list[AddressPool]:
    group = cfg.groups.get(node.group)
    nets = [cfg.networks[u] for u in (group.networks if group else {}) if u in cfg.networks]
    return [AddressPool(n) for n in nets]


def plan(
    cfg: Any,
    nics: list[dict[str, Any]],
    pnode: Node,
    conflicts_check: bool,
    own: frozenset[tuple[str, str]] = frozenset(),
) -> list[NicPlan]:
    """Each NIC's network, parameters and address as the create will use them; OpPrereqError if not.

    `own`: (network uuid, address) pairs the instance holds already (the forthcoming instance a
    `--commit` makes real): taking one of them again is no conflict."""
    plans = []
    for index, data in enumerate(nics):
        ip = data.get("ip")
        if isinstance(ip, str) and ip.lower() in ("", "none"):
            ip = None
        elif isinstance(ip, str) and ip.lower() == POOL:
            ip = POOL
        name = data.get("network")
        if name is None or name.lower() == "none":
            if ip == POOL:
                raise OpPrereqError(f"NIC {index}: if ip=pool, parameter network must be passed too", ECODE_INVAL)
            if ip is not None and conflicts_check:
                for pool in _connected_pools(cfg, pnode):
                    if pool.contains(ip):
                        raise OpPrereqError(
                            f"The requested IP address ({ip}) belongs to network {pool.net.name}, but the target"
                            f" NIC {index} does not (give network={pool.net.name}, or --no-conflicts-check)",
                            ECODE_STATE,
                        )
            plans.append(NicPlan(ip))
            continue
        if data.get("mode") is not None or data.get("link") is not None:
            raise OpPrereqError(
                f"NIC {index}: if network is given, no mode or link is allowed to be passed", ECODE_INVAL
            )
        net = cfg.network(name)
        group = cfg.groups.get(pnode.group)
        params = group.networks.get(net.uuid) if group is not None else None
        if params is None:
            raise OpPrereqError(
                f"NIC {index}: network {net.name} is not connected to node group"
                f" {group.name if group else pnode.group} of node {pnode.name}"
                f" (gnt-network connect -N mode=...,link=... {net.name} GROUP)",
                ECODE_INVAL,
            )
        if ip == POOL:  # refused here already when full (dry-run says so too); picked at exec
            AddressPool(net).first_free(_held(cfg).get(net.uuid, set()))
        elif ip is not None:
            pool = AddressPool(net)
            pool.index(ip)  # inside the network, or a clear error
            mine = (net.uuid, ip) in own
            if conflicts_check and not mine and (pool.is_taken(ip) or ip in _held(cfg).get(net.uuid, ())):
                raise OpPrereqError(
                    f"IP address {ip} already in use or reserved in network {net.name}", ECODE_NOTUNIQUE
                )
        checked = conflicts_check and (ip is None or (net.uuid, ip) not in own)
        plans.append(NicPlan(ip, net.uuid, {k: v for k, v in params.items() if v is not None}, checked))
    return plans


@contextmanager
def claim(cfg: Any, plans: list[NicPlan]) -> Iterator[list[str | None]]:
    """The address of each NIC (pool ones picked now), held for the job until the block ends.

    Runs without awaiting, so no other job can pick the same address in between; the holds go
    when the block ends, whether or not the instance was committed (then the pool marks them).
    """
    held = _held(cfg)
    mine: list[tuple[str, str]] = []
    addresses: list[str | None] = []
    try:
        for nic in plans:
            ip = nic.ip
            if nic.network is not None and ip is not None:
                taken = held.setdefault(nic.network, set())
                pool = AddressPool(cfg.networks[nic.network])
                if ip == POOL:
                    ip = pool.first_free(taken)
                elif nic.checked and (ip in taken or pool.is_taken(ip)):
                    raise OpPrereqError(
                        f"IP address {ip} already in use or reserved in network {pool.net.name}", ECODE_NOTUNIQUE
                    )
                taken.add(ip)
                mine.append((nic.network, ip))
            addresses.append(ip)
        yield addresses
    finally:
        for net_uuid, ip in mine:
            held.get(net_uuid, set()).discard(ip)


def reserve(cfg: Any, inst: Instance) -> list[Network]:
    """Mark the instance's NIC addresses in their pools; the networks to commit with it."""
    changed: dict[str, Network] = {}
    for nic in inst.nics:
        net = cfg.networks.get(nic.network) if nic.network else None
        if net is None or not nic.ip:
            continue
        pool = AddressPool(net)
        if not pool.is_reserved(nic.ip):  # --no-conflicts-check may share an address
            pool.reserve(nic.ip)
        changed[net.uuid] = net
    return list(changed.values())


def release(cfg: Any, inst: Instance) -> list[Network]:
    """Free the instance's NIC addresses (those no other instance's NIC still has); the networks to commit."""
    changed: dict[str, Network] = {}
    for nic in inst.nics:
        net = cfg.networks.get(nic.network) if nic.network else None
        if net is None or not nic.ip:
            continue
        pool = AddressPool(net)
        if not pool.contains(nic.ip) or not pool.is_reserved(nic.ip):
            continue
        shared = any(
            other.uuid != inst.uuid and any(n.network == net.uuid and n.ip == nic.ip for n in other.nics)
            for other in cfg.instances.values()
        )
        if not shared:
            pool.release(nic.ip)
            changed[net.uuid] = net
    return list(changed.values())


def unconnected(cfg: Any, inst: Instance, node: Node) -> list[str]:
    """The networks (names) of `inst`'s NICs that `node`'s group is not connected to."""
    group = cfg.groups.get(node.group)
    have = group.networks if group is not None else {}
    missing = {nic.network for nic in inst.nics if nic.network and nic.network not in have}
    return sorted(cfg.networks[u].name if u in cfg.networks else u for u in missing)


def require_connected(cfg: Any, inst: Instance, node: Node) -> None:
    """OpPrereqError unless `node`'s group is connected to every network of `inst`'s NICs: there,
    as its new primary, those NICs would have no mode or link to take (see `regroup`)."""
    missing = unconnected(cfg, inst, node)
    if missing:
        group = cfg.groups.get(node.group)
        raise OpPrereqError(
            f"Instance {inst.name} has NICs on network(s) {', '.join(missing)}, not connected to"
            f" node group {group.name if group else node.group} of node {node.name} (gnt-network connect)",
            ECODE_STATE,
        )


def regroup(cfg: Any, inst: Instance, node: Node) -> bool:
    """Give each of `inst`'s NICs on a network the mode, link and vlan of that network's connection
    in `node`'s group; True if any NIC changed.

    A NIC on a network has no mode or link of its own (Ganeti refuses both with network=): it takes
    them from the network's connection in the node group of its primary, so an instance that moves
    to another group (change-group, group evacuation) plugs into that group's bridge or routing
    table. NICs on a network the group is not connected to keep theirs (see `unconnected`).
    """
    group = cfg.groups.get(node.group)
    changed = False
    for nic in inst.nics:
        params = group.networks.get(nic.network) if group is not None and nic.network else None
        if params is None:
            continue
        new = {k: v for k, v in nic.nicparams.items() if k not in CONNECTION_PARAMS}
        new.update({k: v for k, v in params.items() if v is not None})
        if new != nic.nicparams:
            nic.nicparams = new
            changed = True
    return changed


def generate_mac(cfg: Any, net_uuid: str | None) -> str:
    """A MAC under the network's prefix when it has one (Ganeti's), else the cluster's."""
    net = cfg.networks.get(net_uuid) if net_uuid else None
    if net is None or not net.mac_prefix:
        return str(cfg.generate_mac())
    used = {nic.mac for inst in cfg.instances.values() for nic in inst.nics}
    while True:
        suffix = ":".join(f"{random.randrange(256):02x}" for _ in range(3))
        mac = f"{net.mac_prefix}:{suffix}"
        if mac not in used:
            return mac
