#!/usr/bin/env python3
"""`gnt-instance move` of a 1 GiB file disk against `cp`, and `startup/shutdown --all` of 500 instances (issue 10).

One virtual cluster (default 3 nodes, fake hypervisor) on loopback:

1. **move**: a stopped `-t file` instance with one `--size` MiB disk (default 1024) on node1, filled
   with random data (so neither side can skip holes), is moved to node2 from the shell
   (`gnt-instance move -f -n node2`); MB/s is the disk size over the command's wall time. Next to it,
   a plain `cp` of the same file into node2's storage directory on this machine (page cache as the
   move found it), and the moved disk's sha256 checked against the source's.
2. **startup --all**: `--instances` diskless `noop` instances created `--no-start` in one
   `submit_many`, spread over the nodes; then `gnt-instance startup --all --force-multiple` from the
   shell, timed until it returns, `gnt-instance list` then checked for every instance running; then
   `gnt-instance shutdown --all --force-multiple`, checked for every one stopped.

Writes bench/results/move_startall.json. The cluster is stopped and its directory removed in a `finally`.

    python3 bench/bench_move_startall.py                 # 1 GiB, 500 instances
    python3 bench/bench_move_startall.py --size 256 --instances 100 --output /tmp/x.json
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pyspy_profile  # noqa: E402
from common import (  # noqa: E402
    RESULTS,
    VCluster,
    create_op,
    loadavg,
    submit_all,
    table,
    wait_all,
    write_json,
)

MIB = 1 << 20
ENDS = ("sender", "receiver")


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(4 * MIB):
            digest.update(chunk)
    return digest.hexdigest()


def disk_files(cluster: VCluster, node: str, instance: str) -> list[Path]:
    directory = cluster.dir / node / "srv/gnt/file-storage" / instance
    return sorted(directory.iterdir()) if directory.exists() else []


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process, all its threads, so far (what the stream costs, whatever the load)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fill_random(path: Path, size_mib: int) -> None:
    """Overwrite the disk in place with random data (the file keeps its size)."""
    with open(path, "r+b") as handle:
        for _ in range(size_mib):
            handle.write(os.urandom(MIB))


ADD = ["gnt-instance", "add", "-o", "noop", "--no-name-check", "--no-ip-check", "--no-nics"]


def fixed_overhead(cluster: VCluster, size_mib: int) -> float:
    """Wall seconds of a move of a tiny disk: the CLI, the job, shutdown, disk create and remove, which
    a 1 GiB move pays too and `cp` does not (the copy itself is what is left)."""
    name = "bench-move-small"
    cluster.run(
        *ADD, "-t", "file", "-B", "memory=32M", "--disk", f"0:size={size_mib}M", "-n", "node1", "--no-start", name,
        timeout=600,
    )  # fmt: skip
    move_s, _ = cluster.run("gnt-instance", "move", "-f", "-n", "node2", name, timeout=600)
    cluster.run("gnt-instance", "remove", "-f", name, timeout=600)
    print(f"gnt-instance move {size_mib} MiB (fixed overhead): {move_s:.2f} s", flush=True)
    return move_s


def bench_move(cluster: VCluster, size_mib: int, small_mib: int = 0, profile: Path | None = None) -> dict:
    name = "bench-move"
    add = ADD
    add_s, _ = cluster.run(
        *add, "-t", "file", "-B", "memory=32M", "--disk", f"0:size={size_mib}M", "-n", "node1", "--no-start", name,
        timeout=1800,
    )  # fmt: skip
    print(f"add -t file {size_mib} MiB: {add_s:.2f} s", flush=True)
    (source,) = disk_files(cluster, "node1", name)
    fill_random(source, size_mib)
    subprocess.run(["sync"], check=False)
    digest = sha256(source)  # also leaves the file in the page cache for both copies alike
    size = source.stat().st_size

    target_dir = cluster.dir / "node2/srv/gnt/file-storage"
    copy = target_dir / "cp-reference.img"
    start = time.perf_counter()
    subprocess.run(["cp", str(source), str(copy)], check=True)
    cp_s = time.perf_counter() - start
    copy.unlink()
    subprocess.run(["sync"], check=False)
    cp_rate = size / MIB / cp_s
    print(f"cp {size_mib} MiB: {cp_s:.2f} s, {cp_rate:.1f} MiB/s", flush=True)
    # the move makes its copy durable before it removes the source: the same for cp, for reference
    start = time.perf_counter()
    subprocess.run(["cp", str(source), str(copy)], check=True)
    subprocess.run(["sync", str(copy)], check=True)
    cp_sync_s = time.perf_counter() - start
    copy.unlink()
    subprocess.run(["sync"], check=False)
    print(f"cp + sync {size_mib} MiB: {cp_sync_s:.2f} s, {size / MIB / cp_sync_s:.1f} MiB/s", flush=True)

    small_s = fixed_overhead(cluster, small_mib) if small_mib else None
    daemons = [cluster.pid(node, "gnt-noded") for node in ("node1", "node2")]
    recorders = []
    if profile is not None:
        profile.mkdir(parents=True, exist_ok=True)
        recorders = [pyspy_profile.start(pid, profile / f"{end}.raw") for pid, end in zip(daemons, ENDS, strict=True)]
    cpu_before, load_before = [cpu_seconds(pid) for pid in daemons], loadavg()
    move_s, out = cluster.run("gnt-instance", "move", "-f", "-n", "node2", name, timeout=3600)
    node_cpu = [cpu_seconds(pid) - before for pid, before in zip(daemons, cpu_before, strict=True)]
    for recorder in recorders:
        pyspy_profile.stop(recorder)
    move_rate = size / MIB / move_s
    print(f"gnt-instance move {size_mib} MiB: {move_s:.2f} s, {move_rate:.1f} MiB/s", flush=True)
    print(f"node daemons' CPU during the move: sender {node_cpu[0]:.2f} s, receiver {node_cpu[1]:.2f} s", flush=True)
    moved = disk_files(cluster, "node2", name)
    verified = len(moved) == 1 and sha256(moved[0]) == digest
    print(f"moved disk's sha256 matches: {verified}", flush=True)
    cluster.run("gnt-instance", "remove", "-f", name, timeout=600)
    return {
        "size_mib": size_mib,
        "add_s": add_s,
        "cp_s": cp_s,
        "cp_mib_s": cp_rate,
        "move_s": move_s,
        "move_mib_s": move_rate,
        "move_vs_cp_pct": 100 * move_rate / cp_rate,
        "cp_sync_s": cp_sync_s,
        "cp_sync_mib_s": size / MIB / cp_sync_s,
        "move_vs_cp_sync_pct": 100 * move_rate / (size / MIB / cp_sync_s),
        "sender_cpu_s": node_cpu[0],
        "receiver_cpu_s": node_cpu[1],
        "node_cpu_s_per_gib": sum(node_cpu) / (size / (1 << 30)),
        "loadavg_before_move": load_before,
        "goal_pct": 80,
        "checksum_ok": verified,
        "move_output_tail": out.strip().splitlines()[-5:],
        "small_move_mib": small_mib or None,
        "small_move_s": small_s,
        # the copy alone: the 1 GiB move less what a tiny move takes (CLI, job, shutdown, create, remove)
        "copy_mib_s": size / MIB / (move_s - small_s) if small_s and move_s > small_s else None,
        "profile": {end: pyspy_profile.top(profile / f"{end}.raw") for end in ENDS} if profile else None,
    }


def statuses(cluster: VCluster) -> dict[str, int]:
    """Instance status counts as `gnt-instance list` reports them."""
    _, out = cluster.run("gnt-instance", "list", "--no-headers", "-o", "status", timeout=600)
    counts: dict[str, int] = {}
    for status in out.split():
        counts[status] = counts.get(status, 0) + 1
    return counts


def bench_startall(cluster: VCluster, nodes: list[str], count: int) -> dict:
    client = cluster.client(timeout=600)
    names = [f"bench-fake{i:04d}" for i in range(count)]
    start = time.perf_counter()
    ids = submit_all(client, [[create_op(n, nodes[i % len(nodes)], start=False)] for i, n in enumerate(names)])
    created = wait_all(client, ids, strict=True)
    create_s = time.perf_counter() - start
    print(f"{count} creates --no-start (one submit_many): {create_s:.2f} s", flush=True)

    up_s, _ = cluster.run("gnt-instance", "startup", "--all", "--force-multiple", timeout=3600)
    after_up = statuses(cluster)
    print(f"gnt-instance startup --all ({count}): {up_s:.2f} s; statuses {after_up}", flush=True)
    up_cpu = cluster.last_cpu
    down_s, _ = cluster.run("gnt-instance", "shutdown", "--all", "--force-multiple", timeout=3600)
    after_down = statuses(cluster)
    print(f"gnt-instance shutdown --all ({count}): {down_s:.2f} s; statuses {after_down}", flush=True)
    return {
        "instances": count,
        "nodes": len(nodes),
        "create_no_start_s": create_s,
        "create_statuses": {k: v for k, v in created.items() if k != "failed"},
        "startup_all_s": up_s,
        "startup_all_client_cpu_s": up_cpu,
        "startup_all_per_instance_ms": 1000 * up_s / count,
        "statuses_after_startup": after_up,
        "all_running": after_up.get("running", 0) == count,
        "shutdown_all_s": down_s,
        "shutdown_all_client_cpu_s": cluster.last_cpu,
        "shutdown_all_per_instance_ms": 1000 * down_s / count,
        "statuses_after_shutdown": after_down,
        "all_stopped": after_down.get("ADMIN_down", 0) == count,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-c", "--count", type=int, default=3, help="virtual nodes (2 or more)")
    parser.add_argument("--size", type=int, default=1024, help="disk size to move, MiB")
    parser.add_argument("--instances", type=int, default=500, help="instances for startup/shutdown --all")
    parser.add_argument("-s", "--subnet", type=int, default=193, help="third octet of the loopback addresses")
    parser.add_argument("--fake-memory-mb", type=int, default=1 << 20, help="GNT_FAKE_MEMORY_MB for the nodes")
    parser.add_argument("--small", type=int, default=16, help="MiB of a first, tiny move (fixed overhead); 0: none")
    parser.add_argument("--profile", type=Path, default=None, help="py-spy both node daemons during the move into DIR")
    parser.add_argument("--output", type=Path, default=RESULTS / "move_startall.json")
    args = parser.parse_args()
    if args.count < 2:
        parser.error("--count must be at least 2")

    work = Path(tempfile.mkdtemp(prefix="gnt-bench-move-"))
    load_start = loadavg()
    began = time.perf_counter()
    move: dict | None = None
    startall: dict | None = None
    error = None
    nodes = [f"node{i}" for i in range(1, args.count + 1)]
    cluster = None
    try:
        cluster = VCluster(work / "vc", args.count, args.subnet, {"GNT_FAKE_MEMORY_MB": str(args.fake_memory_mb)})
        cluster.start()
        print(f"init {cluster.init():.2f} s", flush=True)
        for node in nodes[1:]:
            cluster.run("gnt-node", "add", node)
        if args.profile is not None and not pyspy_profile.available():
            parser.error("--profile needs py-spy")
        move = bench_move(cluster, args.size, args.small, args.profile)
        startall = bench_startall(cluster, nodes, args.instances)
    except Exception as exc:  # noqa: BLE001 - keep what was measured, say why the rest is missing
        error = f"{type(exc).__name__}: {exc}"
        print(f"PROBLEM: {error}", flush=True)
    finally:
        if cluster is not None:
            try:
                cluster.stop()
            except Exception as exc:  # noqa: BLE001 - still remove the directory
                print(f"PROBLEM: stop-all: {exc}", flush=True)
        shutil.rmtree(work, ignore_errors=True)

    rows = []
    if move:
        cp_row = [f"cp {move['size_mib']} MiB (this machine)", f"{move['cp_s']:.2f}", f"{move['cp_mib_s']:.1f} MiB/s"]
        rows.append(cp_row)
        sync_rate = f"{move['cp_sync_mib_s']:.1f} MiB/s"
        rows.append([f"cp + sync {move['size_mib']} MiB", f"{move['cp_sync_s']:.2f}", sync_rate])
        rows.append([
            f"gnt-instance move {move['size_mib']} MiB file disk",
            f"{move['move_s']:.2f}",
            f"{move['move_mib_s']:.1f} MiB/s ({move['move_vs_cp_pct']:.0f}% of cp; goal 80%)",
        ])  # fmt: skip
        rows.append([
            "  node daemons' CPU (sender + receiver)",
            f"{move['sender_cpu_s'] + move['receiver_cpu_s']:.2f}",
            f"{move['node_cpu_s_per_gib']:.2f} CPU s/GiB; load {move['loadavg_before_move']:.1f} at the start",
        ])  # fmt: skip
        if move["small_move_s"]:
            rows.append([
                f"  a {move['small_move_mib']} MiB move (fixed overhead)",
                f"{move['small_move_s']:.2f}",
                f"copy alone: {move['copy_mib_s'] or 0:.1f} MiB/s",
            ])  # fmt: skip
    if startall:
        n = startall["instances"]
        steps = (("startup", "startup_all_s", "all_running"), ("shutdown", "shutdown_all_s", "all_stopped"))
        for verb, key, state in steps:
            rows.append([f"{verb} --all, {n} fake", f"{startall[key]:.2f}", f"{state}: {startall[state]}"])
    if rows:
        print(table(rows, ["what", "seconds", "result"]))
    write_json(
        args.output,
        {
            "benchmark": "move_startall",
            "command": " ".join(["python3", *sys.argv]),
            "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "machine": {
                "python": platform.python_version(),
                "cpus": len(os.sched_getaffinity(0)),
                "loadavg_start": load_start,
                "loadavg_end": loadavg(),
            },
            "nodes": args.count,
            "duration_s": time.perf_counter() - began,
            "move": move,
            "startall": startall,
            "error": error,
            "note": "virtual nodes on one machine (loopback), fake hypervisor; Ganeti's move: 1-2 MB/s (issue #468)",
        },
    )
    return 0 if error is None else 1


if __name__ == "__main__":
    sys.exit(main())
