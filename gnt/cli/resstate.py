"""`--hypervisor-state` and `--disk-state`, the static resource state options of gnt-cluster init and
modify, gnt-node add and modify and gnt-group add and modify (gnt.resstate says what they mean).

One declaration for the six commands, so their syntax and help cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from gnt.cli.common import parse_disk_state, parse_hv_state

__all__ = ["state_fields", "state_info", "state_options"]

F = TypeVar("F", bound=Callable[..., Any])

_HV_HELP = (
    "hypervisor:key=value,...: static hypervisor state (mem_total, mem_node, mem_hv in MiB; cpu_total, cpu_node"
    " in cores) the allocator uses over the live values; key=default drops one (repeatable)"
)
_DISK_HELP = (
    "plain/VG:key=value,...: static disk state of a volume group (disk_total, disk_reserved, disk_overhead in"
    " MiB); key=default drops one (repeatable)"
)


def state_options(func: F) -> F:
    """Add the two options (values into `hv_state` and `disk_state`)."""
    func = click.option("--disk-state", "disk_state", multiple=True, metavar="DISKSTATE", help=_DISK_HELP)(func)
    return click.option("--hypervisor-state", "hv_state", multiple=True, metavar="HVSTATE", help=_HV_HELP)(func)


def state_fields(opts: dict[str, Any]) -> dict[str, Any]:
    """The opcode fields the options give: only those given, parsed (one-line errors on bad syntax)."""
    fields: dict[str, Any] = {}
    if opts.get("hv_state"):
        fields["hv_state"] = parse_hv_state(opts["hv_state"])
    if opts.get("disk_state"):
        fields["disk_state"] = parse_disk_state(opts["disk_state"])
    return fields


def state_info(hv_state: dict[str, Any] | None, disk_state: dict[str, Any] | None) -> dict[str, Any]:
    """The `info` lines of a static state: "Hypervisor state" per hypervisor, "Disk state" per
    `type/name`; nothing when none is set, so `info` of a cluster without one reads as Ganeti's."""
    lines: dict[str, Any] = {}
    if hv_state:
        lines["Hypervisor state"] = {hv: dict(sorted(p.items())) for hv, p in sorted(hv_state.items())}
    if disk_state:
        lines["Disk state"] = {
            f"{kind}/{name}": dict(sorted(p.items()))
            for kind, units in sorted(disk_state.items())
            for name, p in sorted(units.items())
        }
    return lines
