"""`gnt-instance modify --net ...`: the NIC half of OP_INSTANCE_SET_PARAMS.

The opcode's `nics` field is Ganeti's modification list, `[[action, identifier, params], ...]`
(or the older `[[add|remove, params]]` / `[[identifier, params]]`): `add` at an index (-1: at the
end), `remove` and `modify` of the NIC named by index (-1: the last), name or uuid.

`parse` checks the list alone (before any job exists); `check` resolves it against the config
into a `Plan` (the new NIC list, which pool addresses to take and give back), changing nothing;
`apply` picks the addresses and MACs and sets the instance's NICs and the networks' pools in
memory right before the LU's one commit. Pool addresses are held for the job while it runs
(gnt.network.nics.claim), so a job that fails before its commit leaves every pool as it was.
"""

from __future__ import annotations

import copy
import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gnt import constants
from gnt.errors import ECODE_INVAL, ECODE_NOTUNIQUE, ECODE_STATE, OpPrereqError
from gnt.network import nics as netnics
from gnt.network.pool import AddressPool
from gnt.objects import Nic, Node, new_uuid
from gnt.opchecks import MAX_NICS

if TYPE_CHECKING:
    from gnt.config.manager import ConfigManager

__all__ = ["ADD", "MODIFY", "REMOVE", "NicChange", "Plan", "apply", "check", "parse"]

ADD, REMOVE, MODIFY = "add", "remove", "modify"
_KEYS = frozenset({"mac", "ip", "mode", "link", "name", "network", "vlan"})
_MAC_RE = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}\Z")
_NAME_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}\Z")
#: a bridge or interface name (15, the kernel's limit) or, for routed NICs, a routing table
_LINK_RE = re.compile(r"^[A-Za-z0-9._:-]{1,64}\Z")
_AUTO = ("auto", "generate")


@dataclass
class NicChange:
    """One --net change as asked: `ident` is an index (add: where; -1 = the end / the last) or a name/uuid."""

    action: str
    ident: int | str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Plan:
    """What `check` decided; `apply` turns it into the instance's NICs."""

    nics: list[Nic]
    #: NICs new or changed whose address is to be taken at exec: uuid -> (network uuid, ip or "pool", checked)
    claims: dict[str, netnics.NicPlan]
    #: NICs new or changed whose MAC is to be generated at exec: uuid -> network uuid (its MAC prefix)
    macs: dict[str, str | None]
    #: (network uuid, ip) the instance gives back
    released: list[tuple[str, str]]
    #: the NICs taken out, as they were (for hotplug)
    removed: list[Nic]
    #: uuids of the NICs added, and of those modified (both hotplugged as remove + add)
    added: list[str]
    modified: list[str]
    report: list[list[str]]


# -- parse: the opcode alone ------------------------------------------------------------------


def _ident(value: Any) -> int | str:
    if isinstance(value, bool):
        raise OpPrereqError(f"Invalid NIC identifier {value!r}", ECODE_INVAL)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value:
        return int(value) if value.lstrip("-").isdigit() else value
    raise OpPrereqError(f"Invalid NIC identifier {value!r}: an index, a name or a uuid", ECODE_INVAL)


def _upgrade(mods: list[Any]) -> list[tuple[Any, Any, Any]]:
    """Ganeti's older two-element form: [add|remove, params] (at the end / the last) or [ident, params]."""
    if not isinstance(mods, list):
        raise OpPrereqError(f"Invalid NIC modifications {mods!r}: expected a list", ECODE_INVAL)
    result = []
    for item in mods:
        if not isinstance(item, (list, tuple)) or len(item) not in (2, 3):
            raise OpPrereqError(
                f"Invalid NIC modification {item!r}: expected [action, identifier, {{params}}]", ECODE_INVAL
            )
        if len(item) == 3:
            result.append(tuple(item))
        elif item[0] in (ADD, REMOVE):
            result.append((item[0], -1, item[1]))
        else:
            result.append((MODIFY, item[0], item[1]))
    if mods and all(len(i) == 2 for i in mods) and sum(r[0] != MODIFY for r in result) > 1:
        raise OpPrereqError("Only one NIC add/remove operation is supported at a time", ECODE_INVAL)
    return result


