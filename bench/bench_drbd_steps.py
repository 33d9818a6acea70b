#!/usr/bin/env python3
"""Where the time of `gnt-instance add -t drbd` and of a drbd live migration goes, on the test bed.

Two test-bed hosts (tools/testbed: QEMU/TCG, Debian 12, DRBD 8.4 and LVM in a real kernel) run a
gnt cluster (tools/testbed/gntcluster.py: gnt-masterd on node1, gnt-noded on both, the fake
hypervisor). Then, each printed as it completes and kept in the JSON:

1. **driver steps**: one disk's two sides made by storage.drbd on the hosts (bench/drbd_steps_host.py
   wraps its runners), each LVM and DRBD command timed: what one node's `blockdev_create` does
   (lvcreate data and meta, drbdmeta create-md, drbdsetup new-resource, new-minor, apply-al,
   attach, connect, and primary --force on the primary), then the pair's initial sync.
2. **add -t drbd** through the whole stack (`--size` MiB, waiting for the sync as by default): the
   phases from the job log's timestamps (disks created on both nodes, initial sync, config, start).
3. **migrate** (`--migrations` times, back and forth): the phases from the job log (disconnect,
   reconnect allowing two primaries and wait for sync, promote the target, the fake hypervisor's
   transfer, demote the source, reconnect for one primary).
4. with `--verify-disks N`: N more drbd instances (64 MiB, `--no-wait-for-sync`), then
   `gnt-cluster verify-disks` timed (median of 3) with all of them up.

    flock /tmp/gnt-testbed.lock python3 bench/bench_drbd_steps.py [--size 1024] [--migrations 2]
        [--verify-disks 0] [--output bench/results/drbd_steps.json]

Needs root and the test bed's tools (tests/system/install-deps.sh). Timings are wall time on a
shared machine under TCG: compare runs only on a similar load (the JSON keeps the load average).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import RESULTS, loadavg, table, write_json  # noqa: E402
from tools.testbed import TestBed, build_image  # noqa: E402
from tools.testbed.gntcluster import GntCluster, start_gnt_cluster  # noqa: E402

HOST_SCRIPT = "/opt/gnt/bench/drbd_steps_host.py"
IPS = {"node1": "192.168.77.1", "node2": "192.168.77.2"}
STEP_MINOR, STEP_PORT, STEP_SIZE = 90, 14990, 64  # out of the way of the cluster's own minors and ports
SECRET = "be4c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e"
JOB_SCRIPT = """
import json, sys
from gnt.cli.client import Client
print(json.dumps(Client().request("GET", "/2/jobs/" + sys.argv[1])))
"""


def say(text: str) -> None:
    print(text, flush=True)


def enable_drbd(cluster: GntCluster) -> None:
    for host in cluster.nodes:
        host.run("modprobe drbd usermode_helper=/bin/true")
    cluster.gnt("gnt-cluster modify --drbd-usermode-helper /bin/true --enabled-disk-templates plain,file,drbd")


# -- 1. the driver's commands on the hosts -----------------------------------------------------


def step_view(host: str, peer: str, primary: bool) -> dict[str, Any]:
    return {
        "minor": STEP_MINOR, "port": STEP_PORT, "local_ip": IPS[host], "remote_ip": IPS[peer],
        "remote_minor": STEP_MINOR, "data": ["xenvg", "bench.disk0_data"], "meta": ["xenvg", "bench.disk0_meta"],
        "secret": SECRET, "primary": primary, "resync_rate": 1024000,
    }  # fmt: skip


def host_step(host: Any, op: str, view: dict[str, Any]) -> dict[str, Any]:
    out = host.run(f"cd / && python3 {HOST_SCRIPT} {op} '{json.dumps(view)}' {STEP_SIZE}", timeout=300).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    if "error" in result:
        raise RuntimeError(f"{op} on {host.name}: {result['error']}")
    return result


def seconds_until(host: Any, pattern: str, limit: int = 900) -> float:
    """Measured inside the host (its clock, no ssh round trips): until /proc/drbd matches."""
    out = host.run(
        f"s=$(date +%s.%N); for i in $(seq {limit * 10}); do grep -q '{pattern}' /proc/drbd && break; sleep 0.1;"
        ' done; e=$(date +%s.%N); echo "$s $e"',
        timeout=limit + 60,
    ).stdout.split()
    return float(out[1]) - float(out[0])


def driver_steps(cluster: GntCluster) -> dict[str, Any]:
    node1, node2 = cluster.bed["node1"], cluster.bed["node2"]
    secondary = host_step(node2, "create", step_view("node2", "node1", False))
    primary = host_step(node1, "create", step_view("node1", "node2", True))
    sync = seconds_until(node1, "cs:Connected ro:Primary/Secondary ds:UpToDate/UpToDate")
    host_step(node1, "remove", step_view("node1", "node2", True))
    host_step(node2, "remove", step_view("node2", "node1", False))
    return {"size_mib": STEP_SIZE, "secondary": secondary, "primary": primary, "initial_sync_s": round(sync, 3)}


def print_driver_steps(found: dict[str, Any]) -> None:
    rows = []
    for side in ("secondary", "primary"):
        for name, seconds in found[side]["steps"]:
            rows.append([side, name, f"{seconds:.3f}"])
        rows.append([side, "total (create)", f"{found[side]['total']:.3f}"])
    rows.append(["pair", f"initial sync of {found['size_mib']} MiB", f"{found['initial_sync_s']:.3f}"])
    say("\ndriver steps (storage.drbd on the hosts, one disk)\n" + table(rows, ["side", "command", "s"]))


# -- 2./3. jobs through the stack, phases from the job log ---------------------------------------


def last_job(cluster: GntCluster) -> dict[str, Any]:
    ids = [int(x) for x in cluster.gnt("gnt-job list --no-headers -o id").stdout.split()]
    job: dict[str, Any] = json.loads(cluster.master.run(f"python3 - {max(ids)}", stdin=JOB_SCRIPT).stdout)
    return job


def _ts(value: list[int]) -> float:
    return value[0] + value[1] / 1e6


def phases(job: dict[str, Any]) -> list[list[Any]]:
    """[message, seconds since the previous entry] for each job-log entry, then the job's end."""
    entries = [(_ts(e[1]), str(e[3])) for log in job["oplog"] for e in log]
    start, end = _ts(job["start_ts"]), _ts(job["end_ts"])
    rows, previous = [], start
    for stamp, message in entries:
        rows.append([message, round(stamp - previous, 3)])
        previous = stamp
    rows.append(["(job end)", round(end - previous, 3)])
    return rows


