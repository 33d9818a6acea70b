"""Score every candidate move of many instances to many targets in one numpy pass.

For each of htools' move types the new state of the two or three nodes a move touches is
computed with the vectorised primitives of `gnt.alloc.ops`, turned into metric values, and
swapped into the running sums of `ScoreState`: the result is an (instances x targets) score
matrix per move type, with +inf where the move is not allowed.

Exclusion-tag conflicts, location scores and the location-exclusion component (htools'
(location, exclusion tag) map) are all part of the evaluation, so candidates are compared on
the exact score hbal would give them. Migration tags (``htools:migration:``) refuse every move
whose primary would migrate to a node that does not receive the source's migration classes, as
hbal's checkMigration does for each failover in a move.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from gnt.alloc.model import ClusterModel
from gnt.alloc.ops import InstAttrs, add_pri, add_sec, remove_pri, remove_sec, top2
from gnt.alloc.score import MAP_IDX, WEIGHTS, NodeState, ScoreState, node_values
from gnt.alloc.tagcounts import TagCounts

__all__ = ["KINDS", "Evaluator", "first_min", "tie_tolerance"]

#: htools' move types, in the order they are tried.
KINDS = (
    "failover",
    "replace_secondary",
    "replace_and_failover",
    "replace_primary",
    "failover_and_replace",
    "failover_to_any",
)


def tie_tolerance(score: np.ndarray | float) -> np.ndarray | float:
    """How far apart two scores may be and still count as a tie.

    Equal candidates (identical instances, identical nodes) can come out of the vectorised sums a
    last bit apart; hbal keeps the first of equal candidates, so gnt treats scores this close as
    equal and keeps the first too (instances in model order, then targets in node order).
    """
    with np.errstate(invalid="ignore"):
        return np.where(np.isfinite(score), np.abs(score) * 1e-12 + 1e-12, 0.0)


def first_min(scores: np.ndarray, axis: int = -1) -> np.ndarray:
    """The index of the first score that ties with the minimum along `axis` (see `tie_tolerance`)."""
    lo = np.min(scores, axis=axis, keepdims=True)
    return np.argmax(scores <= lo + tie_tolerance(lo), axis=axis)


def reduce_score(m: ClusterModel, ss: ScoreState, has_tags: bool, has_loc: bool) -> np.ndarray:
    """Make `ss` score only the components a placement can change; returns their rows.

    cpu/mem/net load are the same per-node value unless -U data says otherwise; without forthcoming
    instances the *_forth disk, vcpu and spindle values equal the plain ones.
    """
    w = WEIGHTS.copy()
    skip = {MAP_IDX}
    if m.uniform_load():
        skip |= {8, 10}
        w[7] = WEIGHTS[7] + WEIGHTS[8] + WEIGHTS[10]
    if not m.instance_flags()[0]:
        for a, b in ((14, 1), (15, 6), (16, 12)):
            w[b] += WEIGHTS[a]
            skip.add(a)
    if not m.offline[ss.nodes].any():
        skip |= {4, 5}
    if not has_tags:
        skip.add(11)
    if not has_loc:
        skip.add(17)
    rows = np.array([r for r in range(len(WEIGHTS)) if r not in skip])
    ss.reduce(rows, w[rows])
    return rows


def _shaped(st: NodeState, shape: tuple[int, ...]) -> NodeState:
    return NodeState(**{f.name: np.reshape(getattr(st, f.name), shape) for f in fields(st)})


def _adj(st: NodeState, dconf: np.ndarray | int, dloc: np.ndarray | int) -> NodeState:
    return st.replace(conflicts=st.conflicts + dconf, loc_score=st.loc_score + dloc)


@dataclass
class Candidates:
    """Best move per instance: score (inf if none), kind index and new nodes."""

    score: np.ndarray
    kind: np.ndarray
    new_p: np.ndarray
    new_s: np.ndarray


class Evaluator:
    """Scores candidate moves against the model's current state."""

    def __init__(self, model: ClusterModel, score: ScoreState, attrs: InstAttrs) -> None:
        self.m = model
        self.ss = score
        self.attrs = attrs
        self.refresh()
        locs = sorted({t for s in model.node_locs for t in s})
        bit = {t: 1 << i for i, t in enumerate(locs[:62])}
        self.loc_mask = np.array([sum(bit.get(t, 0) for t in s) for s in model.node_locs], np.int64)
        self.dloc_mask = np.array([sum(bit.get(t, 0) for t in s) for s in model.inst_dloc], np.int64)
        self.has_loc = bool(locs) or any(model.inst_dloc)
        self.has_tags = any(model.inst_excl)
        #: hbal's --restricted-migration: no replace-primary; replace-and-failover and failover-and-replace
        #: only for an instance whose primary is offline or drained
        self.restricted_migration = False
        #: hbal's --ignore-soft-errors: no move is refused for N+1, VCPU ratio, spindles or exclusion tags
        self.ignore_soft_errors = False
        self.tagc = TagCounts(model) if self.has_tags else None
        self._reduce()

    def _reduce(self) -> None:
        self.rows = reduce_score(self.m, self.ss, self.has_tags, self.has_loc)

    def refresh(self) -> None:
        """Re-read per-node values and peer maxima after the model changed."""
        self.vals = node_values(NodeState.gather(self.m, slice(None)))
        self.m1, self.a1, self.m2 = top2(self.m.peers)

    def touched(self, nodes: list[int]) -> None:
        """Re-read the tag counters of the nodes a move changed (the rest is the caller's)."""
        if self.tagc is not None:
            self.tagc.sync(nodes)

    # -- helpers --------------------------------------------------------------------------

    def _lscore(self, pri: np.ndarray, sec: np.ndarray, idx: np.ndarray) -> np.ndarray:
        if not self.has_loc:
            return np.zeros(np.broadcast_shapes(np.shape(pri), np.shape(sec), np.shape(idx)), np.int64)
        a, d = self.loc_mask[pri], self.dloc_mask[idx]
        b = np.where(sec >= 0, self.loc_mask[np.maximum(sec, 0)], 0)
        return np.bitwise_count(a & b).astype(np.int64) + np.bitwise_count(d & ~a).astype(np.int64)

    def _tags(self, idx: np.ndarray, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(conflicts added, tag clash) if instances `idx` (column) become primary on `nodes`."""
        shape = np.broadcast_shapes(np.shape(idx), np.shape(nodes))
        if self.tagc is None:
            return np.zeros(shape, np.int64), np.zeros(shape, bool)
        inc = np.broadcast_to(self.tagc.added(idx, nodes), shape)
        return inc, inc > 0

    def _tag_dec(self, idx: np.ndarray, nodes: np.ndarray) -> np.ndarray:
        """Conflicts removed when instances `idx` stop being primary on `nodes`."""
        if self.tagc is None:
            return np.zeros(np.shape(idx), np.int64)
        return self.tagc.removed(idx, nodes)

    def _map_delta(self, idx: np.ndarray, old: np.ndarray, new: np.ndarray) -> np.ndarray | int:
        """Change of the location-exclusion component when instances `idx` (column) move their
        primary from `old` to `new` (broadcast); 0 where they have no exclusion tag (`TagCounts`)."""
        if self.tagc is None or not self.has_loc:
            return 0
        return self.tagc.map_delta(idx, old, new)

    def _score(
        self, olds: list[np.ndarray], news: list[NodeState], bad: np.ndarray, dmap: np.ndarray | int = 0
    ) -> np.ndarray:
        vals = [node_values(s, self.rows) for s in news]
        sc = self.ss.eval(olds, vals) + WEIGHTS[MAP_IDX] * dmap
        return np.where(bad, np.inf, sc)

    # -- the move types -------------------------------------------------------------------

    def evaluate(self, idx: np.ndarray, targets: np.ndarray, kinds: tuple[str, ...] = KINDS) -> Candidates:
        """Best move for each instance in `idx` over `targets` (all in one node group)."""
        m, ni = self.m, len(idx)
        col = (ni, 1)
        pn = np.array([m.instances[i].pnode for i in idx], np.int64)
        sn = np.array([m.instances[i].snode for i in idx], np.int64)
        x = self.attrs.take(idx, col)
        P, S, T = pn.reshape(col), sn.reshape(col), targets.reshape(1, -1)
        I2 = idx.reshape(col)
        drbd = (sn >= 0).reshape(col)
        s_safe = np.where(sn >= 0, sn, pn)
        S2 = s_safe.reshape(col)
        stP = _shaped(NodeState.gather(m, pn), col)
        stS = _shaped(NodeState.gather(m, s_safe), col)
        stT = _shaped(NodeState.gather(m, targets), (1, -1))
        rv = self.vals[self.rows]
        vP, vS = rv[:, pn][:, :, None], rv[:, s_safe][:, :, None]
        vT = rv[:, targets][:, None, :]
        offP, offS = m.offline[pn].reshape(col), m.offline[s_safe].reshape(col)
        # where soft errors refuse a move: hbal forces a step whose old node is offline (or drained),
        # and every step with --ignore-soft-errors
        strict = not self.ignore_soft_errors
        sP, sS = ~offP & strict, ~offS & strict
        # an offline (or drained) secondary is no valid node: hbal then only replaces the secondary
        # or replaces it and fails over (its possibleMoves), never makes the old secondary primary
        need = np.where(x.usm, x.mem, 0)
        rs = np.where(self.a1[S2] == P, np.maximum(self.m2[S2], self.m1[S2] - need), self.m1[S2])
        clash = (T == P) | (T == S)
        old_l = self._lscore(P, np.where(drbd, S, -1), I2)
        dec_p = self._tag_dec(I2, P)
        p_gone = _adj(remove_pri(stP, x), -dec_p, -old_l)
        s_gone = remove_sec(stS, x, rs)
        best = np.full(ni, np.inf)
        kind = np.full(ni, -1, np.int64)
        new_p = pn.copy()
        new_s = sn.copy()

        def consider(k: int, sc: np.ndarray, np_: np.ndarray, ns_: np.ndarray) -> None:
            sc = np.broadcast_to(sc, (ni, sc.shape[1]))
            j = first_min(sc, axis=1)
            v = sc[np.arange(ni), j]
            better = v < best - tie_tolerance(best)
            best[better] = v[better]
            kind[better] = k
            new_p[better] = np.broadcast_to(np_, sc.shape)[np.arange(ni), j][better]
            new_s[better] = np.broadcast_to(ns_, sc.shape)[np.arange(ni), j][better]

        if "failover" in kinds:
            inc, tclash = self._tags(I2, S2)
            a, b1 = add_pri(_adj(s_gone, inc, self._lscore(S2, P, I2)), x, sP)
            pmid = p_gone.replace(conflicts=stP.conflicts - dec_p, loc_score=stP.loc_score - old_l)
            b, b2 = add_sec(pmid, x, m.peers[pn, s_safe].reshape(col), sP)
            bad = b1 | b2 | ~drbd | offS | (tclash & sP) | ~m.migration_ok(P, S2)
            consider(0, self._score([vP, vS], [b, a], bad, self._map_delta(I2, P, S2)), S, P)
        if T.size == 0:
            return Candidates(best, kind, new_p, new_s)
        if "replace_secondary" in kinds:
            pm = m.peers[np.ix_(targets, pn)].T
            t_new, bad = add_sec(stT, x, pm, sS)
            l_new = self._lscore(P, T, I2) - old_l
            pnew = _adj(stP, 0, l_new)
            bad = bad | clash | ~drbd
            consider(1, self._score([vS, vT, vP], [s_gone, t_new, pnew], bad), P, T)
        if "replace_and_failover" in kinds:
            inc, tclash = self._tags(I2, T)
            t_new, b1 = add_pri(_adj(stT, inc, self._lscore(T, P, I2)), x, strict)
            p_new, b2 = add_sec(p_gone, x, m.peers[pn][:, targets], sS)
            bad = b1 | b2 | clash | ~drbd | (tclash & strict) | ~m.migration_ok(P, T)
            if self.restricted_migration:
                bad = bad | ~offP
            dmap = self._map_delta(I2, P, T)
            consider(2, self._score([vP, vS, vT], [p_new, s_gone, t_new], bad, dmap), T, P)
        if "replace_primary" in kinds and not self.restricted_migration:
            inc, tclash = self._tags(I2, T)
            t_new, b1 = add_pri(_adj(stT, inc, self._lscore(T, S, I2)), x, sP)
            _, b0 = add_pri(s_gone, x, sP)
            # the old secondary is the primary for a while (htools' temporary primary): its
            # exclusion tags must admit the instance too, or hbal refuses the move (FailTags)
            _, tclash_s = self._tags(I2, S2)
            s_mid = s_gone.replace(mem_touched=np.ones_like(s_gone.mem_touched))
            s_new, b2 = add_sec(s_mid, x, m.peers[s_safe][:, targets], sP)
            bad = b0 | b1 | b2 | clash | ~drbd | offS | ((tclash | tclash_s) & sP)
            bad = bad | ~(m.migration_ok(P, S2) & m.migration_ok(S2, T))  # both hops are migrations
            dmap = self._map_delta(I2, P, T)
            consider(3, self._score([vP, vS, vT], [p_gone, s_new, t_new], bad, dmap), T, S)
        if "failover_and_replace" in kinds:
            inc, tclash = self._tags(I2, S2)
            s_new, b1 = add_pri(_adj(s_gone, inc, 0), x, sP)
            t_new, b2 = add_sec(stT, x, m.peers[np.ix_(targets, s_safe)].T, sP)
            s_new = _adj(s_new, 0, self._lscore(S2, T, I2))
            bad = b1 | b2 | clash | ~drbd | offS | (tclash & sP) | ~m.migration_ok(P, S2)
            if self.restricted_migration:
                bad = bad | ~offP
            dmap = self._map_delta(I2, P, S2)
            consider(4, self._score([vP, vS, vT], [p_gone, s_new, t_new], bad, dmap), S, T)
        if "failover_to_any" in kinds:
            inc, tclash = self._tags(I2, T)
            t_new, b1 = add_pri(_adj(stT, inc, self._lscore(T, -np.ones_like(T), I2)), x, sP)
            bad = b1 | clash | drbd | (tclash & sP) | ~m.migration_ok(P, T)
            dmap = self._map_delta(I2, P, T)
            consider(5, self._score([vP, vT], [p_gone, t_new], bad, dmap), T, -np.ones_like(T))
        return Candidates(best, kind, new_p, new_s)
