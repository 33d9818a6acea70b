"""The allocator, the iallocator protocol, capacity and the RAPI model builder."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gnt.alloc import (
    Instance,
    ISpec,
    allocate,
    build_request,
    capacity,
    change_group,
    evacuate,
    format_capacity,
    generate_cluster,
    main,
    model_from_rapi,
    multi_allocate,
    process_request,
    relocate_secondary,
    save_text,
)
from gnt.alloc.score import NodeState
from gnt.errors import OpPrereqError

from .conftest import htool

REF = Path(__file__).resolve().parents[3].parent / "shared" / "reference" / "ganeti-3.0"


def _new(name: str, mem: int = 2048, dsk: int = 10240, tmpl: str = "drbd", vcpus: int = 1) -> Instance:
    return Instance(name, mem, dsk, vcpus, "running", -1, -1, tmpl)


def _check_no_overcommit(m) -> None:
    on = ~m.offline
    assert (m.free_mem()[on] > 0).all(), "memory over-committed"
    assert (m.f_dsk[on] > 0).all(), "disk over-committed"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(2, 6),
    st.integers(0, 10_000),
    st.lists(st.tuples(st.sampled_from([512, 4096, 32768, 60000]), st.sampled_from(["drbd", "plain"])), max_size=12),
    st.integers(-1, 5),
    st.integers(-1, 5),
)
def test_allocations_never_overcommit_nor_use_offline_or_drained(n, seed, reqs, off, drain):
    m = generate_cluster(n, seed=seed, per_node=(1, 4))
    if 0 <= off < n:
        m.nodes[off].offline = True
    if 0 <= drain < n:
        m.nodes[drain].drained = True
    m.rebuild()
    forbidden = {off, drain} - {-1}
    for i, (mem, tmpl) in enumerate(reqs):
        n1_before = int(NodeState.gather(m, slice(None)).fail_n1()[~m.offline].sum())
        try:
            p = allocate(m, _new(f"x{i}", mem, 20480, tmpl))
        except OpPrereqError as err:
            assert err.code == "insufficient_resources"
            continue
        assert p.pnode not in forbidden and p.snode not in forbidden
        assert (p.snode >= 0) == (tmpl == "drbd") and p.snode != p.pnode
        _check_no_overcommit(m)
        if n1_before == 0:
            assert not NodeState.gather(m, slice(None)).fail_n1()[~m.offline].any(), "N+1 broken"


def test_drbd_allocation_at_200_nodes_picks_two_distinct_nodes():
    """At the issue's large-cluster size (its speed is bench/bench_alloc.py's, not a test's)."""
    m = generate_cluster(200, seed=1)
    p = allocate(m, _new("large"), commit=False)
    assert 0 <= p.pnode < 200 and 0 <= p.snode < 200 and p.pnode != p.snode


def test_policy_and_template_are_enforced():
    m = generate_cluster(4, seed=1, per_node=(1, 2))
    with pytest.raises(OpPrereqError, match="not allowed"):
        allocate(m, _new("r", tmpl="rbd"))
    with pytest.raises(OpPrereqError, match="min/max"):
        allocate(m, _new("big", mem=10**6))


def test_exclusion_tags_keep_primaries_apart():
    m = generate_cluster(3, seed=4, per_node=(0, 0))
    m.cluster_tags.append("htools:iextags:svc")
    m.rebuild()
    a = allocate(m, Instance("a", 1024, 1024, 1, "running", -1, -1, "drbd", tags=["svc:db"]))
    b = allocate(m, Instance("b", 1024, 1024, 1, "running", -1, -1, "drbd", tags=["svc:db"]))
    assert a.pnode != b.pnode