def run_job(cluster: GntCluster, command: str) -> dict[str, Any]:
    start = time.monotonic()
    cluster.gnt(command, timeout=1800)
    wall = time.monotonic() - start
    job = last_job(cluster)
    if job["status"] != "success":
        raise RuntimeError(f"{command}: job {job['id']} {job['status']}: {job.get('opresult')}")
    return {
        "command": command,
        "cli_wall_s": round(wall, 3),
        "job_s": round(_ts(job["end_ts"]) - _ts(job["start_ts"]), 3),
        "phases": phases(job),
    }


def between(rows: list[list[Any]], first: str, last: str) -> float:
    """Seconds from the entry matching `first` (exclusive) up to the one matching `last` (inclusive)."""
    names = [str(r[0]) for r in rows]
    i = next(n for n, m in enumerate(names) if re.search(first, m))
    j = next(n for n, m in enumerate(names) if n > i and re.search(last, m))
    return round(sum(float(r[1]) for r in rows[i + 1 : j + 1]), 3)


ADD_STEPS = [
    ("create LVs and DRBD on both nodes", r"creating instance disks", r"waiting for the disks to sync"),
    ("initial sync", r"waiting for the disks to sync", r"disks are in sync"),
    ("config commit", r"adding instance .* to cluster config", r"starting instance"),
    ("instance start (fake)", r"starting instance", r"\(job end\)"),
]
MIGRATE_STEPS = [
    ("disconnect both sides", r"allowing two primaries", r"disconnected on both sides"),
    ("reconnect allowing two primaries", r"disconnected on both sides", r"two primaries allowed"),
    ("wait connected and in sync", r"two primaries allowed", r"connected and in sync"),
    ("promote the target", r"connected and in sync", r"primary on .* too"),
    ("accept on the target", r"primary on .* too", r"migrating instance to"),
    ("migrate (fake hypervisor)", r"migrating instance to", r"memory transfer complete"),
    ("finalize, config", r"memory transfer complete", r"back to one primary"),
    ("demote the source", r"back to one primary", r"disks secondary on"),
    ("disconnect both sides (again)", r"disks secondary on", r"disconnected on both sides"),
    ("reconnect for one primary, wait", r"one primary$", r"disks connected on"),
]


