#!/usr/bin/env python3
"""What a durable config costs: SqliteWriter commits with synchronous=NORMAL against FULL.

The cluster config is opened `durable` (FULL: an fsync per group commit, so a power cut loses no
acknowledged change); the job queue is not. This measures both modes on this machine's disk:
sequential commits (one writer call awaited at a time, the worst case) and concurrent writes
(many callers at once, where group commit shares one fsync). Prints a table and writes JSON
(default bench/results/sqlite_sync.json).

    python3 bench/bench_sqlite_sync.py [--rounds 3] [--out FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gnt.db import SqliteWriter  # noqa: E402

SCHEMA = "CREATE TABLE IF NOT EXISTS t (k INTEGER, v TEXT);"
SEQUENTIAL = 300
CONCURRENT = 3000


async def _measure(writer: SqliteWriter) -> tuple[float, float]:
    def insert(i: int):  # noqa: ANN202 - a writer work function
        return lambda c: c.execute("INSERT INTO t VALUES (?, ?)", (i, "x" * 500))

    start = time.perf_counter()
    for i in range(SEQUENTIAL):
        await writer.run(insert(i))
    sequential = SEQUENTIAL / (time.perf_counter() - start)
    start = time.perf_counter()
    await asyncio.gather(*(writer.run(insert(i)) for i in range(CONCURRENT)))
    concurrent = CONCURRENT / (time.perf_counter() - start)
    return sequential, concurrent


def run(rounds: int) -> dict[str, dict[str, list[float]]]:
    results: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        for n in range(rounds):
            for durable in (False, True):  # interleaved, so drift in the machine's load hits both
                mode = "FULL (durable)" if durable else "NORMAL"
                writer = SqliteWriter(os.path.join(tmp, f"{n}-{durable}.db"), SCHEMA, durable=durable)
                try:
                    seq, conc = asyncio.run(_measure(writer))
                finally:
                    writer.close()
                entry = results.setdefault(mode, {"sequential_commits_per_s": [], "concurrent_writes_per_s": []})
                entry["sequential_commits_per_s"].append(round(seq))
                entry["concurrent_writes_per_s"].append(round(conc))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "sqlite_sync.json"))
    args = parser.parse_args()
    results = run(args.rounds)
    print(f"{'mode':<16} {'sequential commits/s':>28} {'concurrent writes/s':>28}")
    for mode, entry in results.items():
        seq = ", ".join(str(v) for v in entry["sequential_commits_per_s"])
        conc = ", ".join(str(v) for v in entry["concurrent_writes_per_s"])
        print(f"{mode:<16} {seq:>28} {conc:>28}")
    with open(args.out, "w") as f:
        json.dump({"sequential": SEQUENTIAL, "concurrent": CONCURRENT, "results": results}, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
