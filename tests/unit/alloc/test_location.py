"""Failure domains (htools' location tags): the allocator, the balancer and the report, checked
against Ganeti's own hail and hbal where ganeti-htools-3.0 is installed."""

from __future__ import annotations

import json
import re
import subprocess
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gnt.alloc import (
    ClusterModel,
    Group,
    Instance,
    Node,
    allocate,
    apply_move,
    balance,
    build_request,
    change_group,
    cluster_score,
    generate_cluster,
    process_request,
    save_text,
)
from gnt.alloc.allocate import pair_scores
from gnt.alloc.evaluate import KINDS, Evaluator
from gnt.alloc.location import location_report, shared_locations
from gnt.alloc.ops import InstAttrs, relocate
from gnt.alloc.score import ScoreState
from gnt.errors import OpPrereqError

from .conftest import hinfo_score, htool

HAIL = "/usr/lib/ganeti/3.0/usr/lib/ganeti/iallocators/hail"
LOC = "htools:nlocation:rack"


def _lopsided(tags: bool) -> ClusterModel:
    """Rack a (node0, node1) is nearly empty, rack b (node2, node3) nearly full: without location
    tags the best DRBD pair is both halves in rack a."""
    free_mem, free_disk, racks = [30000, 30000, 12000, 12000], [450000, 450000, 200000, 200000], "aabb"
    nodes = [
        Node(f"node{i}", 32768, 1024, free_mem[i], 500000, free_disk[i], 8, tags=[f"rack:{racks[i]}"]) for i in range(4)
    ]
    return ClusterModel([Group("default", "uuid-g1")], nodes, [], [LOC] if tags else [])


def _drbd(name: str, mem: int = 1024, tags: list[str] | None = None) -> Instance:
    return Instance(name, mem, 1024, 1, "running", -1, -1, "drbd", tags=tags or [])


def _rack(m: ClusterModel, node: str) -> str:
    return next(t for t in m.nodes[m.node_index[node]].tags if t.startswith("rack:"))


def _hail(m: ClusterModel, request: dict) -> dict:
    path = Path("/tmp") / f"gnt-loc-req-{id(m)}.json"
    path.write_text(json.dumps(build_request(m, request)))
    try:
        return json.loads(subprocess.run([HAIL, str(path)], capture_output=True, text=True, timeout=60).stdout)
    finally:
        path.unlink()


_REQ = {
    "type": "allocate", "name": "new", "memory": 1024, "vcpus": 1, "disk_template": "drbd",
    "disks": [{"size": 1024, "mode": "rw"}], "disk_space_total": 1024, "tags": [], "spindle_use": 1,
    "required_nodes": 2, "nics": [],
}  # fmt: skip


def test_drbd_pair_goes_to_distinct_racks_only_with_location_tags() -> None:
    plain = allocate(_lopsided(False), _drbd("x"))
    assert {_rack(_lopsided(False), n) for n in plain.nodes} == {"rack:a"}  # the control: one rack wins
    m = _lopsided(True)
    placed = allocate(m, _drbd("x"))
    assert {_rack(m, n) for n in placed.nodes} == {"rack:a", "rack:b"}
    assert location_report(m).shared == [] and cluster_score(m) == pytest.approx(placed.score, abs=1e-9)


def test_pair_scores_add_one_per_shared_location() -> None:
    m = _lopsided(True)
    inst = _drbd("x")
    tg, sc = pair_scores(m, inst, InstAttrs.of([inst]).take(0), 0, set(), Counter())
    _, base = pair_scores(_lopsided(False), inst, InstAttrs.of([inst]).take(0), 0, set(), Counter())
    same = np.array([[_rack(m, f"node{i}") == _rack(m, f"node{j}") for j in tg] for i in tg])
    off = ~np.eye(len(tg), dtype=bool)
    assert np.allclose(sc[off] - base[off], same[off].astype(float))


def test_hail_agrees_the_pair_must_span_racks() -> None:
    if not Path(HAIL).exists():
        pytest.skip("ganeti-htools-3.0 (hail) not installed")
    for tags in (False, True):
        m = _lopsided(tags)
        answer = _hail(m, _REQ)
        assert answer["success"], answer["info"]
        ours = allocate(m, _drbd("new"), commit=False).nodes
        assert {_rack(m, n) for n in answer["result"]} == {_rack(m, n) for n in ours}


