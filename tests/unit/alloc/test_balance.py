"""The balancer: hbal's plan on a known file, and invariants on generated clusters."""

from __future__ import annotations

import re
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gnt.alloc import (
    apply_move,
    balance,
    cluster_score,
    format_plan,
    generate_cluster,
    job_sets,
    load_text,
    parse_text,
    save_text,
)
from gnt.alloc.score import NodeState
from gnt.errors import OpPrereqError

from .conftest import hinfo_score, htool

# `hbal -t three-nodes.txt` (Ganeti 3.0.2): the score after each of its 4 steps.
HBAL_STEPS = [2.21909499, 2.19919382, 2.08367879, 2.06984100]


def test_plan_scores_follow_hbal_on_known_file(golden):
    plan = balance(load_text(golden / "three-nodes.txt"))
    assert plan.initial_score == pytest.approx(5.67655781, abs=1e-8)
    assert [round(mv.score, 8) for mv in plan.moves] == HBAL_STEPS
    lines = format_plan(plan)
    assert lines[0] == "    1. i1 node1:node2 => node3:node2   2.21909499 a=f r:node3 f"


def test_saved_state_scores_what_the_plan_announced(golden, tmp_path):
    m = load_text(golden / "three-nodes.txt")
    plan = balance(m)
    save_text(m, tmp_path / "after.txt")
    assert cluster_score(load_text(tmp_path / "after.txt")) == pytest.approx(plan.final_score, abs=1e-9)
    assert hinfo_score(tmp_path / "after.txt") == pytest.approx(plan.final_score, abs=1e-7)


def test_max_moves_and_min_gain_limit_the_plan():
    m = generate_cluster(6, seed=5)
    assert len(balance(m.copy(), max_moves=3).moves) == 3
    full = balance(m.copy(), min_gain=0.01, min_gain_limit=0.1)
    loose = balance(m.copy(), min_gain=5.0, min_gain_limit=0.0)
    assert len(loose.moves) <= len(full.moves)


def test_job_sets_never_share_a_node():
    plan = balance(generate_cluster(10, seed=2))
    sets = job_sets(plan.moves)
    assert sum(len(s) for s in sets) == len(plan.moves)
    for s in sets:
        seen: set[str] = set()
        for i in s:
            assert not (plan.moves[i].nodes() & seen)
            seen |= plan.moves[i].nodes()


def _n1_failures(m) -> int:
    st = NodeState.gather(m, slice(None))
    return int((st.fail_n1() & ~m.offline).sum())


clusters = st.builds(
    lambda n, seed, off, drain: (n, seed, off, drain),
    st.integers(3, 7),
    st.integers(0, 10_000),
    st.integers(-1, 6),
    st.integers(-1, 6),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clusters)
def test_plan_replayed_step_by_step_reaches_announced_scores(params):
    n, seed, off, drain = params
    m = generate_cluster(n, seed=seed, per_node=(2, 5))
    if 0 <= off < n:
        m.nodes[off].offline = True
    if 0 <= drain < n:
        m.nodes[drain].drained = True
    m.rebuild()
    replay = m.copy()
    n1_before = _n1_failures(m)
    plan = balance(m, max_moves=30)
    bad = {i for i, nd in enumerate(replay.nodes) if nd.offline or nd.drained}
    for mv in plan.moves:
        old = {(x.pnode, x.snode) for x in replay.instances if x.name == mv.instance}
        apply_move(replay, mv)
        assert cluster_score(replay) == pytest.approx(mv.score, abs=1e-7)
        x = replay.instances[replay.inst_index[mv.instance]]
        for node in {x.pnode, x.snode} - {-1} - set(*old):
            assert node not in bad, "offline/drained node received an instance"
        if n1_before == 0:
            assert _n1_failures(replay) == 0, "balancing step broke N+1"
    again = parse_text_from(replay)
    assert cluster_score(again) == pytest.approx(plan.final_score, abs=1e-7)


def parse_text_from(m):
    from gnt.alloc import format_text

    return parse_text(format_text(m))


def test_balance_is_no_worse_than_installed_hbal(tmp_path):
    exe = htool("hbal")
    if exe is None:
        pytest.skip("ganeti-htools-3.0 (hbal) not installed")
    m = generate_cluster(5, seed=11, per_node=(4, 6))
    path = tmp_path / "c.txt"
    save_text(m, path)
    out = subprocess.run([exe, "-t", str(path)], capture_output=True, text=True, timeout=120).stdout
    final = re.search(r"Cluster score improved from [0-9.]+ to ([0-9.]+)", out)
    hb = float(final.group(1)) if final else cluster_score(m)
    plan = balance(m)
    assert plan.final_score <= hb + 1e-6


