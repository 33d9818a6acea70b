"""The instance policy checks of the LUs that place or reshape an instance by hand: `add -n`,
`modify` (-B memory/vcpus, --disk), `migrate` and `failover`. The allocator checks policies on its
own model; these give the same answer with Ganeti's messages, and `--ignore-ipolicy` turns the
refusal into a warning (migrate, failover) or skips it (add, modify), as in Ganeti.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from gnt.errors import ECODE_INVAL, OpPrereqError
from gnt.instance.common import filled_beparams
from gnt.ipolicy import group_policy, instance_violations, spec_violations

if TYPE_CHECKING:
    from gnt.jobs.lu import LogicalUnit

__all__ = ["check_new_instance", "check_reshaped_instance", "check_target_node"]


def _group(lu: LogicalUnit, node: Any) -> Any:
    return lu.cfg.groups.get(node.group)


def _allocation_error(group: Any, found: list[str]) -> OpPrereqError:
    name, uuid = getattr(group, "name", "?"), getattr(group, "uuid", "?")
    message = f"Instance allocation to group {name} ({uuid}) violates policy: {', '.join(found)}"
    return OpPrereqError(message, ECODE_INVAL)


def check_new_instance(
    lu: LogicalUnit,
    node: Any,
    be: dict[str, Any],
    disks: Sequence[int],
    nics: int,
    template: str,
    ignore: bool,
) -> None:
    """`gnt-instance add`: the new instance's specs against its primary node's group policy."""
    if ignore:
        return
    found = spec_violations(
        group_policy(lu.cfg, node.group),
        memory=int(be["maxmem"]),
        cpus=int(be["vcpus"]),
        disks=list(disks),
        nics=nics,
        spindles=int(be.get("spindle_use", 1)),
        template=template,
    )
    if found:
        raise _allocation_error(_group(lu, node), found)


def check_reshaped_instance(
    lu: LogicalUnit, inst: Any, be_changes: dict[str, Any], disks: Sequence[int] | None, ignore: bool
) -> None:
    """`gnt-instance modify`: the instance as it would be after the change, both its maximum and
    its minimum memory (Ganeti checks the two), against its group's policy."""
    if ignore:
        return
    be = {**filled_beparams(lu.cfg.cluster, inst), **be_changes}
    node = lu.cfg.nodes[inst.primary_node]
    policy = group_policy(lu.cfg, node.group)
    sizes = [int(d.size) for d in inst.disks] if disks is None else list(disks)
    found: list[str] = []
    for memory in (int(be["maxmem"]), int(be["minmem"])):
        for item in spec_violations(
            policy,
            memory=memory,
            cpus=int(be["vcpus"]),
            disks=sizes,
            nics=len(inst.nics),
            spindles=int(be.get("spindle_use", 1)),
            template=inst.disk_template,
        ):
            if item not in found:
                found.append(item)
    if found:
        raise _allocation_error(_group(lu, node), found)


def check_target_node(lu: LogicalUnit, inst: Any, target: Any, ignore: bool) -> None:
    """`migrate` / `failover`: the instance against the policy of the target node's group."""
    be = filled_beparams(lu.cfg.cluster, inst)
    found = instance_violations(group_policy(lu.cfg, target.group), be, inst)
    if not found:
        return
    group = _group(lu, target)
    message = (
        f"Instance {inst.name} does not meet target node group's ({getattr(group, 'name', '?')}) instance"
        f" policy: {', '.join(found)}"
    )
    if ignore:
        lu.warning(message)
        return
    raise OpPrereqError(message, ECODE_INVAL)
