#!/usr/bin/env python3
"""What replicating the job queue to master candidates costs per job (design 008).

One 3-node virtual cluster. Rounds alternate between two states of the same cluster:
"2 candidates" (node2 and node3 are master candidates, so every queue write goes to both and the
master waits for them) and "0 candidates" (both demoted with `gnt-node modify -C no`, so nothing is
replicated). Alternating rounds in one run keeps the comparison fair on a machine whose load changes.
Each round measures single no-op jobs over the API (submit and wait, one at a time: the latency a
script sees) and a burst of no-op jobs (throughput). Writes bench/results/queue_replication.json.

    python3 bench/bench_queue_replication.py              # 4 rounds per state
    python3 bench/bench_queue_replication.py --rounds 2   # quicker
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    RESULTS,
    VCluster,
    loadavg,
    noop_op,
    submit_all,
    summary,
    table,
    wait_all,
    wait_job,
    write_json,
)

STATES = {"2 candidates": "yes", "0 candidates": "no"}


def set_candidates(cluster: VCluster, flag: str) -> None:
    for node in ("node2", "node3"):
        cluster.run("gnt-node", "modify", "-C", flag, "--force", node)


def latencies(cluster: VCluster, samples: int) -> list[float]:
    client = cluster.client()
    for _ in range(5):
        wait_job(client, client.submit([noop_op()]))
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        status = wait_job(client, client.submit([noop_op()]))
        times.append(time.perf_counter() - start)
        if status != "success":
            raise RuntimeError(f"no-op job ended {status}")
    return times


def throughput(cluster: VCluster, count: int) -> float:
    client = cluster.client()
    start = time.perf_counter()
    wait_all(client, submit_all(client, [[noop_op()] for _ in range(count)]))
    return count / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4, help="rounds per state (alternating)")
    parser.add_argument("--samples", type=int, default=100, help="single jobs per round")
    parser.add_argument("--burst", type=int, default=500, help="jobs per throughput burst")
    parser.add_argument("-s", "--subnet", type=int, default=183, help="third octet of the loopback addresses")
    parser.add_argument("--output", type=Path, default=RESULTS / "queue_replication.json")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="gnt-bench-qrep-"))
    cluster = VCluster(work / "vc", 3, args.subnet)
    cluster.start()
    results: dict[str, dict[str, list[float]]] = {s: {"latency_s": [], "throughput": []} for s in STATES}
    load_start = loadavg()
    try:
        cluster.init()
        for node in ("node2", "node3"):
            cluster.run("gnt-node", "add", node)
        for round_no in range(args.rounds):
            for state, flag in STATES.items():
                set_candidates(cluster, flag)
                lat = latencies(cluster, args.samples)
                rate = throughput(cluster, args.burst)
                results[state]["latency_s"] += lat
                results[state]["throughput"].append(rate)
                print(
                    f"round {round_no + 1} {state}: p50 {summary(lat)['p50'] * 1000:.2f} ms, {rate:.0f} jobs/s",
                    flush=True,
                )
    finally:
        cluster.stop()

    rows, out = [], {}
    for state, data in results.items():
        lat = summary(data["latency_s"])
        best_rate = max(data["throughput"])
        out[state] = {
            "latency_ms": {k: (v * 1000 if k != "n" else v) for k, v in lat.items()},
            "throughput_jobs_per_s": data["throughput"],
        }
        rows.append([state, f"{lat['p50'] * 1000:.2f}", f"{lat['p95'] * 1000:.2f}", f"{best_rate:.0f}"])
    with_rep, without = out["2 candidates"], out["0 candidates"]
    added = with_rep["latency_ms"]["p50"] - without["latency_ms"]["p50"]
    print(table(rows, ["state", "single job p50 ms", "p95 ms", "burst jobs/s (best)"]))
    print(f"queue replication to 2 candidates adds {added:.2f} ms to a single no-op job's p50")
    write_json(
        args.output,
        {
            "benchmark": "queue_replication",
            "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "machine": {"python": platform.python_version(), "loadavg_start": load_start, "loadavg_end": loadavg()},
            "rounds": args.rounds,
            "samples_per_round": args.samples,
            "burst": args.burst,
            "states": out,
            "added_p50_ms": added,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
