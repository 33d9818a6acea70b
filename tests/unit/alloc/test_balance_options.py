"""hbal's model options in the balancer: --exclusion-tags, -U (dynamic utilisation), --ignore-dynu,
--ignore-soft-errors; each gives the same plan as Ganeti 3.0's hbal on the same file where it is
installed, and the parts that do not need hbal are checked on their own."""

from __future__ import annotations

import dataclasses
import random
import re
import subprocess

import numpy as np
import pytest

from gnt.alloc import balance, generate_cluster, load_text, save_text
from gnt.alloc.evaluate import KINDS, Evaluator
from gnt.alloc.ops import InstAttrs
from gnt.alloc.score import ScoreState, cluster_score
from gnt.alloc.utilisation import ZERO_UTIL, apply_utilisation, ignore_utilisation, parse_utilisation
from gnt.errors import ParameterError

from .conftest import htool

SERVICE_TAGS = ("svc:dns", "svc:web", "svcx:dns", "other:1")


def _hbal(path, *options: str) -> tuple[float, list[tuple[str, str, float]]]:
    exe = htool("hbal")
    if exe is None:
        pytest.skip("ganeti-htools-3.0 (hbal) not installed")
    proc = subprocess.run([exe, "-t", str(path), *options], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    initial = float(re.search(r"Initial score: ([0-9.]+)", proc.stdout).group(1))
    steps = re.findall(r"^\s+\d+\. (\S+)\s+\S+\s+=>\s+(\S+)\s+([0-9.]+)", proc.stdout, re.M)
    return round(initial, 8), [(name, to, round(float(score), 8)) for name, to, score in steps]


def _gnt(model, **kwargs) -> tuple[float, list[tuple[str, str, float]]]:
    plan = balance(model, **kwargs)
    steps = [(mv.instance, f"{mv.new_p}:{mv.new_s}" if mv.new_s else mv.new_p, round(mv.score, 8)) for mv in plan.moves]
    return round(plan.initial_score, 8), steps


def _tagged(seed: int):
    rnd = random.Random(seed)
    m = generate_cluster(6, seed=seed, per_node=(3, 5))
    for x in m.instances:
        x.tags = [rnd.choice(SERVICE_TAGS)]
    m.rebuild()
    return m


def _loads(m, seed: int) -> str:
    rnd = random.Random(seed)
    lines = [
        f"{x.name} {rnd.random():.3f} {rnd.random():.3f} {rnd.randint(0, 5)} {rnd.random():.2f}"
        for x in m.instances
        if rnd.random() < 0.7
    ]
    return "\n".join([*lines, "not-an-instance 1 2 3 4"]) + "\n"


def _over_vcpu_ratio(seed: int):
    """Every node above its group's VCPU ratio: hbal refuses most moves unless soft errors are ignored."""
    m = generate_cluster(6, seed=seed, per_node=(3, 5))
    m.groups[0].ipolicy = dataclasses.replace(m.groups[0].ipolicy, vcpu_ratio=0.3)
    m.rebuild()
    return m


# -- --exclusion-tags ---------------------------------------------------------------------------


def test_exclusion_tag_names_take_the_name_and_a_colon():
    m = _tagged(1)
    assert not any(m.inst_excl)
    m.add_exclusion_tags(["svc", ""])
    assert {t for tags in m.inst_excl for t in tags} == {"svc:dns", "svc:web"}  # not svcx:dns
    assert m.ex_prefixes == ["svc:"]


def test_exclusion_tags_add_to_the_clusters():
    m = _tagged(1)
    m.cluster_tags = ["htools:iextags:oth"]
    m.rebuild()
    m.add_exclusion_tags(["svc"])
    assert {t for tags in m.inst_excl for t in tags} == {"svc:dns", "svc:web", "other:1"}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exclusion_tags_option_gives_hbals_plan(tmp_path, seed):
    path = tmp_path / "c.txt"
    save_text(_tagged(seed), path)
    hbal = _hbal(path, "--exclusion-tags=svc")
    m = load_text(path)
    m.add_exclusion_tags(["svc"])
    assert _gnt(m) == hbal
    assert _gnt(load_text(path)) != hbal


# -- -U and --ignore-dynu -----------------------------------------------------------------------


def test_parse_utilisation_reads_hbals_format():
    text = "a 1 0.5 -2 1e3\nb 0 0 0 0\na 2 2 2 2\n"
    assert parse_utilisation(text) == {"a": (2.0, 2.0, 2.0, 2.0), "b": (0.0, 0.0, 0.0, 0.0)}
    assert parse_utilisation("") == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a 1 1 1\n", "Cannot parse utilisation line 1"),
        ("a 1 1 1 1\n\n", "Cannot parse utilisation line 2"),
        ("a  1 1 1 1\n", "Cannot parse utilisation line 1"),
        ("a\t1 1 1 1\n", "Cannot parse utilisation line 1"),
        ("a 1 1 1 1 \n", "Cannot parse utilisation line 1"),
        ("a .5 1 1 1\n", "'.5' is not a number"),
        ("a 1. 1 1 1\n", "'1.' is not a number"),
        ("a 1 x 1 1\n", "'x' is not a number"),
        ("a 1 1 NaN 1\n", "'NaN' is not a number"),
        ("a 1 1 1 1e999\n", "'1e999' is out of range"),
    ],
)
def test_parse_utilisation_refuses_what_hbal_cannot_parse(text, message):
    with pytest.raises(ParameterError, match=re.escape(message)):
        parse_utilisation(text)


