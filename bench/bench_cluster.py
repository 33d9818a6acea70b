#!/usr/bin/env python3
"""Cluster benchmark: gnt on a 3-node virtual cluster against issue 2's targets and Ganeti 3.0.2.

Everything goes through the real daemons: the CLI from the shell (DIR/node1/cmd gnt-...), jobs through
the master's unix socket with gnt.cli.client.Client. Prints each measurement as it completes, then a
table; writes JSON (default bench/results/cluster.json).

    python3 bench/bench_cluster.py            # full run (~10-15 min), includes the 50-node check
    python3 bench/bench_cluster.py --quick    # reduced run (< ~2 min), no 50-node check
    python3 bench/bench_cluster.py --nodes50  # only the 50-node check
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    RESULTS,
    VCluster,
    children,
    create_op,
    job_failure,
    loadavg,
    noop_op,
    rss_mb,
    submit_all,
    summary,
    table,
    timed,
    wait_all,
    wait_job,
    write_json,
)


@dataclass
class Metric:
    key: str
    label: str
    unit: str
    target: float | None = None  # None: reported only
    ganeti: str = ""  # Ganeti 3.0.2's number as quoted in issue 2
    higher_is_better: bool = False
    value: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def met(self) -> bool | None:
        if self.target is None or self.value is None:
            return None
        return self.value >= self.target if self.higher_is_better else self.value <= self.target

    def target_text(self) -> str:
        if self.target is None:
            return "-"
        return f"{'>=' if self.higher_is_better else '<='} {fmt(self.target)} {self.unit}"

    def value_text(self) -> str:
        if self.error:
            return "ERROR"
        return "-" if self.value is None else f"{fmt(self.value)} {self.unit}"


def fmt(value: float) -> str:
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


METRICS = [
    Metric("cluster_init", "gnt-cluster init (shell)", "s", 1.0, "9.8 s"),
    Metric("node_add", "gnt-node add (shell, median)", "s", 1.0, "4.8 s"),
    Metric("cli_start", "CLI start: gnt-cluster version (median)", "ms", 100.0),
    Metric("noop_api_p50", "no-op job over the API, p50", "ms", 5.0, "640 ms"),
    Metric("noop_api_p95", "no-op job over the API, p95", "ms"),
    Metric("noop_shell", "gnt-debug delay 0 (shell, median)", "ms"),
    Metric("noop_throughput", "no-op jobs/s, N submitted together", "jobs/s", 500.0, "~1.8 jobs/s", True),
    Metric("bulk_create_200", "200 creates submitted together, all done", "s", 5.0, "~200 s (~1/s)"),
    Metric("list_200", "gnt-instance list at 200 instances (median, cold)", "ms", 100.0, "280 ms"),
    Metric("verify_200", "gnt-cluster verify at 200 instances (median)", "s", 0.5, "4 s"),
    Metric("instance_add", "gnt-instance add, fake diskless started (shell, median)", "ms", 150.0, "2.3 s"),
    Metric("list_1000", "gnt-instance list at 1,000 instances (median, cold)", "ms"),
    Metric("rss_noded", "RSS per node daemon at 1,000 instances (max)", "MB", 40.0),
    Metric("rss_master", "RSS of gnt-masterd at 1,000 instances", "MB", 120.0),
    Metric("list_5000", "gnt-instance list at 5,000 instances (median, cold)", "ms", 300.0),
    Metric("rss_master_5000", "RSS of gnt-masterd at 5,000 instances", "MB"),
    Metric("fill_rate", "bulk creates, --no-start, batches of 500", "inst/s"),
    Metric("nodes50_add", "50 nodes: gnt-node add per node (median)", "s", 1.0, "4.8 s"),
    Metric("nodes50_create", "50 nodes: one instance per node, submitted together", "s"),
    Metric("nodes50_list", "50 nodes: gnt-instance list (median)", "ms"),
]
BY_KEY = {m.key: m for m in METRICS}


def record(key: str, value: float, **detail: Any) -> None:
    metric = BY_KEY[key]
    metric.value = value
    metric.detail.update(detail)
    metric.detail.setdefault("loadavg", loadavg())
    met = metric.met
    flag = "" if met is None else ("  (target met)" if met else f"  (TARGET MISSED: {metric.target_text()})")
    print(f"  {metric.label}: {metric.value_text()}{flag}", flush=True)


def fail(keys: list[str], err: BaseException) -> None:
    text = f"{type(err).__name__}: {err}"
    keys = [key for key in keys if BY_KEY[key].value is None]
    for key in keys:
        BY_KEY[key].error = text
    print(f"  ERROR ({', '.join(keys)} not measured): {text}", flush=True)
    traceback.print_exc()


def ms(seconds: float) -> float:
    return seconds * 1000


def median(values: list[float]) -> float:
    return summary(values)["p50"]


def shell(
    cluster: VCluster, argv: list[str], samples: int, warmup: int = 0, before: Callable[[], Any] | None = None
) -> tuple[list[float], dict[str, Any]]:
    """Run a CLI command `samples` times (after `warmup` unmeasured runs; `before` untimed before each); return
    the wall times and details (samples in ms, the client process's own CPU time: the rest of the wall time is
    the daemons or waiting)."""
    walls, cpus = [], []
    for i in range(warmup + samples):
        if before is not None:
            before()
        wall = cluster.run(*argv, check=False)[0]
        if cluster.last_rc:
            problem(f"{' '.join(argv)} exited {cluster.last_rc}: {cluster.last_output[-400:]}")
        if i >= warmup:
            walls.append(wall)
            cpus.append(cluster.last_cpu)
    return walls, {"samples_ms": [round(ms(t), 2) for t in walls], "client_cpu_ms_median": ms(median(cpus))}


# -- the 3-node cluster -------------------------------------------------------------------------------


def build_cluster(args: argparse.Namespace, work: Path, name: str) -> VCluster:
    env = {"GNT_FAKE_MEMORY_MB": str(args.fake_memory_mb)}
    return VCluster(work / name, 3, args.subnet, env)


def bench_init(args: argparse.Namespace, work: Path) -> VCluster:
    """gnt-cluster init and gnt-node add on fresh clusters; the last one stays up for the rest."""
    init_times: list[float] = []
    add_times: list[float] = []
    cluster = None
    for sample in range(args.init_samples):
        cluster = build_cluster(args, work, f"vc{sample + 1}")
        cluster.start()
        try:
            init_times.append(cluster.init())
            for node in ("node2", "node3"):
                add_times.append(cluster.run("gnt-node", "add", node)[0])
        except BaseException:
            cluster.stop()
            raise
        if sample < args.init_samples - 1:
            cluster.stop()
    record("cluster_init", median(init_times), samples_s=init_times)
    record("node_add", median(add_times), samples_s=add_times)
    assert cluster is not None
    return cluster


def bench_cli_start(args: argparse.Namespace, cluster: VCluster) -> None:
    times, detail = shell(cluster, ["gnt-cluster", "version"], args.cli_samples, warmup=1)
    record("cli_start", ms(median(times)), **detail)


def bench_noop(args: argparse.Namespace, cluster: VCluster) -> None:
    client = cluster.client()
    for _ in range(10):  # warm up: connection, code paths
        wait_job(client, client.submit([noop_op()]))
    times = []
    for _ in range(args.noop_samples):
        start = time.perf_counter()
        job_id = client.submit([noop_op()])
        status = wait_job(client, job_id)
        times.append(time.perf_counter() - start)
        if status != "success":
            raise RuntimeError(f"no-op job {job_id} ended {status}")
    stats = {k: ms(v) if k != "n" else v for k, v in summary(times).items()}
    record("noop_api_p50", stats["p50"], **stats)
    record("noop_api_p95", stats["p95"])

    times, detail = shell(cluster, ["gnt-debug", "delay", "0"], args.shell_noop_samples)
    record("noop_shell", ms(median(times)), **detail)

    count = args.throughput_jobs
    start = time.perf_counter()
    ids = submit_all(client, [[noop_op()] for _ in range(count)])
    submitted = time.perf_counter() - start
    wait_all(client, ids)
    elapsed = time.perf_counter() - start
    record("noop_throughput", count / elapsed, jobs=count, total_s=elapsed, submit_s=submitted)


LIST_FIELDS = "name,hypervisor,os,pnode,status,oper_ram"  # gnt-instance list's defaults


def measure_list(args: argparse.Namespace, cluster: VCluster, key: str, **extra: Any) -> None:
    """`gnt-instance list` as an admin meets it: the master's live-data cache (2 s, dropped by every job) cold,
    which a no-op job before each sample ensures. Back-to-back lists (cache warm) go in the details."""
    client = cluster.client()

    def drop_cache() -> None:
        wait_job(client, client.submit([noop_op()]))

    cold, detail = shell(cluster, ["gnt-instance", "list"], args.list_samples, before=drop_cache)
    warm, warm_detail = shell(cluster, ["gnt-instance", "list"], args.list_samples, warmup=1)
    detail["warm_cache_ms_median"] = ms(median(warm))
    detail["warm_cache_samples_ms"] = warm_detail["samples_ms"]
    api = []  # the same query without the CLI: what the master and the nodes take
    for _ in range(args.list_samples):
        drop_cache()
        api.append(timed(lambda: client.get("/2/query/instance", fields=LIST_FIELDS))[0])
    detail["api_cold_ms_median"] = ms(median(api))
    record(key, ms(median(cold)), **detail, **extra)
    print(
        f"    (live cache warm, back-to-back lists: {ms(median(warm)):.0f} ms; the query alone over the API, cold:"
        f" {ms(median(api)):.1f} ms; CLI process CPU {detail['client_cpu_ms_median']:.0f} ms)",
        flush=True,
    )


PROBLEMS: list[str] = []


def problem(text: str) -> None:
    """Something in gnt misbehaved during a measurement (reported in the table's footer and the JSON)."""
    PROBLEMS.append(text)
    print(f"  PROBLEM: {text}", flush=True)


def spread(names: list[str], nodes: list[str]) -> list[tuple[str, str]]:
    """(instance, primary node) pairs, round-robin over the nodes."""
    return [(name, nodes[i % len(nodes)]) for i, name in enumerate(names)]


def create_batch(client: Any, placements: list[tuple[str, str]], start: bool, memory: int) -> tuple[float, list]:
    """Submit creates together and wait for all; return (seconds, the (name, node) pairs that failed)."""
    begin = time.perf_counter()
    ids = submit_all(client, [[create_op(name, node, start, memory)] for name, node in placements])
    statuses = wait_all(client, ids, strict=False)
    elapsed = time.perf_counter() - begin
    by_id = dict(zip(ids, placements, strict=True))
    failed = [by_id[j] for j in statuses["failed"]]
    for job_id in statuses["failed"][:3]:
        problem(job_failure(client, job_id))
    if len(failed) > 3:
        problem(f"... {len(failed) - 3} more failed creates")
    return elapsed, failed


def create_retrying(client: Any, placements: list[tuple[str, str]], start: bool, memory: int) -> tuple[float, int]:
    """create_batch, then again for the ones that failed (twice at most); return (seconds, failures)."""
    elapsed, failed = create_batch(client, placements, start, memory)
    failures = len(failed)
    for _ in range(2):
        if not failed:
            break
        more, failed = create_batch(client, failed, start, memory)
        elapsed += more
        failures += len(failed)
    if failed:
        raise RuntimeError(f"{len(failed)} creates still failing after retries: {failed[:5]}")
    return elapsed, failures


def bench_instances(args: argparse.Namespace, cluster: VCluster) -> None:
    client = cluster.client()
    nodes = ["node1", "node2", "node3"]
    count = 0

    names = [f"bulk{i:04d}" for i in range(200)]
    elapsed, failed = create_batch(client, spread(names, nodes), True, 64)
    record("bulk_create_200", elapsed, per_instance_ms=ms(elapsed / 200), rate_per_s=200 / elapsed, failed=len(failed))
    if failed:  # the rest of the run still wants 200 instances
        create_retrying(client, failed, True, 64)
    count += 200

    measure_list(args, cluster, "list_200")
    verifies, detail = shell(cluster, ["gnt-cluster", "verify"], args.verify_samples)
    record("verify_200", median(verifies), **detail)

    adds, detail = [], {"samples_ms": [], "client_cpu_ms": []}
    for i in range(args.add_samples):
        argv = ["gnt-instance", "add", "-t", "diskless", "-o", "noop", "--no-name-check", "--no-ip-check"]
        times, one = shell(cluster, [*argv, "--no-nics", "-B", "memory=64M", "-n", nodes[i % 3], f"shell{i:03d}"], 1)
        adds += times
        detail["samples_ms"] += one["samples_ms"]
        detail["client_cpu_ms"].append(one["client_cpu_ms_median"])
    record("instance_add", ms(median(adds)), samples_ms=detail["samples_ms"],
           client_cpu_ms_median=median(detail["client_cpu_ms"]))  # fmt: skip
    count += len(adds)

    fill_time = 0.0
    fill_count = 0
    fill_failures = 0
    for target, key_list in ((1000, "list_1000"), (args.large, "list_5000")):
        if target <= count:
            continue
        while count < target:
            names = [f"fill{i:05d}" for i in range(count, min(target, count + 500))]
            elapsed, failures = create_retrying(client, spread(names, nodes), False, 4)
            fill_time += elapsed
            fill_count += len(names)
            fill_failures += failures
            count += len(names)
            print(f"    {count} instances ({len(names) / elapsed:.0f}/s)", flush=True)
        measure_list(args, cluster, key_list, instances=count)
        master = cluster.pid("node1", "gnt-masterd")
        if key_list == "list_1000":
            noded = {n: rss_mb(cluster.pid(n, "gnt-noded")) for n in nodes}
            record("rss_noded", max(v or 0 for v in noded.values()), per_node_mb=noded)
            kids = {pid: rss_mb(pid) for pid in children(master)}
            record("rss_master", rss_mb(master) or 0, children_mb=kids)
        else:
            record("rss_master_5000", rss_mb(master) or 0)
    if fill_count:
        record("fill_rate", fill_count / fill_time, instances=fill_count, seconds=fill_time, failed=fill_failures)


# -- 50 virtual nodes ---------------------------------------------------------------------------------


def bench_nodes50(args: argparse.Namespace, work: Path) -> None:
    count = 50
    cluster = VCluster(work / "vc50", count, args.subnet, {"GNT_FAKE_MEMORY_MB": str(args.fake_memory_mb)})
    begin = time.perf_counter()
    try:
        start_s = timed(cluster.start)[0]
        init_s = cluster.init()
        adds = [cluster.run("gnt-node", "add", f"node{i}")[0] for i in range(2, count + 1)]
        record("nodes50_add", median(adds), total_s=sum(adds), max_s=max(adds), start_all_s=start_s, init_s=init_s)
        client = cluster.client()
        nodes = [f"node{i}" for i in range(1, count + 1)]
        elapsed, failed = create_batch(client, spread([f"inst{i:02d}" for i in range(1, count + 1)], nodes), True, 64)
        record("nodes50_create", elapsed, failed=len(failed))
        if failed:
            create_retrying(client, failed, True, 64)
        lists = []
        for _ in range(3):
            elapsed, out = cluster.run("gnt-instance", "list", "--no-headers", "-o", "name,pnode,status")
            lists.append(elapsed)
        rows = [line.split() for line in out.splitlines() if line.strip()]
        running = sum(1 for r in rows if r[2] == "running")
        on_nodes = len({r[1] for r in rows})
        if running != count or on_nodes != count:
            raise RuntimeError(f"expected {count} running instances on {count} nodes, got {running} on {on_nodes}")
        master = cluster.pid("node1", "gnt-masterd")
        noded = [rss_mb(cluster.pid(n, "gnt-noded")) or 0 for n in nodes]
        record(
            "nodes50_list",
            ms(median(lists)),
            running=running,
            nodes=on_nodes,
            rss_master_mb=rss_mb(master),
            rss_noded_max_mb=max(noded),
            rss_noded_total_mb=sum(noded),
        )
    finally:
        stop_s = timed(cluster.stop)[0]
        print(f"  50-node step: {time.perf_counter() - begin:.1f} s in all (stop-all {stop_s:.1f} s)", flush=True)


# -- main -----------------------------------------------------------------------------------------------


def cpu_share(seconds: float = 0.3) -> float:
    """Share of one CPU a busy loop gets right now (1.0 on an idle machine; other sessions' load lowers it)."""
    wall0, cpu0 = time.perf_counter(), time.process_time()
    while time.process_time() - cpu0 < seconds:
        sum(range(1000))
    return (time.process_time() - cpu0) / (time.perf_counter() - wall0)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="reduced run: fewer samples, 1,000 instances at most")
    parser.add_argument("--nodes50", action="store_true", help="run only the 50-virtual-node check")
    parser.add_argument("--skip-nodes50", action="store_true", help="leave out the 50-virtual-node check")
    parser.add_argument("-s", "--subnet", type=int, default=180, help="third octet of the loopback addresses")
    parser.add_argument("--fake-memory-mb", type=int, default=1 << 20, help="GNT_FAKE_MEMORY_MB for the nodes")
    parser.add_argument("--output", type=Path, default=RESULTS / "cluster.json", help="where to write the JSON")
    parser.add_argument("--workdir", type=Path, default=None, help="directory for the clusters (default: temp)")
    parser.add_argument("--keep", action="store_true", help="keep the cluster directories")
    args = parser.parse_args()
    quick = args.quick
    args.init_samples = 1 if quick else 3
    args.cli_samples = 5 if quick else 20
    args.noop_samples = 50 if quick else 200
    args.shell_noop_samples = 3 if quick else 10
    args.throughput_jobs = 1000
    args.list_samples = 3 if quick else 11
    args.verify_samples = 1 if quick else 3
    args.add_samples = 5 if quick else 20
    args.large = 1000 if quick else 5000
    args.run_main = not args.nodes50
    args.run_nodes50 = args.nodes50 or not (quick or args.skip_nodes50)
    return args