def test_relocate_evacuate_change_group_and_multi_allocate():
    m = generate_cluster(6, seed=2, per_node=(3, 4))
    x = m.instances[0]
    old_s = m.nodes[x.snode].name
    new_s = relocate_secondary(m, x.name, [old_s])
    assert new_s not in (old_s, m.nodes[x.pnode].name)
    moved, failed, jobs = evacuate(m, [m.instances[1].name], "secondary-only")
    assert len(moved) + len(failed) == 1 and len(jobs) == len(moved)
    moved, failed, _ = evacuate(m, [m.instances[2].name], "all")
    assert moved and not failed
    done, bad = multi_allocate(m, [_new("m1"), _new("m2", mem=10**9)])
    assert [d[0] for d in done] == ["m1"] and bad == ["m2"]
    _, failed, _ = change_group(m, [m.instances[3].name])
    assert failed  # a single group: nowhere to go
    with pytest.raises(OpPrereqError):
        evacuate(m, ["nope"], "all")


def test_iallocator_round_trip_and_main(tmp_path, capsys):
    m = generate_cluster(5, seed=3, per_node=(2, 3))
    rq = {
        "type": "allocate", "name": "new1", "memory": 1024, "vcpus": 1, "disk_template": "drbd",
        "disks": [{"size": 10240, "mode": "rw"}], "disk_space_total": 10240, "tags": [],
        "spindle_use": 1, "required_nodes": 2, "nics": [],
    }  # fmt: skip
    req = build_request(m, rq)
    path = tmp_path / "req.json"
    path.write_text(json.dumps(req))
    assert main([str(path)]) == 0
    resp = json.loads(capsys.readouterr().out)
    assert resp["success"] and len(resp["result"]) == 2
    req["request"] = {"type": "relocate", "name": m.instances[0].name, "relocate_from": [], "required_nodes": 1}
    assert process_request(req)["success"]
    req["request"] = {"type": "node-evacuate", "instances": [m.instances[0].name], "evac_mode": "all"}
    moved, failed, jobs = process_request(req)["result"]
    assert len(moved) == 1 and jobs[0][0]["OP_ID"].startswith("OP_INSTANCE_")
    req["request"] = {"type": "multi-allocate", "instances": [dict(rq, name="a"), dict(rq, name="b")]}
    ok, bad = process_request(req)["result"]
    assert [n for n, _ in ok] == ["a", "b"] and bad == []
    req["request"] = {"type": "frobnicate"}
    assert process_request(req) == {"success": False, "info": "invalid request type 'frobnicate'", "result": []}


def test_builtin_answer_is_accepted_by_hail_shape(tmp_path):
    exe = htool("hail") or "/usr/lib/ganeti/3.0/usr/lib/ganeti/iallocators/hail"
    if not Path(exe).exists():
        pytest.skip("ganeti-htools-3.0 (hail) not installed")
    m = generate_cluster(5, seed=8, per_node=(1, 2))
    rq = {
        "type": "allocate", "name": "n", "memory": 1024, "vcpus": 1, "disk_template": "drbd",
        "disks": [{"size": 1024, "mode": "rw"}], "disk_space_total": 1024, "tags": [],
        "spindle_use": 1, "required_nodes": 2, "nics": [],
    }  # fmt: skip
    path = tmp_path / "req.json"
    path.write_text(json.dumps(build_request(m, rq)))
    out = json.loads(subprocess.run([exe, str(path)], capture_output=True, text=True, timeout=60).stdout)
    assert out["success"], out["info"]  # hail parses the request gnt builds


