"""The LVM part of `gnt-cluster verify-disks`: missing and inactive plain volumes, one `lvs` per node.

For every node that is the primary of an instance with plain disks, one `lv_status` call (one
`lvs` over the node's volume groups) answers for all of its disks, however many there are; the
calls run in parallel. A volume that is gone is reported (the admin recreates or replaces it);
a volume that exists but is inactive while its instance should have its disks up (admin state up,
or activated with activate-disks) is activated again, as Ganeti's watcher does after a node reboot.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from gnt import constants
from gnt.instance.common import disk_specs
from gnt.objects import Instance, Node
from gnt.rpc import procedures as proc
from gnt.runtime import DiskSpec

RECREATE_HINT = (
    "You need to replace or recreate disks for all the above instances if this message persists after fixing"
    " broken nodes."
)


@dataclass
class LvmReport:
    """What the check found; `as_dict` is its part of the verify-disks job result."""

    node_errors: dict[str, str] = field(default_factory=dict)
    #: instance -> [[node, "vg/lv"], ...]
    missing: dict[str, list[list[str]]] = field(default_factory=dict)
    #: "disk N of instance X on node Y" activated again
    activated: list[str] = field(default_factory=list)
    #: instances whose disks should be up but could not be activated
    failed: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "node_errors": self.node_errors,
            "missing": self.missing,
            "activated": self.activated,
            "activation_failed": self.failed,
        }


def _plain_disks(lu: Any, group_uuid: str | None) -> dict[str, list[tuple[Instance, DiskSpec]]]:
    """Plain disks by primary node uuid (a plain disk lives on its instance's primary only)."""
    from gnt.cluster.verify_drbd import instances_of

    by_node: dict[str, list[tuple[Instance, DiskSpec]]] = {}
    for inst in instances_of(lu, group_uuid):
        if inst.admin_state == constants.ADMINST_OFFLINE:
            continue
        if not any(d.dev_type == constants.DT_PLAIN for d in inst.disks):
            continue  # a drbd instance's LVs are checked through DRBD (verify_drbd)
        for disk in disk_specs(lu.cfg, inst):
            if disk.dev_type == constants.DT_PLAIN and len(disk.logical_id) == 2:
                by_node.setdefault(inst.primary_node, []).append((inst, disk))
    return by_node


def _wants_active(inst: Instance) -> bool:
    return inst.admin_state == constants.ADMINST_UP or inst.disks_active


async def _node_volumes(lu: Any, node: Node, vgs: list[str]) -> dict[tuple[str, str], bool] | str:
    """(vg, lv) -> active, from one lv_status call; or the node's error."""
    result = await lu.rpc.lv_status(lu.ctx.services.target(node), proc.VolumeGroupsArgs(vgs))
    if result.failed:
        return str(result.error)
    return {(str(v["vg"]), str(v["name"])): bool(v.get("active")) for v in result.payload or []}


async def check(lu: Any, group_uuid: str | None = None) -> LvmReport:
    report = LvmReport()
    by_node = _plain_disks(lu, group_uuid)
    nodes = [lu.cfg.nodes[u] for u in by_node if u in lu.cfg.nodes]
    online = [n for n in nodes if not n.offline]
    for node in nodes:
        if node.offline:
            report.node_errors[node.name] = "node is offline"
    answers = await asyncio.gather(
        *(_node_volumes(lu, n, sorted({d.logical_id[0] for _, d in by_node[n.uuid]})) for n in online)
    )
    for node, volumes in zip(online, answers, strict=True):
        if isinstance(volumes, str):
            report.node_errors[node.name] = volumes
            lu.warning(f"Error gathering LVM data on node {node.name}: {volumes}")
            continue
        for inst, disk in by_node[node.uuid]:
            vg, lv = disk.logical_id
            active = volumes.get((vg, lv))
            if active is None:
                report.missing.setdefault(inst.name, []).append([node.name, f"{vg}/{lv}"])
            elif not active and _wants_active(inst):
                await _activate(lu, report, node, inst, disk)
    for name, volumes in sorted(report.missing.items()):
        lu.warning(f"Instance {name} has missing logical volumes:")
        for node_name, volume in volumes:
            lu.feedback(f"  {node_name} /dev/{volume}")
    if report.missing:
        lu.feedback(RECREATE_HINT)
    return report


async def _activate(lu: Any, report: LvmReport, node: Node, inst: Instance, disk: DiskSpec) -> None:
    what = f"disk {disk.index} of instance {inst.name} on node {node.name}"
    result = await lu.rpc.blockdev_assemble(lu.ctx.services.target(node), proc.BlockdevArgs(disk, inst.name))
    if result.failed:
        lu.warning(f"Could not activate {what}: {result.error}")
        if inst.name not in report.failed:
            report.failed.append(inst.name)
        return
    lu.feedback(f"Activated {what}")
    report.activated.append(what)