def test_loads_count_primaries_and_disk_also_secondaries():
    m = generate_cluster(4, seed=3, per_node=(2, 3))
    x = m.instances[0]
    unknown = apply_utilisation(m, {x.name: (0.5, 0.25, 4.0, 2.0), "nosuch": (1, 1, 1, 1)})
    assert unknown == ["nosuch"]
    assert not m.uniform_load()
    p, s = x.pnode, x.snode
    on_p = [i for i in m.instances if i.pnode == p]
    assert m.l_cpu[p] == pytest.approx(len(on_p) - 1 + 0.5)
    assert m.l_net[p] == pytest.approx(len(on_p) - 1 + 2.0)
    on_s = [i for i in m.instances if s in (i.pnode, i.snode)]
    assert m.l_dsk[s] == pytest.approx(len(on_s) - 1 + 4.0)


def test_without_loads_the_score_is_unchanged_by_the_load_arrays():
    m = generate_cluster(5, seed=2, per_node=(3, 4))
    before = cluster_score(m)
    assert m.uniform_load()
    assert np.array_equal(m.l_cpu, m.npri.astype(float))
    assert np.array_equal(m.l_dsk, (m.npri + m.nsec).astype(float))
    ignore_utilisation(m)
    assert all(x.util == ZERO_UTIL for x in m.instances)
    assert cluster_score(m) < before  # the primary-count load spread no longer counts


@pytest.mark.parametrize("seed", [0, 3, 5])
def test_utilisation_file_gives_hbals_plan(tmp_path, seed):
    path, util = tmp_path / "c.txt", tmp_path / "util.txt"
    m = generate_cluster(6, seed=seed, per_node=(3, 5))
    save_text(m, path)
    util.write_text(_loads(m, seed))
    hbal = _hbal(path, "-U", str(util))
    m = load_text(path)
    apply_utilisation(m, parse_utilisation(util.read_text()))
    assert _gnt(m) == hbal
    assert _gnt(load_text(path)) != hbal