def test_large_group_plan_replays_exactly_and_never_adds_n1_failures():
    # Large enough for the lazy, batched search (instances x targets above the exact limit).
    m = generate_cluster(30, seed=7, per_node=(25, 30))
    replay = m.copy()
    plan = balance(m, max_moves=400)
    assert len(plan.moves) > 50
    failing = _n1_failures(replay)
    for mv in plan.moves:
        apply_move(replay, mv)
        assert cluster_score(replay) == pytest.approx(mv.score, abs=1e-7)
        now = _n1_failures(replay)
        assert now <= failing, "balancing step added an N+1 failure"
        failing = now
    assert [mv.score for mv in plan.moves] == sorted((mv.score for mv in plan.moves), reverse=True)
    assert cluster_score(parse_text_from(replay)) == pytest.approx(plan.final_score, abs=1e-7)


def _hbal_steps(exe: str, path, *options: str) -> tuple[float, list[tuple[str, str, float]]]:
    out = subprocess.run([exe, "-t", str(path), *options], capture_output=True, text=True, timeout=120).stdout
    initial = float(re.search(r"Initial score: ([0-9.]+)", out).group(1))
    steps = re.findall(r"^\s+\d+\. (\S+)\s+\S+\s+=>\s+(\S+)\s+([0-9.]+)", out, re.M)
    return initial, [(name, to, round(float(score), 8)) for name, to, score in steps]


def _gnt_steps(plan) -> list[tuple[str, str, float]]:
    return [(mv.instance, f"{mv.new_p}:{mv.new_s}" if mv.new_s else mv.new_p, round(mv.score, 8)) for mv in plan.moves]


def _with_offline_node(seed: int):
    m = generate_cluster(6, seed=seed, per_node=(3, 5))
    m.nodes[2].offline = True
    m.rebuild()
    return m


HBAL_OPTION_CASES = {
    # auto_balance off: hbal never moves the instance
    "auto_balance": (lambda: _no_auto_balance(generate_cluster(5, seed=1, per_node=(3, 5))), (), {}),
    "select": (
        lambda: generate_cluster(6, seed=4, per_node=(3, 5)),
        ("--select-instances=inst00002,inst00005,inst00007,inst00011",),
        {"select": ["inst00002", "inst00005", "inst00007", "inst00011"]},
    ),
    "exclude": (
        lambda: generate_cluster(6, seed=4, per_node=(3, 5)),
        ("--exclude-instances=inst00001,inst00003,inst00004",),
        {"exclude": ["inst00001", "inst00003", "inst00004"]},
    ),
    "evac_mode": (lambda: _with_offline_node(6), ("--evac-mode",), {"evac_mode": True}),
    # a third of the instances externally mirrored: failover-to-any is no disk move, hbal allows it
    "no_disk_moves": (lambda: _mixed(5), ("--no-disk-moves",), {"disk_moves": False}),
    "no_instance_moves": (lambda: _mixed(5), ("--no-instance-moves",), {"instance_moves": False}),
    "restricted_migration": (
        lambda: _with_offline_node(9),  # (seed 8 ties two moves to 8 decimals: either may win)
        ("--restricted-migration",),
        {"restricted_migration": True},
    ),
}


def _mixed(seed: int):
    m = generate_cluster(6, seed=seed, per_node=(3, 5))
    for x in m.instances[::3]:
        x.template, x.snode = "sharedfile", -1
    m.rebuild()
    return m


def _no_auto_balance(m):
    for x in m.instances[::2]:
        x.auto_balance = False
    m.rebuild()
    return m


@pytest.mark.parametrize("case", sorted(HBAL_OPTION_CASES))
def test_hbal_options_give_hbals_plan(tmp_path, case):
    """auto_balance, --select-instances, --exclude-instances, --evac-mode, --restricted-migration,
    --no-disk-moves, --no-instance-moves:
    the same steps (instance, target, score) as hbal 3.0 on the same file, and a different plan than
    without the option (so the option is what made the difference)."""
    exe = htool("hbal")
    if exe is None:
        pytest.skip("ganeti-htools-3.0 (hbal) not installed")
    make, options, kwargs = HBAL_OPTION_CASES[case]
    path = tmp_path / "c.txt"
    save_text(make(), path)
    initial, steps = _hbal_steps(exe, path, *options)
    plan = balance(make(), **kwargs)
    assert plan.initial_score == pytest.approx(initial, abs=1e-8)
    assert _gnt_steps(plan) == steps
    if case != "auto_balance":
        assert _gnt_steps(balance(make())) != steps


def test_unknown_instances_in_select_or_exclude_are_refused():
    m = generate_cluster(4, seed=1, per_node=(2, 3))
    with pytest.raises(OpPrereqError, match="Unknown instance"):
        balance(m, select=["nope"])
    with pytest.raises(OpPrereqError, match="Unknown instance"):
        balance(m, exclude=["inst00001", "nada"])
