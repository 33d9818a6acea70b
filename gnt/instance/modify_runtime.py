"""Two parts of OP_INSTANCE_SET_PARAMS that are not parameters: `-m/--runtime-memory` (balloon a
running instance) and `--new-primary` (record that a stopped instance's disks now live on another
node). Each has a check (config and nodes, nothing changed) and an exec step for the LU.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gnt import disktypes
from gnt.errors import ECODE_INVAL, ECODE_STATE, OpExecError, OpPrereqError
from gnt.instance import hotplug
from gnt.instance.common import check_free_memory, check_node_online, spec_of
from gnt.rpc import procedures as proc

if TYPE_CHECKING:
    from gnt.jobs.lu import LogicalUnit
    from gnt.objects import Instance, Node

__all__ = ["balloon", "check_new_primary", "check_runtime_memory"]


async def check_runtime_memory(
    lu: LogicalUnit, inst: Instance, pnode: Node, memory: int, be: dict[str, Any], force: bool
) -> None:
    """The instance runs, its hypervisor balloons, `memory` is within [minmem, maxmem] (unless
    --force, as Ganeti) and, when it grows, the node has the difference free."""
    if not disktypes.hypervisor(inst.hypervisor).balloons:
        raise OpPrereqError(f"Hypervisor {inst.hypervisor} cannot change the memory of a running instance", ECODE_STATE)
    check_node_online(pnode, "primary node")
    result = await lu.rpc.instance_info(
        lu.ctx.services.target(pnode), proc.InstanceQueryArgs(inst.name, inst.hypervisor)
    )
    info = result.get(f"Error checking node {pnode.name}")
    if not info or info.get("state") not in ("running", "paused"):
        raise OpPrereqError(f"Instance {inst.name} is not running", ECODE_STATE)
    low, high = int(be["minmem"]), int(be["maxmem"])
    if not force and not low <= memory <= high:
        raise OpPrereqError(
            f"Instance {inst.name} must have memory between {low} and {high} MB of memory unless --force is given",
            ECODE_INVAL,
        )
    delta = memory - int(info.get("memory", 0))
    if delta > 0:
        await check_free_memory(lu, pnode, inst.hypervisor, delta, f"ballooning memory for instance {inst.name}")


async def balloon(lu: LogicalUnit, inst: Instance, pnode: Node, memory: int) -> list[str]:
    lu.feedback(f"* ballooning instance {inst.name} to {memory} MiB")
    args = proc.InstanceBalloonArgs(spec_of(lu, inst), memory)
    result = await lu.rpc.instance_balloon_memory(lu.ctx.services.target(pnode), args)
    if result.failed:
        raise OpExecError(f"Could not change the memory of instance {inst.name}: {result.error}")
    return ["runtime_memory", str(memory)]


async def check_new_primary(lu: LogicalUnit, inst: Instance, pnode: Node, new: Node, force: bool) -> bool:
    """Whether the primary changes (False: `new` is the primary already); OpPrereqError if it cannot.

    Only instances whose disks are not mirrored between nodes by gnt (drbd keeps a secondary,
    whose role failover and migrate change) may be given a new primary; the disks are assumed to
    be reachable there (sharedfile), or moved by hand (file, plain), as in Ganeti. Unless --force,
    the instance must not run on its current primary.
    """
    if new.uuid == inst.primary_node:
        return False
    if disktypes.kind(inst.disk_template).locality is disktypes.Locality.MIRRORED:
        raise OpPrereqError(
            f"Instance {inst.name} has {inst.disk_template} disks, mirrored with its secondary node: change"
            " its primary node with gnt-instance failover or migrate",
            ECODE_INVAL,
        )
    check_node_online(new, "new primary node")
    if not new.vm_capable:
        raise OpPrereqError(f"Node {new.name} is not vm_capable: it cannot be an instance's primary", ECODE_STATE)
    from gnt.network.nics import require_connected

    require_connected(lu.cfg, inst, new)
    if not force:
        running = None if pnode.offline else await hotplug.is_running(lu, inst, pnode)
        if running is None and not pnode.offline:
            lu.warning(f"Can't get instance runtime information from node {pnode.name}")
        elif running:
            raise OpPrereqError(f"Instance is still running on {pnode.name}", ECODE_STATE)
    return True
