"""Node procedures that change a running guest: NIC and disk hotplug, memory ballooning.

The master decides (gnt.instance.hotplug); here the request is checked against the guest as the
node knows it and handed to the hypervisor driver. A disk is assembled through its storage
driver first, so its node path comes from the node's own storage roots, never from the caller.
"""

from __future__ import annotations

import backends
import storage
from agent.handlers import handles
from backends.base import Hypervisor
from gnt.errors import HypervisorError
from gnt.rpc import procedures as proc
from gnt.runtime import InstanceSpec

__all__ = ["instance_balloon_memory", "instance_hotplug"]

ADD, REMOVE = "add", "remove"


async def _running(spec: InstanceSpec) -> Hypervisor:
    hv = backends.get(spec.hypervisor)
    info = await hv.instance_info(spec.name)
    if info is None or str(info.state) not in ("running", "paused"):
        raise HypervisorError(f"Instance {spec.name} is not running on this node")
    return hv


@handles(proc.INSTANCE_HOTPLUG)
async def instance_hotplug(args: proc.InstanceHotplugArgs) -> None:
    spec = args.instance
    if args.action not in (ADD, REMOVE):
        raise HypervisorError(f"Unknown hotplug action {args.action!r}: add or remove")
    if (args.nic is None) == (args.disk is None):
        raise HypervisorError("A hotplug request names exactly one NIC or one disk")
    hv = await _running(spec)
    if args.nic is not None:
        if args.action == ADD:
            await hv.hotplug_nic(spec, args.nic)
        else:
            await hv.unplug_nic(spec, args.nic)
        return
    disk = args.disk
    assert disk is not None
    if args.action == REMOVE:
        await hv.unplug_disk(spec, disk)
        return
    path = await storage.get(disk.dev_type).assemble(disk, spec.name)
    if not path:
        raise HypervisorError(f"Disk {disk.uuid} of {spec.name} has no device on this node to plug in")
    await hv.hotplug_disk(spec, disk, path)


@handles(proc.INSTANCE_BALLOON_MEMORY)
async def instance_balloon_memory(args: proc.InstanceBalloonArgs) -> None:
    if args.memory <= 0:
        raise HypervisorError(f"Invalid memory size {args.memory} MiB")
    hv = await _running(args.instance)
    await hv.balloon_memory(args.instance, args.memory)
