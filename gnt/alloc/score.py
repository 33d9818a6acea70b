"""Ganeti's cluster score, computed from per-node values in arrays.

The score is the weighted sum of htools' metric components (Ganeti 3.0 order and weights,
see doc/design/002-allocation.md). Standard-deviation components are kept as running sums
(count, sum, sum of squares) over the online nodes of the scored set, so the score after a
move that touches two or three nodes costs O(components), and a whole vector (or matrix) of
candidate moves is scored in one numpy expression.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from gnt.alloc.model import ClusterModel

__all__ = ["COMPONENTS", "NodeState", "ScoreState", "cluster_score", "detailed_score", "node_values"]

# (name, weight, kind, online) in the order hinfo prints them; kind: std | sum | map.
COMPONENTS: tuple[tuple[str, float, str, bool], ...] = (
    ("free_mem_cv", 0.5, "std", True),
    ("free_disk_cv", 0.5, "std", True),
    ("n1_cnt", 1.0, "sum", True),
    ("reserved_mem_cv", 1.0, "std", True),
    ("offline_all_cnt", 4.0, "sum", False),
    ("offline_pri_cnt", 16.0, "sum", False),
    ("vcpu_ratio_cv", 0.5, "std", True),
    ("cpu_load_cv", 1.0, "std", True),
    ("mem_load_cv", 1.0, "std", True),
    ("disk_load_cv", 1.0, "std", True),
    ("net_load_cv", 1.0, "std", True),
    ("pri_tags_score", 2.0, "sum", True),
    ("spindles_cv", 0.5, "std", True),
    ("free_mem_cv_forth", 0.5, "std", True),
    ("free_disk_cv_forth", 0.5, "std", True),
    ("vcpu_ratio_cv_forth", 0.5, "std", True),
    ("spindles_cv_forth", 0.5, "std", True),
    ("location_score", 1.0, "sum", True),
    ("location_exclusion_score", 1.0, "map", True),
    ("reserved_mem_rtotal", 0.25, "sum", True),
)
NCOMP = len(COMPONENTS)
WEIGHTS = np.array([c[1] for c in COMPONENTS])
IS_STD = np.array([c[2] == "std" for c in COMPONENTS])
ONLINE = np.array([c[3] for c in COMPONENTS])
MAP_IDX = 18


@dataclass
class NodeState:
    """Per-node quantities the score depends on; fields are arrays that broadcast together."""

    t_mem: np.ndarray
    n_mem: np.ndarray
    x_mem: np.ndarray
    t_dsk: np.ndarray
    t_cpu: np.ndarray
    speed: np.ndarray
    hi_sp: np.ndarray
    t_sp: np.ndarray
    excl: np.ndarray
    offline: np.ndarray
    vcpu_ratio: np.ndarray
    i_mem: np.ndarray
    f_dsk: np.ndarray
    f_sp: np.ndarray
    u_cpu: np.ndarray
    inst_sp: np.ndarray
    npri: np.ndarray
    nsec: np.ndarray
    r_mem: np.ndarray
    mem_touched: np.ndarray
    n1_touched: np.ndarray
    f_mem_f: np.ndarray
    f_dsk_f: np.ndarray
    u_cpu_f: np.ndarray
    inst_sp_f: np.ndarray
    conflicts: np.ndarray
    loc_score: np.ndarray
    l_cpu: np.ndarray
    l_mem: np.ndarray
    l_dsk: np.ndarray
    l_net: np.ndarray

    @classmethod
    def gather(cls, m: ClusterModel, idx: np.ndarray | int | slice) -> NodeState:
        """Read the state of nodes `idx` from the model (copies for fancy indices)."""
        return cls(**{name: getattr(m, attr)[idx] for name, attr in _MODEL_ATTR.items()})

    def replace(self, **kw: np.ndarray) -> NodeState:
        new = object.__new__(NodeState)  # a shallow copy: the fields are arrays never changed in place
        new.__dict__.update(self.__dict__)
        new.__dict__.update(kw)
        return new

    def scatter(self, m: ClusterModel, idx: int) -> None:
        """Write the dynamic fields of this (scalar) state back to node `idx`."""
        for name in _DYNAMIC:
            getattr(m, name)[idx] = getattr(self, name)

    # -- derived quantities ---------------------------------------------------------------

    def unallocated(self) -> np.ndarray:
        """htools' unallocatedMem: free memory by our records, minus unexplained usage."""
        return self.t_mem.astype(np.int64) - self.n_mem - self.i_mem - np.maximum(self.x_mem, 0)

    def fail_n1(self) -> np.ndarray:
        """Whether losing a peer would leave this node short of memory (N+1 failure)."""
        base = self.t_mem.astype(np.int64) - self.n_mem - self.i_mem
        touched = base - np.maximum(self.x_mem, 0) <= self.r_mem
        return np.where(self.n1_touched, touched, base - self.x_mem < self.r_mem)

    def p_dsk(self, free: np.ndarray) -> np.ndarray:
        total = np.where(self.excl, self.t_sp, self.t_dsk).astype(np.float64)
        fr = np.where(self.excl, self.f_sp, free)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(total == 0, 1.0, fr / np.where(total == 0, 1.0, total))


