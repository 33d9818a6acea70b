"""The balancer (hbal): greedy moves that lower the cluster score, grouped into job sets.

Small groups: each round scores every movable instance against every target node for all
of htools' move types at once (`Evaluator`), then applies the best move, as hbal does. Large
groups: a full evaluation ranks the instances by the gain of their best move; each round
re-scores the best-ranked few exactly and applies several node-disjoint moves, each
re-scored exactly against the current state just before it is applied (`_lazy_greedy`).
The search stops when no move gains at least `min_gain` (once the score is below
`min_gain_limit`, as hbal does), or after `max_moves`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from gnt.alloc.evaluate import KINDS, Evaluator, first_min, tie_tolerance
from gnt.alloc.heap import roomy_heap
from gnt.alloc.model import ClusterModel
from gnt.alloc.ops import InstAttrs, movable, relocate
from gnt.alloc.score import NodeState, ScoreState, node_values
from gnt.errors import OpPrereqError

__all__ = ["Move", "Plan", "apply_move", "balance", "format_plan", "job_sets"]

_SMALL = 20_000  # instance x target pairs below which every round applies exactly one move
_CELLS = 25_600  # instance x target pairs scored per numpy pass


@dataclass
class Move:
    """One step of a plan: instance `instance` goes from (old_p, old_s) to (new_p, new_s)."""

    instance: str
    kind: str
    old_p: str
    old_s: str | None
    new_p: str
    new_s: str | None
    score: float

    def actions(self) -> list[str]:
        """htools' short notation: f (failover/migrate), r:NODE (replace secondary)..."""
        return {
            "failover": ["f"],
            "failover_to_any": [f"fa:{self.new_p}"],
            "replace_primary": ["f", f"r:{self.new_p}", "f"],
            "replace_secondary": [f"r:{self.new_s}"],
            "replace_and_failover": [f"r:{self.new_p}", "f"],
            "failover_and_replace": ["f", f"r:{self.new_s}"],
        }[self.kind]

    def commands(self, running: bool = True) -> list[str]:
        """The gnt-instance commands that carry the move out."""
        verb = "migrate" if running else "failover"
        out = []
        for a in self.actions():
            if a == "f":
                out.append(f"gnt-instance {verb} -f {self.instance}")
            elif a.startswith("fa:"):
                out.append(f"gnt-instance {verb} -f -n {a[3:]} {self.instance}")
            else:
                out.append(f"gnt-instance replace-disks -n {a[2:]} {self.instance}")
        return out

    def nodes(self) -> set[str]:
        return {n for n in (self.old_p, self.old_s, self.new_p, self.new_s) if n}


@dataclass
class Plan:
    """A balancing plan: the moves in order and the score before and after."""

    initial_score: float
    final_score: float
    moves: list[Move] = field(default_factory=list)
    group: str = ""
    seconds: float = 0.0

    @property
    def jobsets(self) -> list[list[int]]:
        return job_sets(self.moves)


def job_sets(moves: list[Move]) -> list[list[int]]:
    """Group consecutive moves that share no node, as hbal's -X parallel job sets do."""
    sets: list[list[int]] = []
    used: set[str] = set()
    for i, mv in enumerate(moves):
        if sets and not (mv.nodes() & used):
            sets[-1].append(i)
            used |= mv.nodes()
        else:
            sets.append([i])
            used = set(mv.nodes())
    return sets


def _move_of(m: ClusterModel, idx: int, kind: int, new_p: int, new_s: int, score: float) -> Move:
    inst = m.instances[idx]
    name = m.nodes

    def nm(i: int) -> str | None:
        return name[i].name if i >= 0 else None

    return Move(inst.name, KINDS[kind], name[inst.pnode].name, nm(inst.snode), name[new_p].name, nm(new_s), score)


def apply_move(m: ClusterModel, mv: Move, attrs: InstAttrs | None = None) -> None:
    """Apply a plan step to the model (placement and all derived state)."""
    idx = m.inst_index[mv.instance]
    ns = m.node_index[mv.new_s] if mv.new_s else -1
    relocate(m, attrs or InstAttrs.of(m.instances), idx, m.node_index[mv.new_p], ns)


