"""The allocator (hail): place new instances and move existing ones to good nodes.

Placement picks, among the nodes of a group that may receive instances, the node (or the
primary/secondary pair for DRBD) that gives the lowest cluster score, subject to htools'
checks: memory, disk, N+1 redundancy, VCPU ratio, spindles, exclusion tags, the group's
instance policy. All candidate pairs are scored in one numpy pass (see `gnt.alloc.ops`).
Groups are tried in allocation-policy order (preferred, then last_resort); the best score
in the best policy class wins, as in hail.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from gnt.alloc.evaluate import Evaluator, reduce_score
from gnt.alloc.location import location_masks
from gnt.alloc.model import EXT_MIRRORED, ClusterModel, Instance
from gnt.alloc.ops import InstAttrs, add_instance, add_pri, add_sec, place, relocate, unplace
from gnt.alloc.score import MAP_IDX, WEIGHTS, NodeState, ScoreState, node_values
from gnt.errors import OpPrereqError

__all__ = [
    "Placement",
    "allocate",
    "allocate_secondary",
    "change_group",
    "evacuate",
    "multi_allocate",
    "relocate_secondary",
]

_POLICY_RANK = {"preferred": 0, "last_resort": 1}


@dataclass
class Placement:
    """Where an instance goes: node indices, the group and the resulting group score."""

    pnode: int
    snode: int
    group: int
    score: float
    nodes: list[str] = field(default_factory=list)


def _fail_reasons(st: NodeState, new: NodeState, x: InstAttrs) -> Counter[str]:
    """Why primaries were refused, in htools' failure-mode names (for messages and hspace)."""
    c: Counter[str] = Counter()
    with np.errstate(divide="ignore", invalid="ignore"):
        mem = (new.unallocated() <= 0) | ((new.unallocated() <= st.r_mem) & ~st.fail_n1())
        dsk = x.local & ((new.f_dsk <= 0) | (new.inst_sp > st.hi_sp))
        cpu = st.vcpu_ratio < new.u_cpu / st.t_cpu
    c["FailMem"] = int(np.count_nonzero(mem))
    c["FailDisk"] = int(np.count_nonzero(dsk & ~mem))
    c["FailCPU"] = int(np.count_nonzero(cpu & ~mem & ~dsk))
    return c


def _hard_fail_reasons(st: NodeState, new: NodeState, x: InstAttrs) -> Counter[str]:
    """`_fail_reasons` with the soft constraints left out (--ignore-soft-errors): memory and disk only."""
    c: Counter[str] = Counter()
    mem = new.unallocated() <= 0
    c["FailMem"] = int(np.count_nonzero(mem))
    c["FailDisk"] = int(np.count_nonzero(x.local & (new.f_dsk <= 0) & ~mem))
    return c


