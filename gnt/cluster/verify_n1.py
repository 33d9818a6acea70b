"""The N+1 memory check of `gnt-cluster verify` and the error codes verify reports.

N+1: for every node, group the instances it is secondary for by their primary node; should that
primary fail, the node must start all of them at once, so their minimum memory (instances with
`auto_balance` only, as Ganeti) must fit in the node's free memory. Pure functions over the config
and the free memory each node reported, so the rule is tested without a cluster.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gnt.instance.common import filled_beparams

__all__ = ["Shortfall", "describe", "n_plus_one_shortfalls"]


@dataclass(frozen=True)
class Shortfall:
    """One node that could not take over the instances of one failed primary."""

    node: str
    failed_primary: str
    needed: int
    available: int


def describe(item: Shortfall) -> str:
    """Ganeti's ENODEN1 message (its spelling of "accomodate" kept, scripts grep for it)."""
    return (
        f"not enough memory to accomodate instance failovers should node {item.failed_primary} fail"
        f" ({item.needed}MiB needed, {item.available}MiB available)"
    )


def n_plus_one_shortfalls(cfg: Any, free_memory: dict[str, int], nodes: set[str] | None = None) -> list[Shortfall]:
    """Every (secondary node, failed primary) pair whose failover would not fit, sorted by node.

    `free_memory` holds the free MiB each node reported; a node missing from it (offline, not
    answering) is not judged. `nodes` limits the check to these secondaries (a node group).
    """
    by_secondary: dict[str, dict[str, int]] = {}
    for inst in cfg.instances.values():
        be = filled_beparams(cfg.cluster, inst)
        if not be.get("auto_balance", True):
            continue
        primary = cfg.node_name(inst.primary_node)
        for sec_uuid in inst.secondary_nodes:
            per_primary = by_secondary.setdefault(cfg.node_name(sec_uuid), {})
            per_primary[primary] = per_primary.get(primary, 0) + int(be["minmem"])
    found = []
    for node, per_primary in sorted(by_secondary.items()):
        if node not in free_memory or (nodes is not None and node not in nodes):
            continue
        for primary, needed in sorted(per_primary.items()):
            if needed > free_memory[node]:
                found.append(Shortfall(node, primary, needed, free_memory[node]))
    return found