def parse(mods: list[Any]) -> list[NicChange]:
    """Check each change's action, identifier and parameters; OpPrereqError (wrong_input) if not."""
    changes = []
    for action, ident, params in _upgrade(mods):
        if action not in (ADD, REMOVE, MODIFY):
            raise OpPrereqError(f"Invalid NIC operation {action!r}: use add, remove or modify", ECODE_INVAL)
        if not isinstance(params, dict):
            raise OpPrereqError(f"Invalid parameters for NIC {action}: {params!r}", ECODE_INVAL)
        ident = _ident(ident)
        if action == ADD and not isinstance(ident, int):
            raise OpPrereqError(f"A new NIC's position is an index (-1: the end), not {ident!r}", ECODE_INVAL)
        changes.append(NicChange(action, ident, _params(action, dict(params))))
    return changes


def _params(action: str, params: dict[str, Any]) -> dict[str, Any]:
    if action == REMOVE:
        if params:
            raise OpPrereqError("No settings should be passed when removing a NIC", ECODE_INVAL)
        return params
    unknown = sorted(set(params) - _KEYS)
    if unknown:
        raise OpPrereqError(f"Unknown NIC parameter(s): {', '.join(unknown)}", ECODE_INVAL)
    for key, value in params.items():
        if value is not None and not isinstance(value, str):
            raise OpPrereqError(f"NIC parameter {key} must be a string, not {value!r}", ECODE_INVAL)
    for key in ("name", "network", "ip"):
        if isinstance(params.get(key), str) and params[key].lower() == "none":
            params[key] = None
    if params.get("network") is not None and (params.get("mode") is not None or params.get("link") is not None):
        raise OpPrereqError("If network is given, mode or link should not", ECODE_INVAL)
    if action == ADD:
        params.setdefault("mac", "auto")
    if "mac" in params:
        mac = params["mac"]
        if mac is None:
            raise OpPrereqError("Cannot unset the NIC MAC address", ECODE_INVAL)
        if action == MODIFY and mac == "auto":
            raise OpPrereqError("'auto' is not a valid MAC address when modifying an existing NIC", ECODE_INVAL)
        if mac not in _AUTO:
            params["mac"] = mac = mac.lower()
            if not _MAC_RE.match(mac):
                raise OpPrereqError(f"Invalid MAC address '{mac}'", ECODE_INVAL)
    ip = params.get("ip")
    if ip is not None:
        if ip.lower() == netnics.POOL:
            params["ip"] = netnics.POOL
            if action == ADD and params.get("network") is None:
                raise OpPrereqError("If ip=pool, parameter network cannot be none", ECODE_INVAL)
        else:
            try:
                ipaddress.IPv4Address(ip)
            except ValueError:
                raise OpPrereqError(f"Invalid IP address '{ip}'", ECODE_INVAL) from None
    mode = params.get("mode")
    if mode is not None and mode not in constants.NIC_MODES:
        raise OpPrereqError(f"Invalid NIC mode '{mode}': use one of {', '.join(constants.NIC_MODES)}", ECODE_INVAL)
    link = params.get("link")
    if link is not None and not _LINK_RE.match(link):
        raise OpPrereqError(f"Invalid NIC link '{link}': a bridge, interface or routing table name", ECODE_INVAL)
    name = params.get("name")
    if name is not None and not _NAME_RE.match(name):
        raise OpPrereqError(f"Invalid NIC name {name!r}: letters, digits, '.', '_', '-' (up to 64)", ECODE_INVAL)
    return params


# -- check: against the config, nothing changed -------------------------------------------------


