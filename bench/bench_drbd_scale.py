#!/usr/bin/env python3
"""drbd at scale on the test bed: `replace-disks -n` resync against a raw copy, and verify-disks over many disks.

Four test-bed hosts (tools/testbed: QEMU/TCG, Debian 12, DRBD 8.4 and LVM in a real kernel) run a
gnt cluster (tools/testbed/gntcluster.py: gnt-masterd on node1, gnt-noded everywhere, the fake
hypervisor). Then, on a quiet bed first:

1. **raw copy**: `--size` MiB read from an LV on node1 and written to an LV on node3 with dd, over
   one TCP stream (socat) on the hosts' private network, the network DRBD replicates over; and
   the same stream from /dev/zero to /dev/null (the network alone). Timed inside the hosts.
2. **replace-disks -n**: an instance with one `--size` MiB drbd disk on node1:node2 (add waits for
   the initial sync, kept as a second sample), then `gnt-instance replace-disks -n node3`: the
   new secondary's resync time from the job log (the entry "waiting for the new secondary ... to
   sync" to the next), its throughput against the raw copy's. The instance is removed.
3. **verify-disks**: `--disks` drbd disks (`--disks-per-instance` per instance, up to gnt's 16, of
   4 MiB, started, so every disk is up on two hosts). All creates are submitted as opcodes in one
   request through gnt's own client on the master (one ssh, one Python start: under TCG each
   `gnt-instance add --submit` cost an ssh and a 19 s CLI start), ordered so that consecutive jobs
   use disjoint node pairs: the queue runs those side by side, the rest wait for their node locks.
   The fill pauses at each `--checkpoints` count, so verify-disks is measured there too; it stops at
   `--budget` s (or `--fill-until` HH:MM UTC): queued creates are canceled, running ones get 600 s
   more, and the count reached is what is measured. Once every resync is over (or `--sync-wait` s
   passed: the sides still out of sync are then recorded, with each host's DRBD link drops),
   `--repeat` verify-disks jobs are timed through the API (the job's own time and log), then one
   CLI run of verify-disks and one of `gnt-cluster verify` (wall time on node1).
   `--only-verify-disks` skips parts 1 and 2. A create makes its disks one after the other and the
   node locks let two creates run at once on 4 hosts, so the fill is bound by the hosts' CPU:
   `--disks-per-instance 4` made 200 disks in 21 min at load 2-9 (about 5 s per disk on both
   nodes; 15 s at load 5-6 with other helpers' work on the machine).

    flock /work/wt/testbed.lock python3 bench/bench_drbd_scale.py [--hosts 4] [--size 256]
        [--disks 200] [--disks-per-instance 16] [--budget 900] [--fill-until HH:MM] [--checkpoints N ...]
        [--sync-wait 900] [--repeat 3] [--only-verify-disks] [--output bench/results/drbd_scale.json]

Needs root and the test bed's tools (tests/system/install-deps.sh). Wall times on a shared 2-core
machine under TCG (each host is emulated): compare runs only on a similar load (the JSON keeps it).
"""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_drbd_steps import _ts, between, enable_drbd, phases, run_job, say  # noqa: E402
from bench.common import RESULTS, loadavg, table, write_json  # noqa: E402
from tools.testbed import TestBed, build_image  # noqa: E402
from tools.testbed.gntcluster import ClusterSpec, GntCluster, start_gnt_cluster  # noqa: E402

RAW_PORT = 15999  # outside the cluster's DRBD port pool (11000-14999)
DISK_MIB = 4  # LVM's smallest extent: the data volumes' size does not matter to verify-disks
META_MIB = 128  # Ganeti's fixed DRBD metadata volume per disk and side


def in_host_seconds(host: Any, command: str, timeout: float = 900) -> float:
    """Run `command` on `host`, timed with the host's own clock (no ssh round trip in the number)."""
    out = host.run(f's=$(date +%s.%N); {command}; e=$(date +%s.%N); echo "$s $e"', timeout=timeout).stdout
    start, end = out.split()[-2:]
    return float(end) - float(start)


def stream(sender: Any, receiver: Any, source: str, sink: str, size: int) -> float:
    """Seconds for `receiver` to pull `size` MiB of `source` on `sender` into `sink` over one TCP stream.

    Timed on the receiver (its clock, from connecting until its sink has written the last byte).
    """
    sender.run(
        f"(setsid sh -c 'dd if={source} bs=1M count={size} iflag=fullblock status=none"
        f" | socat -u - TCP-LISTEN:{RAW_PORT},reuseaddr' </dev/null >/dev/null 2>&1 &)"
        f"; for i in $(seq 50); do ss -ltn | grep -q ':{RAW_PORT} ' && break; sleep 0.1; done"
    )
    return in_host_seconds(receiver, f"socat -u TCP:{sender.ip}:{RAW_PORT} - | {sink}")