#: The model attribute behind each field (looked up once: gathering runs for every placement scored).
_STATIC = {
    "t_mem": "t_mem",
    "n_mem": "n_mem",
    "x_mem": "x_mem",
    "t_dsk": "t_dsk",
    "t_cpu": "t_cpu",
    "speed": "cpu_speed",
    "hi_sp": "hi_sp",
    "t_sp": "t_sp",
    "excl": "excl",
    "offline": "offline",
    "vcpu_ratio": "vcpu_ratio",
}
_DYNAMIC = tuple(f.name for f in fields(NodeState) if f.name not in _STATIC)
_MODEL_ATTR = {f.name: _STATIC.get(f.name, f.name) for f in fields(NodeState)}


def _div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b == 0, 0.0, a / np.where(b == 0, 1.0, b))


def _value_fns(st: NodeState) -> list:
    """One thunk per component, so callers can compute only the rows they need."""
    t_mem = st.t_mem
    npri = st.npri.astype(np.float64)
    on = ~st.offline

    def pm_free() -> np.ndarray:
        base = t_mem.astype(np.int64) - st.n_mem - st.i_mem
        return _div(base - np.where(st.mem_touched, np.maximum(st.x_mem, 0), st.x_mem), t_mem)

    def nall() -> np.ndarray:
        return npri + st.nsec

    def cpu(u: np.ndarray) -> np.ndarray:
        return _div(u, st.t_cpu * st.speed)

    return [
        pm_free,
        lambda: st.p_dsk(st.f_dsk),
        lambda: np.where(st.fail_n1(), nall(), 0.0),
        lambda: _div(st.r_mem, t_mem),
        lambda: np.where(on, 0.0, nall()),
        lambda: np.where(on, 0.0, npri),
        lambda: cpu(st.u_cpu),
        lambda: st.l_cpu,  # htools divides the loads by the node's utilPool, one unless MonD says otherwise
        lambda: st.l_mem,
        lambda: st.l_dsk,
        lambda: st.l_net,
        lambda: st.conflicts.astype(np.float64),
        lambda: _div(st.inst_sp, st.hi_sp),
        lambda: _div(st.f_mem_f, t_mem),
        lambda: st.p_dsk(st.f_dsk_f),
        lambda: cpu(st.u_cpu_f),
        lambda: _div(st.inst_sp_f, st.hi_sp),
        lambda: st.loc_score.astype(np.float64),
        lambda: np.zeros(np.shape(npri)),
        lambda: _div(st.r_mem, t_mem),
    ]


def node_values(st: NodeState, rows: np.ndarray | None = None) -> np.ndarray:
    """The metric values of each node: shape (len(rows) or NCOMP, *node_shape).

    Online components are zero on offline nodes and the offline counts are zero on online
    ones, so a node's contribution can be swapped in and out of the running sums blindly.
    """
    fns = _value_fns(st)
    idx = range(NCOMP) if rows is None else rows
    out = np.stack(np.broadcast_arrays(*[fns[i]() for i in idx])).astype(np.float64)
    online = ONLINE[np.asarray(list(idx))]
    if online.all():
        return out * ~st.offline if np.any(st.offline) else out
    mask = np.where(online[(slice(None),) + (None,) * (out.ndim - 1)], ~st.offline, st.offline)
    return out * mask


