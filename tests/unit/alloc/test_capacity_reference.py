"""The capacity planner's results do not change when it gets faster.

`tests/golden/alloc/capacity_reference.json` holds what `capacity()` answered, standard and tiered,
on the clusters below before the tagged-capacity optimisation (bench/results/capacity_tagged*):
the specs and counts placed (exactly), the failure reason and the final score. The score is compared
to 1e-12 relative, not to the last bit: numpy sums with the CPU's widest SIMD (AVX-512 on some
machines, AVX2 on others), which rounds the last digit differently; a different placement anywhere
changes the score far more than that. Regenerate it only for a change meant to alter placements, with
the builders below, and say why in the commit.
"""

from __future__ import annotations

import json

import pytest

from gnt.alloc import ISpec, capacity, generate_cluster

from .conftest import GOLDEN

REFERENCE = json.loads((GOLDEN / "capacity_reference.json").read_text())


def _tag(m, racks: int):
    """Racks (failure domains) and exclusion tags on half the instances, as bench_alloc --tagged."""
    for i, node in enumerate(m.nodes):
        node.tags = [f"rack:r{i % racks}"]
    for j, inst in enumerate(m.instances):
        inst.tags = [f"svc:s{(j // 2) % 5}"] if j % 2 == 0 else []
    m.cluster_tags = ["htools:nlocation:rack", "htools:iextags:svc"]
    m.rebuild()
    return m


def _cluster(name: str):
    kind, nodes, seed = name.split("-")
    m = generate_cluster(int(nodes), seed=int(seed), per_node=(4, 8))
    if kind in ("tagged", "offline"):
        m = _tag(m, 3)
    if kind == "offline":  # an offline and a drained node: neither receives, both stay in the group
        m.nodes[1].offline = True
        m.nodes[2].drained = True
        m.rebuild()
    return m


@pytest.mark.parametrize("mode", ["standard", "tiered"])
@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_capacity_answers_what_it_answered_before(name: str, mode: str) -> None:
    spec = ISpec(4096, 2, 51200, 1, 1, 1) if mode == "standard" else None
    res = capacity(_cluster(name), spec=spec, tiered=mode == "tiered")
    want = REFERENCE[name][mode]
    assert [[s.mem, s.disk, s.cpu, k] for s, k in res.allocated] == want["allocated"]
    assert res.fail_reason == want["fail_reason"]
    assert res.final_score == pytest.approx(want["final_score"], rel=1e-12, abs=0)