def named_steps(rows: list[list[Any]], steps: list[tuple[str, str, str]]) -> dict[str, float]:
    found = {}
    for name, first, last in steps:
        try:
            found[name] = between(rows, first, last)
        except StopIteration:  # a message the job did not log (another version of the LU)
            continue
    return found


def print_job(title: str, result: dict[str, Any], steps: dict[str, float]) -> None:
    rows = [[name, f"{seconds:.3f}"] for name, seconds in steps.items()]
    rows.append(["job total", f"{result['job_s']:.3f}"])
    rows.append(["CLI wall (ssh + client + job)", f"{result['cli_wall_s']:.3f}"])
    say(f"\n{title}\n" + table(rows, ["step", "s"]))


# -- 4. verify-disks with many disks ------------------------------------------------------------


def verify_disks(cluster: GntCluster, count: int) -> dict[str, Any]:
    made = 0
    for n in range(count):
        pnode, snode = ("node1", "node2") if n % 2 == 0 else ("node2", "node1")
        result = cluster.gnt(
            f"gnt-instance add -t drbd -o noop --no-install --no-start --no-wait-for-sync --disk 0:size=64M"
            f" -n {pnode}:{snode} vd{n}",
            check=False,
            timeout=600,
        )
        if result.rc != 0:
            say(f"  stopped at {made} instances: {result.stderr.strip().splitlines()[-1:]}")
            break
        cluster.gnt(f"gnt-instance activate-disks vd{n}", timeout=600)
        made += 1
    samples = []
    for _ in range(3):
        start = time.monotonic()
        cluster.gnt("gnt-cluster verify-disks", timeout=600)
        samples.append(time.monotonic() - start)
    job = last_job(cluster)
    return {
        "instances": made,
        "disks_up": made,
        "cli_wall_s": [round(s, 3) for s in samples],
        "cli_wall_median_s": round(statistics.median(samples), 3),
        "job_s": round(_ts(job["end_ts"]) - _ts(job["start_ts"]), 3),
    }


# -- main ----------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=1024, help="MiB of the instance's disk (default 1024)")
    parser.add_argument("--migrations", type=int, default=2, help="migrations, back and forth (default 2)")
    parser.add_argument("--verify-disks", type=int, default=0, help="drbd instances for the verify-disks timing")
    parser.add_argument("--output", type=Path, default=RESULTS / "drbd_steps.json")
    args = parser.parse_args()

    started = time.monotonic()
    report: dict[str, Any] = {"load_start": loadavg(), "size_mib": args.size}
    image = build_image()
    bed = TestBed(tempfile.mkdtemp(prefix="gnt-bd-", dir="/tmp"), image=image, hosts=2, forwards=(1811,))
    try:
        bed.create()
        bed.start()
        cluster = start_gnt_cluster(bed)
        report["cluster_setup_s"] = {k: round(v, 3) for k, v in cluster.timings.items()}
        enable_drbd(cluster)

        report["driver_steps"] = driver_steps(cluster)
        print_driver_steps(report["driver_steps"])

        add = run_job(cluster, f"gnt-instance add -t drbd -o noop --no-install --disk 0:size={args.size}M"
                               " -n node1:node2 bench1")  # fmt: skip
        add["steps"] = named_steps(add["phases"], ADD_STEPS)
        report["add"] = add
        print_job(f"gnt-instance add -t drbd ({args.size} MiB, waits for the initial sync)", add, add["steps"])

        report["migrations"] = []
        for n in range(args.migrations):
            migrated = run_job(cluster, "gnt-instance migrate -f bench1")
            migrated["steps"] = named_steps(migrated["phases"], MIGRATE_STEPS)
            report["migrations"].append(migrated)
            print_job(f"gnt-instance migrate #{n + 1} (drbd, {args.size} MiB)", migrated, migrated["steps"])

        removed = run_job(cluster, "gnt-instance remove -f bench1")
        report["remove"] = removed
        say(f"\ngnt-instance remove: job {removed['job_s']:.3f} s")

        if args.verify_disks:
            report["verify_disks"] = verify_disks(cluster, args.verify_disks)
            vd = report["verify_disks"]
            say(f"\ngnt-cluster verify-disks with {vd['instances']} drbd instances (disks up on 2 hosts):"
                f" median {vd['cli_wall_median_s']:.3f} s CLI wall, last job {vd['job_s']:.3f} s")  # fmt: skip
    finally:
        bed.destroy()
    report["load_end"] = loadavg()
    report["duration_s"] = round(time.monotonic() - started, 1)
    write_json(args.output, report)
    say(f"\nwrote {args.output} ({report['duration_s']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