def find(nics: list[Nic], ident: int | str) -> int:
    """The position of the NIC named by index (-1: the last), name or uuid."""
    if isinstance(ident, int):
        index = len(nics) - 1 if ident == -1 else ident
        if not 0 <= index < len(nics):
            raise OpPrereqError(f"Invalid NIC index {ident} (the instance has {len(nics)} NICs)", ECODE_INVAL)
        return index
    for index, nic in enumerate(nics):
        if ident in (nic.name, nic.uuid):
            return index
    raise OpPrereqError(f"Cannot find NIC with identifier {ident}", ECODE_INVAL)


class _Checker:
    """Walks the changes over a copy of the instance's NICs (Ganeti's order: each change sees the last)."""

    def __init__(self, cfg: ConfigManager, inst: Any, pnode: Node, conflicts_check: bool) -> None:
        self.cfg, self.inst, self.pnode, self.conflicts_check = cfg, inst, pnode, conflicts_check
        self.nics: list[Nic] = [copy.deepcopy(n) for n in inst.nics]
        self.original = {n.uuid: n for n in inst.nics}
        self.plan = Plan(self.nics, {}, {}, [], [], [], [], [])

    def run(self, changes: list[NicChange]) -> Plan:
        for change in changes:
            getattr(self, f"_{change.action}")(change)
        if len(self.nics) > MAX_NICS:
            raise OpPrereqError(
                f"Instance has too many network interfaces ({len(self.nics)}), cannot add more", ECODE_STATE
            )
        names = [n.name for n in self.nics if n.name]
        if len(names) != len(set(names)):
            raise OpPrereqError(f"NIC names must be unique in an instance: {', '.join(sorted(names))}", ECODE_INVAL)
        macs = [n.mac for n in self.nics if n.uuid not in self.plan.macs]
        if len(macs) != len(set(macs)):
            raise OpPrereqError("Two NICs of the instance would have the same MAC address", ECODE_NOTUNIQUE)
        # modified means: there before the call and still there after it (added-then-modified NICs
        # are just added, modified-then-removed ones just removed)
        present = {n.uuid for n in self.nics}
        self.plan.modified[:] = [u for u in self.plan.modified if u in self.original and u in present]
        return self.plan

    def _add(self, change: NicChange) -> None:
        index = len(self.nics) if change.ident == -1 else int(change.ident)
        if not 0 <= index <= len(self.nics):
            raise OpPrereqError(f"Invalid NIC index {change.ident} for a new NIC", ECODE_INVAL)
        nic = Nic(uuid=new_uuid(), mac="", name=change.params.get("name"))
        self._set(nic, change.params, new=True)
        self.nics.insert(index, nic)
        self.plan.added.append(nic.uuid)

    def _remove(self, change: NicChange) -> None:
        index = find(self.nics, change.ident)
        nic = self.nics.pop(index)
        if nic.uuid in self.plan.added:
            self.plan.added.remove(nic.uuid)
        else:
            self.plan.removed.append(self.original[nic.uuid])
        self.plan.claims.pop(nic.uuid, None)
        self.plan.macs.pop(nic.uuid, None)
        self._release(nic.uuid)
        self.plan.report.append([f"nic.{index}", "remove"])

    def _modify(self, change: NicChange) -> None:
        index = find(self.nics, change.ident)
        nic = self.nics[index]
        self._set(nic, change.params, new=False)
        if nic.uuid not in self.plan.modified:
            self.plan.modified.append(nic.uuid)
        for key, value in change.params.items():
            shown = nic.ip if key == "ip" else value
            self.plan.report.append([f"nic.{key}/{index}", str(shown)])

    def _release(self, uuid: str) -> None:
        """The address the NIC had in the config goes back to its pool (at commit)."""
        old = self.original.get(uuid)
        if old is not None and old.network and old.ip:
            pair = (old.network, old.ip)
            if pair not in self.plan.released:
                self.plan.released.append(pair)

    def _set(self, nic: Nic, params: dict[str, Any], new: bool) -> None:
        old_net, old_ip = nic.network, nic.ip
        if "network" in params:
            nic.network = None if params["network"] is None else self.cfg.network(params["network"]).uuid
        if "name" in params:
            nic.name = params["name"]
        ip = params.get("ip") if new else params.get("ip", old_ip)
        if nic.network is not None:
            net_params = self._net_params(nic.network)
            if not new and nic.network == old_net and ("mode" in params or "link" in params):
                raise OpPrereqError(
                    "Not allowed to change link or mode of a NIC that is connected to a network", ECODE_INVAL
                )
            nic.nicparams = {k: v for k, v in net_params.items() if v is not None}
        else:
            base = {} if old_net is not None else dict(nic.nicparams)
            base.update({k: params[k] for k in ("mode", "link", "vlan") if params.get(k) is not None})
            nic.nicparams = base
        if nic.network != old_net or ip != old_ip:
            self._claim(nic, ip)
            if not new:
                self._release(nic.uuid)
        mac = params.get("mac")
        if mac in _AUTO:
            self.plan.macs[nic.uuid] = nic.network
            nic.mac = ""
        elif mac is not None:
            self._check_mac(nic, mac)
            nic.mac = mac
            self.plan.macs.pop(nic.uuid, None)
        elif not new and nic.network != old_net and self._prefix(nic.network) != self._prefix(old_net):
            self.plan.macs[nic.uuid] = nic.network  # Ganeti: a new network with another MAC prefix, a new MAC
        mode = nic.nicparams.get("mode") or self.cfg.cluster.nicparams.get("default", {}).get("mode")
        if (mode or constants.NIC_DEFAULTS["mode"]) == "routed" and not nic.ip and nic.uuid not in self.plan.claims:
            raise OpPrereqError("Cannot set the NIC IP address to None on a routed NIC", ECODE_INVAL)

    def _prefix(self, net_uuid: str | None) -> str | None:
        net = self.cfg.networks.get(net_uuid) if net_uuid else None
        return net.mac_prefix if net is not None and net.mac_prefix else None

    def _net_params(self, net_uuid: str) -> dict[str, Any]:
        group = self.cfg.groups.get(self.pnode.group)
        params = group.networks.get(net_uuid) if group is not None else None
        if params is None:
            name = self.cfg.networks[net_uuid].name
            raise OpPrereqError(
                f"Network {name} is not connected to node group {group.name if group else self.pnode.group}"
                f" of node {self.pnode.name} (gnt-network connect -N mode=...,link=... {name} GROUP)",
                ECODE_INVAL,
            )
        return params

    def _claim(self, nic: Nic, ip: str | None) -> None:
        """Check the NIC's new address; pool and in-network addresses are taken at exec."""
        self.plan.claims.pop(nic.uuid, None)
        nic.ip = None if ip == netnics.POOL else ip
        if ip is None:
            return
        if nic.network is None:
            if ip == netnics.POOL:
                raise OpPrereqError("ip=pool, but no network found", ECODE_INVAL)
            if self.conflicts_check:
                self._check_outside_networks(ip)
            return
        pool = AddressPool(self.cfg.networks[nic.network])
        if ip == netnics.POOL:
            pool.first_free(netnics.held(self.cfg).get(nic.network, set()))  # a full pool is refused now
        else:
            pool.index(ip)  # inside the network, or a clear error
            if self.conflicts_check and self._taken(pool, ip):
                raise OpPrereqError(f"IP {ip} not available in network {pool.net.name}", ECODE_NOTUNIQUE)
        # an address this call gives back (a NIC removed before) may be taken again by it
        checked = self.conflicts_check and (nic.network, ip) not in self.plan.released
        self.plan.claims[nic.uuid] = netnics.NicPlan(ip, nic.network, {}, checked)

    def _taken(self, pool: AddressPool, ip: str) -> bool:
        if (pool.net.uuid, ip) in self.plan.released:
            return pool.is_reserved(ip, external=True)  # our own address, given back in this call
        return pool.is_taken(ip) or ip in netnics.held(self.cfg).get(pool.net.uuid, ())

    def _check_outside_networks(self, ip: str) -> None:
        group = self.cfg.groups.get(self.pnode.group)
        for net_uuid in group.networks if group else {}:
            net = self.cfg.networks.get(net_uuid)
            if net is not None and AddressPool(net).contains(ip):
                raise OpPrereqError(
                    f"The requested IP address ({ip}) belongs to network {net.name}, but the target NIC does not"
                    f" (give network={net.name}, or --no-conflicts-check)",
                    ECODE_STATE,
                )

    def _check_mac(self, nic: Nic, mac: str) -> None:
        for other in self.cfg.instances.values():
            for theirs in other.nics:
                if theirs.mac == mac and theirs.uuid != nic.uuid:
                    raise OpPrereqError(f"MAC address '{mac}' already in use in cluster", ECODE_NOTUNIQUE)