def main() -> int:
    args = parse_args()
    work = Path(tempfile.mkdtemp(prefix="gnt-bench-", dir=args.workdir))
    began = time.perf_counter()
    load_start, share_start = loadavg(), cpu_share()
    print(
        f"gnt cluster benchmark ({'quick' if args.quick else 'full'}) in {work}; loadavg {load_start}, "
        f"a busy loop gets {share_start:.0%} of a CPU",
        flush=True,
    )
    try:
        if args.run_main:
            cluster = None
            try:
                print("3-node virtual cluster: init, node add", flush=True)
                cluster = bench_init(args, work)
                for title, step, keys in (
                    ("CLI start", bench_cli_start, ["cli_start"]),
                    ("no-op jobs", bench_noop, ["noop_api_p50", "noop_api_p95", "noop_shell", "noop_throughput"]),
                    (
                        "instances",
                        bench_instances,
                        ["bulk_create_200", "list_200", "verify_200", "instance_add", "list_1000", "rss_noded"]
                        + ["rss_master", "list_5000", "rss_master_5000", "fill_rate"],
                    ),
                ):
                    print(title, flush=True)
                    try:
                        step(args, cluster)
                    except Exception as err:  # keep going: later steps still say something
                        fail(keys, err)
            except Exception as err:
                fail([m.key for m in METRICS if not m.key.startswith("nodes50")], err)
            finally:
                if cluster is not None:
                    cluster.stop()
        if args.run_nodes50:
            print("50 virtual nodes: start, init, add 49 nodes, one instance each, list, stop", flush=True)
            try:
                bench_nodes50(args, work)
            except Exception as err:
                fail(["nodes50_add", "nodes50_create", "nodes50_list"], err)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    total = time.perf_counter() - began
    share_end = cpu_share()

    shown = [m for m in METRICS if m.value is not None or m.error]
    rows = []
    for m in shown:
        met = m.met
        verdict = "-" if met is None else "yes" if met else "NO"
        rows.append([m.label, m.value_text(), m.target_text(), m.ganeti or "-", verdict])
    print()
    print(table(rows, ["metric", "gnt", "target", "Ganeti 3.0.2", "met?"]))
    missed = [m.key for m in shown if m.met is False]
    for text in PROBLEMS:
        print(f"PROBLEM: {text}")
    print(f"\n{len(missed)} target(s) missed{': ' + ', '.join(missed) if missed else ''}; {total:.0f} s in all")
    print(f"machine: {os.cpu_count()} CPUs, loadavg {load_start} -> {loadavg()}, busy-loop CPU share "
          f"{share_start:.0%} -> {share_end:.0%} (wall times of CPU-bound steps scale with 1/share)")  # fmt: skip
    write_json(
        args.output,
        {
            "benchmark": "bench/bench_cluster.py",
            "mode": "quick" if args.quick else "full",
            "steps": {"main": args.run_main, "nodes50": args.run_nodes50},
            "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "kernel": platform.release(),
                "loadavg_start": load_start,
                "loadavg_end": loadavg(),
                "cpu_share_start": share_start,
                "cpu_share_end": share_end,
            },
            "duration_s": total,
            "missed": missed,
            "problems": PROBLEMS,
            "metrics": [
                {k: v for k, v in {**asdict(m), "met": m.met}.items() if v is not None and v != {}} for m in shown
            ],
        },
    )
    print(f"wrote {args.output}")
    return 1 if any(m.error for m in shown) else 0


if __name__ == "__main__":
    sys.exit(main())