class _Search:
    """State of one group's greedy search."""

    def __init__(
        self, m: ClusterModel, group: int, kinds: tuple[str, ...], chosen: set[int] | None = None, evac: bool = False
    ) -> None:
        self.m = m
        self.nodes = m.group_nodes(group)
        self.ss = ScoreState(m, self.nodes)
        self.attrs = InstAttrs.of(m.instances)
        self.ev = Evaluator(m, self.ss, self.attrs)
        self.kinds = kinds
        in_group = set(self.nodes.tolist())

        def candidate(i: int, x) -> bool:
            # hbal leaves instances with auto_balance off where they are; --evac-mode moves only those
            # with a node offline or drained; --select/--exclude-instances narrow the set
            if not (movable(x) and x.auto_balance and x.pnode in in_group and (x.snode < 0 or x.snode in in_group)):
                return False
            if evac and not (m.offline[x.pnode] or (x.snode >= 0 and m.offline[x.snode])):
                return False
            return chosen is None or i in chosen

        self.movable = np.array([i for i, x in enumerate(m.instances) if candidate(i, x)], np.int64)
        self.evac = evac
        recv = m.can_receive()
        self.targets = self.nodes[recv[self.nodes]]

    def off_offline(self) -> None:
        """--evac-mode, as hbal each round: an instance whose nodes are all online now stays put."""
        m = self.m
        insts = [(i, m.instances[i]) for i in self.movable]
        keep = [i for i, x in insts if m.offline[x.pnode] or (x.snode >= 0 and m.offline[x.snode])]
        self.movable = np.array(keep, np.int64)

    def evaluate(self, idx: np.ndarray, targets: np.ndarray | None = None):
        tg = self.targets if targets is None else targets
        chunk = max(8, _CELLS // max(len(tg), 1))
        parts = [self.ev.evaluate(idx[i : i + chunk], tg, self.kinds) for i in range(0, len(idx), chunk)]
        cat = {k: np.concatenate([getattr(p, k) for p in parts]) for k in ("score", "kind", "new_p", "new_s")}
        return cat

    def apply(self, idx: int, kind: int, new_p: int, new_s: int) -> Move:
        m = self.m
        inst = m.instances[idx]
        touched = sorted({inst.pnode, inst.snode, new_p, new_s} - {-1})
        before = node_values(NodeState.gather(m, np.array(touched)))
        move = _move_of(m, idx, kind, new_p, new_s, 0.0)
        relocate(m, self.attrs, idx, new_p, new_s)
        after = node_values(NodeState.gather(m, np.array(touched)))
        self.ss.s = self.ss.s + after.sum(axis=1) - before.sum(axis=1)
        self.ss.q = self.ss.q + (after * after).sum(axis=1) - (before * before).sum(axis=1)
        self.ss.map_value = m.location_exclusion(self.nodes)
        self.ss.reduce(self.ev.rows, self.ss.wr)
        self.ev.vals[:, touched] = after
        self.ev.touched(touched)
        for n in touched:
            self.ev.m1[n], self.ev.a1[n], self.ev.m2[n] = _row_top2(m.peers[n])
        move.score = self.ss.score()
        return move


def _row_top2(row: np.ndarray) -> tuple[int, int, int]:
    a = int(np.argmax(row))
    m1 = int(row[a])
    if len(row) < 2:
        return m1, a, 0
    rest = np.delete(row, a)
    return m1, a, int(rest.max())


def _accept(cur: float, new: float, min_gain: float, min_gain_limit: float) -> bool:
    """hbal's test for taking a step: the score must drop (by more than the running sums' rounding
    noise: a move between two equal nodes scores a last bit lower here, exactly the same in hbal),
    and by `min_gain` once below `min_gain_limit`."""
    return new < cur - float(tie_tolerance(cur)) and (cur > min_gain_limit or cur - new >= min_gain)


def balance(
    model: ClusterModel,
    max_moves: int = 1000,
    min_gain: float = 0.01,
    min_gain_limit: float = 0.1,
    group: int | None = None,
    disk_moves: bool = True,
    instance_moves: bool = True,
    time_limit: float | None = None,
    select: list[str] | None = None,
    exclude: list[str] | None = None,
    evac_mode: bool = False,
    restricted_migration: bool = False,
    ignore_soft_errors: bool = False,
) -> Plan:
    """Compute a balancing plan for one node group, applying it to `model` as it goes.

    Pass a copy (`model.copy()`) to keep the original. `group` defaults to the group with
    the most nodes. The returned plan's step scores are the exact scores after each step.
    hbal's options: `select`/`exclude` name the only instances moved / those never moved,
    `evac_mode` moves only instances with a node offline or drained, `restricted_migration`
    refuses replace-primary moves, and the moves that change a node besides failing over
    (replace-and-failover, failover-and-replace) unless the primary is offline or drained;
    `ignore_soft_errors` lets moves break N+1, the VCPU ratio, spindle limits and exclusion tags
    (hard limits, memory and disk, still hold), so a cluster whose nodes all break policy can improve.
    hbal's --exclusion-tags and -U are properties of the model (`ClusterModel.add_exclusion_tags`,
    `gnt.alloc.utilisation`).
    """
    t0 = time.monotonic()
    if group is None:
        group = int(np.bincount(model.group, minlength=1).argmax()) if len(model.nodes) else 0
    kinds = tuple(
        k
        for k in KINDS
        if (disk_moves or k in ("failover", "failover_to_any")) and (instance_moves or k in ("replace_secondary",))
    )
    chosen = _chosen(model, select, exclude)
    s = _Search(model, group, kinds, chosen, evac_mode)
    s.ev.restricted_migration = restricted_migration
    s.ev.ignore_soft_errors = ignore_soft_errors
    plan = Plan(s.ss.score(), s.ss.score(), group=model.groups[group].name if model.groups else "")
    deadline = None if time_limit is None else t0 + time_limit
    gain = (min_gain, min_gain_limit)
    with roomy_heap():
        if s.evac or len(s.movable) * max(len(s.targets), 1) <= _SMALL:
            _exact_greedy(s, plan, max_moves, gain, deadline)
        else:
            _lazy_greedy(s, plan, max_moves, gain, deadline)
    plan.final_score = ScoreState(model, s.nodes).score() if plan.moves else plan.initial_score
    plan.seconds = time.monotonic() - t0
    return plan


def _chosen(m: ClusterModel, select: list[str] | None, exclude: list[str] | None) -> set[int] | None:
    """The instance indices hbal's --select-instances/--exclude-instances leave movable (None: all)."""
    unknown = [n for n in (select or []) + (exclude or []) if n not in m.inst_index]
    if unknown:
        raise OpPrereqError(f"Unknown instance(s): {', '.join(unknown)}", "unknown_entity")
    if not select and not exclude:
        return None
    pool = {m.inst_index[n] for n in select} if select else set(range(len(m.instances)))
    return pool - {m.inst_index[n] for n in exclude or []}


def _exact_greedy(s: _Search, plan: Plan, max_moves: int, gain: tuple[float, float], deadline) -> None:
    """hbal's search: score every candidate, apply the single best move, repeat."""
    while len(plan.moves) < max_moves and len(s.movable):
        if deadline is not None and time.monotonic() > deadline:
            return
        cand = s.evaluate(s.movable)
        pos = int(first_min(cand["score"]))
        sc = float(cand["score"][pos])
        if not np.isfinite(sc) or not _accept(s.ss.score(), sc, *gain):
            return
        plan.moves.append(s.apply(int(s.movable[pos]), int(cand["kind"][pos]), *_nodes(cand, pos)))
        _reanchor(s, len(plan.moves))
        if s.evac:
            s.off_offline()


def _nodes(cand: dict, pos: int) -> tuple[int, int]:
    return int(cand["new_p"][pos]), int(cand["new_s"][pos])


def _reanchor(s: _Search, n_moves: int) -> None:
    if n_moves % 64 == 0:
        s.ss = ScoreState(s.m, s.nodes)  # re-anchor the running sums
        s.ev.ss = s.ss
        s.ev._reduce()


def _lazy_greedy(s: _Search, plan: Plan, max_moves: int, gain: tuple[float, float], deadline) -> None:
    """Greedy with cached candidate gains for large groups.

    A full evaluation ranks all instances by the gain of their best move; each round
    re-scores only the best-ranked few exactly, applies the best of them plus further
    node-disjoint ones (`_apply_batch`), and the ranking is refreshed every `full_every`
    rounds. The search ends only when a fresh full ranking yields no acceptable move.
    """
    full = s.evaluate(s.movable)
    cache, hot = full["score"] - s.ss.score(), _hot_targets(s, full)
    top_n, batch, full_every = 64, max(1, len(s.targets) // 8), 150
    since_full = empty = 0
    while len(plan.moves) < max_moves:
        if deadline is not None and time.monotonic() > deadline:
            return
        order = np.argsort(cache, kind="stable")[:top_n]
        applied = _apply_batch(s, plan, order, hot, batch, max_moves, gain, cache)
        since_full += 1
        empty = 0 if applied else empty + 1
        # Candidates that did not pan out now carry their exact (smaller) gain and sink, so
        # a few empty rounds walk down the ranking before paying for a full evaluation.
        if empty > 6 or since_full >= full_every:
            if applied == 0 and since_full == empty:
                return
            full = s.evaluate(s.movable)
            cache, hot = full["score"] - s.ss.score(), _hot_targets(s, full)
            since_full = empty = 0


def _hot_targets(s: _Search, full: dict, keep: int = 512, minimum: int = 32) -> np.ndarray:
    """Targets worth trying between full evaluations: where the best-ranked moves go.

    Between two full evaluations rounds only score the nodes that the best-ranked
    candidates wanted, plus the emptiest nodes by instance count, which keeps each round
    cheap on large groups; the full evaluation that ends the search uses every target.
    """
    if len(s.targets) <= minimum * 2:
        return s.targets
    order = np.argsort(full["score"], kind="stable")[:keep]
    want = set(full["new_p"][order].tolist()) | set(full["new_s"][order].tolist())
    load = s.m.npri[s.targets] + s.m.nsec[s.targets]
    want |= set(s.targets[np.argsort(load, kind="stable")[:minimum]].tolist())
    return np.array(sorted(want & set(s.targets.tolist())), np.int64)


def _rescore(s: _Search, idx: int, kind: int, new_p: int, new_s: int) -> float:
    """The exact score, in the current state, of one already chosen move."""
    name = KINDS[kind]
    tgt = new_s if name in ("replace_secondary", "failover_and_replace") else new_p
    targets = np.array([], np.int64) if name == "failover" else np.array([tgt], np.int64)
    return float(s.ev.evaluate(np.array([idx]), targets, (name,)).score[0])


def _apply_batch(s, plan, order, hot, batch, max_moves, gain, cache, passes: int = 3) -> int:
    """Apply up to `batch` node-disjoint moves among the candidates `order` (positions in
    `s.movable`), best first.

    The candidates are scored exactly against the `hot` targets; the best is applied if
    acceptable, then further moves that share no node with those already applied, each
    re-scored in the current state just before it is applied. Candidates whose own nodes
    are still free but whose best target was taken get another pass against the targets
    not yet used. `cache` receives each candidate's exact gain.
    """
    used: set[int] = set()
    applied = 0
    cand = np.asarray(order)
    for _ in range(passes):
        tg = hot if not used else hot[~np.isin(hot, list(used))]
        if not len(cand):
            break
        exact = s.evaluate(s.movable[cand], targets=tg)
        cache[cand] = exact["score"] - s.ss.score()
        retry = []
        for j in np.argsort(exact["score"], kind="stable"):
            if applied >= batch or len(plan.moves) >= max_moves:
                return applied
            idx = int(s.movable[cand[j]])
            inst = s.m.instances[idx]
            sc, k, (npn, nsn) = float(exact["score"][j]), int(exact["kind"][j]), _nodes(exact, j)
            if not np.isfinite(sc):
                break
            if {inst.pnode, inst.snode} & used:
                continue
            if applied:
                if {npn, nsn} & used:
                    retry.append(cand[j])
                    continue
                sc = _rescore(s, idx, k, npn, nsn)
            if not _accept(s.ss.score(), sc, *gain):
                if applied == 0:
                    return 0
                continue
            used |= {inst.pnode, inst.snode, npn, nsn} - {-1}
            plan.moves.append(s.apply(idx, k, npn, nsn))
            cache[cand[j]] = 0.0
            applied += 1
            _reanchor(s, len(plan.moves))
        cand = np.array(retry, np.int64)
    return applied


def format_plan(plan: Plan) -> list[str]:
    """hbal-style numbered steps: ``  1. inst old_p:old_s => new_p:new_s  score a=actions``."""
    if not plan.moves:
        return []
    iw = max(len(mv.instance) for mv in plan.moves)

    def pair(p: str, s: str | None) -> str:
        return f"{p}:{s}" if s else p

    nw = max(max(len(pair(mv.old_p, mv.old_s)), len(pair(mv.new_p, mv.new_s))) for mv in plan.moves)
    return [
        f"  {i:3d}. {mv.instance:<{iw}} {pair(mv.old_p, mv.old_s):<{nw}} => "
        f"{pair(mv.new_p, mv.new_s):<{nw}} {mv.score:12.8f} a={' '.join(mv.actions())}"
        for i, mv in enumerate(plan.moves, 1)
    ]
