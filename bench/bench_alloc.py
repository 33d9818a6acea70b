"""Benchmark: gnt's balancer, capacity planner and allocator against Ganeti's htools.

Generates seeded, unbalanced DRBD clusters (10-20 instances per node at 20, 50 and 100 nodes;
20 per node, i.e. 4,000 instances, at 200 nodes, the issue's large-cluster case) in the htools
text format, then runs side by side:

- balance:  gnt `balance()`          vs `hbal -t FILE`   (hbal capped by --hbal-cap seconds)
- capacity: gnt `capacity()` standard (1 GiB/10 GiB/1 CPU) + tiered vs `hspace -t FILE
            --standard-alloc=10240,1024,1` (which also runs tiered); capped likewise
- allocate: gnt one DRBD allocation  vs `hail REQUEST`   (on the balanced state)

Scores are Ganeti's; gnt's final state is saved with `save_text` and re-scored with
`hinfo -t` to show both tools agree. Prints a table and merges its rows (by node count) into
bench/results/alloc.json, so a run with --sizes 200 keeps the other sizes' rows.

`--tagged` runs the same clusters with failure domains (`htools:nlocation:rack`, a rack per 10
nodes) and exclusion tags (`htools:iextags:svc`, half the instances in services of 8), the case
where the balancer scores the location-exclusion component for every candidate move; its rows go
to bench/results/alloc_tagged.json.

    python bench/bench_alloc.py [--sizes 20,50,100,200] [--hbal-cap 240] [--no-htools] [--tagged]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gnt.alloc import (  # noqa: E402
    ClusterModel,
    Instance,
    ISpec,
    allocate,
    balance,
    build_request,
    capacity,
    generate_cluster,
    load_text,
    save_text,
)

#: Instances per node (min, max) by node count; other sizes use generate_cluster's 10-20.
PER_NODE = {200: (20, 20)}

HT = Path("/usr/lib/ganeti/3.0/usr/bin")
HAIL = Path("/usr/lib/ganeti/3.0/usr/lib/ganeti/iallocators/hail")


def _tool(name: str) -> str | None:
    p = HAIL if name == "hail" else HT / name
    return str(p) if p.exists() else shutil.which(name)


def _run(cmd: list[str], cap: float) -> tuple[str, float, bool]:
    """Run a command with a wall-clock cap; returns (stdout so far, seconds, timed out)."""
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out, _ = proc.communicate(timeout=cap)
        return out, time.monotonic() - t0, False
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate()
        return out, time.monotonic() - t0, True


def hbal(path: Path, cap: float) -> dict:
    """hbal's result; when capped, the last step it printed is what it reached in time."""
    out, secs, capped = _run([_tool("hbal"), "-t", str(path)], cap)
    ini = re.search(r"Initial score: ([0-9.]+)", out)
    steps = re.findall(r"^\s+(\d+)\. \S+ .*? ([0-9]+\.[0-9]+) a=", out, re.M)
    final = float(steps[-1][1]) if steps else (float(ini.group(1)) if ini else None)
    return {
        "seconds": round(secs, 2),
        "capped": capped,
        "initial": float(ini.group(1)) if ini else None,
        "final": final,
        "moves": len(steps),
    }


def hspace(path: Path, cap: float) -> dict:
    out, secs, capped = _run([_tool("hspace"), "-t", str(path), "--standard-alloc=10240,1024,1"], cap)
    n = re.search(r"Normal \(fixed-size\) allocation results:\n\s+-\s+(\d+|no) instances", out)
    if n and n.group(1) == "no":
        return {"seconds": round(secs, 2), "capped": capped, "instances": 0}
    return {"seconds": round(secs, 2), "capped": capped, "instances": int(n.group(1)) if n else None}


def hinfo(path: Path) -> float | None:
    out, _, _ = _run([_tool("hinfo"), "-t", str(path)], 120)
    m = re.search(r"Cluster score: ([0-9.]+)", out)
    return float(m.group(1)) if m else None


def _alloc_request() -> dict:
    return {
        "type": "allocate", "name": "bench-new", "memory": 2048, "vcpus": 1, "disk_template": "drbd",
        "disks": [{"size": 10240, "mode": "rw"}], "disk_space_total": 10240, "tags": [], "spindle_use": 1,
        "required_nodes": 2, "nics": [], "os": "noop", "hypervisor": "kvm",
    }  # fmt: skip


