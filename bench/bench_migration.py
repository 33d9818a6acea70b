#!/usr/bin/env python3
"""Migration benchmark: raw QEMU (its defaults), the gnt kvm driver, and a 2-node gnt cluster; real guests.

Cases: 128 and 512 MiB guests, idle and dirtying memory, shared disk and local disk (mirrored
over NBD). For each: QEMU's own total time and downtime (query-migrate), whether it converged,
what the convergence policy did, and
- "gnt kvm": the driver called directly, wall time from accept_instance to both finalize steps;
- "gnt cluster": `OP_INSTANCE_MIGRATE` through the job queue of a 2-node virtual cluster
  (tools/vcluster-setup), wall time from job submit to the client seeing it done, and the
  orchestration overhead (that wall time minus QEMU's total time). The instance migrates back and
  forth (`--samples`, default 3) and the row holds the medians; the JSON also keeps every sample
  and where each one's overhead went, step by step, from the job's timestamps and log.
Prints the tables and writes bench/results/migration.json.

Columns are declared once (`COLUMNS`): a new measurement is one more entry there and one more key
in the row a runner returns.

Run as root after tests/system/install-deps.sh:
    python3 bench/bench_migration.py [--quick] [--runners raw,driver,cluster] [--samples 3]
                                     [--out bench/results/migration.json]
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "system"))

sys.path.insert(0, os.path.join(HERE, ".."))

import guest  # noqa: E402
from guest_console import counters, read_log, wait_ready  # noqa: E402
from qemu.qmp import QMPClient  # noqa: E402

from backends.kvm import create  # noqa: E402
from gnt.cli.client import Client  # noqa: E402
from gnt.runtime import DiskSpec, InstanceSpec, MigrationPhase  # noqa: E402

ADDRESS = "127.0.0.1"
TIMEOUT = 60.0  # a migration still running after this did not converge
DIRTY = {128: "gnt.dirty=32 gnt.dirtyset=24", 512: "gnt.dirty=96 gnt.dirtyset=128"}


@dataclass
class Column:
    key: str
    title: str
    fmt: Callable[[Any], str] = str


def _ms(value: Any) -> str:
    return "-" if value is None else f"{value:.0f}"


COLUMNS = [
    Column("runner", "runner"),
    Column("memory", "MiB"),
    Column("load", "load"),
    Column("disk", "disk"),
    Column("converged", "done", lambda v: "yes" if v else "NO"),
    Column("total_ms", "total ms", _ms),
    Column("downtime_ms", "downtime ms", _ms),
    Column("wall_ms", "driver wall ms", _ms),
    Column("overhead_ms", "driver overhead ms", _ms),
    Column("job_ms", "job wall ms", _ms),
    Column("orch_ms", "orchestration overhead ms", _ms),
    Column("guest_ok", "guest ok", lambda v: v or "-"),
    Column("actions", "policy actions", lambda v: "; ".join(v) if v else "-"),
]


async def _poll(client: QMPClient) -> dict[str, Any]:
    deadline = time.monotonic() + TIMEOUT
    while True:
        info = await client.execute("query-migrate")
        if info.get("status") in ("completed", "failed", "cancelled") or time.monotonic() > deadline:
            return info
        await asyncio.sleep(0.05)


async def run_raw(memory: int, load: str, disk: str, tmp: str) -> dict[str, Any]:
    """Two bare QEMU processes with QEMU's default migration parameters."""
    args = f"console=ttyS0 quiet panic=-1 {DIRTY[memory] if load == 'dirty' else ''}"
    image = os.path.join(tmp, "raw-disk.img")
    subprocess.run(["qemu-img", "create", "-q", "-f", "raw", image, "64M"], check=True)
    common = ["qemu-system-x86_64", "-machine", "pc,accel=tcg", "-m", str(memory), "-nodefaults", "-display", "none"]
    common += ["-kernel", guest.kernel(), "-initrd", guest.initramfs(), "-append", args]
    common += ["-drive", f"file={image},format=raw,if=virtio,cache=writeback"]
    procs, clients = [], []
    try:
        for role in ("src", "dst"):
            argv = common + ["-qmp", f"unix:{tmp}/{role}.qmp,server=on,wait=off", "-serial", f"file:{tmp}/{role}.log"]
            if role == "dst":
                argv += ["-incoming", "defer"]
            procs.append(subprocess.Popen(argv, stdin=subprocess.DEVNULL, start_new_session=True))
            await asyncio.sleep(0.3)
            client = QMPClient(role)
            await client.connect(f"{tmp}/{role}.qmp")
            clients.append(client)
        await wait_ready(f"{tmp}/src.log", 120)
        await asyncio.sleep(1.0)
        src, dst = clients
        await dst.execute("migrate-incoming", {"uri": f"tcp:{ADDRESS}:0"})
        port = (await dst.execute("query-migrate"))["socket-address"][0]["port"]
        await src.execute("migrate", {"uri": f"tcp:{ADDRESS}:{port}"})
        info = await _poll(src)
        if info.get("status") != "completed":
            await src.execute("migrate_cancel")
        return _row("raw qemu", memory, load, disk, info, None, [])
    finally:
        for client in clients:
            await client.disconnect()
        for p in procs:
            p.kill()
            p.wait()


