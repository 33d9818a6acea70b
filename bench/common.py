"""Shared helpers for the benchmarks: a virtual cluster driven through its real CLI and API, timing, stats."""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SETUP = REPO / "tools" / "vcluster-setup"
RESULTS = REPO / "bench" / "results"

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from gnt.cli.client import Client  # noqa: E402

FINAL = ("success", "error", "canceled")


# -- statistics -----------------------------------------------------------------------------------


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (pct in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "min": min(values),
        "p50": statistics.median(values),
        "p95": percentile(values, 95),
        "max": max(values),
        "mean": statistics.fmean(values),
    }


def loadavg() -> float:
    with open("/proc/loadavg") as handle:
        return float(handle.read().split()[0])


def rss_mb(pid: int) -> float | None:
    """VmRSS of a process in MiB (None if it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as handle:
            return [int(x) for x in handle.read().split()]
    except OSError:
        return []


# -- the virtual cluster --------------------------------------------------------------------------


class CommandFailed(RuntimeError):
    pass


class VCluster:
    """A virtual cluster built with tools/vcluster-setup; commands run through DIR/nodeK/cmd."""

    def __init__(self, directory: Path, count: int, subnet: int, env: dict[str, str] | None = None) -> None:
        self.dir = Path(directory)
        self.count = count
        self.subnet = subnet
        self.env = {**os.environ, **(env or {})}
        self.started = False
        self.last_rc, self.last_output, self.last_cpu = 0, "", 0.0
        subprocess.run(
            [sys.executable, str(SETUP), "-c", str(count), "-s", str(subnet), str(self.dir)],
            check=True,
            capture_output=True,
        )

    def script(self, name: str, timeout: float = 300) -> None:
        subprocess.run([str(self.dir / name)], check=True, capture_output=True, timeout=timeout, env=self.env)

    def start(self) -> None:
        self.started = True
        self.script("start-all")

    def stop(self) -> None:
        if self.started:
            self.script("stop-all")
            self.started = False

    def run(self, *argv: str, node: str = "node1", timeout: float = 300, check: bool = True) -> tuple[float, str]:
        """Run a command as a virtual node; return (wall seconds, stdout)."""
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        proc = subprocess.run(
            [str(self.dir / node / "cmd"), *argv], capture_output=True, text=True, timeout=timeout, env=self.env
        )
        elapsed = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.last_rc, self.last_output = proc.returncode, proc.stdout + proc.stderr
        self.last_cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        if check and proc.returncode != 0:
            raise CommandFailed(f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
        return elapsed, proc.stdout

    def init(self, name: str = "cluster") -> float:
        storage = self.dir / "shared-file-storage"
        return self.run("gnt-cluster", "init", f"--shared-file-storage-dir={storage}", name)[0]

    def pid(self, node: str, daemon: str) -> int:
        return int((self.dir / node / "var/run/gnt" / f"{daemon}.pid").read_text().strip())

    def client(self, timeout: float = 300) -> Client:
        return Client(str(self.dir / "node1/var/run/gnt/master.sock"), timeout=timeout)


# -- jobs over the API ------------------------------------------------------------------------------


def wait_job(client: Client, job_id: int, timeout: float = 600) -> str:
    """Long-poll a job until it is final; return its final status."""
    status: str | None = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = {"fields": ["status"], "previous_job_info": [status], "previous_log_serial": 1 << 60, "timeout": 30}
        change = client.request("POST", f"/2/jobs/{job_id}/wait", body)
        if change is None:
            continue
        status = change["job_info"][0]
        if status in FINAL:
            return status
    raise TimeoutError(f"job {job_id} not final after {timeout} s")


class JobsFailed(RuntimeError):
    pass


def wait_all(client: Client, job_ids: Iterable[int], timeout: float = 1800, strict: bool = True) -> dict[str, Any]:
    """Wait for every job. Return {status: count, ..., "failed": [job ids]}; with `strict` raise JobsFailed
    (naming the first failure) if any job did not succeed."""
    counts: dict[str, Any] = {}
    failed: list[int] = []
    deadline = time.monotonic() + timeout
    for job_id in job_ids:
        status = wait_job(client, job_id, max(1.0, deadline - time.monotonic()))
        counts[status] = counts.get(status, 0) + 1
        if status != "success":
            failed.append(job_id)
    counts["failed"] = failed
    if failed and strict:
        raise JobsFailed(f"jobs ended {counts}; first failure: {job_failure(client, failed[0])}")
    return counts


def job_failure(client: Client, job_id: int) -> str:
    job = client.get(f"/2/jobs/{job_id}", fields="id,status,summary,opresult")
    return f"job {job['id']} ({', '.join(job['summary'])}) {job['status']}: {job['opresult']}"


def submit_all(client: Client, jobs: list[list[dict[str, Any]]]) -> list[int]:
    """submit_many; raise if the queue refused any job."""
    results = client.submit_many(jobs)
    refused = [value for ok, value in results if not ok]
    if refused:
        raise CommandFailed(f"{len(refused)} job(s) refused, first: {refused[0]}")
    return [int(value) for _, value in results]


def noop_op() -> dict[str, Any]:
    return {"OP_ID": "OP_TEST_DELAY", "duration": 0.0, "on_master": True, "on_nodes": [], "repeat": 0, "no_locks": True}


def create_op(name: str, pnode: str, start: bool = True, memory: int = 64) -> dict[str, Any]:
    return {
        "OP_ID": "OP_INSTANCE_CREATE",
        "instance_name": name,
        "disk_template": "diskless",
        "disks": [],
        "nics": [],
        "os_type": "noop",
        "pnode": pnode,
        "beparams": {"memory": memory},
        "start": start,
        "name_check": False,
        "ip_check": False,
    }


# -- output -----------------------------------------------------------------------------------------


def timed(func: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = func()
    return time.perf_counter() - start, value


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")


def table(rows: list[list[str]], headers: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    lines = ["  ".join(str(h).ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))
    return "\n".join(lines)