@pytest.mark.parametrize("seed", [0, 1])
def test_ignore_dynu_gives_hbals_plan(tmp_path, seed):
    """Seed 0 also ends where hbal does: a last move between two equal nodes gains nothing in hbal
    but a last bit in gnt's running sums, and must not be taken."""
    path = tmp_path / "c.txt"
    save_text(generate_cluster(6, seed=seed, per_node=(3, 5)), path)
    hbal = _hbal(path, "--ignore-dynu")
    m = load_text(path)
    ignore_utilisation(m)
    assert _gnt(m) == hbal


def test_a_move_that_gains_only_rounding_noise_is_not_taken():
    m = generate_cluster(6, seed=0, per_node=(3, 5))
    ignore_utilisation(m)
    plan = balance(m)
    scores = [plan.initial_score] + [mv.score for mv in plan.moves]
    assert all(a - b > 1e-9 for a, b in zip(scores, scores[1:], strict=False))


# -- --ignore-soft-errors -------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [2, 4])
def test_ignore_soft_errors_gives_hbals_plan(tmp_path, seed):
    path = tmp_path / "c.txt"
    save_text(_over_vcpu_ratio(seed), path)
    hbal = _hbal(path, "--ignore-soft-errors")
    assert _gnt(load_text(path), ignore_soft_errors=True) == hbal
    assert _gnt(load_text(path)) != hbal


def test_ignore_soft_errors_admits_moves_strict_refuses():
    m = _over_vcpu_ratio(2)
    nodes = m.group_nodes(0)
    ev = Evaluator(m, ScoreState(m, nodes), InstAttrs.of(m.instances))
    idx = np.arange(len(m.instances))
    strict = ev.evaluate(idx, nodes).score
    ev.ignore_soft_errors = True
    forced = ev.evaluate(idx, nodes).score
    # each instance's best move: never worse, and better for some (a move strict mode refused)
    assert np.all(forced <= strict)
    assert np.any(forced < strict - 1e-9)


def test_ignore_soft_errors_still_keeps_hard_limits():
    m = generate_cluster(4, seed=1, per_node=(2, 3))
    big = m.instances[0]
    big.mem = 10**7  # bigger than any node: memory is a hard limit
    m.rebuild()
    nodes = m.group_nodes(0)
    ev = Evaluator(m, ScoreState(m, nodes), InstAttrs.of(m.instances))
    ev.ignore_soft_errors = True
    others = np.array([n for n in nodes if n not in (big.pnode, big.snode)])
    cand = ev.evaluate(np.array([0]), others, ("replace_and_failover", "replace_primary"))
    assert not np.isfinite(cand.score[0])


# -- an offline secondary -------------------------------------------------------------------------


def test_an_offline_secondary_is_only_replaced():
    """hbal's possibleMoves: when the secondary is offline (or drained) it is no valid node, so
    neither a failover nor replace-primary nor failover-and-replace may make it the primary."""
    m = generate_cluster(6, seed=13, per_node=(3, 5))
    x = next(i for i in m.instances if i.snode >= 0)
    m.nodes[x.pnode].drained = True
    m.nodes[x.snode].offline = True
    m.rebuild()
    nodes = m.group_nodes(0)
    ev = Evaluator(m, ScoreState(m, nodes), InstAttrs.of(m.instances))
    idx = np.array([m.inst_index[x.name]])
    targets = nodes[m.can_receive()[nodes]]
    for kind in ("failover", "replace_primary", "failover_and_replace"):
        assert not np.isfinite(ev.evaluate(idx, targets, (kind,)).score[0]), kind
    best = ev.evaluate(idx, targets)
    assert KINDS[int(best.kind[0])] in ("replace_secondary", "replace_and_failover")


def test_plan_with_offline_secondaries_and_exclusion_tags_gives_hbals_plan(tmp_path):
    m = _tagged(13)
    m.nodes[1].offline = True
    m.nodes[2].drained = True
    m.cluster_tags = ["htools:iextags:svc:"]
    m.rebuild()
    path = tmp_path / "c.txt"
    save_text(m, path)
    assert _gnt(load_text(path)) == _hbal(path)