def _row(runner: str, memory: int, load: str, disk: str, info: dict, wall: float | None, actions: list) -> dict:
    done = info.get("status") == "completed"
    total = info.get("total-time") if done else None
    return {
        "runner": runner,
        "memory": memory,
        "load": load,
        "disk": disk,
        "converged": done,
        "total_ms": total,
        "downtime_ms": info.get("downtime") if done else None,
        "wall_ms": wall,
        "overhead_ms": (wall - total) if wall is not None and total is not None else None,
        "job_ms": None,
        "orch_ms": None,
        "actions": actions,
        "qemu_status": info.get("status"),
    }


async def run_gnt(memory: int, load: str, disk: str, tmp: str) -> dict[str, Any]:
    """The kvm driver's step protocol between two nodes, hvparams at their (Ganeti) defaults."""
    src = create(run_dir=f"{tmp}/n1/run", data_dir=f"{tmp}/n1/data", accel="tcg")
    dst = create(run_dir=f"{tmp}/n2/run", data_dir=f"{tmp}/n2/data", accel="tcg")
    dev_type = "sharedfile" if disk == "shared" else "file"
    os.makedirs(f"{tmp}/n1/disks", exist_ok=True)
    path = f"{tmp}/n1/disks/disk0"
    subprocess.run(["qemu-img", "create", "-q", "-f", "raw", path, "64M"], check=True)
    hv = guest.hvparams(args=DIRTY[memory] if load == "dirty" else "")
    spec = InstanceSpec(f"bench-{memory}", str(uuid.uuid4()), "kvm", memory, 1, hvparams=hv)
    spec.disks = [DiskSpec("d0", 0, 64, dev_type, path=path)]
    tspec = InstanceSpec(**{**spec.__dict__, "disks": [DiskSpec("d0", 0, 64, dev_type, path=path)]})
    if dev_type == "file":
        tspec.disks[0].path = f"{tmp}/n2/disks/disk0"
    try:
        await src.start(spec)
        await wait_ready(src.paths_for(spec.name).serial_log, 120)
        await asyncio.sleep(1.0)
        start = time.monotonic()
        info = await dst.accept_instance(tspec, ADDRESS)
        await src.migrate_instance(spec, ADDRESS, info, True)
        deadline = time.monotonic() + TIMEOUT
        while (status := await src.migration_status(spec)).phase == MigrationPhase.ACTIVE:
            if time.monotonic() > deadline:
                await src.abort_migration(spec)
                status = await src.migration_status(spec)
                break
            await asyncio.sleep(0.05)
        ok = status.phase == MigrationPhase.COMPLETED
        await dst.finalize_migration_dst(tspec, info, ok)
        await src.finalize_migration_src(spec, ok)
        wall = (time.monotonic() - start) * 1000
        query = {
            "status": status.extra.get("qemu_status"),
            "total-time": status.total_time,
            "downtime": status.downtime,
        }
        actions = [a["action"] for a in status.extra.get("actions", [])]
        row = _row("gnt kvm", memory, load, disk, query, wall, actions)
        if ok:  # the same survival check as the cluster rows: counter continues, no oops/panic/reboot
            row["guest_ok"] = "1/1" if await _guest_survived(dst.paths_for(spec.name).serial_log) else "0/1"
        return row
    finally:
        for drv, name in ((src, spec.name), (dst, spec.name)):
            await drv.forget(name)


# -- gnt cluster: the job queue of a 2-node virtual cluster -------------------------------------

FINAL = ("success", "error", "canceled")
ADD = ["gnt-instance", "add", "-o", "noop", "--no-name-check", "--no-ip-check", "--no-nics"]