def test_capacity_counts_and_keeps_n_plus_one(tmp_path):
    m = generate_cluster(8, seed=6, per_node=(3, 5))
    res = capacity(m, ISpec(4096, 1, 10240, 1, 1, 1))
    assert res.count > 0 and res.fail_reason
    assert len(m.instances) == res.initial_instances  # input untouched
    assert any("instances allocated" in line for line in format_capacity(res))
    tiered = capacity(m, tiered=True)
    assert tiered.count >= 1
    exe = htool("hspace")
    if exe:
        path = tmp_path / "c.txt"
        save_text(m, path)
        out = subprocess.run(
            [exe, "-t", str(path), "--standard-alloc=10240,4096,1"], capture_output=True, text=True, timeout=120
        ).stdout
        found = re.search(r"Normal \(fixed-size\) allocation results:\n\s+-\s+(\d+) instances", out)
        if found:
            assert abs(res.count - int(found.group(1))) <= max(2, res.count // 10)


def test_model_from_rapi_reference_shapes():
    if not (REF / "rapi-nodes-bulk.json").exists():
        pytest.skip("reference outputs not available")
    nodes = json.loads((REF / "rapi-nodes-bulk.json").read_text())
    insts = json.loads((REF / "rapi-instances-bulk.json").read_text())
    m = model_from_rapi(nodes, insts, [], {})
    assert len(m.nodes) == 3 and len(m.instances) == len(insts)
    assert {x.template for x in m.instances} >= {"diskless", "sharedfile"}
    p = allocate(m, Instance("y", 128, 0, 1, "running", -1, -1, "diskless"))
    assert p.snode == -1 and not np.isnan(p.score)


def test_an_instance_with_an_oversized_value_in_the_config_is_named_not_a_traceback() -> None:
    """Configs written before opcodes carried ranges may hold vcpus=1e20: say which instance."""
    from gnt.alloc.rapi import model_from_rapi
    from gnt.errors import OpPrereqError

    nodes = [{"name": "n1", "mtotal": 1024, "mfree": 1024, "dtotal": 1024, "dfree": 1024, "ctotal": 4}]
    inst = {"name": "big", "pnode": "n1", "beparams": {"vcpus": 99999999999999999999}, "disk.sizes": []}
    with pytest.raises(OpPrereqError, match="instance big: vcpus 99999999999999999999 is out of range"):
        model_from_rapi(nodes, [inst])


def _tagged_cluster() -> object:
    """4 nodes; `a` (drbd, node0/node1) shares exclusion tag svc:db with primaries on every other node."""
    from gnt.alloc.ops import add_instance, place

    m = generate_cluster(4, seed=4, per_node=(0, 0))
    m.cluster_tags.append("htools:iextags:svc")
    m.rebuild()
    for name, p, s in (("a", 0, 1), ("b", 1, 2), ("c", 2, 3), ("d", 3, 2)):
        idx = add_instance(m, Instance(name, 1024, 1024, 1, "running", -1, -1, "drbd", tags=["svc:db"]))
        place(m, idx, p, s)
    return m


@pytest.mark.parametrize("mode", ["primary-only", "all"])
def test_evacuation_blocked_only_by_exclusion_tags_is_planned_with_ignore_soft_errors(mode: str) -> None:
    """hail's --ignore-soft-errors: exclusion tags are a soft constraint; without the flag the
    instance cannot leave node0 (every target holds a svc:db primary), with it the move is planned."""
    _, failed, jobs = evacuate(_tagged_cluster(), ["a"], mode)
    assert [f[0] for f in failed] == ["a"] and jobs == []
    if mode == "all":  # the reason names the soft error (htools' FailTags)
        assert "FailTags: 2" in failed[0][1]
    moved, failed, jobs = evacuate(_tagged_cluster(), ["a"], mode, ignore_soft_errors=True)
    assert failed == [] and [mv[0] for mv in moved] == ["a"] and len(jobs) == 1
    assert moved[0][2][0] != "node001"  # the new primary is not the evacuated node


def test_ignore_soft_errors_reaches_the_allocator_through_the_protocol(tmp_path, capsys) -> None:
    """Ganeti passes --ignore-soft-errors on hail's command line, not in the request."""
    req = build_request(_tagged_cluster(), {"type": "node-evacuate", "instances": ["a"], "evac_mode": "primary-only"})
    assert process_request(req)["result"][0] == []
    assert [mv[0] for mv in process_request(req, ignore_soft_errors=True)["result"][0]] == ["a"]
    path = tmp_path / "req.json"
    path.write_text(json.dumps(req))
    assert main([str(path), "--ignore-soft-errors"]) == 0
    assert [mv[0] for mv in json.loads(capsys.readouterr().out)["result"][0]] == ["a"]
    assert main([str(path)]) == 0
    assert json.loads(capsys.readouterr().out)["result"][0] == []
