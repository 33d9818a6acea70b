#!/usr/bin/env python3
"""The node side of verify-disks' `drbd_status` inside one test-bed host, for this checkout and a git ref.

verify-disks sends each node all of its drbd disks in one `drbd_status` call. This boots one host
(tools/testbed: QEMU/TCG, where Python is several times slower than here), loads DRBD, and runs
the node daemon's real dispatcher on request bodies of 1 to 200 disks (decoding, confinement,
the handler's one /proc/drbd read, the answer's JSON; the minors need not exist, the per-disk work
is the same): the best of 5 wall and CPU times per count, for the checkout the host mounts and for
`--ref` (its tree copied to the host with `git archive`). No network and no cluster: what grows
with the number of disks on the node, and what a change did to it, without filling a cluster.

    flock /work/wt/testbed.lock python3 bench/bench_drbd_status_node.py [--ref HEAD~1] [--counts 1 50 100 200]
        [--output bench/results/drbd_status_node.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_drbd_scale import NODE_PROC_SCRIPT  # noqa: E402
from bench.common import REPO, RESULTS, loadavg, table, write_json  # noqa: E402
from tools.testbed import TestBed, build_image  # noqa: E402

OLD_TREE = "/root/gnt-ref"


def timings(host: Any, counts: list[int], python_path: str | None) -> dict[str, Any]:
    prefix = f"cd {python_path} && PYTHONPATH={python_path} " if python_path else ""
    out = host.run(f"{prefix}python3 - {' '.join(map(str, counts))}", stdin=NODE_PROC_SCRIPT, timeout=900).stdout
    return {int(k): v for k, v in json.loads(out.strip().splitlines()[-1]).items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ref", default="HEAD~1", help="git ref to compare with (default HEAD~1)")
    parser.add_argument("--counts", type=int, nargs="+", default=[1, 50, 100, 200])
    parser.add_argument("--output", type=Path, default=RESULTS / "drbd_status_node.json")
    args = parser.parse_args()
    rev = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", args.ref], capture_output=True, text=True)
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()  # fmt: skip
    tree = subprocess.run(["git", "-C", str(REPO), "archive", args.ref], capture_output=True, check=True).stdout
    report: dict[str, Any] = {
        "command": "python3 bench/bench_drbd_status_node.py " + " ".join(sys.argv[1:]),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "load_start": loadavg(),
        "checkout": head.stdout.strip() + (" (with uncommitted changes)" if dirty else ""),
        "ref": f"{args.ref} = {rev.stdout.strip()}",
    }
    bed = TestBed(tempfile.mkdtemp(prefix="gnt-dn-", dir="/tmp"), image=build_image(), hosts=1)
    try:
        bed.create()
        bed.start()
        host = bed.hosts[0]
        host.run("modprobe drbd minor_count=255 usermode_helper=/bin/true")
        host.run(f"mkdir -p {OLD_TREE} && tar -x -C {OLD_TREE}", stdin=tree, timeout=300)
        report["ref_s"] = timings(host, args.counts, OLD_TREE)
        report["checkout_s"] = timings(host, args.counts, None)
    finally:
        bed.destroy()
        report["load_end"] = loadavg()
    ref, new = report["ref_s"], report["checkout_s"]

    def minors(n: int, key: str) -> str:
        return f"{new[n]['minors_' + key]:.3f} s" if "minors_" + key in new[n] else "-"

    rows = [
        [str(n), f"{ref[n]['cpu_min_s']:.3f} s", f"{ref[n]['wall_min_s']:.3f} s",
         f"{new[n]['cpu_min_s']:.3f} s", f"{new[n]['wall_min_s']:.3f} s",
         minors(n, "cpu_min_s"), minors(n, "wall_min_s")]
        for n in args.counts
    ]  # fmt: skip
    headers = ["disks in the call", f"drbd_status CPU {args.ref}", f"wall {args.ref}", "drbd_status CPU checkout",
               "wall checkout", "drbd_minor_status CPU checkout", "wall checkout"]  # fmt: skip
    write_json(args.output, report)
    lines = ["| " + " | ".join(headers) + " |", "|" + " --- |" * len(headers)] + [
        "| " + " | ".join(r) + " |" for r in rows
    ]
    header = (f"`{report['command']}`, {report['date']}, load {report['load_start']}; checkout {report['checkout']},"
              f" ref {report['ref']}; best of 5 inside one test-bed host (TCG)\n\n")  # fmt: skip
    args.output.with_suffix(".md").write_text(header + "\n".join(lines) + "\n")
    print(table(rows, headers))
    return 0


if __name__ == "__main__":
    sys.exit(main())