#: where a cluster migration's wall time goes: (name, job log line that ends the step). The steps
#: before and after come from the job's timestamps; see `_steps`.
LOG_STEPS = [
    ("prereq", "Migrating instance "),
    ("accept_instance", "* migrating instance to"),
    ("migrate_instance", "* starting memory transfer"),
    ("transfer", "* memory transfer complete"),
    ("finalize", "* done"),
]
STEPS = ["submit", "queue", "locks", *(name for name, _ in LOG_STEPS), "job_end", "client_seen"]


def _ts(value: list[int] | None) -> float | None:
    return value[0] + value[1] / 1e6 if value else None


def _steps(job: dict[str, Any], submitted: float, seen: float, total_ms: float | None) -> dict[str, float | None]:
    """Milliseconds per step from submit to the client seeing the job done; they add up to the wall time.

    submit: client -> job received; queue: received -> opcode started; locks: -> locks held; then
    one step per job log line of LOG_STEPS: prereq (check_prereq's RPCs), accept_instance (target
    QEMU started with -incoming), migrate_instance (source told to migrate), transfer (polling
    until completed: QEMU's own total time plus, for local disks, the NBD mirror; what is not QEMU's
    total is `transfer_minus_qemu`), finalize (both nodes, config, old disks); job_end: "* done" ->
    job end; client_seen: job end -> the client's wait returned.
    """

    def at(prefix: str) -> float | None:
        return next((_ts(e[1]) for e in job["oplog"][0] if str(e[3]).startswith(prefix)), None)

    marks = [submitted, _ts(job["received_ts"]), _ts(job["opstart_ts"][0]), _ts(job["opexec_ts"][0])]
    marks += [at(prefix) for _, prefix in LOG_STEPS]
    marks += [_ts(job["end_ts"]), seen]
    steps = {
        name: (b - a) * 1000 if a is not None and b is not None else None
        for name, a, b in zip(STEPS, marks[:-1], marks[1:], strict=True)
    }
    if steps["transfer"] is not None and total_ms is not None:
        steps["transfer_minus_qemu"] = steps["transfer"] - total_ms
    return steps


POLICY = "migration policy: "
COUNTER = guest.COUNTER_PREFIX
BAD_CONSOLE = ("Kernel panic", "Oops", "BUG:", "general protection", guest.READY_MARKER)


def _action(line: str) -> str:
    """The LU logs each policy action as its dict's repr; the table shows its "action" text."""
    try:
        value = ast.literal_eval(line)
    except (ValueError, SyntaxError):
        return line
    return str(value.get("action", line)) if isinstance(value, dict) else line


def _free_subnet() -> int:
    for subnet in range(190, 250):
        try:
            with socket.socket() as probe:
                probe.bind((f"127.0.{subnet}.10", 1811))
        except OSError:
            continue
        return subnet
    raise RuntimeError("no free loopback subnet for the benchmark cluster")