def test_desired_location_moves_a_plain_instance_to_its_rack() -> None:
    m = _lopsided(True)
    m.cluster_tags.append("htools:desiredlocation:rack")
    m.rebuild()
    inst = Instance("p", 1024, 1024, 1, "running", -1, -1, "plain", tags=["rack:b"])
    placed = allocate(m, inst)
    assert _rack(m, placed.nodes[0]) == "rack:b"  # although rack a is emptier
    assert location_report(m).unmet == []
    if Path(HAIL).exists():
        fresh = _lopsided(True)
        fresh.cluster_tags.append("htools:desiredlocation:rack")
        fresh.rebuild()
        answer = _hail(fresh, {**_REQ, "disk_template": "plain", "required_nodes": 1, "tags": ["rack:b"]})
        assert answer["success"] and _rack(m, answer["result"][0]) == "rack:b"


def test_only_one_rack_fits_so_the_pair_shares_it_and_the_report_says_so() -> None:
    m = _lopsided(True)
    for node in ("node2", "node3"):
        m.nodes[m.node_index[node]].offline = True
    m.rebuild()
    placed = allocate(m, _drbd("x"))
    assert {_rack(m, n) for n in placed.nodes} == {"rack:a"}  # advisory: still allocated
    report = location_report(m)
    assert report.location_score == 1.0 and [r[0] for r in report.shared] == ["x"]
    assert report.lines()[1].endswith("share rack:a") and report.lines()[1].startswith("  x: primary node")


def _racked(n: int, seed: int, racks: int, excl: bool = True) -> ClusterModel:
    m = generate_cluster(n, seed=seed, per_node=(3, 5))
    for i, node in enumerate(m.nodes):
        node.tags = [f"rack:r{i % racks}"]
    m.cluster_tags = [LOC] + (["htools:iextags:svc"] if excl else [])
    for j, inst in enumerate(m.instances):
        if excl and j % 3 == 0:
            inst.tags = [f"svc:s{j % 2}"]
    m.rebuild()
    return m


@pytest.mark.parametrize("seed", [3, 4, 11])
def test_evaluated_move_scores_are_the_scores_after_the_move(seed: int) -> None:
    """Location score and location exclusion included: every candidate's score is exact."""
    m = _racked(5, seed, 2)
    ss = ScoreState(m)
    ev = Evaluator(m, ss, InstAttrs.of(m.instances))
    targets = np.arange(len(m.nodes))
    for kind in KINDS[:5]:
        cand = ev.evaluate(np.arange(len(m.instances)), targets, (kind,))
        for i in np.flatnonzero(np.isfinite(cand.score)):
            after = m.copy()
            relocate(after, InstAttrs.of(after.instances), int(i), int(cand.new_p[i]), int(cand.new_s[i]))
            assert cluster_score(after) == pytest.approx(cand.score[i], abs=1e-7), (kind, i)


@pytest.mark.parametrize(("nodes", "racks", "seed"), [(5, 2, 1), (5, 2, 3), (6, 3, 12), (6, 3, 14)])
def test_balancer_steps_equal_hbal_with_location_and_exclusion_tags(tmp_path, nodes, racks, seed) -> None:
    exe = htool("hbal")
    if exe is None:
        pytest.skip("ganeti-htools-3.0 (hbal) not installed")
    m = _racked(nodes, seed, racks)
    path = tmp_path / "c.txt"
    save_text(m, path)
    out = subprocess.run([exe, "-t", str(path)], capture_output=True, text=True, timeout=120).stdout
    initial = float(re.search(r"Initial score: ([0-9.]+)", out).group(1))
    steps = [float(x) for x in re.findall(r"^\s+\d+\. \S+\s+\S+\s+=>\s+\S+\s+([0-9.]+)", out, re.M)]
    plan = balance(m)
    assert plan.initial_score == pytest.approx(initial, abs=1e-8)
    assert [round(mv.score, 8) for mv in plan.moves] == steps
    save_text(m, tmp_path / "after.txt")
    assert hinfo_score(tmp_path / "after.txt") == pytest.approx(plan.final_score, abs=1e-7)


def test_balancer_separates_mirrors_sharing_a_rack() -> None:
    m = _racked(6, 5, 2, excl=False)
    before = location_report(m)
    assert before.shared, "the generated cluster has mirrors inside one rack"
    plan = balance(m)
    after = location_report(m)
    assert after.location_score < before.location_score and after.shared == []
    replay = _racked(6, 5, 2, excl=False)
    for mv in plan.moves:
        apply_move(replay, mv)
        assert cluster_score(replay) == pytest.approx(mv.score, abs=1e-7)


