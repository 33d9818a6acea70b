"""The dense exclusion-tag counters the balancer scores with equal the model's own bookkeeping:
the location-exclusion change of a primary move is the change of the component after the move."""

from __future__ import annotations

import numpy as np
import pytest

from gnt.alloc import generate_cluster
from gnt.alloc.ops import InstAttrs, relocate
from gnt.alloc.tagcounts import TagCounts


def _tagged(seed: int):
    """Nodes in one or two failure domains (rack and pdu), one offline; instances with 0-2 tags."""
    m = generate_cluster(7, seed=seed, per_node=(3, 5))
    rng = np.random.default_rng(seed)
    for i, node in enumerate(m.nodes):
        node.tags = [f"rack:r{i % 3}"] + ([f"pdu:p{i % 2}"] if i % 3 else [])
    m.nodes[5].offline = True
    for inst in m.instances:
        inst.tags = [f"svc:s{k}" for k in rng.choice(4, size=int(rng.integers(0, 3)), replace=False)]
    m.cluster_tags = ["htools:nlocation:rack", "htools:nlocation:pdu", "htools:iextags:svc"]
    m.rebuild()
    return m


def _moved_primary(m, idx: int, node: int) -> float:
    after = m.copy()
    inst = after.instances[idx]
    relocate(after, InstAttrs.of(after.instances), idx, node, inst.snode if inst.snode != node else inst.pnode)
    return after.location_exclusion() - m.location_exclusion()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_counts_and_map_delta_equal_the_models_counters_after_moves(seed: int) -> None:
    m = _tagged(seed)
    tc = TagCounts(m)
    attrs = InstAttrs.of(m.instances)
    rng = np.random.default_rng(seed)
    for _ in range(4):  # a few moves, re-synced as the balancer does, keep the mirror exact
        idx = np.arange(len(m.instances))[:, None]
        nodes = np.arange(len(m.nodes))[None, :]
        pn = np.array([x.pnode for x in m.instances])[:, None]
        want_add = [[sum(m.ptags[n][t] > 0 for t in m.inst_excl[i]) for n in range(len(m.nodes))] for i in idx[:, 0]]
        assert tc.added(idx, nodes).tolist() == want_add
        want_rm = [sum(m.ptags[x.pnode][t] > 1 for t in m.inst_excl[i]) for i, x in enumerate(m.instances)]
        assert tc.removed(idx, pn)[:, 0].tolist() == want_rm
        delta = tc.map_delta(idx, pn, nodes)
        for i in range(0, len(m.instances), 3):
            for n in range(len(m.nodes)):
                assert delta[i, n] == _moved_primary(m, i, n), (i, n)
        i = int(rng.integers(len(m.instances)))
        inst = m.instances[i]
        target = int(rng.choice([n for n in range(len(m.nodes)) if n not in (inst.pnode, inst.snode, 5)]))
        touched = sorted({inst.pnode, inst.snode, target} - {-1})
        relocate(m, attrs, i, target, inst.snode)
        tc.sync(touched)