class Cluster:
    """A 2-node virtual cluster (kvm enabled) in a short /tmp directory; stop() in a finally."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="gbm", dir="/tmp")  # unix socket paths are short
        self.started = False
        self.client: Client | None = None

    def cmd(self, *argv: str, node: str = "node1", timeout: float = 300, check: bool = True) -> str:
        proc = subprocess.run(
            [f"{self.dir}/{node}/cmd", *argv], capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and proc.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
        return proc.stdout

    def start(self) -> None:
        setup = os.path.join(HERE, "..", "tools", "vcluster-setup")
        subprocess.run(
            [sys.executable, setup, "-c", "2", "-s", str(_free_subnet()), self.dir],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        self.started = True
        subprocess.run([f"{self.dir}/start-all"], check=True, timeout=120)
        hv = ",".join(f"{k}={v}" for k, v in guest.hvparams().items() if k != "serial_console")
        storage = f"--shared-file-storage-dir={self.dir}/shared-file-storage"
        self.cmd("gnt-cluster", "init", "--enabled-hypervisors=kvm,fake", storage, "-H", f"kvm:{hv}", "bench")
        self.cmd("gnt-node", "add", "node2")
        self.client = Client(f"{self.dir}/node1/var/run/gnt/master.sock")

    def stop(self) -> None:
        if self.started:
            subprocess.run([f"{self.dir}/stop-all"], check=False, timeout=120, capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)

    def serial_log(self, node: str, name: str) -> str:
        return f"{self.dir}/{node}/var/run/gnt/instances/kvm/{name}/serial.log"

    def _wait(self, job: int, timeout: float) -> str | None:
        """Follow the job (long-polling /wait, as `gnt-instance migrate` does) until final or timeout."""
        assert self.client is not None
        status: str | None = None
        serial = 0
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            body = {"fields": ["status"], "previous_job_info": [status], "previous_log_serial": serial, "timeout": 5}
            change = self.client.request("POST", f"/2/jobs/{job}/wait", body)
            if change is None:
                continue
            status = change["job_info"][0]
            serial = max([serial, *(entry[0] for entry in change["log_entries"])])
            if status in FINAL:
                break
        return status

    def migrate(self, name: str, target: str) -> dict[str, Any]:
        """One OP_INSTANCE_MIGRATE job; a sample with the job's wall time, QEMU's figures and the step breakdown."""
        assert self.client is not None
        submitted = time.time()
        job_id = self.client.submit([{"OP_ID": "OP_INSTANCE_MIGRATE", "instance_name": name, "target_node": target}])
        status = self._wait(job_id, TIMEOUT)
        seen = time.time()
        if status not in FINAL:  # did not converge in time: cancel (the source keeps the guest)
            self.client.request("DELETE", f"/2/jobs/{job_id}")
            status = self._wait(job_id, 120)
        job = self.client.get(f"/2/jobs/{job_id}")
        result = job["opresult"][0] if status == "success" and isinstance(job["opresult"][0], dict) else {}
        total = result.get("total_time_ms")
        wall = (seen - submitted) * 1000
        done = status == "success" and total is not None
        start = _ts(job["received_ts"]) or submitted
        log = [[round((_ts(e[1]) - start) * 1000), e[3]] for e in job["oplog"][0]]  # type: ignore[operator]
        policy = [m.split(POLICY, 1)[1] for _, m in log if POLICY in m]
        return {
            "job": job_id,
            "target": target,
            "status": status,
            "converged": done,
            "total_ms": total if done else None,
            "downtime_ms": result.get("downtime_ms") if done else None,
            "job_ms": wall if done else None,
            "orch_ms": wall - total if done else None,
            "orchestration_s": result.get("orchestration_s"),
            "actions": [_action(line) for line in policy],
            "steps_ms": _steps(job, submitted, seen, total) if done else {},
            "log": log,  # [ms since the job was received, message]
        }


async def run_cluster(vc: Cluster, memory: int, load: str, disk: str, samples: int) -> dict[str, Any]:
    """Create the instance on node1, migrate it node1 -> node2 -> node1 ... `samples` times, remove it."""
    name = f"bm{memory}{load[0]}{disk[0]}"
    kernel_args = guest.hvparams(args=DIRTY[memory] if load == "dirty" else "")["kernel_args"]
    template = "sharedfile" if disk == "shared" else "file"
    add = [*ADD, "-t", template, "--disk", "0:size=32M", "-B", f"memory={memory}M"]
    vc.cmd(*add, "-H", f"kvm:kernel_args={kernel_args}", "-n", "node1", name)
    runs: list[dict[str, Any]] = []
    try:
        await wait_ready(vc.serial_log("node1", name), 120)
        for index in range(samples):
            await asyncio.sleep(1.0)
            target = ("node2", "node1")[index % 2]
            runs.append(vc.migrate(name, target))
            if not runs[-1]["converged"]:
                break
            runs[-1]["guest_ok"] = await _guest_survived(vc.serial_log(target, name))
            if not runs[-1]["guest_ok"]:  # what the target's console said instead of counting on
                lines = read_log(vc.serial_log(target, name)).splitlines()
                runs[-1]["guest_log"] = [line for line in lines if line.strip() and COUNTER not in line][-12:]
    finally:
        vc.cmd("gnt-instance", "remove", "-f", "--shutdown-timeout=5", name, check=False)
    return _cluster_row(memory, load, disk, runs)


async def _guest_survived(serial_log: str, watch: float = 3.0, timeout: float = 10.0) -> bool:
    """The migrated guest carries on: its counter continues on the target (a rebooted guest restarts
    at 1 and prints the ready marker again) and keeps counting for `watch` seconds, and the kernel
    neither oopsed nor panicked there. The target's serial log holds only what it printed."""
    deadline = time.monotonic() + timeout
    first: tuple[float, int] | None = None
    while True:
        log = read_log(serial_log)
        if any(bad in log for bad in BAD_CONSOLE):
            return False
        values = counters(log)
        if values and first is None:
            if values[0] <= 1:
                return False
            first = (time.monotonic(), values[-1])
        if first is not None and time.monotonic() - first[0] >= watch:
            return values[-1] > first[1]
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.2)


