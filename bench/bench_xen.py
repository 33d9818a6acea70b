#!/usr/bin/env python3
"""Xen benchmark: a gnt cluster on two Xen hosts of the test bed (QEMU/TCG), a 128 MiB PV guest.

Each gnt step is timed on the master host itself (`date` before and after the CLI command in one
shell, so the bed's ssh is not counted) next to the same step done with bare `xl` on the same host
and the same guest, and the difference is gnt's orchestration overhead (goal: 200 ms, as for kvm):
- start: `gnt-instance startup` of a plain instance against `xl create` of the config gnt wrote;
- stop: `gnt-instance shutdown` against `xl shutdown -w` and `xl destroy` (the config preserves a
  powered-off domain, so gnt destroys it too);
- migrate (non-live): `gnt-instance migrate --non-live` of a drbd instance (there and back,
  `--samples` round trips) against a bare move of a diskless copy of the guest: `xl save -p` on the
  source streamed over TCP (socat) into `xl restore` on the target, then `xl destroy` of the paused
  source copy. gnt's number also holds its DRBD steps (check, dual-primary window open and closed),
  which the bare move has no disk for;
- migrate (live, needs a Xen with shadow paging): `gnt-instance migrate` of the same drbd instance
  and of a diskless one against a bare `xl migrate -s "" -C CONFIG NAME "exec socat - TCP:..."` of a
  diskless copy into a `socat TCP-LISTEN EXEC:"xl migrate-receive"` started beforehand on the
  target (gnt's own transport, doc/design/007-xen.md "Migration"). The diskless pair is the fair
  one (the same guest, the same transport, no disk on either side); the drbd row adds gnt's DRBD
  steps, which a bare xl migrate has no counterpart for without a hand-made dual-primary device.

Where gnt's time goes: every gnt step also records a breakdown (`breakdown` in the JSON): the
CLI's own time before and after its job, the job's queue, lock and execution times (from the job's
timestamps), its log lines, and every `xl`, `drbdsetup`, `drbdmeta` and LVM call on both hosts
with its duration (from a tracing shim the bench puts in front of these tools on the hosts; the
bare steps go through the same shim, so it costs both sides alike).
Also the bed's set-up: two Xen hosts to xl-ready, the cluster on them, the instance adds.

Under TCG everything is one to two orders of magnitude slower than on hardware, and the machine is
shared: the numbers compare runs of this bed with each other; the overheads, not the totals, are
the result. Prints a table and writes bench/results/xen.json. Needs root and tools/install-deps.sh
(as the test bed does); it boots test-bed hosts, so run it under the bed's lock:

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
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.system.testbed import conftest as bed_conftest  # noqa: E402
from tests.system.testbed.xen_fixtures import (  # noqa: E402
    ADD,
    BOOTED,
    CONSOLE_LOG,
    COUNT,
    GUEST_DIR,
    boot_xen_bed,
    make_xen_cluster,
    wait_count,
    xen_missing,
)

RUN_DIR = "/var/run/gnt/instances/xen"
BARE_PORT = 8100
SOCAT_BUFFER = 524288  # as backends/xen/xl.py
GNT_MOVE = "migrate: gnt-instance migrate --non-live (drbd)"
BARE_MOVE = "migrate: bare xl save -p | xl restore"
GNT_LIVE = "live migrate: gnt-instance migrate (drbd)"
GNT_LIVE_DISKLESS = "live migrate: gnt-instance migrate (diskless)"
BARE_LIVE = "live migrate: bare xl migrate over socat (diskless)"
TRACE = "/run/gnt-bench-trace.log"
TRACE_DIR = "/usr/local/lib/gnt-bench-trace"
#: tools whose every call the hosts log (start, end, exit code, argv) for the breakdown (lvm's by their own names)
TRACED = ("xl", "drbdsetup", "drbdmeta", "vgs", "lvs", "lvchange")
JOB_JSON = """import json
from gnt.cli.common import client
c = client()
jid = max(int(j["id"]) for j in c.get("/2/jobs"))
print(json.dumps(c.get(f"/2/jobs/{jid}")))
"""


def timed_on(host, command: str, timeout: float = 900.0) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """When `command` started and ended on `host`, by its clock (the ssh round trip left out)."""
    out = host.run(f"s=$(date +%s.%N); {command} >/dev/null; e=$(date +%s.%N); echo $s $e", timeout=timeout).stdout
    start, end = out.split()[-2:]
    return float(start), float(end)


def install_trace(host) -> None:  # type: ignore[no-untyped-def]
    """Put a shim in front of each TRACED tool that logs each call (bash's clock: no extra fork).

    The real tool keeps its name in TRACE_DIR: Debian's xl is a wrapper that runs the binary
    named like its $0.
    """
    for tool in TRACED:
        path = host.run(f"command -v {tool}").stdout.strip()
        shim = (
            "#!/bin/bash\nt0=$EPOCHREALTIME\n"
            f'{TRACE_DIR}/{tool} "$@"\nrc=$?\n'
            f'printf \'%s %s %s %s\\n\' "$t0" "$EPOCHREALTIME" "$rc" "{tool} $*" >> {TRACE}\nexit $rc\n'
        )
        host.run(
            f"mkdir -p {TRACE_DIR}; if [ ! -e {TRACE_DIR}/{tool} ]; then if [ -L {path} ]; then"
            f' ln -s "$(readlink -f {path})" {TRACE_DIR}/{tool}; rm {path}; else mv {path} {TRACE_DIR}/{tool}; fi; fi;'
            f" cat > {path}; chmod 755 {path}; {tool} help >/dev/null 2>&1; test -s {TRACE}",
            stdin=shim,
        )
    host.run(f": > {TRACE}")
    host.run("cat > /root/jobjson.py", stdin=JOB_JSON)


def take_trace(host, since: float) -> list[list[Any]]:  # type: ignore[no-untyped-def]
    """The traced calls on `host` since the last take: [start offset from `since`, seconds, rc, argv]."""
    out = host.run(f"cat {TRACE}; : > {TRACE}").stdout
    calls = []
    for line in out.splitlines():
        t0, t1, rc, argv = line.split(" ", 3)
        calls.append([round(float(t0) - since, 3), round(float(t1) - float(t0), 3), int(rc), argv])
    return calls


def last_job(master) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    python = master.run("head -1 $(command -v gnt-job)").stdout.strip().lstrip("#!") or "python3"
    return json.loads(master.run(f"{python} /root/jobjson.py").stdout)  # type: ignore[no-any-return]


def _ts(value: list[int] | None) -> float:
    return value[0] + value[1] / 1e6 if value else 0.0


def job_breakdown(job: dict[str, Any], start: float, end: float) -> dict[str, Any]:
    """Where one CLI command's time went, from its job's timestamps (the master's clock = the CLI's)."""
    received, started, ended = _ts(job["received_ts"]), _ts(job["start_ts"]), _ts(job["end_ts"])
    op_start, op_exec, op_end = _ts(job["opstart_ts"][0]), _ts(job["opexec_ts"][0]), _ts(job["opend_ts"][-1])
    return {
        "job": job["id"],
        "total": round(end - start, 3),
        "cli before job": round(received - start, 3),
        "queue": round(started - received, 3),
        "locks": round(op_exec - op_start, 3) if op_start and op_exec else None,
        "exec (hooks, LU, RPCs)": round(op_end - op_exec, 3) if op_exec else None,
        "job end": round(ended - op_end, 3),
        "cli after job": round(end - ended, 3),
        "log": [[round(_ts(e[1]) - start, 3), e[3]] for e in job["oplog"][0]],
    }


class Bench:
    """The bed's two hosts, the result rows, and each gnt step's breakdown."""

    def __init__(self, bed) -> None:  # type: ignore[no-untyped-def]
        self.node1, self.node2 = bed["node1"], bed["node2"]
        self.rows: dict[str, list[float]] = {}
        self.breakdown: dict[str, list[dict[str, Any]]] = {}
        self.bare_calls: dict[str, list[dict[str, Any]]] = {}
        self.problems: list[str] = []
        self.save: Callable[[Bench], None] = lambda bench: None

    def add(self, name: str, value: float) -> None:
        self.rows.setdefault(name, []).append(round(value, 3))
        self.save(self)  # a run that breaks later still leaves what it measured

    def calls(self, since: float) -> dict[str, list[list[Any]]]:
        return {h.name: take_trace(h, since) for h in (self.node1, self.node2)}

    def gnt(self, name: str, command: str) -> None:
        """A gnt command on the master: its time as a row, its breakdown beside it."""
        self.calls(0)  # drop what came before (the watcher's, the last step's waits)
        start, end = timed_on(self.node1, command)
        self.add(name, end - start)
        entry = job_breakdown(last_job(self.node1), start, end)
        entry["calls"] = self.calls(start)
        self.breakdown.setdefault(name, []).append(entry)

    def bare(self, name: str, host, command: str) -> None:  # type: ignore[no-untyped-def]
        self.calls(0)
        start, end = timed_on(host, command)
        self.add(name, end - start)
        self.bare_calls.setdefault(name, []).append({"total": round(end - start, 3), "calls": self.calls(start)})


def bare_move(src, dst, name: str, config: str) -> float:  # type: ignore[no-untyped-def]
    """xl save -p | socat -> socat | xl restore, then destroy the paused source: until the target runs it."""
    dst.run(
        f"rm -f /root/restored; (setsid sh -c 'socat -u TCP-LISTEN:{BARE_PORT},bind={dst.ip} STDOUT |"
        f" xl restore {config} /dev/stdin; date +%s.%N > /root/restored' >/root/restore.log 2>&1 &)"
    )
    wait_listening(dst)
    start = float(
        src.run(
            f"date +%s.%N; xl save -p {name} /dev/stdout | socat -u STDIN TCP:{dst.ip}:{BARE_PORT}", timeout=900
        ).stdout.split()[0]
    )
    ended = dst.run(
        "for i in $(seq 600); do [ -s /root/restored ] && break; sleep 0.5; done; cat /root/restored /root/restore.log",
        timeout=400,
    ).stdout
    src.run(f"xl destroy {name}")
    running = dst.run(f"xl list {name}", check=False)
    if running.rc != 0:
        raise SystemExit(f"bare xl restore on {dst.name} failed: {ended}")
    return float(ended.split()[0]) - start


def wait_listening(host, port: int = BARE_PORT) -> None:  # type: ignore[no-untyped-def]
    host.run(f"for i in $(seq 100); do grep -q ':{port:04X} 00000000:0000 0A' /proc/net/tcp && break; sleep 0.2; done")


def bare_live(bench: Bench, src, dst, name: str, config: str) -> None:  # type: ignore[no-untyped-def]
    """gnt's transport by hand: socat into xl migrate-receive on the target (started and listening
    before the clock starts), `xl migrate -s ""` through socat on the source, timed until it exits
    (the target runs the guest and the source copy is gone)."""
    dst.run(
        f"(setsid socat -b{SOCAT_BUFFER} TCP-LISTEN:{BARE_PORT},bind={dst.ip},reuseaddr"
        f" EXEC:'xl migrate-receive' </dev/null >/root/receive.log 2>&1 &)"
    )
    wait_listening(dst)
    bench.bare(
        BARE_LIVE,
        src,
        f"xl migrate -s '' -C {config} {name} 'exec socat -b{SOCAT_BUFFER} - TCP:{dst.ip}:{BARE_PORT}'",
    )
    if dst.run(f"xl list {name}", check=False).rc != 0 or src.run(f"xl list {name}", check=False).rc == 0:
        raise SystemExit(f"bare xl migrate to {dst.name} failed: {dst.run('cat /root/receive.log').stdout}")


def guest_console(host, name: str) -> str:  # type: ignore[no-untyped-def]
    """The guest's console log on `host`: xenconsoled names it after the domain's name when it first
    sees the domain, and a live migration arrives as NAME--incoming."""
    logs = " ".join(CONSOLE_LOG.format(n) for n in (name, name + "--incoming"))
    return host.run(f"cat {logs} 2>/dev/null", check=False).stdout  # type: ignore[no-any-return]


def moved(bench: Bench, dst, name: str, last: int) -> int:  # type: ignore[no-untyped-def]
    """The guest counts on at `dst` (it moved, it did not boot there afresh); its last count.

    A failed check is recorded in the results (`problems`), not fatal: the timings stand.
    """
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        seen = [int(n) for n in COUNT.findall(guest_console(dst, name))]
        if seen and seen[-1] > last:
            if BOOTED in guest_console(dst, name) or seen[0] <= 1:
                bench.problems.append(f"{name} started again on {dst.name} instead of moving")
            return seen[-1]
        time.sleep(1)
    bench.problems.append(f"{name} on {dst.name} never counted past {last} after the move")
    return last


def clear_console(host, name: str) -> None:  # type: ignore[no-untyped-def]
    """The target's console logs still hold the guest's earlier stay there (its boot marker and
    first counts): start them afresh, so `moved` sees only what the move brought."""
    host.run(" ".join(["rm -f", *(CONSOLE_LOG.format(n) for n in (name, name + "--incoming"))]))


def run(samples: int, live: bool, save: Callable[[Bench], None]) -> Bench:
    bed = boot_xen_bed()
    try:
        make_xen_cluster(bed)
        bench = Bench(bed)
        bench.save = save
        for name, values in bed_conftest.TIMINGS.items():
            bench.rows[name.strip()] = [round(v, 2) for v in values]
        node1, node2 = bench.node1, bench.node2
        for host in (node1, node2):
            install_trace(host)

        # start and stop: gnt against bare xl, the same guest and config on node2
        bench.gnt("gnt-instance add -t plain (job end, started)", f"{ADD} -t plain -n node2 p1")
        wait_count(node2, "p1", 0)
        config = f"{RUN_DIR}/p1/config.xl"
        node2.run(f"sed 's/^name = .*/name = \"bare1\"/; /^uuid = /d' {config} > /root/bare.xl")
        for _ in range(samples):
            bench.gnt("stop: gnt-instance shutdown", "gnt-instance shutdown p1")
            bench.gnt("start: gnt-instance startup", "gnt-instance startup p1")
            wait_count(node2, "p1", 0)
            node1.run("gnt-instance shutdown p1")
            bench.bare("start: bare xl create", node2, "xl create /root/bare.xl")
            wait_count(node2, "bare1", 0)
            # gnt's stop is the same two steps: the domain is preserved when the guest goes down
            bench.bare("stop: bare xl shutdown -w + xl destroy", node2, "xl shutdown -w bare1 && xl destroy bare1")
            node1.run("gnt-instance startup p1")
            wait_count(node2, "p1", 0)
        node1.run("gnt-instance remove -f p1")

        # migration of a drbd instance, non-live then live, there and back
        bench.gnt("gnt-instance add -t drbd (job end, synced, started)", f"{ADD} -t drbd -n node2:node1 m1")
        last = wait_count(node2, "m1", 0)
        hosts = [node2, node1]
        kinds = [(GNT_MOVE, "--non-live ")] + ([(GNT_LIVE, "")] if live else [])
        for row, flag in kinds:
            for i in range(2 * samples):
                dst = hosts[(i + 1) % 2]
                clear_console(dst, "m1")
                bench.gnt(row, f"gnt-instance migrate -f {flag}m1")
                last = moved(bench, dst, "m1", last)
        node1.run("gnt-instance remove -f m1")

        if live:  # the fair pair: a diskless gnt instance against the bare diskless guest below
            diskless = ADD.split(" --disk")[0]
            bench.gnt("gnt-instance add -t diskless (job end, started)", f"{diskless} -t diskless -n node2 d1")
            last = wait_count(node2, "d1", 0)
            for i in range(2 * samples):
                dst = hosts[(i + 1) % 2]
                clear_console(dst, "d1")
                bench.gnt(GNT_LIVE_DISKLESS, "gnt-instance migrate -f d1")
                last = moved(bench, dst, "d1", last)
            node1.run("gnt-instance remove -f d1")

        bare = "\n".join(
            (
                'name = "bare2"',
                'type = "pv"',
                "memory = 128",
                "maxmem = 128",
                "vcpus = 1",
                f'kernel = "{GUEST_DIR}/vmlinuz"',
                f'ramdisk = "{GUEST_DIR}/initrd.img"',
                'extra = "console=hvc0 quiet gnt.test=counter"',
                'on_poweroff = "preserve"',
                'on_crash = "preserve"',
                "",
            )
        )
        for host in (node1, node2):
            host.run("cat > /root/bare2.xl", stdin=bare)
        node2.run("xl create /root/bare2.xl")
        last = wait_count(node2, "bare2", 0)
        for i in range(2 * samples):
            src, dst = hosts[i % 2], hosts[(i + 1) % 2]
            bench.add(BARE_MOVE, bare_move(src, dst, "bare2", "/root/bare2.xl"))
            last = wait_count(dst, "bare2", last)
        if live:
            for i in range(2 * samples):
                src, dst = hosts[i % 2], hosts[(i + 1) % 2]
                clear_console(dst, "bare2")
                bare_live(bench, src, dst, "bare2", "/root/bare2.xl")
                last = moved(bench, dst, "bare2", last)
        return bench
    finally:
        bed.destroy()


PAIRS = {
    "start": ("start: gnt-instance startup", "start: bare xl create"),
    "stop": ("stop: gnt-instance shutdown", "stop: bare xl shutdown -w + xl destroy"),
    "migrate (non-live, drbd vs diskless)": (GNT_MOVE, BARE_MOVE),
    "migrate (live, diskless vs diskless)": (GNT_LIVE_DISKLESS, BARE_LIVE),
    "migrate (live, drbd vs diskless)": (GNT_LIVE, BARE_LIVE),
}


def overheads(rows: dict[str, list[float]]) -> dict[str, float]:
    return {
        step: round(statistics.median(rows[gnt]) - statistics.median(rows[bare]), 3)
        for step, (gnt, bare) in PAIRS.items()
        if gnt in rows and bare in rows
    }


PARTS = ("cli before job", "queue", "locks", "exec (hooks, LU, RPCs)", "job end", "cli after job")


def summary(breakdown: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, float]]:
    """Median of each part of each gnt step, and of the xl/drbdsetup time inside it."""
    result = {}
    for name, entries in breakdown.items():
        parts = {part: statistics.median(e[part] or 0.0 for e in entries) for part in PARTS}
        for tool in TRACED:
            parts[f"{tool} calls (s, both hosts)"] = statistics.median(
                sum(c[1] for calls in e["calls"].values() for c in calls if c[3].split()[0] == tool) for e in entries
            )
            parts[f"{tool} calls (count)"] = statistics.median(
                sum(1 for calls in e["calls"].values() for c in calls if c[3].split()[0] == tool) for e in entries
            )
        result[name] = {k: round(v, 3) for k, v in parts.items()}
    return result


def report(bench: Bench, args: argparse.Namespace, load_start: float, started: float, done: bool) -> dict[str, Any]:
    rows = bench.rows
    return {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "accel": "tcg"},
        "command": " ".join(["flock /work/wt/testbed.lock python3 bench/bench_xen.py", *sys.argv[1:]]),
        "complete": done,
        "load_start": load_start,
        "load_end": os.getloadavg()[0],
        "duration_s": round(time.monotonic() - started, 1),
        "problems": bench.problems,
        "steps": {name: {"median_s": statistics.median(v), "samples": v} for name, v in rows.items()},
        "overhead_s": overheads(rows),
        "breakdown_median_s": summary(bench.breakdown),
        "breakdown": bench.breakdown,
        "bare_calls": bench.bare_calls,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=2, help="start/stop pairs and migration round trips")
    parser.add_argument("--no-live", action="store_true", help="leave live migration out (a Xen without shadow paging)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "xen.json"))
    args = parser.parse_args()
    why = xen_missing()
    if why:
        raise SystemExit(why)
    load_start = os.getloadavg()[0]
    started = time.monotonic()

    def save(bench: Bench, done: bool = False) -> None:
        Path(args.out).write_text(json.dumps(report(bench, args, load_start, started, done), indent=1) + "\n")

    bench = run(args.samples, live=not args.no_live, save=save)
    save(bench, done=True)
    rows = bench.rows
    width = max(len(name) for name in rows)
    print(f"{'step':{width}}  {'median s':>9}  samples")
    for name, values in rows.items():
        print(f"{name:{width}}  {statistics.median(values):9.2f}  {', '.join(f'{v:.2f}' for v in values)}")
    print("\norchestration overhead (gnt median - bare xl median):")
    for step, seconds in overheads(rows).items():
        print(f"  {step}: {seconds:+.2f} s")
    print("\nwhere gnt's time goes (medians, s):")
    for name, values in summary(bench.breakdown).items():
        print(f"  {name}: " + ", ".join(f"{k} {v:g}" for k, v in values.items()))
    for problem in bench.problems:
        print(f"problem: {problem}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