def raw_copy(cluster: GntCluster, size: int) -> dict[str, Any]:
    node1, node3 = cluster.bed["node1"], cluster.bed["node3"]
    node1.run(f"lvcreate -q -L {size}M -n rawsrc xenvg && dd if=/dev/urandom of=/dev/xenvg/rawsrc bs=1M"
              f" count={size} oflag=direct status=none")  # fmt: skip
    node3.run(f"lvcreate -q -L {size}M -n rawdst xenvg")
    network = stream(node1, node3, "/dev/zero", "cat >/dev/null", size)
    disk = stream(node1, node3, "/dev/xenvg/rawsrc", "dd of=/dev/xenvg/rawdst bs=1M iflag=fullblock oflag=direct", size)
    same = (
        node1.run("md5sum </dev/xenvg/rawsrc").stdout.split()[0]
        == node3.run("md5sum </dev/xenvg/rawdst").stdout.split()[0]
    )
    node1.run("lvremove -q -f xenvg/rawsrc")
    node3.run("lvremove -q -f xenvg/rawdst")
    if not same:
        raise RuntimeError("the raw copy differs from its source")
    return {
        "size_mib": size,
        "lv_to_lv_s": round(disk, 3),
        "lv_to_lv_mib_s": round(size / disk, 1),
        "network_only_s": round(network, 3),
        "network_only_mib_s": round(size / network, 1),
    }


def replace_new_secondary(cluster: GntCluster, size: int) -> dict[str, Any]:
    node1 = cluster.bed["node1"]
    add = run_job(cluster, f"gnt-instance add -t drbd -o noop --no-install --disk 0:size={size}M -n node1:node2 rd1")
    initial = between(add["phases"], r"waiting for the disks to sync", r"disks are in sync")
    data = node1.run(
        f"dev=$(gnt-instance activate-disks rd1 | cut -d: -f3); dd if=/dev/urandom of=$dev bs=1M count={size}"
        " oflag=direct status=none; dd if=$dev bs=1M iflag=direct status=none | md5sum",
        timeout=600,
    ).stdout.split()[0]
    replaced = run_job(cluster, "gnt-instance replace-disks -n node3 rd1")
    resync = between(replaced["phases"], r"waiting for the new secondary \S+ to sync", r"disks are in sync")
    after = node1.run("dev=$(gnt-instance activate-disks rd1 | cut -d: -f3); dd if=$dev bs=1M iflag=direct"
                      " status=none | md5sum").stdout.split()[0]  # fmt: skip
    snode = cluster.gnt("gnt-instance list --no-headers -o snodes rd1").stdout.strip()
    if after != data or snode != "node3":
        raise RuntimeError(f"replace-disks -n: secondary {snode!r}, data {'kept' if after == data else 'changed'}")
    run_job(cluster, "gnt-instance remove -f rd1")
    return {
        "size_mib": size,
        "initial_sync_s": round(initial, 3),
        "initial_sync_mib_s": round(size / initial, 1),
        "replace_job_s": replaced["job_s"],
        "replace_cli_wall_s": replaced["cli_wall_s"],
        "resync_s": round(resync, 3),
        "resync_mib_s": round(size / resync, 1),
        "replace_phases": replaced["phases"],
    }


API_SCRIPT = """
import json, sys, time
from gnt.cli.client import Client
client = Client(timeout=600)
what, arg = sys.argv[1], json.loads(sys.argv[2])
if what == "submit":  # arg: a list of jobs (each a list of opcodes), submitted in one request
    print(json.dumps(client.submit_many(arg)))
elif what == "status":  # arg: job ids
    print(json.dumps({i: client.request("GET", "/2/jobs/%d" % i)["status"] for i in arg}))
elif what == "cancel":
    for i in arg:
        try:
            client.request("DELETE", "/2/jobs/%d" % i)
        except Exception as err:
            print(err, file=sys.stderr)
elif what == "jobs":  # arg: [opcodes, repetitions]: one job at a time, each waited for (polled)
    jobs = []
    for _ in range(arg[1]):
        i = client.submit(arg[0])
        while client.request("GET", "/2/jobs/%d" % i)["status"] not in ("success", "error", "canceled"):
            time.sleep(0.1)
        jobs.append(client.request("GET", "/2/jobs/%d" % i))
    print(json.dumps(jobs))
"""


def api(cluster: GntCluster, what: str, arg: Any, timeout: float = 600) -> Any:
    """One ssh and one Python start on the master, talking to gnt-masterd through gnt's own client:
    under TCG a CLI start costs seconds, so the bench does each step in one call, never one per job."""
    out = cluster.master.run(f"python3 - {what} {shlex.quote(json.dumps(arg))}", stdin=API_SCRIPT, timeout=timeout)
    return json.loads(out.stdout) if out.stdout.strip() else None


