"""htools' migration tags (``htools:migration:CLASS``, ``htools:allowmigration:x::y``): the balancer
and the allocator only migrate an instance to a node that receives its source's migration classes,
checked against Ganeti's own hbal and hail where ganeti-htools-3.0 is installed."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from gnt.alloc import (
    ClusterModel,
    Group,
    Instance,
    Node,
    balance,
    build_request,
    change_group,
    evacuate,
    generate_cluster,
    process_request,
    save_text,
)
from gnt.alloc.evaluate import KINDS, Evaluator
from gnt.alloc.model import MIGRATION_PREFIX, allowed_migrations, classed_tags
from gnt.alloc.ops import InstAttrs
from gnt.alloc.score import ScoreState

from .conftest import hinfo_score, htool

HAIL = "/usr/lib/ganeti/3.0/usr/lib/ganeti/iallocators/hail"
MIG = "htools:migration:hv"
UPGRADE = "htools:allowmigration:hv:old::hv:new"  # upgraded nodes take instances from old ones


def test_migration_classes_are_node_tags_under_the_class_and_a_colon() -> None:
    assert classed_tags([MIG], MIGRATION_PREFIX, ["hv:old", "hvx", "rack:a"]) == frozenset({"hv:old"})
    both = classed_tags([MIG, "htools:migration:os"], MIGRATION_PREFIX, ["hv:new", "os:bookworm"])
    assert both == {"hv:new", "os:bookworm"}
    assert classed_tags([], MIGRATION_PREFIX, ["hv:old"]) == frozenset()


def test_allowed_migrations_read_pairs_and_ignore_malformed_tags() -> None:
    tags = [UPGRADE, "htools:allowmigration:a", "htools:allowmigration:a::b::c", "htools:allowmigration:x::y"]
    assert allowed_migrations(tags) == [("hv:old", "hv:new"), ("x", "y")]


def _nodes(hv: list[str]) -> list[Node]:
    tags = [[f"hv:{h}"] if h else [] for h in hv]
    return [Node(f"n{i}", 32768, 1024, 30000, 500000, 450000, 8, tags=t) for i, t in enumerate(tags)]


def test_a_node_receives_its_own_classes_and_those_allowmigration_lets_it_stand_in_for() -> None:
    m = ClusterModel([Group("default", "u")], _nodes(["old", "new", "old", ""]), [], [MIG])
    ok = m.migration_ok(np.arange(4)[:, None], np.arange(4)[None, :])
    # a source's classes must all be on the target: old->old, untagged->anything
    assert ok.tolist() == [
        [True, False, True, False],
        [False, True, False, False],
        [True, False, True, False],
        [True, True, True, True],
    ]
    m.cluster_tags.append(UPGRADE)
    m.rebuild()
    assert m.migration_ok(0, 1) and not m.migration_ok(1, 0)  # old -> new only
    assert ClusterModel([Group("default", "u")], _nodes(["old", "new"]), [], []).mig_ok is None


def _upgrading(n: int, seed: int, allow: bool = True) -> ClusterModel:
    """A generated cluster half upgraded: every other node is hv:new, the rest hv:old."""
    m = generate_cluster(n, seed=seed, per_node=(3, 5))
    for i, node in enumerate(m.nodes):
        node.tags = ["hv:new" if i % 2 else "hv:old"]
    m.cluster_tags = [MIG] + ([UPGRADE] if allow else [])
    m.rebuild()
    return m


@pytest.mark.parametrize("seed", [2, 5])
def test_no_candidate_move_migrates_against_the_tags(seed: int) -> None:
    m = _upgrading(6, seed)
    ev = Evaluator(m, ScoreState(m), InstAttrs.of(m.instances))
    idx = np.arange(len(m.instances))
    found = 0
    for kind in KINDS:
        cand = ev.evaluate(idx, np.arange(len(m.nodes)), (kind,))
        for i in np.flatnonzero(np.isfinite(cand.score)):
            inst, new_p = m.instances[i], int(cand.new_p[i])
            if new_p == inst.pnode:
                continue
            found += 1
            assert m.migration_ok(inst.pnode, new_p), (kind, inst.name)
            if kind == "replace_primary":  # through the old secondary
                assert m.migration_ok(inst.pnode, inst.snode) and m.migration_ok(inst.snode, new_p)
    assert found, "some primary moves stay allowed (old -> new)"


def test_plan_never_moves_an_instance_from_an_upgraded_node_to_an_old_one() -> None:
    m = _upgrading(8, 3)
    tags = {n.name: n.tags[0] for n in m.nodes}
    plan = balance(m)
    assert plan.moves and plan.final_score < plan.initial_score
    for mv in plan.moves:
        if mv.new_p != mv.old_p:
            assert not (tags[mv.old_p] == "hv:new" and tags[mv.new_p] == "hv:old"), mv
    untagged = generate_cluster(8, seed=3, per_node=(3, 5))
    control = balance(untagged)  # the control: without the tags some moves go new -> old
    names = {n.name: i for i, n in enumerate(untagged.nodes)}
    assert any(mv.new_p != mv.old_p and names[mv.old_p] % 2 and not names[mv.new_p] % 2 for mv in control.moves)


@pytest.mark.parametrize(("nodes", "seed", "allow"), [(5, 1, True), (6, 4, True), (6, 7, False), (8, 3, True)])
def test_balancer_steps_equal_hbal_with_migration_tags(tmp_path, nodes, seed, allow) -> None:
    exe = htool("hbal")
    if exe is None:
        pytest.skip("ganeti-htools-3.0 (hbal) not installed")
    m = _upgrading(nodes, seed, allow)
    path = tmp_path / "c.txt"
    save_text(m, path)
    out = subprocess.run([exe, "-t", str(path)], capture_output=True, text=True, timeout=120).stdout
    initial = float(re.search(r"Initial score: ([0-9.]+)", out).group(1))
    steps = re.findall(r"^\s+\d+\. (\S+)\s+(\S+)\s+=>\s+(\S+)\s+([0-9.]+)", out, re.M)
    plan = balance(m)
    assert plan.initial_score == pytest.approx(initial, abs=1e-8)
    assert [round(mv.score, 8) for mv in plan.moves] == [float(s[3]) for s in steps]
    pair = {True: "{}:{}", False: "{}"}
    assert [(mv.instance, pair[bool(mv.new_s)].format(mv.new_p, mv.new_s)) for mv in plan.moves] == [
        (s[0], s[2]) for s in steps
    ]
    save_text(m, tmp_path / "after.txt")
    assert hinfo_score(tmp_path / "after.txt") == pytest.approx(plan.final_score, abs=1e-7)


def _pairs(hv: list[str], extra: list[str] | None = None) -> ClusterModel:
    inst = Instance("web", 1024, 1024, 1, "running", 0, 1, "drbd")
    return ClusterModel([Group("default", "u")], _nodes(hv), [inst], [MIG, *(extra or [])])


def test_evacuating_the_primary_refuses_a_failover_the_tags_forbid() -> None:
    moved, failed, _ = evacuate(_pairs(["new", "old", "new"]), ["web"], "primary-only")
    assert moved == [] and failed[0][0] == "web"
    moved, failed, _ = evacuate(_pairs(["new", "old", "new"], [UPGRADE]), ["web"], "primary-only")
    assert moved == [] and failed  # the allowed direction is old -> new, not new -> old
    moved, failed, _ = evacuate(_pairs(["old", "new", "new"], [UPGRADE]), ["web"], "primary-only")
    assert failed == [] and moved[0][2] == ["n1", "n0"]


def test_evacuating_all_picks_a_new_primary_the_old_one_may_migrate_to() -> None:
    """n0 (primary) and n1 hold the instance; n2 is the emptiest node, so it is the new primary
    while it shares n0's class, and out of the question once it does not."""
    free = [30000, 30000, 30000, 12000, 12000]
    nodes = [Node(f"n{i}", 32768, 1024, f, 500000, 450000, 8, tags=["hv:new"]) for i, f in enumerate(free)]
    nodes[0].tags = nodes[2].tags = ["hv:old"]
    inst = Instance("web", 1024, 1024, 1, "running", 0, 1, "drbd")
    m = ClusterModel([Group("default", "u")], nodes, [inst], [MIG])
    moved, failed, _ = evacuate(m.copy(), ["web"], "all")
    assert failed == [] and moved[0][2][0] == "n2"
    m.nodes[0].tags = ["hv:new"]
    m.rebuild()
    moved, failed, _ = evacuate(m, ["web"], "all")
    assert failed == [] and moved[0][2][0] in ("n3", "n4")


