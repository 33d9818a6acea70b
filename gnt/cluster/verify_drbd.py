"""The DRBD part of `gnt-cluster verify-disks` (and of `gnt-cluster verify`): degraded, unconnected
and missing drbd disks, one DRBD status read per node.

Every node holding a side of a drbd disk gets one `drbd_minor_status` call naming the minors of all
of them (the node answers from one read of /proc/drbd), the calls in parallel. Only the minors
travel: a disk's full view (addresses, secret, LVs) is built for the sides that need a repair, so
neither the master nor the node does per-disk work beyond a number (bench_drbd_scale.py measured
4.1 s for 200 disks on 4 test-bed hosts when every side's view was built, sent and checked, and
0.33 s, median of 7, with the minors only: bench/results/drbd_scale_verify200_after.md).
A node too old to know `drbd_minor_status` is asked with the views (`drbd_status`).

Only the disks of instances that should have them up (admin state up, or activated with
activate-disks) are judged: a stopped instance's disks are down on purpose. A side is

- missing: no minor (the node rebooted, or the disk was shut down): assembled again;
- unconnected: StandAlone, or waiting for a peer that is not there: linked to its peer again
  (`drbd_relink`; a peer that is missing is assembled, which makes it connect);
- faulty: its backing disk is gone (Diskless after an I/O error, Failed): assembled again, which
  re-attaches the LVs; a resync (Inconsistent while SyncTarget) is progress, reported, not an error.

This answers Ganeti users' requests that verify-disks re-activate what it can (issues #328, #549,
#560), while what it cannot fix is left to replace-disks.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from gnt import constants
from gnt.instance.common import disk_specs
from gnt.instance.drbd import logical, node_spec
from gnt.objects import Instance, Node
from gnt.rpc import procedures as proc
from gnt.runtime import DiskSpec

REPLACE_HINT = "Use gnt-instance replace-disks for the disks that stay degraded after fixing their nodes."
#: states in which a side waits for its peer (connected states are DRBD's own list, see storage.drbd.status)
WAITING = ("WFConnection", "Unconnected", "Timeout", "BrokenPipe", "NetworkFailure", "ProtocolError")
RESYNCING = ("SyncSource", "SyncTarget", "PausedSyncS", "PausedSyncT")


@dataclass(frozen=True)
class Side:
    """One node's side of one drbd disk, and what its node reported about it."""

    instance: Instance
    disk: DiskSpec  # as the config describes it (both sides'); `view()` is this node's
    node: Node
    peer: Node
    status: dict[str, Any] | None

    def view(self) -> DiskSpec:
        """The disk as this node is sent it (its DRBD view), for a repair."""
        return node_spec(self.disk, self.node, self.peer, primary=self.node.uuid == self.instance.primary_node)

    @property
    def name(self) -> str:
        return f"disk/{self.disk.index} of instance {self.instance.name} on node {self.node.name}"

    def problem(self) -> str | None:
        """Why this side is not healthy, or None (a running resync is healthy)."""
        s = self.status
        if s is None:
            return "missing (no DRBD minor)"
        cstate, disk = str(s.get("cstate", "")), str(s.get("disk", ""))
        if cstate == "Unconfigured" or disk in ("Diskless", "Failed", "Detaching", "Attaching"):
            return f"faulty (its disk is {disk or 'unknown'}, {cstate})"
        if cstate == "StandAlone" or cstate in WAITING:
            return f"degraded (not connected to its peer: {cstate})"
        if cstate in RESYNCING:
            return None
        if disk != "UpToDate" or s.get("peer_disk") not in (None, "UpToDate"):
            return f"degraded ({disk}/{s.get('peer_disk')}, {cstate})"
        return None

    def resync(self) -> str | None:
        s = self.status or {}
        if s.get("cstate") in RESYNCING:
            percent = s.get("sync_percent")
            return f"resyncing ({percent}% done)" if isinstance(percent, (int, float)) else "resyncing"
        return None


@dataclass
class DrbdReport:
    """What the check found; `as_dict` is its part of the verify-disks job result."""

    node_errors: dict[str, str] = field(default_factory=dict)
    #: instance -> [[node, "disk/N", problem], ...] (as found, before any repair)
    degraded: dict[str, list[list[str]]] = field(default_factory=dict)
    #: "disk/N of instance X on node Y" re-activated or reconnected
    reactivated: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "drbd_node_errors": self.node_errors,
            "drbd_degraded": self.degraded,
            "drbd_reactivated": self.reactivated,
            "drbd_activation_failed": self.failed,
        }


def wants_active(inst: Instance) -> bool:
    return inst.admin_state == constants.ADMINST_UP or inst.disks_active


def instances_of(lu: Any, group_uuid: str | None = None) -> list[Instance]:
    """The instances to check, by name: all, or (`verify-disks -g`) those with a node in the group."""
    nodes = lu.cfg.nodes

    def in_group(inst: Instance) -> bool:
        return any(u in nodes and nodes[u].group == group_uuid for u in (inst.primary_node, *inst.secondary_nodes))

    # a forthcoming instance's disks are reserved in the config only: nothing to find on its nodes
    chosen = [i for i in lu.cfg.instances.values() if not i.forthcoming and (group_uuid is None or in_group(i))]
    return sorted(chosen, key=lambda i: i.name)


