"""The drbd template on the master: ports, minors and secrets for new disks, and each node's view.

The config keeps a drbd disk once, as Ganeti does: `logical_id` is
`[primary uuid, secondary uuid, port, primary minor, secondary minor]` (strings), and
`params` holds its two LVs per node (`children`: data and meta, the same names on both nodes)
and its shared secret. Ports come from the cluster's DRBD port pool (`gnt.drbd.DEFAULT_PORT_RANGE`)
and minors are per node; both are the lowest ones no disk in the config uses and no running job
has reserved (a job reserves what it picks until it commits or gives up, so two concurrent adds
never pick the same). `node_spec` turns a disk into what one node is sent: its own minor and
address, the peer's, the secret, and whether it is the primary side.

The secret is in `params`, which no query field shows (`disk.logical_ids` shows the logical_id);
it reaches nodes only inside RPC bodies, which are neither logged nor stored in jobs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from gnt import constants
from gnt.drbd import (
    DEFAULT_PORT_RANGE,
    DEFAULT_RESYNC_RATE,
    MAX_MINOR,
    PARAMS_KEY,
    RESYNC_RATE_KEY,
    DrbdView,
    new_secret,
)
from gnt.errors import ECODE_ENVIRON, ECODE_NORES, ConfigurationError, OpExecError, OpPrereqError
from gnt.objects import Disk, Instance, Node
from gnt.runtime import DiskSpec

__all__ = [
    "Allocation",
    "DrbdLogical",
    "allocate",
    "disk_fields",
    "drbd_map",
    "end_interrupted_window",
    "logical",
    "node_spec",
    "release",
    "without_peer",
]


@dataclass(frozen=True)
class DrbdLogical:
    """A drbd disk's logical_id, typed."""

    primary: str
    secondary: str
    port: int
    primary_minor: int
    secondary_minor: int

    def minor_on(self, node_uuid: str) -> int:
        if node_uuid == self.primary:
            return self.primary_minor
        if node_uuid == self.secondary:
            return self.secondary_minor
        raise ConfigurationError(f"drbd disk is not on node {node_uuid}")

    def peer_of(self, node_uuid: str) -> str:
        return self.secondary if node_uuid == self.primary else self.primary


def logical(disk: Disk | DiskSpec) -> DrbdLogical:
    lid = disk.logical_id
    if len(lid) != 5:
        raise ConfigurationError(f"drbd disk {disk.uuid} has a malformed logical_id {lid!r}")
    try:
        return DrbdLogical(str(lid[0]), str(lid[1]), int(lid[2]), int(lid[3]), int(lid[4]))
    except ValueError:
        raise ConfigurationError(f"drbd disk {disk.uuid} has a malformed logical_id {lid!r}") from None


def _drbd_disks(instances: Iterator[Instance] | list[Instance]) -> Iterator[tuple[Instance, int, Disk]]:
    for inst in instances:
        for index, disk in enumerate(inst.disks):
            if disk.dev_type == constants.DT_DRBD:
                yield inst, index, disk


def drbd_map(instances: list[Instance]) -> dict[str, list[dict[str, Any]]]:
    """Every drbd minor the config places on each node (Ganeti's ComputeDRBDMap), for
    `gnt-node list-drbd`: node uuid -> [{minor, instance, disk, role, peer}]."""
    found: dict[str, list[dict[str, Any]]] = {}
    for inst, index, disk in _drbd_disks(instances):
        link = logical(disk)
        for node, minor in ((link.primary, link.primary_minor), (link.secondary, link.secondary_minor)):
            role = "primary" if node == inst.primary_node else "secondary"  # a failover swaps the roles
            entry = {"minor": minor, "instance": inst.name, "disk": index, "role": role, "peer": link.peer_of(node)}
            found.setdefault(node, []).append(entry)
    for entries in found.values():
        entries.sort(key=lambda e: e["minor"])
    return found


# -- allocation -----------------------------------------------------------------------------------

_reserved_ports: set[int] = set()
_reserved_minors: dict[str, set[int]] = {}


@dataclass(frozen=True)
class Allocation:
    port: int
    primary_minor: int
    secondary_minor: int


def _used(instances: list[Instance]) -> tuple[set[int], dict[str, set[int]]]:
    ports: set[int] = set()
    minors: dict[str, set[int]] = {}
    for _, _, disk in _drbd_disks(instances):
        link = logical(disk)
        ports.add(link.port)
        minors.setdefault(link.primary, set()).add(link.primary_minor)
        minors.setdefault(link.secondary, set()).add(link.secondary_minor)
    return ports, minors


def _lowest_free(taken: set[int], low: int, high: int, what: str) -> int:
    for candidate in range(low, high + 1):
        if candidate not in taken:
            return candidate
    raise OpPrereqError(f"No free {what} left ({low}-{high} are all in use)", ECODE_NORES)


