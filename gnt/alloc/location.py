"""Failure domains (htools' location tags): which nodes share a cause of failure, and what it costs.

A cluster tag ``htools:nlocation:PREFIX`` makes every node tag starting with ``PREFIX:`` a location
(``htools:nlocation:rack`` with node tags ``rack:a``, ``rack:b``); ``htools:desiredlocation:PREFIX``
makes instance tags under it locations the instance wants its primary in. The score (Ganeti 2.16+,
doc/design/019-location-and-openapi.md) counts, per instance, the locations its primary and secondary
share plus its unmet desired locations (``location_score``), and, per (location, exclusion tag),
the instances beyond the first whose primaries share that location (``location_exclusion_score``).
The allocator and the balancer minimise both like any other component; this module builds the
per-candidate terms for the allocator and the report `gnt-cluster balance` prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gnt.alloc.model import LOCATION_PREFIX, ClusterModel, classed_tags

__all__ = ["LocationMasks", "LocationReport", "location_masks", "location_report", "shared_locations"]


def _bits(sets: list[frozenset[str]], extra: frozenset[str] = frozenset()) -> tuple[np.ndarray, dict[str, int]]:
    names = sorted({t for s in sets for t in s} | extra)
    index = {t: i for i, t in enumerate(names)}
    return np.array([sum(1 << index[t] for t in s) for s in sets], dtype=object), index


@dataclass
class LocationMasks:
    """The location terms of placing one new instance on candidate nodes `tg`.

    `unmet[i]`: desired locations node i lacks; `shared[i, j]`: locations nodes i and j share
    (the score a DRBD pair with primary i and secondary j adds); `active`: any location at all.
    """

    active: bool
    unmet: np.ndarray
    shared: np.ndarray


def location_masks(m: ClusterModel, tg: np.ndarray, dloc: frozenset[str]) -> LocationMasks:
    """Location terms for the candidates `tg` (Python ints as bit sets: any number of locations)."""
    k = len(tg)
    locs = [m.node_locs[int(n)] for n in tg]
    active = any(locs) or bool(dloc) or any(m.node_locs) or any(m.inst_dloc)
    if not any(locs) and not dloc:
        return LocationMasks(active, np.zeros(k, np.int64), np.zeros((k, k), np.int64))
    masks, index = _bits(locs, dloc)
    want = sum(1 << index[t] for t in dloc)
    if len(index) <= 62:  # one int64 per node: numpy counts the bits of every pair at once
        bits = masks.astype(np.int64)
        unmet = np.bitwise_count(np.int64(want) & ~bits).astype(np.int64)
        shared = np.bitwise_count(bits[:, None] & bits[None, :]).astype(np.int64)
    else:
        unmet = np.array([bin(want & ~int(b)).count("1") for b in masks], np.int64)
        shared = np.array([[bin(int(a) & int(b)).count("1") for b in masks] for a in masks], np.int64)
    return LocationMasks(active, unmet, shared.reshape(k, k))


def shared_locations(cluster_tags: list[str], tags_a: list[str], tags_b: list[str]) -> list[str]:
    """The location tags two nodes (given their tags) share under the cluster's location prefixes."""
    return sorted(classed_tags(cluster_tags, LOCATION_PREFIX, tags_a) & set(tags_b))


@dataclass
class LocationReport:
    """Where a node group stands on failure domains (what `gnt-cluster balance` prints)."""

    location_score: float
    exclusion_score: float
    #: (instance, primary, secondary, shared locations) for mirrored instances in one failure domain
    shared: list[tuple[str, str, str, list[str]]] = field(default_factory=list)
    #: (instance, primary, desired locations its primary lacks)
    unmet: list[tuple[str, str, list[str]]] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"Location score: {self.location_score:g}, location exclusion score: {self.exclusion_score:g}"]
        for name, p, s, locs in self.shared:
            out.append(f"  {name}: primary {p} and secondary {s} share {', '.join(locs)}")
        for name, p, locs in self.unmet:
            out.append(f"  {name}: primary {p} is not in desired location {', '.join(locs)}")
        return out


def location_report(m: ClusterModel, nodes: np.ndarray | None = None) -> LocationReport:
    """The location components over `nodes` (default: all) and the instances behind them."""
    scope = np.arange(len(m.nodes)) if nodes is None else np.asarray(nodes)
    inside = set(scope.tolist())
    online = scope[~m.offline[scope]]
    report = LocationReport(float(m.loc_score[online].sum()), m.location_exclusion(scope))
    for idx, inst in enumerate(m.instances):
        p, s = inst.pnode, inst.snode
        if p not in inside or inst.forthcoming:
            continue
        if s >= 0:
            both = sorted(m.node_locs[p] & m.node_locs[s])
            if both:
                report.shared.append((inst.name, m.nodes[p].name, m.nodes[s].name, both))
        missing = sorted(m.inst_dloc[idx] - m.node_locs[p])
        if missing:
            report.unmet.append((inst.name, m.nodes[p].name, missing))
    return report
