"""The master's side of `gnt-instance modify --hotplug / --hotplug-if-possible / -m`.

`decide` says at check time whether disk and NIC changes go into the running guest now (the
instance runs and its hypervisor can) or wait for its next start, with Ganeti's two flags:
`--hotplug` refuses when it cannot, `--hotplug-if-possible` warns and goes on without.

Unlike Ganeti, which warns and commits anyway when a hotplug fails at exec, a failed hotplug
fails the job: every device already plugged in by it is taken out again (and those taken out
put back), so the config and the running guest never disagree. `Undo` keeps those steps.
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from gnt import disktypes
from gnt.errors import ECODE_STATE, GntError, OpExecError, OpPrereqError
from gnt.instance.common import build_spec, spec_of
from gnt.rpc import procedures as proc
from gnt.runtime import DiskSpec, InstanceSpec, NicSpec

if TYPE_CHECKING:
    from gnt.instance.nic_modify import Plan
    from gnt.jobs.lu import LogicalUnit

__all__ = ["Undo", "apply_nics", "decide", "is_running", "plug_disk", "unplug_disk"]


async def is_running(lu: LogicalUnit, inst: Any, node: Any) -> bool | None:
    """Whether the node runs the instance (None: the node could not tell)."""
    result = await lu.rpc.instance_info(
        lu.ctx.services.target(node), proc.InstanceQueryArgs(inst.name, inst.hypervisor)
    )
    if result.failed:
        return None
    info = result.payload
    return bool(info and info.get("state") in ("running", "paused"))


async def decide(lu: LogicalUnit, inst: Any, node: Any, hotplug: bool, if_possible: bool) -> bool:
    """Whether disk and NIC changes are hotplugged; OpPrereqError when --hotplug cannot be honoured."""
    if not (hotplug or if_possible):
        return False
    reason = None
    if not disktypes.hypervisor(inst.hypervisor).hotplug:
        reason = f"hypervisor {inst.hypervisor} does not support it"
    else:
        running = await is_running(lu, inst, node)
        if running is None:
            reason = f"cannot get the state of instance {inst.name} from node {node.name}"
        elif not running:
            reason = f"instance {inst.name} is not running"
    if reason is None:
        return True
    if hotplug:
        raise OpPrereqError(f"Hotplug is not possible: {reason}", ECODE_STATE)
    lu.warning(f"Hotplug is not possible: {reason}")
    lu.info("Modification will take place without hotplugging.")
    return False


class Undo:
    """Steps that put the running guest back as it was, run newest first when the job fails."""

    def __init__(self) -> None:
        self.steps: list[tuple[str, Callable[[], Awaitable[None]]]] = []

    def push(self, what: str, step: Callable[[], Awaitable[None]]) -> None:
        self.steps.append((what, step))

    async def run(self, lu: LogicalUnit) -> None:
        for what, step in reversed(self.steps):
            try:
                await step()
            except GntError as err:
                lu.warning(f"Could not undo the hotplug ({what}): {err}")
        self.steps.clear()


async def _call(lu: LogicalUnit, node: Any, spec: InstanceSpec, action: str, **device: Any) -> None:
    args = proc.InstanceHotplugArgs(spec, action, **device)
    result = await lu.rpc.instance_hotplug(lu.ctx.services.target(node), args)
    if result.failed:
        kind = "NIC" if "nic" in device else "disk"
        raise OpExecError(f"Could not hotplug ({action}) {kind} of instance {spec.name}: {result.error}")


def _nic_specs(lu: LogicalUnit, inst: Any, nics: list[Any]) -> dict[str, NicSpec]:
    shadow = copy.copy(inst)
    shadow.nics = nics
    return {n.uuid: n for n in build_spec(lu.cfg, shadow).nics}


def _device(nic: NicSpec) -> tuple[Any, ...]:
    """What the guest and the host side of a NIC are made of (its name is the config's only)."""
    return (nic.mac, nic.mode, nic.link, nic.ip, nic.vlan, nic.network)


async def apply_nics(lu: LogicalUnit, inst: Any, node: Any, plan: Plan, undo: Undo) -> None:
    """Take out the NICs removed or changed, plug in the new and changed ones (as they will be)."""
    spec = spec_of(lu, inst)
    old = {n.uuid: n for n in spec.nics}
    new = _nic_specs(lu, inst, plan.nics)
    # a NIC whose device does not change (only its name did) stays plugged in
    replaced = [u for u in plan.modified if _device(old[u]) != _device(new[u])]
    for nic in [*plan.removed, *[n for n in inst.nics if n.uuid in replaced]]:
        gone = old[nic.uuid]
        lu.feedback(f"* hotplug: taking out NIC {gone.mac} of {inst.name}")
        await _call(lu, node, spec, "remove", nic=gone)
        undo.push(f"NIC {gone.mac} back in", lambda g=gone: _call(lu, node, spec, "add", nic=g))
    for uuid in [*replaced, *plan.added]:
        nic = new[uuid]
        lu.feedback(f"* hotplug: plugging in NIC {nic.mac} of {inst.name}")
        await _call(lu, node, spec, "add", nic=nic)
        undo.push(f"NIC {nic.mac} out", lambda n=nic: _call(lu, node, spec, "remove", nic=n))


async def plug_disk(lu: LogicalUnit, inst: Any, node: Any, disk: DiskSpec, undo: Undo) -> None:
    spec = spec_of(lu, inst)
    lu.feedback(f"* hotplug: plugging in disk {disk.index} of {inst.name}")
    await _call(lu, node, spec, "add", disk=disk)
    undo.push(f"disk {disk.index} out", lambda: _call(lu, node, spec, "remove", disk=disk))


async def unplug_disk(lu: LogicalUnit, inst: Any, node: Any, disk: DiskSpec, undo: Undo) -> None:
    spec = spec_of(lu, inst)
    lu.feedback(f"* hotplug: taking out disk {disk.index} of {inst.name}")
    await _call(lu, node, spec, "remove", disk=disk)
    undo.push(f"disk {disk.index} back in", lambda: _call(lu, node, spec, "add", disk=disk))
