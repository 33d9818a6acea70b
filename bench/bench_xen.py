#!/usr/bin/env python3
"""Xen benchmark: a gnt cluster on two Xen hosts of the test bed (QEMU/TCG), a 128 MiB PV guest.

Measures, by wall clock from the master's CLI (the same steps tests/system/testbed/test_xen_cluster.py
checks, here only timed):
- boot: two Xen hosts to xl-ready, and the gnt cluster made on them;
- create: `gnt-instance add -t plain` and `-t drbd` (64M disk; drbd waits for its sync), each to
  the job's end, and to the guest's first count on its console;
- migrate: `gnt-instance migrate --non-live` of the drbd instance there and back (`--samples`
  times), with the guest's count checked to go on across each move (`--mode live` for hosts whose
  Xen can track dirty pages; under TCG `xl migrate` fails with "Failed to enable logdirty");
- failover: `gnt-instance failover` of the drbd instance (stop, hand the primary over, boot);
- stop/start: `gnt-instance shutdown` and `startup`.

Under TCG everything is one to two orders of magnitude slower than on hardware; the numbers compare
runs of this bed with each other, not with real Xen hosts. Prints a table and writes
bench/results/xen.json. Needs root and tests/system/install-deps.sh (as the test bed does); it
boots test-bed hosts, so run it under the bed's lock:

    flock /work/wt/testbed.lock python3 bench/bench_xen.py [--samples 2] [--out bench/results/xen.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.system.testbed import conftest as bed_conftest  # noqa: E402
from tests.system.testbed.test_xen_cluster import (  # noqa: E402
    ADD,
    BOOTED,
    console,
    counts,
    running_xen_cluster,
    wait_count,
)


def _timed(rows: dict[str, list[float]], name: str, func, *args):  # type: ignore[no-untyped-def]
    start = time.monotonic()
    result = func(*args)
    rows.setdefault(name, []).append(round(time.monotonic() - start, 2))
    return result


def _wait_boot(host, name: str, boots: int, timeout: float = 300.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while console(host, name).count(BOOTED) <= boots:
        if time.monotonic() > deadline:
            raise SystemExit(f"{name} never booted on {host.name}")
        time.sleep(1)


def run(samples: int, mode: str) -> dict[str, list[float]]:
    rows: dict[str, list[float]] = {}
    with running_xen_cluster() as cluster:
        for name, values in bed_conftest.TIMINGS.items():
            rows[name.strip()] = [round(v, 2) for v in values]
        node1, node2 = cluster.bed["node1"], cluster.bed["node2"]

        _timed(rows, "create plain (gnt-instance add, job end)", cluster.gnt, f"{ADD} -t plain -n node2 p1")
        _timed(rows, "plain: job end to the guest's first count", wait_count, node2, "p1", 0)
        _timed(rows, "stop (gnt-instance shutdown)", cluster.gnt, "gnt-instance shutdown p1")
        _timed(rows, "start (gnt-instance startup, job end)", cluster.gnt, "gnt-instance startup p1")
        cluster.gnt("gnt-instance remove -f p1")

        _timed(rows, "create drbd (gnt-instance add, job end)", cluster.gnt, f"{ADD} -t drbd -n node1:node2 m1")
        last = _timed(rows, "drbd: job end to the guest's first count", wait_count, node1, "m1", 0)
        hosts = [node1, node2]
        for i in range(2 * samples):
            dst = hosts[(i + 1) % 2]
            flag = "" if mode == "live" else " --non-live"
            _timed(
                rows,
                f"{mode} migrate (gnt-instance migrate, 128 MiB)",
                cluster.gnt,
                f"gnt-instance migrate -f{flag} m1",
                900,
            )
            last = wait_count(dst, "m1", last)
            if counts(dst, "m1")[0] <= 1:
                raise SystemExit(f"the guest started again on {dst.name} instead of moving")
        # after an even number of moves m1 is on node1 again: failover to node2, where it boots afresh
        boots = console(node2, "m1").count(BOOTED)
        _timed(rows, "failover (gnt-instance failover, drbd)", cluster.gnt, "gnt-instance failover -f m1", 900)
        _timed(rows, "failover: job end to the guest's boot marker", _wait_boot, node2, "m1", boots)
        cluster.gnt("gnt-instance remove -f m1")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=1, help="round trips of the migration")
    parser.add_argument("--mode", choices=("non-live", "live"), default="non-live", help="migration mode")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "xen.json"))
    args = parser.parse_args()
    why = bed_conftest.missing_requirement()
    if why:
        raise SystemExit(why)
    rows = run(args.samples, args.mode)
    width = max(len(name) for name in rows)
    print(f"{'step':{width}}  {'median s':>9}  samples")
    for name, values in rows.items():
        print(f"{name:{width}}  {statistics.median(values):9.1f}  {', '.join(f'{v:.1f}' for v in values)}")
    result = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "accel": "tcg",
            "migration_mode": args.mode,
        },
        "steps": {name: {"median_s": statistics.median(v), "samples": v} for name, v in rows.items()},
    }
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