def allocate(instances: list[Instance], pnode: str, snode: str, count: int) -> list[Allocation]:
    """Pick and reserve a port and a minor on each node for `count` new disks (the config's
    instances plus every other job's reservations are taken). `release` gives them back."""
    ports, minors = _used(instances)
    ports |= _reserved_ports
    taken_p = minors.get(pnode, set()) | _reserved_minors.get(pnode, set())
    taken_s = minors.get(snode, set()) | _reserved_minors.get(snode, set())
    picked: list[Allocation] = []
    try:
        for _ in range(count):
            port = _lowest_free(ports, *DEFAULT_PORT_RANGE, "DRBD port in the cluster's port pool")
            pminor = _lowest_free(taken_p, 0, MAX_MINOR, "DRBD minor on the primary node")
            sminor = _lowest_free(taken_s, 0, MAX_MINOR, "DRBD minor on the secondary node")
            for taken, value in ((ports, port), (taken_p, pminor), (taken_s, sminor)):
                taken.add(value)
            picked.append(Allocation(port, pminor, sminor))
    finally:
        for alloc in picked:
            _reserved_ports.add(alloc.port)
            _reserved_minors.setdefault(pnode, set()).add(alloc.primary_minor)
            _reserved_minors.setdefault(snode, set()).add(alloc.secondary_minor)
    return picked


def release(allocations: list[Allocation], pnode: str, snode: str) -> None:
    """Give reservations back (after the config commit holds them, or when the job gave up)."""
    for alloc in allocations:
        _reserved_ports.discard(alloc.port)
        _reserved_minors.get(pnode, set()).discard(alloc.primary_minor)
        _reserved_minors.get(snode, set()).discard(alloc.secondary_minor)


def allocate_minors(instances: list[Instance], node: str, count: int) -> list[int]:
    """Pick and reserve `count` minors on `node` (a new secondary keeps each disk's port and the
    primary's minor); `release_minors` gives them back."""
    _, minors = _used(instances)
    taken = minors.get(node, set()) | _reserved_minors.get(node, set())
    picked: list[int] = []
    for _ in range(count):
        minor = _lowest_free(taken, 0, MAX_MINOR, "DRBD minor on the new secondary node")
        taken.add(minor)
        picked.append(minor)
    _reserved_minors.setdefault(node, set()).update(picked)
    return picked


def release_minors(minors: list[int], node: str) -> None:
    _reserved_minors.get(node, set()).difference_update(minors)


def disk_fields(vg: str, pnode: str, snode: str, disk_uuid: str, index: int, alloc: Allocation) -> dict[str, Any]:
    """logical_id and params of a new drbd disk (LVs named as Ganeti names them)."""
    if not vg:
        message = "No volume group configured for drbd disks; set one with `gnt-cluster modify --vg-name`"
        raise OpPrereqError(message, ECODE_ENVIRON)
    base = f"{disk_uuid}.disk{index}"
    return {
        "logical_id": [pnode, snode, str(alloc.port), str(alloc.primary_minor), str(alloc.secondary_minor)],
        "params": {"children": [[vg, f"{base}_data"], [vg, f"{base}_meta"]], "secret": new_secret()},
    }


# -- what one node is sent ------------------------------------------------------------------------


def replication_ip(node: Node) -> str:
    """DRBD replicates over the node's secondary (replication) address when it has one."""
    return node.secondary_ip or node.primary_ip


def node_spec(spec: DiskSpec, node: Node, peer: Node, primary: bool) -> DiskSpec:
    """`spec` (a drbd disk of the config) as `node` is sent it: params hold only its view."""
    link = logical(spec)
    children = spec.params.get("children") or []
    secret = spec.params.get("secret", "")
    if len(children) != 2:
        raise ConfigurationError(f"drbd disk {spec.uuid} has no data and meta volumes in its config")
    view = DrbdView(
        minor=link.minor_on(node.uuid),
        port=link.port,
        local_ip=replication_ip(node),
        remote_ip=replication_ip(peer),
        remote_minor=link.minor_on(peer.uuid),
        data=list(children[0]),
        meta=list(children[1]),
        secret=secret,
        primary=primary,
        resync_rate=int(spec.params.get(RESYNC_RATE_KEY, DEFAULT_RESYNC_RATE)),
    )
    return replace(spec, params={PARAMS_KEY: view.to_params()})