def check(cfg: ConfigManager, inst: Any, pnode: Node, changes: list[NicChange], conflicts_check: bool) -> Plan:
    """The instance's NICs after `changes`, checked against the config; nothing is changed."""
    return _Checker(cfg, inst, pnode, conflicts_check).run(changes)


# -- apply: at exec, right before the commit ------------------------------------------------------


def pick(cfg: ConfigManager, plan: Plan, addresses: dict[str, str | None]) -> list[list[str]]:
    """Fill in the addresses `claim` picked and the MACs to generate (on the plan's NIC copies);
    the report of the change, new NICs as they are now."""
    for nic in plan.nics:
        if nic.uuid in addresses:
            nic.ip = addresses[nic.uuid]
        if nic.uuid in plan.macs:
            nic.mac = netnics.generate_mac(cfg, plan.macs[nic.uuid])
    report = list(plan.report)
    for index, nic in enumerate(plan.nics):
        if nic.uuid in plan.added:
            params = ",".join(f"{k}={v}" for k, v in sorted(nic.nicparams.items()) if v not in (None, ""))
            report.append([f"nic.{index}", f"add:mac={nic.mac},ip={nic.ip},{params}".rstrip(",")])
    return report


def apply(cfg: ConfigManager, inst: Any, plan: Plan) -> tuple[list[Any], Callable[[], None]]:
    """Set the instance's NICs and the pools: the networks to commit with the instance, and a
    function that puts the pools back as they were (should the commit fail)."""
    changed: dict[str, Any] = {}
    done: list[tuple[Any, str, bool]] = []  # (network, address, reserved: True / released: False)

    def revert() -> None:
        for net, ip, reserved in reversed(done):
            pool = AddressPool(net)
            (pool.release if reserved else pool.reserve)(ip)
        done.clear()

    keep = {(n.network, n.ip) for n in plan.nics if n.network and n.ip}
    try:
        for net_uuid, ip in plan.released:
            net = cfg.networks.get(net_uuid)
            if net is None or (net_uuid, ip) in keep:
                continue
            pool = AddressPool(net)
            shared = any(
                other.uuid != inst.uuid and any(n.network == net_uuid and n.ip == ip for n in other.nics)
                for other in cfg.instances.values()
            )
            if pool.contains(ip) and pool.is_reserved(ip) and not shared:
                pool.release(ip)
                done.append((net, ip, False))
                changed[net_uuid] = net
        for nic in plan.nics:
            net = cfg.networks.get(nic.network) if nic.network else None
            if net is None or not nic.ip:
                continue
            pool = AddressPool(net)
            if not pool.is_reserved(nic.ip):  # --no-conflicts-check may share an address
                pool.reserve(nic.ip)
                done.append((net, nic.ip, True))
                changed[net.uuid] = net
    except OpPrereqError:
        revert()
        raise
    inst.nics = plan.nics
    return list(changed.values()), revert
