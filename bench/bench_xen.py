#!/usr/bin/env python3
"""Xen benchmark: a gnt cluster on two Xen hosts of the test bed (QEMU/TCG), a 128 MiB PV guest.

Each gnt step is timed on the master host itself (`date` before and after the CLI command in one
shell, so the bed's ssh is not counted) next to the same step done with bare `xl` on the same host
and the same guest, and the difference is gnt's orchestration overhead (goal: 200 ms, as for kvm):
- start: `gnt-instance startup` of a plain instance against `xl create` of the config gnt wrote;
- stop: `gnt-instance shutdown` against `xl shutdown -w` and `xl destroy` (the config preserves a
  powered-off domain, so gnt destroys it too);
- migrate: `gnt-instance migrate --non-live` of a drbd instance (there and back, `--samples`
  round trips) against a bare move of a diskless copy of the guest: `xl save -p` on the source
  streamed over TCP (socat) into `xl restore` on the target, then `xl destroy` of the paused source
  copy. gnt's number also holds its DRBD steps (check, dual-primary window open and closed), which
  the bare move has no disk for; live migration cannot run on this Xen at all (Debian's Xen 4.17 has
  no shadow paging, so no log-dirty for PV guests: doc/design/007-xen.md).
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.system.testbed import conftest as bed_conftest  # noqa: E402
from tests.system.testbed.xen_fixtures import (  # noqa: E402
    ADD,
    BOOTED,
    CONSOLE_LOG,
    GUEST_DIR,
    boot_xen_bed,
    console,
    counts,
    make_xen_cluster,
    wait_count,
    xen_missing,
)

RUN_DIR = "/var/run/gnt/instances/xen"
BARE_PORT = 8100
GNT_MOVE = "migrate: gnt-instance migrate --non-live (drbd)"
BARE_MOVE = "migrate: bare xl save -p | xl restore"


def timed_on(host, command: str, timeout: float = 900.0) -> float:  # type: ignore[no-untyped-def]
    """Seconds `command` took on `host`, measured there (the ssh round trip left out)."""
    out = host.run(f"s=$(date +%s.%N); {command} >/dev/null; e=$(date +%s.%N); echo $s $e", timeout=timeout).stdout
    start, end = out.split()[-2:]
    return float(end) - float(start)


def bare_move(src, dst, name: str, config: str) -> float:  # type: ignore[no-untyped-def]
    """xl save -p | socat -> socat | xl restore, then destroy the paused source: until the target runs it."""
    dst.run(
        f"rm -f /root/restored; (setsid sh -c 'socat -u TCP-LISTEN:{BARE_PORT},bind={dst.ip} STDOUT |"
        f" xl restore {config} /dev/stdin; date +%s.%N > /root/restored' >/root/restore.log 2>&1 &)"
    )
    dst.run(f"for i in $(seq 100); do grep -q ':{BARE_PORT:04X} ' /proc/net/tcp && break; sleep 0.2; done")
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


def run(samples: int) -> dict[str, list[float]]:
    rows: dict[str, list[float]] = {}

    def add(name: str, value: float) -> None:
        rows.setdefault(name, []).append(round(value, 3))

    bed = boot_xen_bed()
    try:
        make_xen_cluster(bed)
        for name, values in bed_conftest.TIMINGS.items():
            rows[name.strip()] = [round(v, 2) for v in values]
        node1, node2 = bed["node1"], bed["node2"]

        # start and stop: gnt against bare xl, the same guest and config on node2
        add("gnt-instance add -t plain (job end, started)", timed_on(node1, f"{ADD} -t plain -n node2 p1"))
        wait_count(node2, "p1", 0)
        config = f"{RUN_DIR}/p1/config.xl"
        node2.run(f"sed 's/^name = .*/name = \"bare1\"/; /^uuid = /d' {config} > /root/bare.xl")
        for _ in range(samples):
            add("stop: gnt-instance shutdown", timed_on(node1, "gnt-instance shutdown p1"))
            add("start: gnt-instance startup", timed_on(node1, "gnt-instance startup p1"))
            wait_count(node2, "p1", 0)
            node1.run("gnt-instance shutdown p1")
            add("start: bare xl create", timed_on(node2, "xl create /root/bare.xl"))
            wait_count(node2, "bare1", 0)
            # gnt's stop is the same two steps: the domain is preserved when the guest goes down
            add("stop: bare xl shutdown -w + xl destroy", timed_on(node2, "xl shutdown -w bare1 && xl destroy bare1"))
            node1.run("gnt-instance startup p1")
            wait_count(node2, "p1", 0)
        node1.run("gnt-instance remove -f p1")

        # non-live migration: gnt (drbd) against a bare xl save | xl restore (a diskless copy)
        add("gnt-instance add -t drbd (job end, synced, started)", timed_on(node1, f"{ADD} -t drbd -n node2:node1 m1"))
        last = wait_count(node2, "m1", 0)
        hosts = [node2, node1]
        for i in range(2 * samples):
            dst = hosts[(i + 1) % 2]
            # the target's console log still holds the guest's earlier stay there (its boot marker and
            # first counts): start it afresh, so the check below sees only what the move brought
            dst.run(f"rm -f {CONSOLE_LOG.format('m1')}")
            add(
                GNT_MOVE,
                timed_on(node1, "gnt-instance migrate -f --non-live m1"),
            )
            last = wait_count(dst, "m1", last)
            if BOOTED in console(dst, "m1") or counts(dst, "m1")[0] <= 1:
                raise SystemExit(f"the guest started again on {dst.name} instead of moving")
        node1.run("gnt-instance remove -f m1")

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
            add(BARE_MOVE, bare_move(src, dst, "bare2", "/root/bare2.xl"))
            last = wait_count(dst, "bare2", last)
        return rows
    finally:
        bed.destroy()


def overheads(rows: dict[str, list[float]]) -> dict[str, float]:
    pairs = {
        "start": ("start: gnt-instance startup", "start: bare xl create"),
        "stop": ("stop: gnt-instance shutdown", "stop: bare xl shutdown -w + xl destroy"),
        "migrate (non-live)": (GNT_MOVE, BARE_MOVE),
    }
    return {
        step: round(statistics.median(rows[gnt]) - statistics.median(rows[bare]), 3)
        for step, (gnt, bare) in pairs.items()
        if gnt in rows and bare in rows
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=2, help="start/stop pairs and migration round trips")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "xen.json"))
    args = parser.parse_args()
    why = xen_missing()
    if why:
        raise SystemExit(why)
    load_start = os.getloadavg()[0]
    started = time.monotonic()
    rows = run(args.samples)
    extra = overheads(rows)
    width = max(len(name) for name in rows)
    print(f"{'step':{width}}  {'median s':>9}  samples")
    for name, values in rows.items():
        print(f"{name:{width}}  {statistics.median(values):9.2f}  {', '.join(f'{v:.2f}' for v in values)}")
    print("\norchestration overhead (gnt median - bare xl median):")
    for step, seconds in extra.items():
        print(f"  {step}: {seconds:+.2f} s")
    result = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "accel": "tcg"},
        "load_start": load_start,
        "load_end": os.getloadavg()[0],
        "duration_s": round(time.monotonic() - started, 1),
        "steps": {name: {"median_s": statistics.median(v), "samples": v} for name, v in rows.items()},
        "overhead_s": extra,
    }
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