def wait_jobs(cluster: GntCluster, ids: list[int], deadline: float, poll: float = 20) -> dict[int, str]:
    """Poll until every job in `ids` is final or `deadline` (monotonic) passes; id -> status."""
    while True:
        status = {int(i): s for i, s in api(cluster, "status", ids).items()}
        if all(s in ("success", "error", "canceled") for s in status.values()) or time.monotonic() > deadline:
            return status
        time.sleep(poll)


def disjoint_rounds(names: list[str]) -> list[tuple[str, str]]:
    """Every ordered (primary, secondary) pair, ordered so that consecutive ones share no node where
    possible: the queue then runs disjoint creates side by side (each locks its two nodes)."""
    left = [(a, b) for a in names for b in names if a != b]
    order: list[tuple[str, str]] = []
    while left:
        used: set[str] = set()
        for pair in list(left):
            if not used & set(pair):
                order.append(pair)
                used |= set(pair)
                left.remove(pair)
    return order


def create_op(name: str, pnode: str, snode: str, disks: int) -> dict[str, Any]:
    """`gnt-instance add -t drbd -o noop --no-install --no-wait-for-sync --no-nics -B memory=4M` as
    an opcode: started (so every disk is up on both nodes), DISK_MIB per disk."""
    return {
        "OP_ID": "OP_INSTANCE_CREATE", "instance_name": name, "disk_template": "drbd",
        "disks": [{"size": DISK_MIB} for _ in range(disks)], "nics": [], "os_type": "noop",
        "pnode": pnode, "snode": snode, "beparams": {"memory": 4}, "no_install": True,
        "wait_for_sync": False, "name_check": False, "ip_check": False,
    }  # fmt: skip