def test_location_exclusion_counts_only_the_scored_group_and_online_primaries() -> None:
    nodes = [
        Node("a1", 32768, 1024, 30000, 500000, 450000, 8, group=0, tags=["rack:a"]),
        Node("a2", 32768, 1024, 30000, 500000, 450000, 8, group=0, tags=["rack:a"]),
        Node("b1", 32768, 1024, 30000, 500000, 450000, 8, group=1, tags=["rack:a"]),
        Node("b2", 32768, 1024, 30000, 500000, 450000, 8, group=1, tags=["rack:a"], offline=True),
    ]
    insts = [
        Instance(f"i{k}", 512, 1024, 1, "running", p, -1, "plain", tags=["svc:x"]) for k, p in enumerate([0, 1, 2, 3])
    ]
    groups = [Group("g0", "u0"), Group("g1", "u1")]
    m = ClusterModel(groups, nodes, insts, [LOC, "htools:iextags:svc"])
    assert m.location_exclusion(m.group_nodes(0)) == 1.0  # i0, i1 in rack a of g0
    assert m.location_exclusion(m.group_nodes(1)) == 0.0  # i3's primary is offline
    assert m.location_exclusion() == 1.0


def test_shared_locations_follow_the_cluster_prefixes() -> None:
    assert shared_locations([LOC], ["rack:a", "pdu:1"], ["rack:a", "pdu:1"]) == ["rack:a"]
    assert shared_locations([LOC, "htools:nlocation:pdu"], ["rack:a", "pdu:1"], ["rack:b", "pdu:1"]) == ["pdu:1"]
    assert shared_locations([], ["rack:a"], ["rack:a"]) == []


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.integers(8000, 30000), min_size=3, max_size=7),
    st.lists(st.sampled_from([512, 2048, 4096, 8192]), min_size=1, max_size=10),
    st.integers(0, 1),
)
def test_allocator_never_shares_a_rack_when_a_distinct_pair_fits(free, mems, first_rack):
    """Two racks, nodes of any fill: a mirror goes to one rack only when no pair across fits."""
    nodes = [
        Node(f"n{i}", 32768, 1024, f, 500000, 400000, 8, tags=[f"rack:{'ab'[(i + first_rack) % 2]}"])
        for i, f in enumerate(free)
    ]
    m = ClusterModel([Group("default", "uuid-g1")], nodes, [], [LOC])
    for k, mem in enumerate(mems):
        inst = _drbd(f"x{k}", mem)
        tg, sc = pair_scores(m, inst, InstAttrs.of([inst]).take(0), 0, set(), Counter())
        racks = [m.nodes[int(t)].tags[0] for t in tg]
        across = np.array([[a != b for b in racks] for a in racks], bool)
        try:
            placed = allocate(m, inst)
        except OpPrereqError:
            assert not np.isfinite(sc).any()
            continue
        p, s = placed.nodes
        if (np.isfinite(sc) & across).any():
            assert _rack(m, p) != _rack(m, s), f"{inst.name} put in one rack although a pair across fits"


def test_iallocator_allocation_keeps_to_groups_connected_to_the_nics_network() -> None:
    nodes = [
        Node(name, 32768, 1024, free, 500000, disk, 8, group=g)
        for name, free, disk, g in (("a1", 30000, 450000, 0), ("a2", 29000, 440000, 0))
        + (("b1", 12000, 200000, 1), ("b2", 11000, 190000, 1))
    ]
    groups = [Group("g0", "u0", networks=["net-other"]), Group("g1", "u1", networks=["net-1"])]
    m = ClusterModel(groups, nodes, [])
    req = build_request(m, {**_REQ, "disk_template": "plain", "required_nodes": 1})
    assert process_request(req)["result"] == ["a1"]  # the control: the emptier group wins
    req["request"]["nics"] = [{"network": "net-1", "ip": None}]
    assert process_request(req)["result"] == ["b1"]
    req["request"]["nics"] = [{"network": "net-1"}, {"network": "net-other"}]
    answer = process_request(req)
    assert not answer["success"] and "is not connected to network" in answer["info"]
    if Path(HAIL).exists():  # Ganeti's hail reads the same request the same way
        req["request"]["nics"] = [{"network": "net-1", "ip": None, "mac": "aa:00:00:00:00:01"}]
        assert _hail(m, req["request"])["result"] == ["b1"]


def test_change_group_only_picks_groups_connected_to_the_instances_networks() -> None:
    nodes = [
        Node(name, 32768, 1024, free, 500000, 400000, 8, group=g)
        for name, free, g in (("a1", 20000, 0), ("b1", 30000, 1), ("c1", 12000, 2))
    ]
    groups = [Group("ga", "ua", networks=["n1"]), Group("gb", "ub"), Group("gc", "uc", networks=["n1"])]
    inst = Instance("web", 1024, 0, 1, "running", 0, -1, "diskless", networks=("n1",))
    m = ClusterModel(groups, nodes, [inst])
    free = ClusterModel(groups, [Node(**vars(n)) for n in nodes], [Instance(**{**vars(inst), "networks": ()})])
    assert change_group(free, ["web"])[0][0][1] == "gb"  # the control: the emptiest group
    moved, failed, _ = change_group(m, ["web"])
    assert failed == [] and moved[0][1:] == ["gc", ["c1"]]