def node_specs(specs: list[DiskSpec], inst: Instance, node: Node, nodes: dict[str, Node]) -> list[DiskSpec]:
    """Every disk of an instance as `node` is sent it (drbd disks get its view; others unchanged)."""
    result = []
    for spec in specs:
        if spec.dev_type != constants.DT_DRBD:
            result.append(spec)
            continue
        link = logical(spec)
        peer = nodes[link.peer_of(node.uuid)]
        result.append(node_spec(spec, node, peer, primary=node.uuid == inst.primary_node))
    return result


def without_peer(specs: list[DiskSpec]) -> list[DiskSpec]:
    """Node views (`node_specs`) marked with the master's word that the peer is down: the node
    promotes its side without waiting for the peer (a start forced past a dead secondary)."""
    result = []
    for spec in specs:
        view = spec.params.get(PARAMS_KEY) if spec.dev_type == constants.DT_DRBD else None
        result.append(replace(spec, params={PARAMS_KEY: {**view, "peer_down": True}}) if view else spec)
    return result


def disks_for_node(cfg: Any, inst: Instance, node_uuid: str) -> list[DiskSpec]:
    """The instance's disks as the node `node_uuid` is sent them (build_spec's, with each drbd
    disk's view of that node)."""
    from gnt.instance.common import build_spec

    node = cfg.nodes[node_uuid]
    return node_specs(build_spec(cfg, inst).disks, inst, node, cfg.nodes)


# -- moving the primary role (failover) ------------------------------------------------------------


def check_move_target(inst: Instance, target: Node, nodes: dict[str, Node]) -> None:
    """A drbd instance can only move to its secondary: the only other node with its data."""
    if target.uuid not in inst.secondary_nodes:
        secondary = ", ".join(nodes[u].name for u in inst.secondary_nodes if u in nodes) or "none"
        raise OpPrereqError(
            f"Instances with disk template drbd can only move to their secondary node ({secondary}), not {target.name}",
            "wrong_input",
        )


async def hand_over_primary(lu: Any, inst: Instance, source: Node, target: Node, ignore_consistency: bool) -> None:
    """Demote the source's side of every disk, then promote the target's (forced only with
    --ignore-consistency, for a target whose data DRBD does not know to be UpToDate). The target
    refuses promotion while the source is still primary, so a source that could not be demoted
    (and is not dead) stops the failover here: two primaries would be a split brain."""
    from gnt.rpc import procedures as proc

    services = lu.ctx.services
    if not source.offline:
        args = proc.BlockdevRoleArgs(disks_for_node(lu.cfg, inst, source.uuid), primary=False)
        result = await lu.rpc.drbd_set_role(services.target(source), args)
        if result.failed:
            if not ignore_consistency:
                raise OpExecError(
                    f"Could not demote the disks of instance {inst.name} on {source.name}: {result.error};"
                    " if the node is dead, use --ignore-consistency"
                )
            lu.warning(f"Could not demote the disks on {source.name} ({result.error}); going on as asked")
    args = proc.BlockdevRoleArgs(disks_for_node(lu.cfg, inst, target.uuid), primary=True, force=ignore_consistency)
    result = await lu.rpc.drbd_set_role(services.target(target), args)
    if result.failed:
        raise OpExecError(f"Could not make the disks of instance {inst.name} primary on {target.name}: {result.error}")


# -- a live migration's dual-primary window ---------------------------------------------------------

#: how long the master waits for a re-made link to connect (both sides reconnect on their own)
RECONNECT_TIMEOUT = 60.0
RECONNECT_POLL = 0.1  # a status RPC each; the link comes back in well under a second on a LAN


async def _statuses(lu: Any, inst: Instance, node: Node) -> list[dict[str, Any] | None]:
    from gnt.rpc import procedures as proc

    args = proc.BlockdevInfoArgs(disks_for_node(lu.cfg, inst, node.uuid))
    result = await lu.rpc.drbd_status(lu.ctx.services.target(node), args)
    return result.get(f"Cannot get the DRBD status of instance {inst.name}'s disks on {node.name}")  # type: ignore[no-any-return]


def _linked(cstate: str) -> bool:
    """Connected to the peer (replicating, or resyncing)."""
    return cstate == "Connected" or cstate.startswith(("Sync", "PausedSync"))


async def _wait_connected(lu: Any, inst: Instance, node: Node, in_sync: bool = False) -> None:
    """Until every disk is linked again (`in_sync`: and resynced, which writes made while the link
    was down need before the other side may be promoted)."""
    import asyncio
    import time

    deadline = time.monotonic() + RECONNECT_TIMEOUT
    while True:
        statuses = await _statuses(lu, inst, node)
        if all(s is not None and _linked(s["cstate"]) and (s["in_sync"] or not in_sync) for s in statuses):
            return
        if time.monotonic() > deadline:
            states = ", ".join(f"disk/{i} {s['cstate'] if s else 'missing'}" for i, s in enumerate(statuses))
            raise OpExecError(f"The disks of instance {inst.name} did not reconnect on {node.name} ({states})")
        await asyncio.sleep(RECONNECT_POLL)


