"""Exclusion-tag counters as dense arrays, so candidate moves score their tag terms in numpy.

The model keeps htools' bookkeeping as Python counters: per node, how many of its primaries carry
each exclusion tag (`ptags`), and per (group, location, tag) key how many primaries share it
(`inst_map`, the location-exclusion map). Scoring every instance x target cell of a move type
against those counters one cell at a time cost the balancer most of its time on tagged clusters
(bench/results/alloc_tagged.json). `TagCounts` mirrors them as two integer matrices, node x tag
and location key x tag, plus each instance's tags and each node's keys as padded index rows; the
padding points at an all-zero row/column, so it never counts. The balancer re-syncs only the nodes
a move touched.
"""

from __future__ import annotations

import numpy as np

from gnt.alloc.model import ClusterModel

__all__ = ["TagCounts"]


def _padded(rows: list[list[int]], pad: int) -> np.ndarray:
    width = max((len(r) for r in rows), default=0)
    out = np.full((len(rows), max(width, 1)), pad, np.int64)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out


class TagCounts:
    """Dense mirror of the model's exclusion-tag counters (see the module docstring)."""

    def __init__(self, m: ClusterModel) -> None:
        self.m = m
        vocab = sorted({t for tags in m.inst_excl for t in tags})
        self.col = {t: i for i, t in enumerate(vocab)}
        pad_tag = len(vocab)
        #: instance -> its exclusion tags as columns (padding: the always-zero column)
        self.itags = _padded([[self.col[t] for t in tags] for tags in m.inst_excl], pad_tag)
        keys = sorted({(int(m.group[n]), loc) for n in range(len(m.nodes)) for loc in m.node_locs[n]})
        self.key_id = {k: i for i, k in enumerate(keys)}
        pad_key = len(keys)
        # offline primaries add no key (htools scores the online nodes only): their rows are padding
        rows = [
            [] if m.offline[n] else [self.key_id[(int(m.group[n]), loc)] for loc in sorted(m.node_locs[n])]
            for n in range(len(m.nodes))
        ]
        #: node -> the location keys its primaries add (padding: the always-zero row)
        self.nkeys = _padded(rows, pad_key)
        self.count = np.zeros((len(m.nodes), pad_tag + 1), np.int64)
        self.keyed = np.zeros((pad_key + 1, pad_tag + 1), np.int64)
        self.keys = keys
        self.sync(range(len(m.nodes)))

    def sync(self, nodes) -> None:
        """Re-read the counters of `nodes` (and of their location keys) from the model."""
        m = self.m
        touched_keys: set[int] = set()
        for n in nodes:
            row = self.count[n]
            row[:] = 0
            for t, c in m.ptags[n].items():
                row[self.col[t]] = c
            touched_keys.update(int(k) for k in self.nkeys[n] if k < len(self.keys))
        for k in touched_keys:
            g, loc = self.keys[k]
            row = self.keyed[k]
            row[:] = 0
            for t, c in self.col.items():
                row[c] = m.inst_map.get((g, loc, t), 0)

    def added(self, idx: np.ndarray, nodes: np.ndarray) -> np.ndarray:
        """Per broadcast cell: how many of instance `idx`'s tags node `nodes` already has on a primary
        (the conflicts it adds, and a clash if any)."""
        return (self.count[np.asarray(nodes)[..., None], self.itags[np.asarray(idx)]] > 0).sum(-1)

    def removed(self, idx: np.ndarray, nodes: np.ndarray) -> np.ndarray:
        """Per broadcast cell: the conflicts instance `idx` takes away when it leaves node `nodes`."""
        return (self.count[np.asarray(nodes)[..., None], self.itags[np.asarray(idx)]] > 1).sum(-1)

    def map_delta(self, idx: np.ndarray, old: np.ndarray, new: np.ndarray) -> np.ndarray:
        """Change of the location-exclusion component when instances `idx` move their primary from
        `old` to `new` (all broadcast): joining a key someone holds +1 per tag, leaving a key held by
        two or more -1 per tag; keys both nodes have do not change."""
        ii, oo, nn = np.broadcast_arrays(np.asarray(idx), np.asarray(old), np.asarray(new))
        tags = self.itags[ii][..., None, :]  # cell x 1 x tag
        ko, kn = self.nkeys[oo], self.nkeys[nn]  # cell x key
        new_only = ~(kn[..., :, None] == ko[..., None, :]).any(-1)
        old_only = ~(ko[..., :, None] == kn[..., None, :]).any(-1)
        gain = (self.keyed[kn[..., :, None], tags] >= 1) & new_only[..., None]
        loss = (self.keyed[ko[..., :, None], tags] >= 2) & old_only[..., None]
        return gain.sum((-1, -2)) - loss.sum((-1, -2))