def _median(values: list[Any]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def _cluster_row(memory: int, load: str, disk: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    done = bool(runs) and all(r["converged"] for r in runs)
    keys = ("total_ms", "downtime_ms", "job_ms", "orch_ms")
    medians = {k: _median([r[k] for r in runs]) if done else None for k in keys}
    # the policy's actions of the sample whose total time is the median one
    middle = sorted(runs, key=lambda r: r["total_ms"] or 0)[len(runs) // 2] if runs else {}
    step_names = [*STEPS, "transfer_minus_qemu"]
    return {
        "runner": "gnt cluster",
        "memory": memory,
        "load": load,
        "disk": disk,
        "converged": done,
        **medians,
        "wall_ms": None,
        "overhead_ms": None,
        "actions": middle.get("actions", []),
        "guest_ok": f"{sum(bool(r.get('guest_ok')) for r in runs)}/{len(runs)}" if runs else None,
        "qemu_status": "completed" if done else (runs[-1]["status"] if runs else None),
        "steps_ms": {s: _median([r["steps_ms"].get(s) for r in runs]) for s in step_names} if done else {},
        "samples": runs,
    }


RUNNERS = {"raw": "raw qemu", "driver": "gnt kvm", "cluster": "gnt cluster"}


def _cases(quick: bool, runners: list[str]) -> list[tuple[str, int, str, str]]:
    mems = (128,) if quick else (128, 512)
    cases = []
    for memory in mems:
        for load in ("idle", "dirty"):
            if "raw" in runners:
                cases.append(("raw", memory, load, "shared"))
            for runner in ("driver", "cluster"):
                if runner in runners:
                    cases += [(runner, memory, load, disk) for disk in ("shared", "local")]
    return cases


def table(rows: list[dict[str, Any]], columns: list[Column] = COLUMNS) -> str:
    cells = [[c.title for c in columns]] + [[c.fmt(r.get(c.key)) for c in columns] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join([lines[0], "  ".join("-" * w for w in widths), *lines[1:]])


def breakdown(rows: list[dict[str, Any]]) -> str:
    """Median ms per step of the cluster rows (see `_steps`)."""
    cluster = [{**r, **{f"step:{k}": v for k, v in r.get("steps_ms", {}).items()}} for r in rows]
    cluster = [r for r in cluster if r["runner"] == "gnt cluster"]
    names = [*STEPS[:7], "transfer_minus_qemu", *STEPS[7:]]
    columns = [Column("memory", "MiB"), Column("load", "load"), Column("disk", "disk")]
    columns += [Column(f"step:{n}", n, _ms) for n in names] + [Column("orch_ms", "overhead", _ms)]
    return table(cluster, columns)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="128 MiB cases only")
    parser.add_argument("--runners", default="raw,driver,cluster", help="comma-separated: raw, driver, cluster")
    parser.add_argument("--samples", type=int, default=3, help="cluster migrations per case (back and forth)")
    parser.add_argument("--out", default=os.path.join(HERE, "results", "migration.json"))
    opts = parser.parse_args()
    runners = [r for r in opts.runners.split(",") if r]
    if unknown := set(runners) - set(RUNNERS):
        parser.error(f"unknown runner(s): {', '.join(sorted(unknown))}")
    cases = _cases(opts.quick, runners)
    results: dict[int, dict[str, Any]] = {}
    for index, (runner, memory, load, disk) in enumerate(cases):
        if runner == "cluster":
            continue
        tmp = tempfile.mkdtemp(prefix="gnt-bench-")
        try:
            fn = run_raw if runner == "raw" else run_gnt
            results[index] = await fn(memory, load, disk, tmp)
            print(table([results[index]]).splitlines()[-1], flush=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    if "cluster" in runners:
        vc = Cluster()
        try:
            vc.start()
            for index, (runner, memory, load, disk) in enumerate(cases):
                if runner == "cluster":
                    results[index] = await run_cluster(vc, memory, load, disk, opts.samples)
                    print(table([results[index]]).splitlines()[-1], flush=True)
        finally:
            vc.stop()
    rows = [results[i] for i in sorted(results)]
    print()
    print(table(rows))
    if "cluster" in runners:
        print("\ngnt cluster: where the job's wall time goes (median ms per step)")
        print(breakdown(rows))
    os.makedirs(os.path.dirname(opts.out), exist_ok=True)
    with open(opts.out, "w") as f:
        meta = {"time": time.time(), "accel": "tcg", "samples": opts.samples, "steps": STEPS}
        json.dump({**meta, "columns": [c.key for c in COLUMNS], "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