async def _set_dual(lu: Any, inst: Instance, nodes: list[Node], enabled: bool) -> None:
    """Both sides disconnected first, then both connected with the new setting (as Ganeti does):
    re-made one side at a time, the first side meets a peer still on the old setting, DRBD 8.4
    refuses the handshake ("incompatible two-primaries") and that side stays StandAlone (CI saw it).

    The sides are independent within each of the two steps, so each step asks both nodes at once
    (a round trip per step, not per node: the window is guest-visible migration time). Every node
    is asked even if another fails; the first failure is then raised.
    """
    import asyncio

    from gnt.rpc import procedures as proc

    async def disconnect(node: Node) -> None:
        args = proc.BlockdevInfoArgs(disks_for_node(lu.cfg, inst, node.uuid))
        result = await lu.rpc.drbd_disconnect(lu.ctx.services.target(node), args)
        result.get(f"Could not disconnect the disks of instance {inst.name} on {node.name}")

    async def reconnect(node: Node) -> None:
        args = proc.BlockdevDualArgs(disks_for_node(lu.cfg, inst, node.uuid), enabled)
        result = await lu.rpc.drbd_dual_primary(lu.ctx.services.target(node), args)
        word = "allow" if enabled else "stop allowing"
        result.get(f"Could not {word} two primaries for instance {inst.name} on {node.name}")

    for step in (disconnect, reconnect):
        outcomes = await asyncio.gather(*(step(node) for node in nodes), return_exceptions=True)
        failed = next((o for o in outcomes if isinstance(o, BaseException)), None)
        if failed is not None:
            raise failed
        if step is disconnect:
            lu.info("- disks disconnected on both sides")
    lu.info(f"- disks reconnecting on both sides, {'two primaries allowed' if enabled else 'one primary'}")


async def _set_role(lu: Any, inst: Instance, node: Node, primary: bool) -> None:
    from gnt.rpc import procedures as proc

    args = proc.BlockdevRoleArgs(disks_for_node(lu.cfg, inst, node.uuid), primary=primary)
    result = await lu.rpc.drbd_set_role(lu.ctx.services.target(node), args)
    result.get(
        f"Could not make the disks of instance {inst.name} {'primary' if primary else 'secondary'} on {node.name}"
    )


async def check_in_sync(lu: Any, inst: Instance, source: Node) -> None:
    """Before a live migration: a degraded pair would lose writes the target cannot see."""
    statuses = await _statuses(lu, inst, source)
    degraded = [f"disk/{i}" for i, s in enumerate(statuses) if s is None or not s["in_sync"]]
    if degraded:
        raise OpExecError(
            f"Cannot migrate instance {inst.name}: its disks are not in sync ({', '.join(degraded)}); wait for"
            " the resync to finish"
        )


async def open_migration_window(lu: Any, inst: Instance, source: Node, target: Node) -> None:
    """The link re-made to allow two primaries, the target promoted beside the source."""
    lu.feedback("* allowing two primaries for the length of the migration")
    await _set_dual(lu, inst, [source, target], True)
    await _wait_connected(lu, inst, target, in_sync=True)
    lu.info(f"- disks connected and in sync on {target.name}")
    await _set_role(lu, inst, target, True)
    lu.info(f"- disks primary on {target.name} too")


async def close_migration_window(lu: Any, inst: Instance, keep: Node, drop: Node) -> None:
    """After the migration (or its abort): `drop` demoted, then the link back to one primary."""
    lu.feedback(f"* back to one primary ({keep.name})")
    await _set_role(lu, inst, drop, False)
    lu.info(f"- disks secondary on {drop.name}")
    await _set_dual(lu, inst, [keep, drop], False)
    await _wait_connected(lu, inst, keep)
    lu.info(f"- disks connected on {keep.name}")


async def end_interrupted_window(lu: Any, inst: Instance, keep: Node, drop: Node) -> None:
    """`migrate --cleanup` of a drbd instance: whatever an interrupted migration left (both sides
    primary, the target half-promoted, the link still allowing two primaries), `drop` (the node
    the guest does not run on) is demoted, the link re-made for one primary, and the pair waited
    for until connected and in sync, as Ganeti's cleanup does (secondary, standalone, reconnect,
    wait for sync). Each step is a no-op where the pair already is as it should be."""
    lu.feedback(f"* making sure {drop.name} is secondary and the link allows one primary ({keep.name})")
    await _set_role(lu, inst, drop, False)
    await _set_dual(lu, inst, [keep, drop], False)
    await _wait_connected(lu, inst, keep, in_sync=True)
    lu.feedback("* the disks are connected and in sync")
