#!/usr/bin/env python3
"""`gnt-node add` and `gnt-cluster master-failover` on a virtual cluster (loopback), issue 9.

One N-node virtual cluster (default 4). `gnt-node add` of node2..nodeN from the shell, each issuing
the node a certificate of its own signed by the cluster CA (design 020), then `gnt-node add --readd`
of each (a new certificate, the old one refused). Then rounds of `gnt-cluster master-failover`, run
on the next master as an admin would, alternating node2 and node1: the time until the command
returns, and until the new master's queue answers a no-op job. Virtual nodes have no sshd, so the
SSH part of a real join (Ganeti: 2.7-5 s on loopback) is not in these numbers.
Writes bench/results/node_join_failover.json.

    python3 bench/bench_node_join_failover.py                # 4 nodes, 4 failovers
    python3 bench/bench_node_join_failover.py -c 3 --rounds 2
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS, VCluster, loadavg, noop_op, summary, table, wait_job, write_json  # noqa: E402

from gnt.cli.client import Client  # noqa: E402


def queue_answers(cluster: VCluster, node: str, deadline: float = 120) -> None:
    """Until the master on `node` runs a no-op job to success (its queue serves again)."""
    client = Client(str(cluster.dir / node / "var/run/gnt/master.sock"), timeout=30)
    end = time.monotonic() + deadline
    while True:
        try:
            if wait_job(client, client.submit([noop_op()]), timeout=60) == "success":
                return
        except Exception:  # noqa: BLE001 - the new master is still starting: its socket refuses or errors
            pass
        if time.monotonic() > end:
            raise RuntimeError(f"the master on {node} did not serve a job within {deadline:g}s")
        time.sleep(0.05)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-c", "--count", type=int, default=4, help="virtual nodes (2 or more)")
    parser.add_argument("--rounds", type=int, default=4, help="master failovers (alternating node2, node1)")
    parser.add_argument("-s", "--subnet", type=int, default=186, help="third octet of the loopback addresses")
    parser.add_argument("--output", type=Path, default=RESULTS / "node_join_failover.json")
    args = parser.parse_args()
    if args.count < 2:
        parser.error("--count must be at least 2")

    work = Path(tempfile.mkdtemp(prefix="gnt-bench-join-"))
    cluster = VCluster(work / "vc", args.count, args.subnet)
    cluster.start()
    others = [f"node{i}" for i in range(2, args.count + 1)]
    adds: list[float] = []
    readds: list[float] = []
    failover_cmd: list[float] = []
    failover_serving: list[float] = []
    load_start = loadavg()
    try:
        init = cluster.init()
        print(f"init {init:.2f} s", flush=True)
        for node in others:
            elapsed, _ = cluster.run("gnt-node", "add", node)
            adds.append(elapsed)
            print(f"gnt-node add {node}: {elapsed:.3f} s", flush=True)
        for node in others:
            elapsed, _ = cluster.run("gnt-node", "add", "--readd", node)
            readds.append(elapsed)
            print(f"gnt-node add --readd {node}: {elapsed:.3f} s", flush=True)
        for round_no in range(args.rounds):
            target = "node2" if round_no % 2 == 0 else "node1"
            start = time.perf_counter()
            cluster.run("gnt-cluster", "master-failover", node=target)
            returned = time.perf_counter() - start
            queue_answers(cluster, target)
            serving = time.perf_counter() - start
            failover_cmd.append(returned)
            failover_serving.append(serving)
            print(f"master-failover to {target}: returned {returned:.3f} s, queue serving {serving:.3f} s", flush=True)
    finally:
        cluster.stop()

    metrics = {
        "gnt-node add": summary(adds),
        "gnt-node add --readd": summary(readds),
        "master-failover (command)": summary(failover_cmd),
        "master-failover (queue serving)": summary(failover_serving),
    }
    rows = [[name, str(m["n"]), f"{m['p50']:.3f}", f"{m['max']:.3f}"] for name, m in metrics.items()]
    print(table(rows, ["step", "n", "median s", "max s"]))
    write_json(
        args.output,
        {
            "benchmark": "node_join_failover",
            "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "machine": {"python": platform.python_version(), "loadavg_start": load_start, "loadavg_end": loadavg()},
            "nodes": args.count,
            "rounds": args.rounds,
            "seconds": {
                "node_add": adds,
                "node_readd": readds,
                "failover_command": failover_cmd,
                "failover_until_queue_serves": failover_serving,
            },  # fmt: skip
            "summary": metrics,
            "note": "virtual nodes: no SSH step; each add issues a CA-signed node certificate",
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