_MERGE = {8: 7, 10: 7, 14: 1, 15: 6, 16: 12}


def _merged_into(r: int) -> int:
    return _MERGE.get(r, r)


class ScoreState:
    """Running sums of the metric components over a set of nodes (usually one group)."""

    def __init__(self, model: ClusterModel, nodes: np.ndarray | None = None) -> None:
        self.nodes = np.arange(len(model.nodes)) if nodes is None else np.asarray(nodes)
        vals = node_values(NodeState.gather(model, self.nodes))
        self.n = float(np.count_nonzero(~model.offline[self.nodes]))
        self.s = vals.sum(axis=1)
        self.q = (vals * vals).sum(axis=1)
        self.map_value = model.location_exclusion(self.nodes)

    def stats(self, s: np.ndarray, q: np.ndarray) -> np.ndarray:
        """Component statistics from sums; `s`/`q` have shape (NCOMP, ...)."""
        n = self.n if self.n > 0 else 1.0
        shape = (slice(None),) + (None,) * (s.ndim - 1)
        mean = s / n
        std = np.sqrt(np.maximum(q / n - mean * mean, 0.0))
        out = np.where(IS_STD[shape], std, s)
        if self.n == 0:
            out = np.where(IS_STD[shape], 0.0, out)
        out[MAP_IDX] = self.map_value
        return out

    def score(self) -> float:
        return float(WEIGHTS @ self.stats(self.s, self.q))

    def delta_sums(self, olds: list[np.ndarray], news: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Sums after replacing the `olds` node values by `news` (all broadcast together)."""
        ds = sum(n - o for n, o in zip(news, olds, strict=True))
        dq = sum(n * n - o * o for n, o in zip(news, olds, strict=True))
        shape = (slice(None),) + (None,) * (np.ndim(ds) - 1)
        return self.s[shape] + ds, self.q[shape] + dq

    def reduce(self, rows: np.ndarray, weights: np.ndarray) -> None:
        """Evaluate only `rows` with merged `weights`; the other components are constant."""
        full = self.stats(self.s, self.q) * WEIGHTS
        rest = np.ones(NCOMP, bool)
        rest[rows] = False
        rest[[r for r in range(NCOMP) if WEIGHTS[r] and r not in rows and _merged_into(r) in rows]] = False
        self.rows, self.wr, self.const = rows, weights, float(full[rest].sum())

    def eval(self, olds: list[np.ndarray], news: list[np.ndarray]) -> np.ndarray:
        """Scores after the replacement, for every broadcast position.

        With a reduction (`reduce`), `olds`/`news` hold only the reduced rows.
        """
        rows = getattr(self, "rows", None)
        ds = sum(n - o for n, o in zip(news, olds, strict=True))
        dq = sum(n * n - o * o for n, o in zip(news, olds, strict=True))
        shape = (slice(None),) + (None,) * (np.ndim(ds) - 1)
        idx = np.arange(NCOMP) if rows is None else rows
        s = self.s[idx][shape] + ds
        q = self.q[idx][shape] + dq
        n = self.n if self.n > 0 else 1.0
        mean = s / n
        std = np.sqrt(np.maximum(q / n - mean * mean, 0.0))
        val = np.where(IS_STD[idx][shape], std, s)
        if rows is None:
            val[MAP_IDX] = self.map_value
            return np.tensordot(WEIGHTS, val, axes=1)
        return np.tensordot(self.wr, val, axes=1) + self.const

    def commit(self, olds: list[np.ndarray], news: list[np.ndarray], map_value: float) -> None:
        self.s, self.q = self.delta_sums(olds, news)
        self.map_value = map_value


def cluster_score(model: ClusterModel, nodes: np.ndarray | None = None) -> float:
    """The htools cluster score of `model` (or of the given node subset)."""
    return ScoreState(model, nodes).score()


def detailed_score(model: ClusterModel, nodes: np.ndarray | None = None) -> list[tuple[str, float, float]]:
    """(component, value, weight) rows as `hinfo` prints them under "Cluster coefficients"."""
    st = ScoreState(model, nodes)
    vals = st.stats(st.s, st.q)
    return [(c[0], float(v), c[1]) for c, v in zip(COMPONENTS, vals, strict=True)]
