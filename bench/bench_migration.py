#!/usr/bin/env python3
"""Migration benchmark: raw QEMU (its defaults) vs the gnt kvm driver, on loopback, real guests.

Cases: 128 and 512 MiB guests, idle and dirtying memory, shared disk and local disk (mirrored
over NBD). For each: QEMU's own total time and downtime (query-migrate), whether it converged,
what the convergence policy did, and the driver's wall time from accept_instance to both
finalize steps. Prints a table and writes bench/results/migration.json.

Columns are declared once (`COLUMNS`): a new measurement (e.g. job submit -> done through the
master, once the job queue drives migrations) is one more entry there and one more key in the
row a runner returns.

Run as root after tests/system/install-deps.sh:
    python3 bench/bench_migration.py [--quick] [--out bench/results/migration.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
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

import guest  # noqa: E402
from guest_console import wait_ready  # noqa: E402
from qemu.qmp import QMPClient  # noqa: E402

from backends.kvm import create  # noqa: E402
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
        return _row("gnt kvm", memory, load, disk, query, wall, actions)
    finally:
        for drv, name in ((src, spec.name), (dst, spec.name)):
            await drv.forget(name)


def _cases(quick: bool) -> list[tuple[str, int, str, str]]:
    mems = (128,) if quick else (128, 512)
    cases = []
    for memory in mems:
        for load in ("idle", "dirty"):
            cases.append(("raw", memory, load, "shared"))
            for disk in ("shared", "local"):
                cases.append(("gnt", memory, load, disk))
    return cases


def table(rows: list[dict[str, Any]]) -> str:
    cells = [[c.title for c in COLUMNS]] + [[c.fmt(r.get(c.key)) for c in COLUMNS] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(COLUMNS))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join([lines[0], "  ".join("-" * w for w in widths), *lines[1:]])


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="128 MiB cases only")
    parser.add_argument("--out", default=os.path.join(HERE, "results", "migration.json"))
    opts = parser.parse_args()
    rows = []
    for runner, memory, load, disk in _cases(opts.quick):
        tmp = tempfile.mkdtemp(prefix="gnt-bench-")
        try:
            fn = run_raw if runner == "raw" else run_gnt
            rows.append(await fn(memory, load, disk, tmp))
            print(table(rows[-1:]).splitlines()[-1], flush=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    print()
    print(table(rows))
    os.makedirs(os.path.dirname(opts.out), exist_ok=True)
    with open(opts.out, "w") as f:
        json.dump({"time": time.time(), "accel": "tcg", "columns": [c.key for c in COLUMNS], "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