def tag_cluster(model: ClusterModel) -> ClusterModel:
    """Failure domains and exclusion tags on a generated cluster: a rack per 10 nodes (at least two),
    every other instance in a service of about 8 instances."""
    racks = max(2, len(model.nodes) // 10)
    for i, node in enumerate(model.nodes):
        node.tags = [f"rack:r{i % racks}"]
    services = max(1, len(model.instances) // 16)
    for j, inst in enumerate(model.instances):
        inst.tags = [f"svc:s{(j // 2) % services}"] if j % 2 == 0 else []
    model.cluster_tags = ["htools:nlocation:rack", "htools:iextags:svc"]
    model.rebuild()
    return model


def bench_size(
    n: int, work: Path, cap: float, htools: bool, gnt_limit: float, only_capacity: bool = False, tagged: bool = False
) -> dict:
    model = generate_cluster(n, seed=n, **({"per_node": PER_NODE[n]} if n in PER_NODE else {}))
    if tagged:
        model = tag_cluster(model)
    src = work / f"cluster-{n}.txt"
    save_text(model, src)
    row: dict = {"nodes": n, "instances": len(model.instances), "tagged": tagged}
    m = load_text(src)
    cpu0 = time.process_time()
    plan = balance(m, max_moves=100_000, time_limit=gnt_limit)
    cpu = time.process_time() - cpu0
    out = work / f"cluster-{n}-balanced.txt"
    save_text(m, out)
    row["gnt_balance"] = {
        "seconds": round(plan.seconds, 2),
        "cpu_seconds": round(cpu, 2),
        "initial": plan.initial_score,
        "final": plan.final_score,
        "moves": len(plan.moves),
        "jobsets": len(plan.jobsets),
    }
    # Capacity is planned on the balanced state: hspace 3.0 allocates nothing while the
    # group fails N+1 (its global N+1 check), which the generated inputs do on purpose.
    # CPU seconds beside wall seconds: the machine is shared, CPU time is what the code costs
    t0, cpu0 = time.monotonic(), time.process_time()
    res = capacity(load_text(out), ISpec(1024, 1, 10240, 1, 1, 1))
    std_s, std_cpu = time.monotonic() - t0, time.process_time() - cpu0
    row["gnt_capacity"] = {
        "seconds": round(std_s, 3),
        "cpu_seconds": round(std_cpu, 3),
        "instances": res.count,
        "final_score": res.final_score,
    }
    cpu0 = time.process_time()
    tiered = capacity(load_text(out), tiered=True)
    row["gnt_capacity"].update(
        tiered_seconds=round(tiered.seconds, 3),
        tiered_cpu_seconds=round(time.process_time() - cpu0, 3),
        tiered_instances=tiered.count,
        tiered_specs=[[s.mem, s.disk, s.cpu, k] for s, k in tiered.allocated],
        tiered_final_score=tiered.final_score,
    )
    bal = load_text(out)
    allocate(bal, Instance("warm", 2048, 10240, 1, "running", -1, -1, "drbd"), commit=False)
    t0 = time.perf_counter()
    allocate(bal, Instance("bench-new", 2048, 10240, 1, "running", -1, -1, "drbd"), commit=False)
    row["gnt_alloc_ms"] = round((time.perf_counter() - t0) * 1000, 2)
    if htools and _tool("hbal"):
        row["hinfo_of_gnt_result"] = hinfo(out)
        if not only_capacity:
            row["hbal"] = hbal(src, cap)
        row["hspace"] = hspace(out, cap)
        req = work / f"req-{n}.json"
        req.write_text(json.dumps(build_request(bal, _alloc_request())))
        t0 = time.perf_counter()
        res_h, _, _ = _run([_tool("hail"), str(req)], 120)
        row["hail_ms"] = round((time.perf_counter() - t0) * 1000, 1)
        row["hail_ok"] = '"success":true' in res_h.replace(" ", "")
    return row


def _fmt(v, f: str = "{:.2f}") -> str:
    return "-" if v is None else f.format(v)


def print_table(rows: list[dict], cap: float) -> None:
    print(f"\nhbal/hspace runs capped at {cap:.0f} s wall clock each (a capped hbal is scored by its last step).")
    print(f"{'nodes':>5} {'inst':>5} | {'tool':<6} {'time s':>8} {'initial':>12} {'final':>12} {'moves':>6}")
    for r in (r for r in rows if "gnt_balance" in r):
        g, h = r["gnt_balance"], r.get("hbal", {})
        print(
            f"{r['nodes']:>5} {r['instances']:>5} | {'gnt':<6} {g['seconds']:>8.2f} {g['initial']:>12.4f} "
            f"{g['final']:>12.6f} {g['moves']:>6}"
        )
        if h:
            cap_mark = " (capped)" if h["capped"] else ""
            print(
                f"{'':>11} | {'hbal':<6} {h['seconds']:>8.2f} {_fmt(h['initial'], '{:.4f}'):>12} "
                f"{_fmt(h['final'], '{:.6f}'):>12} {h['moves']:>6}{cap_mark}"
            )
    print(f"\n{'nodes':>5} | {'gnt cap s':>9} {'gnt inst':>8} | {'hspace s':>9} {'hs inst':>8} | {'gnt alloc ms':>12} "
          f"{'hail ms':>8} | hinfo(gnt -S)")  # fmt: skip
    for r in rows:
        if "gnt_balance" not in r:
            continue
        hs = r.get("hspace", {})
        hs_s = _fmt(hs.get("seconds")) + ("+" if hs.get("capped") else "")
        print(
            f"{r['nodes']:>5} | {r['gnt_capacity']['seconds']:>9.3f} {r['gnt_capacity']['instances']:>8} | "
            f"{hs_s:>9} {_fmt(hs.get('instances'), '{}'):>8} | {r['gnt_alloc_ms']:>12.2f} "
            f"{_fmt(r.get('hail_ms'), '{:.1f}'):>8} | {_fmt(r.get('hinfo_of_gnt_result'), '{:.8f}')}"
        )


def print_capacity_cpu(rows: list[dict]) -> None:
    """The capacity planner's cost in CPU seconds (standard and tiered) and what it found."""
    print(f"\n{'nodes':>5} {'inst':>5} | {'std cpu s':>9} {'std inst':>8} | {'tiered cpu s':>12} {'tiered inst':>11}")
    for r in rows:
        c = r.get("gnt_capacity", {})
        print(
            f"{r['nodes']:>5} {_fmt(r.get('instances'), '{}'):>5} | {_fmt(c.get('cpu_seconds'), '{:.2f}'):>9} "
            f"{_fmt(c.get('instances'), '{}'):>8} | {_fmt(c.get('tiered_cpu_seconds'), '{:.2f}'):>12} "
            f"{_fmt(c.get('tiered_instances'), '{}'):>11}"
        )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="20,50,100,200")
    ap.add_argument("--hbal-cap", type=float, default=150.0, help="wall-clock cap per hbal/hspace run (s)")
    ap.add_argument("--gnt-limit", type=float, default=120.0, help="time limit for gnt's balancer (s)")
    ap.add_argument("--no-htools", action="store_true")
    ap.add_argument("--capacity-only", action="store_true", help="skip hbal; merge capacity rows into --out")
    ap.add_argument("--tagged", action="store_true", help="racks and exclusion tags (default out: alloc_tagged.json)")
    ap.add_argument("--out", default=None, help="results file (default bench/results/alloc.json)")
    args = ap.parse_args()
    args.out = args.out or str(ROOT / "bench" / "results" / ("alloc_tagged.json" if args.tagged else "alloc.json"))
    htools = not args.no_htools and _tool("hbal") is not None
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(x) for x in args.sizes.split(",")):
            only_cap = args.capacity_only
            rows.append(bench_size(n, Path(tmp), args.hbal_cap, htools, args.gnt_limit, only_cap, args.tagged))
            print(json.dumps(rows[-1]), flush=True)
    out_path = Path(args.out)
    old: dict[int, dict] = {}
    if out_path.exists():
        prev = json.loads(out_path.read_text())
        old = {r["nodes"]: {"hbal_cap_s": prev.get("hbal_cap_s"), **r} for r in prev["rows"]}
    for r in rows:
        if args.capacity_only:
            keep = old.get(r["nodes"], {k: r[k] for k in ("nodes", "instances", "tagged")})
            keep.setdefault("gnt_capacity", {}).update(r["gnt_capacity"])
            if "hspace" in r:
                keep["hspace"] = r["hspace"]
            old[r["nodes"]] = keep
        else:
            old[r["nodes"]] = {**r, "hbal_cap_s": args.hbal_cap}
    rows = [old[k] for k in sorted(old)]
    print_table(rows, args.hbal_cap)
    print_capacity_cpu(rows)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"hbal_cap_s": args.hbal_cap, "rows": rows}, indent=2) + "\n")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