def test_change_group_keeps_to_nodes_the_instance_may_migrate_to() -> None:
    nodes = [
        Node(name, 32768, 1024, free, 500000, 400000, 8, group=g, tags=[tag])
        for name, free, g, tag in (("a1", 20000, 0, "hv:new"), ("b1", 30000, 1, "hv:old"), ("c1", 12000, 2, "hv:new"))
    ]
    groups = [Group("ga", "ua"), Group("gb", "ub"), Group("gc", "uc")]
    inst = Instance("web", 1024, 0, 1, "running", 0, -1, "diskless")
    m = ClusterModel(groups, nodes, [inst], [])
    assert change_group(m.copy(), ["web"])[0][0][1] == "gb"  # the control: the emptiest group
    m.cluster_tags = [MIG]
    m.rebuild()
    moved, failed, _ = change_group(m, ["web"])
    assert failed == [] and moved[0][1:] == ["gc", ["c1"]]
    assert change_group(m, ["web"], ["gb"])[1][0][0] == "web"  # only gb allowed: refused


def _hail(m: ClusterModel, request: dict) -> dict:
    path = Path("/tmp") / f"gnt-mig-req-{id(m)}.json"
    path.write_text(json.dumps(build_request(m, request)))
    try:
        return json.loads(subprocess.run([HAIL, str(path)], capture_output=True, text=True, timeout=60).stdout)
    finally:
        path.unlink()


@pytest.mark.parametrize("hv", [["new", "old", "new"], ["old", "new", "new"]])
def test_hail_evacuates_the_primary_as_gnt_does(hv: list[str]) -> None:
    m = _pairs(hv, [UPGRADE])
    request = {"type": "node-evacuate", "instances": ["web"], "evac_mode": "primary-only"}
    ours = process_request(build_request(m.copy(), request))
    assert ours["success"]
    moved, failed, _ = ours["result"]
    if not Path(HAIL).exists():
        pytest.skip("ganeti-htools-3.0 (hail) not installed")
    theirs = _hail(m, request)
    assert theirs["success"], theirs
    h_moved, h_failed, _ = theirs["result"]
    assert [x[0] for x in moved] == [x[0] for x in h_moved]
    assert [x[0] for x in failed] == [x[0] for x in h_failed]
    assert [x[2] for x in moved] == [x[2] for x in h_moved]