def plan(names: list[str], disks: int, per_instance: int) -> list[dict[str, Any]]:
    """The create opcodes for `disks` disks: full instances of `per_instance`, the rest in the last."""
    pairs = disjoint_rounds(names)
    counts = [per_instance] * (disks // per_instance) + ([disks % per_instance] if disks % per_instance else [])
    return [create_op(f"vd{n}", *pairs[n % len(pairs)], count) for n, count in enumerate(counts)]


def fill_batch(cluster: GntCluster, ops: list[dict[str, Any]], deadline: float, filled: dict[str, Any]) -> None:
    """Submit `ops` as one job each in one request, wait until `deadline` (monotonic), cancel what has
    not started, give the running ones 600 s more; each job's breakdown is added to `filled`."""
    start = time.monotonic()
    results = api(cluster, "submit", [[op] for op in ops])
    ids = [int(value) for ok, value in results if ok]
    sizes = {int(value): len(op["disks"]) for (ok, value), op in zip(results, ops, strict=True) if ok}
    errors = [value for ok, value in results if not ok]
    filled.setdefault("submit_errors", []).extend(str(e)[:300] for e in errors)
    filled.setdefault("submit_s", []).append(round(time.monotonic() - start, 1))
    filled.setdefault("job_ids", []).extend(ids)
    status = wait_jobs(cluster, ids, deadline)
    queued = [i for i, s in status.items() if s in ("queued", "waiting")]
    if queued:
        api(cluster, "cancel", queued)
        filled["canceled_by_bench"] = filled.get("canceled_by_bench", 0) + len(queued)
    wait_jobs(cluster, ids, time.monotonic() + 600)
    rows = job_details(cluster, ids, 1)
    filled["most_jobs_running_at_once"] = max(filled.get("most_jobs_running_at_once", 0), most_at_once(rows))
    for job in rows:
        job["disks"] = sizes[int(job["id"])]
        if "create_disks_s" in job and job["disks"]:
            job["per_disk_both_nodes_s"] = round(job["create_disks_s"] / job["disks"], 2)
        filled.setdefault("jobs", []).append(job)
    made = [j for j in filled["jobs"] if j["status"] == "success"]
    timed = [j["per_disk_both_nodes_s"] for j in made if "per_disk_both_nodes_s" in j]
    filled.update(
        instances=len(made),
        disks=sum(j["disks"] for j in made),
        submitted_instances=len(filled["jobs"]),
        job_statuses={s: [j["status"] for j in filled["jobs"]].count(s) for s in {j["status"] for j in filled["jobs"]}},
        per_disk_both_nodes_median_s=round(statistics.median(timed), 2) if timed else None,
    )


def fill(
    cluster: GntCluster, disks: int, per_instance: int, budget: float, checkpoints: list[int], report: dict[str, Any]
) -> None:
    """Create `disks` drbd disks through the API in batches ending at each checkpoint count; after
    each batch (and whatever the budget let it make) verify-disks is measured at the count reached."""
    ops = plan([h.name for h in cluster.nodes], disks, per_instance)
    filled: dict[str, Any] = report.setdefault("fill", {"per_instance": per_instance, "disk_mib": DISK_MIB})
    start = time.monotonic()
    deadline = start + budget
    done = 0
    if disks == 0:
        filled.update(instances=0, disks=0, submitted_instances=0, fill_s=0.0, most_jobs_running_at_once=0)
        filled["per_disk_both_nodes_median_s"] = None
        report["verify_disks"] = point = verify_disks(cluster, 0, report.get("repeat", 3))
        point["profile"] = profile_verify(cluster)
        report["verify_points"] = [point]
        return
    for target in sorted({c for c in checkpoints if 0 < c < disks} | {disks}):
        batch = []
        while done < len(ops) and sum(len(op["disks"]) for op in ops[: done + len(batch)]) < target:
            batch.append(ops[done + len(batch)])
        done += len(batch)
        if not batch or time.monotonic() > deadline:
            break
        fill_batch(cluster, batch, deadline, filled)
        filled["fill_s"] = round(time.monotonic() - start, 1)
        save_now(report)
        say(f"filled {filled['disks']} disks ({filled['instances']} instances) in {filled['fill_s']} s;"
            f" one disk on both nodes {filled['per_disk_both_nodes_median_s']} s")  # fmt: skip
        sync, behind = wait_synced(cluster, report.get("sync_wait_limit_s", 900))
        point = verify_disks(cluster, filled["disks"], report.get("repeat", 3))
        point["sync_wait_s"] = sync
        if behind:  # the wait ran out: the sides not in sync, as each host's /proc/drbd had them
            point["not_in_sync_after_wait"] = behind
        point["link_drops_since_boot"] = link_drops(cluster)
        try:
            point["profile"] = profile_verify(cluster)
        except Exception as err:  # a profile that fails must not cost the measured point
            point["profile"] = {"error": f"{type(err).__name__}: {err}"[-1000:]}
        report.setdefault("verify_points", []).append(point)
        report["verify_disks"] = point
        save_now(report)
        say(f"verify-disks at {filled['disks']} disks: job median {point['job_median_s']} s,"
            f" CLI wall {point['cli_wall_s']} s")  # fmt: skip
        if filled["disks"] < target:
            break


JOBS_SCRIPT = """
import json, sys
from gnt.cli.client import Client
client = Client()
print(json.dumps([client.request("GET", "/2/jobs/" + i) for i in sys.argv[1:]]))
"""


def job_breakdown(job: dict[str, Any], disks: int) -> dict[str, Any]:
    """Where one create job's time went: queued (waiting for its locks), its disks made on both
    nodes (the job log's "creating instance disks" up to "adding instance"), the rest; or its error."""
    row: dict[str, Any] = {"id": job["id"], "status": job["status"]}
    received, started, ended = (_ts(job[k]) if job.get(k) else None for k in ("received_ts", "start_ts", "end_ts"))
    if received is not None and started is not None:
        row["queued_s"] = round(started - received, 1)
    if started is not None and ended is not None:
        row["run_s"] = round(ended - started, 1)
        rows = phases(job)
        try:
            made = between(rows, r"creating instance disks", r"adding instance")
        except StopIteration:
            made = None
        if made is not None:
            row["create_disks_s"] = made
            row["per_disk_both_nodes_s"] = round(made / disks, 2)
    if job["status"] != "success":
        row["error"] = str(job.get("opresult"))[-400:]
    return row


def job_details(cluster: GntCluster, ids: list[int], disks: int) -> list[dict[str, Any]]:
    """Every create job read once through the API on the master (one ssh, one CLI start)."""
    out = cluster.master.run(f"python3 - {' '.join(map(str, ids))}", stdin=JOBS_SCRIPT, timeout=600).stdout
    raw = json.loads(out)
    origin = min(_ts(j["received_ts"]) for j in raw)
    rows = []
    for job in raw:
        row = job_breakdown(job, disks)
        for key, name in (("start_ts", "started_at_s"), ("end_ts", "ended_at_s")):
            if job.get(key):
                row[name] = round(_ts(job[key]) - origin, 1)
        rows.append(row)
    return rows


def most_at_once(jobs: list[dict[str, Any]]) -> int:
    """The most create jobs started by the queue at one moment, those still waiting for their node
    locks (a pair of nodes each) included: how many ran their disks at once is in the job intervals."""
    edges = sorted(
        [(j["started_at_s"], 1) for j in jobs if "started_at_s" in j and "ended_at_s" in j]
        + [(j["ended_at_s"], -1) for j in jobs if "started_at_s" in j and "ended_at_s" in j]
    )
    best = running = 0
    for _, step in edges:
        running += step
        best = max(best, running)
    return best


def wait_synced(cluster: GntCluster, limit: float = 900) -> tuple[float, dict[str, list[str]]]:
    """Seconds until no host's /proc/drbd shows a disk that is not UpToDate on both sides, and the
    /proc/drbd lines of each host that were still not (all empty unless `limit` ran out): a stall
    is then measured at the count reached, with what stalled it in the report."""
    start = time.monotonic()
    for host in cluster.nodes:
        left = max(1, int(limit - (time.monotonic() - start)))
        host.run(
            f"for i in $(seq {left}); do grep -q ' cs:' /proc/drbd || break;"
            " grep ' cs:' /proc/drbd | grep -qv 'cs:Connected ro:[A-Za-z]*/[A-Za-z]* ds:UpToDate/UpToDate' || break;"
            " sleep 1; done",
            timeout=left + 60,
        )
    waited = round(time.monotonic() - start, 1)
    behind = {
        h.name: h.run(
            "grep ' cs:' /proc/drbd | grep -v 'cs:Connected ro:[A-Za-z]*/[A-Za-z]* ds:UpToDate/UpToDate' || true"
        ).stdout.splitlines()
        for h in cluster.nodes
    }
    return waited, {name: lines for name, lines in behind.items() if lines}


def link_drops(cluster: GntCluster) -> dict[str, int]:
    """DRBD links each host's kernel dropped since boot because the peer's PingAck came late (0.5 s,
    DRBD's default ping-timeout), counted in the host's serial console (its kernel ring buffer wraps
    at this many minors): under a busy TCG bed links drop and resync, and a host with many minors
    may then not have all of them in sync at one instant for long (see bench/README.md)."""
    return {h.name: h.console().count("PingAck did not arrive in time") for h in cluster.nodes}


def _job_s(job: dict[str, Any]) -> float:
    return round(_ts(job["end_ts"]) - _ts(job["start_ts"]), 3)


def verify_disks(cluster: GntCluster, disks: int, repeat: int = 3) -> dict[str, Any]:
    """`repeat` verify-disks jobs submitted and waited for through the API on the master (the job's
    own time, its queue wait and its log), then one CLI run for the wall time a user sees."""
    minors = {h.name: int(h.run("grep -c ' cs:' /proc/drbd || true").stdout.strip() or 0) for h in cluster.nodes}
    jobs = api(cluster, "jobs", [[{"OP_ID": "OP_CLUSTER_VERIFY_DISKS"}], repeat], timeout=1800)
    # the floor under it: a job with no locks making one trivial RPC to every node in parallel
    trivial = {"OP_ID": "OP_TEST_DELAY", "duration": 0, "on_master": False, "on_nodes": [h.name for h in cluster.nodes]}
    floor = [_job_s(job) for job in api(cluster, "jobs", [[trivial], repeat], timeout=600)]
    runs = [
        {
            "id": job["id"],
            "status": job["status"],
            "queued_s": round(_ts(job["start_ts"]) - _ts(job["received_ts"]), 3),
            "job_s": _job_s(job),
            "phases": phases(job),
            "result": job.get("opresult"),
        }
        for job in jobs
    ]
    start = time.monotonic()
    out = cluster.gnt("gnt-cluster verify-disks", check=False, timeout=600)
    wall = time.monotonic() - start
    start = time.monotonic()
    full = cluster.gnt("gnt-cluster verify", check=False, timeout=900)
    verify_wall = time.monotonic() - start
    return {
        "disks": disks,
        "minors_per_host": minors,
        "job_s": [r["job_s"] for r in runs],
        "job_median_s": round(statistics.median(r["job_s"] for r in runs), 3),
        "runs": runs,
        "rpc_floor_job_s": floor,
        "rpc_floor_median_s": round(statistics.median(floor), 3),
        "cli_wall_s": round(wall, 3),
        "cli_rc": out.rc,
        "cli_output": (out.stdout + out.stderr).strip()[-2000:],
        "cluster_verify_cli_wall_s": round(verify_wall, 3),
        "cluster_verify_rc": full.rc,
        "cluster_verify_output": (full.stdout + full.stderr).strip()[-3000:],
    }


PROFILE_SCRIPT = """
import asyncio, json, time, types
from gnt import paths, serial
from gnt.db import connect
from gnt.config.manager import ConfigManager
from gnt.cluster import verify_drbd
from gnt.instance.drbd import node_spec
from gnt.rpc import procedures as proc
from gnt.rpc.client import RpcClient, Target

t0 = time.monotonic()
cfg = ConfigManager(types.SimpleNamespace(conn=connect(paths.config_db(), check=False)))
cfg.load()
t1 = time.monotonic()
by_node = verify_drbd._by_node(types.SimpleNamespace(cfg=cfg))
t2 = time.monotonic()
minors = {u: proc.DrbdMinorsArgs([e.minor for e in v]) for u, v in by_node.items()}
encoded = {u: json.dumps(serial.to_dict(a)) for u, a in minors.items()}
t3 = time.monotonic()
# what verify-disks sent before drbd_minor_status: every side's view (for comparison)
views = {u: proc.BlockdevInfoArgs([node_spec(e.disk, cfg.nodes[u], cfg.nodes[e.peer], u == e.instance.primary_node)
                                   for e in v]) for u, v in by_node.items()}
t4 = time.monotonic()
views_encoded = {u: json.dumps(serial.to_dict(a)) for u, a in views.items()}
t5 = time.monotonic()
rpc = RpcClient.https(paths.cluster_cert(), cfg.cluster.noded_port)


async def one(uuid, procedure="drbd_minor_status"):
    node = cfg.nodes[uuid]
    target = Target(node.name, node.primary_ip, node.offline, tuple(node.cert_digests))
    start = time.monotonic()
    if procedure == "drbd_minor_status":
        result = await rpc.drbd_minor_status(target, minors[uuid])
    else:
        result = await rpc.drbd_status(target, views[uuid])
    error = str(result.error) if result.failed else ""
    return [node.name, len(by_node[uuid]), round(time.monotonic() - start, 3), error]


async def parallel(procedure):
    start = time.monotonic()
    await asyncio.gather(*(one(u, procedure) for u in by_node))
    return round(time.monotonic() - start, 3)


async def main():
    alone = [[await one(u) for u in sorted(by_node)] for _ in range(3)]
    together = [await parallel("drbd_minor_status") for _ in range(3)]
    with_views = [await parallel("drbd_status") for _ in range(3)]
    await rpc.close()
    return alone, together, with_views


alone, together, with_views = asyncio.run(main())
print(json.dumps({"config_load_s": round(t1 - t0, 3), "sides_s": round(t2 - t1, 3),
                  "minors_encode_s": round(t3 - t2, 3), "minors_bytes": sum(map(len, encoded.values())),
                  "views_build_s": round(t4 - t3, 3), "views_encode_s": round(t5 - t4, 3),
                  "views_bytes": sum(map(len, views_encoded.values())),
                  "drbd_minor_status_one_node_at_a_time": alone, "drbd_minor_status_all_nodes_parallel_s": together,
                  "drbd_status_with_views_all_nodes_parallel_s": with_views}))
"""


NODE_PROC_SCRIPT = """
import asyncio, json, sys, time
from agent.server import node_dispatcher

def disk(n):
    view = {"minor": n, "port": 11000 + n, "local_ip": "192.0.2.1", "remote_ip": "192.0.2.2", "remote_minor": n,
            "data": ["xenvg", "d%d.disk0_data" % n], "meta": ["xenvg", "d%d.disk0_meta" % n],
            "secret": "0123456789abcdef0123456789abcdef01234567", "primary": True, "resync_rate": 61440}
    return {"uuid": "d%d" % n, "index": n % 16, "size": 4, "dev_type": "drbd", "logical_id": [],
            "params": {"drbd": view}}

def best(procedure, body):
    dispatcher = node_dispatcher()
    walls, cpus = [], []
    for _ in range(5):
        wall, cpu = time.monotonic(), time.process_time()
        answer = json.loads(asyncio.run(dispatcher.http(procedure, body)))
        walls.append(time.monotonic() - wall)
        cpus.append(time.process_time() - cpu)
    assert answer["ok"], answer
    return {"wall_min_s": round(min(walls), 4), "cpu_min_s": round(min(cpus), 4)}


found = {}
for count in map(int, sys.argv[1:]):
    found[count] = best("drbd_status", json.dumps({"disks": [disk(n) for n in range(count)]}).encode())
    try:
        from gnt.rpc.procedures import TABLE
    except ImportError:
        TABLE = {}
    if "drbd_minor_status" in TABLE:  # a checkout before it has no such procedure
        minors = best("drbd_minor_status", json.dumps({"minors": list(range(count))}).encode())
        found[count].update({"minors_" + k: v for k, v in minors.items()})
print(json.dumps(found))
"""


def node_procedure(host: Any, counts: tuple[int, ...] = (1, 50, 100)) -> dict[str, Any]:
    """The node side of `drbd_status` (each disk's view) and of `drbd_minor_status` (its minor only,
    `minors_*`) inside a host, without the network: request bodies of `counts` disks (minors that
    need not exist) through the node daemon's real dispatcher (decoding, confinement, one /proc/drbd
    read, the answer's JSON); the best of 5, wall and CPU time."""
    out = host.run(f"python3 - {' '.join(map(str, counts))}", stdin=NODE_PROC_SCRIPT, timeout=600).stdout
    return {f"{k}_disks": v for k, v in json.loads(out.strip().splitlines()[-1]).items()}


def profile_verify(cluster: GntCluster) -> dict[str, Any]:
    """Where a verify-disks job's time could go, outside the job: on the master, the config load, the
    sides it lists and their minors' encoding (and, for comparison, building and encoding every side's
    view, which verify-disks sent before drbd_minor_status), then the `drbd_minor_status` RPC to each
    node (alone, and all in parallel as the LU does, over the same mutual TLS) and `drbd_status` with
    the views in parallel; on each host, one /proc/drbd read and one `lvs`; inside one host, the node
    side of both procedures without the network (`node_procedure`)."""
    out = cluster.master.run("python3 -", stdin=PROFILE_SCRIPT, timeout=600).stdout
    found: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    found["in_host_s"] = {
        h.name: {
            "cat_proc_drbd": round(in_host_seconds(h, "cat /proc/drbd >/dev/null"), 3),
            "lvs": round(in_host_seconds(h, "lvs --noheadings >/dev/null"), 3),
        }
        for h in cluster.nodes
    }
    found["drbd_status_in_host"] = {cluster.nodes[1].name: node_procedure(cluster.nodes[1])}
    return found


def summary_rows(report: dict[str, Any]) -> list[list[str]]:
    """The table: each measured rate next to the raw copy's and the issue's goal; a part the run did
    not reach is left out (the JSON's `error` says why)."""
    raw, rep = report.get("raw_copy"), report.get("replace_disks")
    vd, filled = report.get("verify_disks"), report.get("fill") or {}

    def rate(what: str, mib: int, seconds: float, note: str = "") -> list[str]:
        return [what, f"{mib} MiB", f"{seconds:.1f} s", f"{mib / seconds:.1f} MiB/s", note]

    rows = []
    if raw:
        rows += [
            rate("raw copy LV->LV node1->node3 (dd, socat)", raw["size_mib"], raw["lv_to_lv_s"]),
            rate("raw stream node1->node3 (network only)", raw["size_mib"], raw["network_only_s"]),
        ]
    if rep and "resync_vs_raw" in rep:
        rows += [
            rate("add -t drbd initial sync", rep["size_mib"], rep["initial_sync_s"],
                 f"{rep['initial_sync_vs_raw']:.0%} of raw LV->LV (goal 80%)"),
            rate("replace-disks -n resync", rep["size_mib"], rep["resync_s"],
                 f"{rep['resync_vs_raw']:.0%} of raw LV->LV (goal 80%)"),
        ]  # fmt: skip
    if "disks" in filled:
        per_disk = filled.get("per_disk_both_nodes_median_s")
        rows.append([f"fill: {filled['submitted_instances']} drbd creates through the API"
                     f" (up to {filled['per_instance']} disks of {filled['disk_mib']} MiB each)",
                     f"{filled['disks']} disks made", f"{filled['fill_s']:.1f} s", "",
                     f"one disk on both nodes {per_disk} s (median); at most"
                     f" {filled['most_jobs_running_at_once']} create jobs started at once"])  # fmt: skip
    for point in report.get("verify_points") or ([vd] if vd else []):
        count = point.get("disks", filled.get("disks", 0))
        rows += [
            [f"verify-disks, {count} drbd disks on {report['hosts']} hosts (job)", "",
             f"{point['job_median_s']:.3f} s", "",
             f"median of {len(point['job_s'])}: {', '.join(f'{t:.3f}' for t in point['job_s'])} s"
             f" (min {min(point['job_s']):.3f}, max {max(point['job_s']):.3f})"
             " (goal 1 s for 200 disks on 4 hosts)"],
            *([[f"floor: a job with one trivial RPC to each of the {report['hosts']} hosts", "",
                 f"{point['rpc_floor_median_s']:.3f} s", "", "OP_TEST_DELAY 0 s on every node, no locks"
                 f" (median of {len(point['rpc_floor_job_s'])})"]]
               if "rpc_floor_median_s" in point else []),
            [f"verify-disks, {count} disks (CLI wall on node1)", "", f"{point['cli_wall_s']:.3f} s"
             if isinstance(point["cli_wall_s"], float) else f"{point['cli_wall_median_s']:.3f} s", "",
             "includes ssh and the CLI's start under TCG"],
            *([[f"gnt-cluster verify, {count} disks (CLI wall on node1)", "",
                f"{point['cluster_verify_cli_wall_s']:.3f} s", "", f"exit code {point['cluster_verify_rc']}"]]
              if "cluster_verify_cli_wall_s" in point else []),
            *([[f"sides not in sync after the {point['sync_wait_s']} s wait", "", "", "",
                "; ".join(f"{h}: {len(v)}" for h, v in point["not_in_sync_after_wait"].items())]]
              if point.get("not_in_sync_after_wait") else []),
        ]  # fmt: skip
    return rows


HEADERS = ["what", "size", "time", "rate", "note"]


def markdown(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + " --- |" * len(HEADERS)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows]) + "\n"