def _tag_clash(m: ClusterModel, tags: tuple[str, ...], nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if not tags:
        return np.zeros(len(nodes), np.int64), np.zeros(len(nodes), bool)
    inc = np.array([sum(1 for t in tags if m.ptags[n].get(t, 0) > 0) for n in nodes], np.int64)
    return inc, inc > 0


def pair_scores(
    m: ClusterModel,
    inst: Instance,
    x: InstAttrs,
    group: int,
    exclude: set[int],
    reasons: Counter[str],
    migrate_from: int = -1,
    strict: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Target nodes and the score of placing `inst` on each (vector) or pair (matrix).

    Disallowed placements score +inf; `reasons` collects why primaries were refused. An existing
    instance that gets there by migrating from node `migrate_from` may only take primaries that
    node's migration tags allow (htools' FailMig). Without `strict` (hail's --ignore-soft-errors)
    the soft constraints refuse nothing: N+1, the VCPU ratio, spindle limits and exclusion tags
    still weigh in the score, only memory, disk and the policy's specs are hard.
    """
    pol = m.groups[group].policy if m.groups else m.ipolicy
    disks = inst.disks or ([inst.dsk] if inst.template != "diskless" else [])
    why = pol.spec_ok(inst.mem, inst.vcpus, disks, inst.spindle_use, inst.template)
    nodes = m.group_nodes(group)
    tg = nodes[m.can_receive()[nodes] & ~np.isin(nodes, list(exclude))]
    if why or len(tg) == 0:
        reasons[why or "no usable nodes"] += 1
        return tg, np.full((len(tg), len(tg)) if inst.has_secondary else len(tg), np.inf)
    excl, dloc = m._excl_tags(inst), m._dloc_tags(inst)
    st = NodeState.gather(m, tg)
    # the primary checks first (memory, disk, CPU, N+1: tags and locations do not enter them): when no
    # node can be the primary, every placement is refused and nothing needs scoring (the capacity
    # planner's last attempts, and each size tiered allocation shrinks through, are mostly that)
    p_try, bad_p = add_pri(st, x, strict)
    reasons.update(_fail_reasons(st, p_try, x) if strict else _hard_fail_reasons(st, p_try, x))
    if migrate_from >= 0:
        no_mig = ~m.migration_ok(migrate_from, tg)
        reasons["FailMig"] += int(np.count_nonzero(no_mig & ~bad_p))
        bad_p = bad_p | no_mig
    inc, clash = _tag_clash(m, excl, tg)
    refused = bad_p | (clash & strict)
    if strict and clash.any():  # htools' FailTags: named, so the admin sees a soft error refused them
        reasons["FailTags"] += int(np.count_nonzero(clash & ~bad_p))
    if refused.all():
        return tg, np.full((len(tg), len(tg)) if inst.has_secondary else len(tg), np.inf)
    ss = ScoreState(m, nodes)
    loc = location_masks(m, tg, dloc)
    rows = reduce_score(m, ss, m.instance_flags()[1] or bool(excl), loc.active)
    vals = node_values(st, rows)
    # the new instance's own location score on its primary: unmet desired locations (and, for a
    # pair, the failure domains primary and secondary share: added per pair below), as hail's
    p_only = p_try.replace(conflicts=st.conflicts + inc, loc_score=st.loc_score + loc.unmet)
    dmap = WEIGHTS[MAP_IDX] * _map_gain(m, excl, tg)
    if not inst.has_secondary:
        return tg, np.where(refused, np.inf, ss.eval([vals], [node_values(p_only, rows)]) + dmap)
    return tg, _pair_matrix(m, ss, rows, st, vals, p_only, x, tg, refused, loc.shared, dmap, strict)


def _pair_matrix(
    m: ClusterModel,
    ss: ScoreState,
    rows: np.ndarray,
    st: NodeState,
    vals: np.ndarray,
    p_only: NodeState,
    x: InstAttrs,
    tg: np.ndarray,
    refused: np.ndarray,
    shared: np.ndarray,
    dmap: np.ndarray,
    strict: bool = True,
) -> np.ndarray:
    """Scores of every (primary, secondary) pair of `tg`; +inf where refused.

    Only the rows of primaries that passed their checks are scored (the others are refused whatever
    the secondary): late in a capacity run most nodes are full, so this is most of the matrix.
    """
    k = len(tg)
    sc = np.full((k, k), np.inf)
    ok = np.flatnonzero(~refused)
    row = NodeState(**{f: np.reshape(v, (1, k)) for f, v in vars(st).items()})
    p_new = NodeState(**{f: np.reshape(v[ok], (len(ok), 1)) for f, v in vars(p_only).items()})
    p_new = p_new.replace(loc_score=p_new.loc_score + shared[ok])
    s_new, bad_s = add_sec(row, x, m.peers[np.ix_(tg, tg[ok])].T, strict)
    bad = bad_s | (tg[ok][:, None] == tg[None, :])
    got = ss.eval([vals[:, ok, None], vals[:, None, :]], [node_values(p_new, rows), node_values(s_new, rows)])
    sc[ok] = np.where(bad, np.inf, got + dmap[ok][:, None])
    return sc


def _map_gain(m: ClusterModel, excl: tuple[str, ...], nodes: np.ndarray) -> np.ndarray:
    """How much the location-exclusion component grows if the instance becomes primary on each node."""
    if not excl:
        return np.zeros(len(nodes))
    return np.array([sum(1 for k in m.map_keys(int(n), excl) if m.inst_map.get(k, 0) >= 1) for n in nodes], float)


def _in_group(
    m: ClusterModel,
    inst: Instance,
    x: InstAttrs,
    group: int,
    exclude: set[int],
    reasons: Counter[str],
    migrate_from: int = -1,
    strict: bool = True,
) -> Placement | None:
    """The best placement of `inst` within one group, or None (reasons accumulated)."""
    tg, sc = pair_scores(m, inst, x, group, exclude, reasons, migrate_from, strict)
    if sc.size == 0:
        return None
    j = np.unravel_index(int(np.argmin(_distinct_domains_first(m, tg, sc))), sc.shape)
    if not np.isfinite(sc[j]):
        return None
    snode = int(tg[j[1]]) if sc.ndim == 2 else -1
    return Placement(int(tg[j[0]]), snode, group, float(sc[j]))


def _distinct_domains_first(m: ClusterModel, tg: np.ndarray, sc: np.ndarray) -> np.ndarray:
    """The pair scores with every pair refused that shares more failure domains than it must.

    hail only adds the shared locations to the score, so a lopsided cluster can still make it
    put both halves of a mirror in one rack; like a rack-aware replica placement, gnt's allocator
    takes a pair in distinct locations whenever one fits, and the score decides among those.
    """
    if sc.ndim != 2 or not any(m.node_locs[int(n)] for n in tg):
        return sc
    shared = location_masks(m, tg, frozenset()).shared
    ok = np.isfinite(sc)
    if not ok.any():
        return sc
    return np.where(ok & (shared == shared[ok].min()), sc, np.inf)


def _candidate_groups(m: ClusterModel, group: str | None) -> list[int]:
    if group is not None:
        for i, g in enumerate(m.groups):
            if group in (g.name, g.uuid):
                return [i]
        raise OpPrereqError(f"unknown node group {group!r}", "unknown_entity")
    gs = [i for i, g in enumerate(m.groups) if g.alloc_policy in _POLICY_RANK]
    return sorted(gs, key=lambda i: _POLICY_RANK[m.groups[i].alloc_policy]) or [0]


def _missing_networks(m: ClusterModel, inst: Instance, group: int) -> list[str]:
    """The networks the instance's NICs name that group `group` is not connected to."""
    if not inst.networks or not m.groups:
        return []
    have = set(m.groups[group].networks)
    return sorted({n for n in inst.networks if n not in have})


def find_placement(
    m: ClusterModel,
    inst: Instance,
    group: str | None = None,
    exclude: set[int] | None = None,
    migrate_from: int = -1,
    strict: bool = True,
) -> tuple[Placement | None, Counter[str]]:
    """Best placement over the candidate groups (no change to the model); `migrate_from` and
    `strict`: see `pair_scores`."""
    x = InstAttrs.of([inst])
    x = x.take(0)
    reasons: Counter[str] = Counter()
    best: Placement | None = None
    best_rank = None
    for g in _candidate_groups(m, group):
        missing = _missing_networks(m, inst, g)
        if missing:  # hail's filterValidGroups: a NIC's network must be connected to the group
            reasons[f"group {m.groups[g].name} is not connected to network {', '.join(missing)}"] += 1
            continue
        rank = _POLICY_RANK.get(m.groups[g].alloc_policy, 2) if m.groups else 0
        if best is not None and best_rank is not None and rank > best_rank:
            break
        p = _in_group(m, inst, x, g, exclude or set(), reasons, migrate_from, strict)
        if p is not None and (best is None or p.score < best.score):
            best, best_rank = p, rank
    if best is not None:
        best.nodes = [m.nodes[best.pnode].name] + ([m.nodes[best.snode].name] if best.snode >= 0 else [])
    return best, reasons


def _describe(reasons: Counter[str]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in reasons.most_common()) or "no candidate nodes"


def allocate(model: ClusterModel, inst: Instance, group: str | None = None, commit: bool = True) -> Placement:
    """Place a new instance (its pnode/snode are ignored) and, if `commit`, add it to the model.

    Raises OpPrereqError(insufficient_resources) when no node (pair) can take it.
    """
    best, reasons = find_placement(model, inst, group)
    if best is None:
        raise OpPrereqError(
            f"cannot allocate instance {inst.name}: no node (pair) can host it ({_describe(reasons)})",
            "insufficient_resources",
        )
    if commit:
        idx = add_instance(model, inst)
        place(model, idx, best.pnode, best.snode)
    return best


def multi_allocate(
    model: ClusterModel, insts: list[Instance], group: str | None = None
) -> tuple[list[tuple[str, list[str]]], list[str]]:
    """Allocate several instances in order; returns (allocated [(name, nodes)], failed names)."""
    done: list[tuple[str, list[str]]] = []
    failed: list[str] = []
    for inst in insts:
        try:
            done.append((inst.name, allocate(model, inst, group).nodes))
        except OpPrereqError:
            failed.append(inst.name)
    return done, failed


def relocate_secondary(model: ClusterModel, name: str, relocate_from: list[str]) -> str:
    """Choose a new secondary for a DRBD instance (iallocator 'relocate'); applies it."""
    idx = model.inst_index.get(name)
    if idx is None:
        raise OpPrereqError(f"unknown instance {name!r}", "unknown_entity")
    inst = model.instances[idx]
    if not inst.has_secondary:
        raise OpPrereqError(f"instance {name} is not DRBD-mirrored; cannot relocate", "wrong_input")
    excl = {model.node_index[n] for n in relocate_from if n in model.node_index}
    nodes = model.group_nodes(model.instance_group(idx))
    tg = nodes[model.can_receive()[nodes] & ~np.isin(nodes, list(excl | {inst.pnode, inst.snode}))]
    attrs = InstAttrs.of(model.instances)
    ev = Evaluator(model, ScoreState(model, nodes), attrs)
    c = ev.evaluate(np.array([idx]), tg, ("replace_secondary",))
    if not np.isfinite(c.score[0]):
        raise OpPrereqError(f"no valid new secondary for instance {name}", "insufficient_resources")
    new_s = int(c.new_s[0])
    relocate(model, attrs, idx, inst.pnode, new_s)
    return model.nodes[new_s].name


def allocate_secondary(model: ClusterModel, name: str) -> str:
    """A secondary for a plain instance about to become drbd (iallocator 'allocate-secondary'):
    the node of its primary's group that, as the mirror's other half, gives the lowest score with
    the primary kept where it is. The model is left as it was."""
    idx = model.inst_index.get(name)
    if idx is None:
        raise OpPrereqError(f"unknown instance {name!r}", "unknown_entity")
    inst = model.instances[idx]
    if inst.template != "plain":
        raise OpPrereqError(
            f"instance {name} has disk template {inst.template}; only plain instances get a secondary", "wrong_input"
        )
    pnode, group = inst.pnode, model.instance_group(idx)
    mirrored = Instance(**{**vars(inst), "template": "drbd", "snode": -1})
    reasons: Counter[str] = Counter()
    unplace(model, idx)
    try:
        tg, sc = pair_scores(model, mirrored, InstAttrs.of([mirrored]).take(0), group, set(), reasons)
        rows = np.flatnonzero(tg == pnode)
        row = _distinct_domains_first(model, tg, sc)[rows[0]] if sc.ndim == 2 and len(rows) else np.array([])
    finally:
        place(model, idx, pnode, -1)
    if row.size == 0 or not np.isfinite(row).any():
        why = f" ({_describe(reasons)})" if reasons else ""
        raise OpPrereqError(f"no valid secondary node for instance {name}{why}", "insufficient_resources")
    return model.nodes[int(tg[int(np.argmin(row))])].name


def _ops_for(name: str, old: tuple[int, int], new: tuple[int, int], m: ClusterModel, running: bool) -> list[dict]:
    """Opcodes (as Ganeti's evacuation results carry them) that move an instance."""

    def nm(i: int) -> str:
        return m.nodes[i].name

    mig = {"OP_ID": "OP_INSTANCE_MIGRATE" if running else "OP_INSTANCE_FAILOVER", "instance_name": name}
    rep = {"OP_ID": "OP_INSTANCE_REPLACE_DISKS", "instance_name": name, "mode": "replace_new_secondary"}
    (op, os_), (np_, ns) = old, new
    if ns < 0:
        return [{**mig, "target_node": nm(np_)}] if np_ != op else []
    if np_ == op:
        return [{**rep, "remote_node": nm(ns)}] if ns != os_ else []
    if np_ == os_ and ns == op:
        return [dict(mig)]
    if np_ == os_:
        return [dict(mig), {**rep, "remote_node": nm(ns)}]
    ops = [{**rep, "remote_node": nm(np_)}, dict(mig)]
    if ns != op:
        ops.append({**rep, "remote_node": nm(ns)})
    return ops


def _evac_one(m: ClusterModel, idx: int, mode: str, excl: set[int], strict: bool = True) -> tuple[int, int]:
    """New (primary, secondary) for one evacuated instance; raises if there is none. Without
    `strict` the soft constraints refuse no target (see `pair_scores`)."""
    inst = m.instances[idx]
    nodes = m.group_nodes(m.instance_group(idx))
    tg = nodes[m.can_receive()[nodes] & ~np.isin(nodes, list(excl))]
    drbd, ext = inst.has_secondary, inst.template in EXT_MIRRORED
    if mode == "secondary-only" and not drbd:
        raise OpPrereqError(f"instance {inst.name} has no secondary node", "wrong_input")
    if not (drbd or ext):
        raise OpPrereqError(f"instance {inst.name} ({inst.template}) cannot be moved", "wrong_input")
    if mode == "all" and drbd:
        old = (inst.pnode, inst.snode)
        src = _migration_source(m, inst)
        unplace(m, idx)
        best, reasons = find_placement(m, inst, m.groups[m.instance_group(idx)].uuid, excl, src, strict)
        place(m, idx, *old)
        if best is None:
            raise OpPrereqError(f"no nodes for {inst.name}: {_describe(reasons)}", "insufficient_resources")
        return best.pnode, best.snode
    kinds = {"primary-only": ("failover",), "secondary-only": ("replace_secondary",)}.get(mode, ())
    if ext:
        kinds = ("failover_to_any",)
    ev = Evaluator(m, ScoreState(m, nodes), InstAttrs.of(m.instances))
    ev.ignore_soft_errors = not strict
    c = ev.evaluate(np.array([idx]), tg, kinds)
    if not np.isfinite(c.score[0]):
        raise OpPrereqError(f"no valid move for instance {inst.name}", "insufficient_resources")
    return int(c.new_p[0]), int(c.new_s[0])


def evacuate(
    model: ClusterModel, names: list[str], mode: str, ignore_soft_errors: bool = False
) -> tuple[list, list, list]:
    """Node evacuation (iallocator 'node-evacuate'): returns (moved, failed, jobs).

    `mode` is primary-only, secondary-only or all; the nodes of all listed instances are
    excluded as targets, as htools does. Successful moves are applied to the model.
    `ignore_soft_errors` is hail's --ignore-soft-errors: a target that breaks only soft
    constraints (N+1, VCPU ratio, spindles, exclusion tags) is taken when nothing better fits.
    """
    if mode not in ("primary-only", "secondary-only", "all"):
        raise OpPrereqError(f"unknown evacuation mode {mode!r}", "wrong_input")
    idxs = [_inst(model, n) for n in names]
    excl = {n for i in idxs for n in (model.instances[i].pnode, model.instances[i].snode) if n >= 0}
    return _move_all(model, idxs, lambda i: _evac_one(model, i, mode, excl, not ignore_soft_errors))


def change_group(
    model: ClusterModel, names: list[str], target_groups: list[str] | None = None
) -> tuple[list, list, list]:
    """Move instances to other node groups (iallocator 'change-group'): (moved, failed, jobs)."""
    idxs = [_inst(model, n) for n in names]

    def one(i: int) -> tuple[int, int]:
        inst = model.instances[i]
        cur = model.instance_group(i)
        cands = [g.uuid for k, g in enumerate(model.groups) if k != cur]
        if target_groups:
            cands = [g for g in cands if g in target_groups or _gname(model, g) in target_groups]
        if inst.template not in EXT_MIRRORED and not inst.has_secondary:
            raise OpPrereqError(f"instance {inst.name} ({inst.template}) cannot change group", "wrong_input")
        old = (inst.pnode, inst.snode)
        src = _migration_source(model, inst)
        unplace(model, i)
        found = [find_placement(model, inst, g, migrate_from=src)[0] for g in cands]
        place(model, i, *old)
        found = [f for f in found if f is not None]
        if not found:
            raise OpPrereqError(f"no target group can host {inst.name}", "insufficient_resources")
        best = min(found, key=lambda f: f.score)
        return best.pnode, best.snode

    return _move_all(model, idxs, one)


def _migration_source(m: ClusterModel, inst: Instance) -> int:
    """The node an instance migrates from when it moves to a new primary (hail's node evacuation
    and change-group: a DRBD instance whose primary is offline first fails over to its secondary,
    then migrates from there). Raises when even that first failover breaks the migration tags."""
    if inst.has_secondary and m.offline[inst.pnode]:
        if not m.migration_ok(inst.pnode, inst.snode):
            raise OpPrereqError(
                f"instance {inst.name} cannot fail over from {m.nodes[inst.pnode].name} to"
                f" {m.nodes[inst.snode].name}: their migration tags do not allow it (FailMig)",
                "insufficient_resources",
            )
        return inst.snode
    return inst.pnode


def _gname(m: ClusterModel, uuid: str) -> str:
    return next(g.name for g in m.groups if g.uuid == uuid)


def _inst(m: ClusterModel, name: str) -> int:
    if name not in m.inst_index:
        raise OpPrereqError(f"unknown instance {name!r}", "unknown_entity")
    return m.inst_index[name]


def _move_all(m: ClusterModel, idxs: list[int], choose) -> tuple[list, list, list]:
    moved, failed, jobs = [], [], []
    for i in idxs:
        inst = m.instances[i]
        try:
            np_, ns = choose(i)
        except OpPrereqError as err:
            failed.append([inst.name, err.message])
            continue
        old = (inst.pnode, inst.snode)
        unplace(m, i)
        place(m, i, np_, ns)
        new_nodes = [m.nodes[np_].name] + ([m.nodes[ns].name] if ns >= 0 else [])
        gname = m.groups[int(m.group[np_])].name if m.groups else ""
        moved.append([inst.name, gname, new_nodes])
        jobs.append(_ops_for(inst.name, old, (np_, ns), m, inst.running))
    return moved, failed, jobs