@dataclass(frozen=True)
class _Entry:
    """One side to ask a node about: the config's disk, its peer node and its minor on this node."""

    instance: Instance
    disk: DiskSpec
    peer: str
    minor: int


def _by_node(lu: Any, group_uuid: str | None = None) -> dict[str, list[_Entry]]:
    """The sides of drbd disks each node holds, for instances whose disks should be up."""
    found: dict[str, list[_Entry]] = {}
    nodes = lu.cfg.nodes
    for inst in instances_of(lu, group_uuid):
        if not wants_active(inst) or inst.disk_template != constants.DT_DRBD:
            continue
        disks = [d for d in disk_specs(lu.cfg, inst) if d.dev_type == constants.DT_DRBD]
        for disk in disks:
            link = logical(disk)
            for uuid, peer in ((link.primary, link.secondary), (link.secondary, link.primary)):
                if uuid in nodes and peer in nodes:
                    found.setdefault(uuid, []).append(_Entry(inst, disk, peer, link.minor_on(uuid)))
    return found


def _unknown_procedure(error: object) -> bool:
    return "Unknown RPC procedure" in str(error)


async def _node_statuses(lu: Any, node: Node, entries: list[_Entry]) -> list[dict[str, Any] | None] | str:
    target = lu.ctx.services.target(node)
    result = await lu.rpc.drbd_minor_status(target, proc.DrbdMinorsArgs([e.minor for e in entries]))
    if result.failed and _unknown_procedure(result.error):  # a node not upgraded yet: ask with the views
        nodes = lu.cfg.nodes
        views = [node_spec(e.disk, node, nodes[e.peer], node.uuid == e.instance.primary_node) for e in entries]
        result = await lu.rpc.drbd_status(target, proc.BlockdevInfoArgs(views))
    if result.failed:
        return str(result.error)
    payload = result.payload
    if not isinstance(payload, list) or len(payload) != len(entries):
        return "the node answered the DRBD status of the wrong number of disks"
    return payload


async def gather(lu: Any, group_uuid: str | None = None) -> tuple[list[Side], dict[str, str]]:
    """Every side of every drbd disk that should be up, with its node's report; node errors apart."""
    by_node = _by_node(lu, group_uuid)
    nodes = [lu.cfg.nodes[u] for u in sorted(by_node, key=lambda u: lu.cfg.nodes[u].name)]
    errors = {n.name: "node is offline" for n in nodes if n.offline}
    online = [n for n in nodes if not n.offline]
    answers = await asyncio.gather(*(_node_statuses(lu, n, by_node[n.uuid]) for n in online))
    sides: list[Side] = []
    for node, answer in zip(online, answers, strict=True):
        if isinstance(answer, str):
            errors[node.name] = answer
            continue
        sides += [
            Side(e.instance, e.disk, node, lu.cfg.nodes[e.peer], status)
            for e, status in zip(by_node[node.uuid], answer, strict=True)
        ]
    return sides, errors


async def check(lu: Any, group_uuid: str | None = None) -> DrbdReport:
    """verify-disks: report what is wrong and repair what can be (missing and faulty sides are
    assembled again, unconnected ones relinked); only a node group's instances when one is given."""
    report = DrbdReport()
    sides, report.node_errors = await gather(lu, group_uuid)
    for name, error in sorted(report.node_errors.items()):
        lu.warning(f"Error gathering DRBD data on node {name}: {error}")
    for side in sides:
        problem = side.problem()
        if problem is None:
            note = side.resync()
            if note:
                lu.feedback(f"{side.name}: {note}")
            continue
        report.degraded.setdefault(side.instance.name, []).append([side.node.name, f"disk/{side.disk.index}", problem])
        lu.warning(f"{side.name} is {problem}")
        await _repair(lu, report, side)
    if report.degraded and (report.failed or report.node_errors):
        lu.feedback(REPLACE_HINT)
    return report


async def _repair(lu: Any, report: DrbdReport, side: Side) -> None:
    target = lu.ctx.services.target(side.node)
    status = side.status
    if status is not None and status.get("cstate") == "StandAlone" and status.get("disk") == "UpToDate":
        verb, result = "Reconnected", await lu.rpc.drbd_relink(target, proc.BlockdevInfoArgs([side.view()]))
    else:
        args = proc.BlockdevArgs(side.view(), side.instance.name)
        verb, result = "Re-activated", await lu.rpc.blockdev_assemble(target, args)
    if result.failed:
        lu.warning(f"Could not re-activate {side.name}: {result.error}")
        if side.instance.name not in report.failed:
            report.failed.append(side.instance.name)
        return
    lu.feedback(f"{verb} {side.name}")
    report.reactivated.append(side.name)