def save(output: Path, report: dict[str, Any]) -> None:
    """The JSON and its table (the same name, .md), both from the measured report only: written after
    each part, so a run stopped later still leaves what it measured."""
    write_json(output, report)
    header = f"`{report['command']}`, {report['date']}, load {report['load_start']}\n\n"
    error = f"\nstopped: {report['error']}\n" if report.get("error") else ""
    output.with_suffix(".md").write_text(header + markdown(summary_rows(report)) + error)


def save_now(report: dict[str, Any]) -> None:
    """save() to the report's own output (fill and verify-disks save as they go)."""
    save(Path(report["output"]), report)


def stop_on_sigterm(signum: int, frame: Any) -> None:
    """A stopped run (timeout, a deadline) unwinds like ^C: the bed is destroyed, the JSON written."""
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hosts", type=int, default=4, help="test-bed hosts (at least 3; default 4)")
    parser.add_argument("--size", type=int, default=256, help="MiB copied raw and resynced by replace-disks -n")
    parser.add_argument("--disks", type=int, default=200, help="drbd disks for verify-disks (default 200)")
    parser.add_argument("--disks-per-instance", type=int, default=16, help="1 to 16 (gnt's limit; default 16)")
    parser.add_argument("--budget", type=float, default=900, help="seconds the filling may take (default 900)")
    parser.add_argument(
        "--fill-until",
        default=None,
        metavar="HH:MM",
        help="UTC time the fill stops waiting for creates (a tighter --budget, for a deadline)",
    )
    parser.add_argument(
        "--checkpoints",
        type=int,
        nargs="*",
        default=[],
        help="disk counts below --disks where the fill pauses and verify-disks is measured too",
    )
    parser.add_argument(
        "--only-verify-disks",
        action="store_true",
        help="skip the raw copy and replace-disks -n: the fill and verify-disks only",
    )
    parser.add_argument(
        "--sync-wait",
        type=float,
        default=900,
        help="seconds to wait for every side to be in sync before each verify-disks point (default 900);"
        " what is still out of sync then is recorded and the point measured anyway",
    )
    parser.add_argument("--repeat", type=int, default=3, help="verify-disks jobs timed at each count (default 3)")
    parser.add_argument("--output", type=Path, default=RESULTS / "drbd_scale.json")
    args = parser.parse_args()
    if not 1 <= args.disks_per_instance <= 16:
        parser.error("--disks-per-instance: 1 to 16")
    if args.hosts < 3 and not args.only_verify_disks:
        parser.error("replace-disks -n needs a third host: --hosts 3 or more")
    signal.signal(signal.SIGTERM, stop_on_sigterm)

    started = time.monotonic()
    report: dict[str, Any] = {
        "command": "python3 bench/bench_drbd_scale.py " + " ".join(sys.argv[1:]),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "load_start": loadavg(),
        "hosts": args.hosts,
        "requested_disks": args.disks,
        "repeat": args.repeat,
        "sync_wait_limit_s": args.sync_wait,
        "output": str(args.output),
    }
    image = build_image()
    # room for every disk's side: DISK_MIB data + 128 MiB metadata, about disks*2/hosts sides per host
    sides = args.disks * 2 // args.hosts + 16
    data_size = f"{max(8, (sides * (DISK_MIB + META_MIB) + 2 * args.size) // 1024 + 2)}G"
    bed = TestBed(tempfile.mkdtemp(prefix="gnt-ds-", dir="/tmp"), image=image, hosts=args.hosts, data_size=data_size)
    try:
        bed.create()
        t = time.monotonic()
        bed.start()
        report["boot_s"] = round(time.monotonic() - t, 1)
        cluster = start_gnt_cluster(bed, ClusterSpec(hosts=tuple(h.name for h in bed.hosts)))
        report["cluster_setup_s"] = {k: round(v, 3) for k, v in cluster.timings.items()}
        for host in cluster.nodes:  # minor_count: about disks*2/hosts minors per host (8.4's default is 32)
            host.run("modprobe drbd minor_count=255 usermode_helper=/bin/true")
        enable_drbd(cluster)

        if not args.only_verify_disks:
            raw = report["raw_copy"] = raw_copy(cluster, args.size)
            save(args.output, report)
            say(f"raw copy node1 -> node3: {raw['lv_to_lv_mib_s']} MiB/s LV to LV,"
                f" {raw['network_only_mib_s']} MiB/s net")  # fmt: skip
            rep = report["replace_disks"] = replace_new_secondary(cluster, args.size)
            rep["resync_vs_raw"] = round(rep["resync_mib_s"] / raw["lv_to_lv_mib_s"], 2)
            rep["initial_sync_vs_raw"] = round(rep["initial_sync_mib_s"] / raw["lv_to_lv_mib_s"], 2)
            save(args.output, report)
            say(f"replace-disks -n node3: resync {rep['resync_mib_s']} MiB/s ({rep['resync_vs_raw']:.0%} of raw)")
        budget = args.budget
        if args.fill_until:
            hour, minute = map(int, args.fill_until.split(":"))
            now = time.gmtime()
            budget = min(budget, (hour * 60 + minute) * 60 - (now.tm_hour * 3600 + now.tm_min * 60 + now.tm_sec))
        report["fill_budget_s"] = budget
        fill(cluster, args.disks, args.disks_per_instance, budget, args.checkpoints, report)
    except BaseException as err:  # what was measured before the failure is still worth keeping
        report["error"] = f"{type(err).__name__}: {err}"
        raise
    finally:
        bed.destroy()
        report["load_end"] = loadavg()
        report["duration_s"] = round(time.monotonic() - started, 1)
        save(args.output, report)
    say("\n" + table(summary_rows(report), HEADERS))
    say(f"\nwrote {args.output} and its .md ({report['duration_s']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
