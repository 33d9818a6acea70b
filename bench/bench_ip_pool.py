"""Benchmark: taking an address from a network's pool when the pool is nearly full (issue 11).

A /16 network (65,536 addresses) with 60,000 of them held by instances, the rest free but scattered
(every address from 10.0.0.0 up is taken except a random 5,534). Measured, each over `--rounds`
rounds, CPU time per operation:

- load:       `AddressPool(net)`, i.e. reading the network's stored reservation strings
- first_free: the lowest free address (the bit trick of gnt/network/pool.py, no per-address loop)
- take:       first_free + reserve (what an instance create with `ip=pool` does), then release
- as the pool fills: the same `take` with 65,000 taken, to show the cost does not grow with use

Prints a table and writes bench/results/ip_pool.json.

    python bench/bench_ip_pool.py [--rounds 2000]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gnt.network.pool import AddressPool  # noqa: E402
from gnt.objects import Network  # noqa: E402


def _network(taken: int, seed: int = 16) -> Network:
    """A /16 whose instance reservations hold `taken` addresses at random positions."""
    net = Network(name="bench16", network="10.0.0.0/16", gateway="10.0.0.1")
    pool = AddressPool.initialise(net)
    free_positions = [i for i in range(pool.size) if not (pool.ext_reservations >> i) & 1]
    chosen = random.Random(seed).sample(free_positions, taken)
    bits = 0
    for position in chosen:
        bits |= 1 << position
    pool.reservations = bits
    pool.update()
    return net


def _cpu_us(fn, rounds: int) -> float:
    t0 = time.process_time()
    for _ in range(rounds):
        fn()
    return (time.process_time() - t0) / rounds * 1e6


def measure(taken: int, rounds: int) -> dict:
    net = _network(taken)
    pool = AddressPool(net)

    def take() -> None:
        address = pool.first_free()
        pool.reserve(address)
        pool.release(address)

    return {
        "taken": taken,
        "free": pool.free_count(),
        "load_us": round(_cpu_us(lambda: AddressPool(net), rounds), 1),
        "first_free_us": round(_cpu_us(pool.first_free, rounds), 1),
        "take_us": round(_cpu_us(take, rounds), 1),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=2000)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "ip_pool.json"))
    args = ap.parse_args()
    rows = [measure(taken, args.rounds) for taken in (1_000, 60_000, 65_000)]
    print(f"{'taken':>7} {'free':>6} | {'load us':>8} {'first_free us':>13} {'take+release us':>15}")
    for r in rows:
        print(f"{r['taken']:>7} {r['free']:>6} | {r['load_us']:>8} {r['first_free_us']:>13} {r['take_us']:>15}")
    Path(args.out).write_text(json.dumps({"network": "10.0.0.0/16", "rounds": args.rounds, "rows": rows}, indent=2))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
