#!/usr/bin/env python3
"""The node-to-node disk stream's data path alone (agent.disk_stream), and the floors under it.

`gnt-instance move` spends its copy in `agent.disk_stream` (both node daemons); this drives that same
code without a cluster, sender and receiver in two processes over loopback with the real mutual-TLS
contexts (`gnt.certs`, a fresh cluster certificate), and measures each end's CPU seconds per GiB
(user + system of the whole process, every thread: what the copy costs whatever else runs on the
machine) next to the wall time. Modes, cheapest first:

- `tcp`: plain TCP, 4 MiB `sendall` / `recv_into` from memory to memory (the kernel's socket copies).
- `tls`: the same over the nodes' TLS with `ssl.SSLSocket` (a system call per record, two to receive one).
- `bulk`: an experiment, not what the nodes use: the receiving end's TLS done in memory, ciphertext
  read 1 MiB per system call (bench/bulk_tls.py); the sender keeps `ssl.SSLSocket`.
- `hash`: `tls` plus SHA-256 of every block on both ends (the end-to-end check the stream does).
- `stream`: the real `send_stream` from a file (page cache) into `receive_stream` + `Sink` writing
  a file (O_DIRECT where the file system allows it, fsync at the end): what a move does per disk.

    python3 bench/bench_disk_stream.py                           # every mode, 1 GiB, 3 rounds
    python3 bench/bench_disk_stream.py --mode stream --size 256 --rounds 1
    python3 bench/bench_disk_stream.py --output bench/results/disk_stream.json
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing
import os
import platform
import resource
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bulk_tls import BulkTLS  # noqa: E402

from agent import disk_stream  # noqa: E402
from gnt import certs  # noqa: E402

MIB = 1 << 20
GIB = 1 << 30
BLOCK = 4 * MIB
MODES = ("tcp", "tls", "bulk", "hash", "stream")


def cpu_now() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def tls_version(sock: Any) -> str:
    tls = sock._tls if isinstance(sock, BulkTLS) else sock
    if isinstance(tls, (ssl.SSLSocket, ssl.SSLObject)):
        cipher = tls.cipher()
        return f"{tls.version()} {cipher[0] if cipher else '?'}"
    return "tcp"


def wrap(mode: str, raw: socket.socket, pem: str, server_side: bool) -> Any:
    """The connection as `mode` uses it: plain, an SSLSocket (as agent.transfer), or TLS in memory (`bulk`)."""
    if mode == "tcp":
        return raw
    ctx = certs.server_context(pem) if server_side else certs.client_context(pem)
    if mode == "bulk" and server_side:
        return BulkTLS(raw, ctx, server_side=True)
    return ctx.wrap_socket(raw, server_side=server_side)


def end(sock: Any) -> None:
    if isinstance(sock, BulkTLS):
        sock.close(disk_stream.CLOSE_TIMEOUT)
    elif isinstance(sock, ssl.SSLSocket):
        disk_stream.close(sock)
    else:
        sock.close()


def receiver(mode: str, listener: socket.socket, pem: str, target: str, size: int, out: Any) -> None:
    """Child process: accept one connection, take everything, report CPU seconds and what it got."""
    conn, _ = listener.accept()
    listener.close()
    start_cpu = cpu_now()
    conn.settimeout(60)
    sock = wrap(mode, conn, pem, server_side=True)
    got, digest, info = 0, "", tls_version(sock)
    if mode == "stream":  # as agent.transfer.Receiver
        stream = sock.makefile("rb", buffering=64 * 1024)
        line = disk_stream.read_line(stream, disk_stream.TOKEN_LINE_MAX)
        assert line.strip() == b"token"
        fd = disk_stream.open_target(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, direct=True)
        written = [0]
        sink = disk_stream.Sink(fd, "none", size, lambda n: written.__setitem__(0, n))
        info += " O_DIRECT" if sink.direct else " buffered"
        digest = disk_stream.receive_stream(stream, sink)
        os.close(fd)
        got = written[0]
        sock.sendall(f"ok {got} {digest}\n".encode())
    else:
        block = memoryview(bytearray(BLOCK))
        sha = hashlib.sha256() if mode == "hash" else None
        while got < size:
            n = sock.recv_into(block)
            if not n:
                break
            if sha is not None:
                sha.update(block[:n])
            got += n
        digest = sha.hexdigest() if sha is not None else ""
        sock.sendall(b"ok\n")
    end(sock)
    out.send({"cpu": cpu_now() - start_cpu, "bytes": got, "digest": digest, "info": info})


def sender(mode: str, port: int, pem: str, source: str, size: int) -> dict[str, Any]:
    raw = socket.create_connection(("127.0.0.1", port), timeout=60)
    start_cpu = cpu_now()
    sock = wrap(mode, raw, pem, server_side=False)
    digest = ""
    if mode == "stream":
        fd = os.open(source, os.O_RDONLY)
        sent = [0]
        digest = disk_stream.send_stream(sock, fd, "token", "none", lambda n: sent.__setitem__(0, sent[0] + n))
        os.close(fd)
        answer = disk_stream.read_line(sock.makefile("rb"), disk_stream.ANSWER_MAX).split()
        assert answer[:3] == [b"ok", str(size).encode(), digest.encode()], answer
    else:
        block = memoryview(os.urandom(BLOCK))
        sha = hashlib.sha256() if mode == "hash" else None
        for _ in range(size // BLOCK):
            if sha is not None:
                sha.update(block)
            sock.sendall(block)
        digest = sha.hexdigest() if sha is not None else ""
        answer = memoryview(bytearray(16))
        assert bytes(answer[: sock.recv_into(answer)]) == b"ok\n"
    end(sock)
    return {"cpu": cpu_now() - start_cpu, "digest": digest}


def perf_attach(pid: int, output: str) -> subprocess.Popen[bytes]:
    """`perf record` of one end (all its threads) from now until stopped: the copy alone, not the setup."""
    recorder = subprocess.Popen(
        ["perf", "record", "-q", "-F", "999", "-g", "-o", output, "-p", str(pid)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)  # perf attaches to every thread before the copy starts
    return recorder


def one_run(mode: str, pem: str, source: str, target: str, size: int, perf: str | None = None) -> dict[str, Any]:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    parent, child = multiprocessing.Pipe()
    proc = multiprocessing.get_context("fork").Process(
        target=receiver, args=(mode, listener, pem, target, size, child), daemon=True
    )
    proc.start()
    listener.close()
    if mode == "stream":
        os.posix_fadvise(os.open(source, os.O_RDONLY), 0, 0, os.POSIX_FADV_WILLNEED)
    recorders = []
    if perf:
        ends = ((os.getpid(), "sender"), (proc.pid, "receiver"))
        recorders = [perf_attach(pid, f"{perf}.{mode}.{end}") for pid, end in ends]
    start = time.perf_counter()
    sent = sender(mode, port, pem, source, size)
    got = parent.recv()
    wall = time.perf_counter() - start
    proc.join()
    for recorder in recorders:
        recorder.send_signal(signal.SIGINT)
        recorder.wait()
    if got["bytes"] != size or got["digest"] != sent["digest"]:
        raise RuntimeError(f"{mode}: receiver got {got['bytes']} bytes, digest {got['digest']!r} != {sent['digest']!r}")
    gib = size / GIB
    return {
        "wall_s": wall,
        "mib_s": size / MIB / wall,
        "sender_cpu_s_per_gib": sent["cpu"] / gib,
        "receiver_cpu_s_per_gib": got["cpu"] / gib,
        "cpu_s_per_gib": (sent["cpu"] + got["cpu"]) / gib,
        "info": got["info"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=MODES, action="append", help="repeatable; default: all")
    parser.add_argument("--size", type=int, default=1024, help="MiB per run (a multiple of 4)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None, help="where the source and target files go")
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument("--perf", default=None, help="record each end with perf into PERF.MODE.{sender,receiver}")
    args = parser.parse_args()
    size = args.size * MIB
    modes = args.mode or list(MODES)
    with tempfile.TemporaryDirectory(prefix="gnt-bench-stream-", dir=args.dir) as work:
        pem = os.path.join(work, "cluster.pem")
        certs.write_pem(pem, certs.generate_pem("bench.example.com"))
        source, target = os.path.join(work, "source.img"), os.path.join(work, "target.img")
        if "stream" in modes:
            with open(source, "wb") as handle:
                for _ in range(args.size):
                    handle.write(os.urandom(MIB))
        results: dict[str, Any] = {}
        for mode in modes:
            runs = []
            for _ in range(args.rounds):
                run = one_run(mode, pem, source, target, size, args.perf)
                runs.append(run)
                print(
                    f"{mode:7s} {run['mib_s']:7.1f} MiB/s  CPU s/GiB: sender {run['sender_cpu_s_per_gib']:.2f}"
                    f" receiver {run['receiver_cpu_s_per_gib']:.2f} total {run['cpu_s_per_gib']:.2f}"
                    f"  ({run['info']}; load {os.getloadavg()[0]:.1f})",
                    flush=True,
                )
            results[mode] = {
                "runs": runs,
                "median_cpu_s_per_gib": statistics.median(r["cpu_s_per_gib"] for r in runs),
                "median_sender_cpu_s_per_gib": statistics.median(r["sender_cpu_s_per_gib"] for r in runs),
                "median_receiver_cpu_s_per_gib": statistics.median(r["receiver_cpu_s_per_gib"] for r in runs),
                "median_mib_s": statistics.median(r["mib_s"] for r in runs),
            }
    print(f"\n{'mode':8s} {'MiB/s':>8s} {'sender':>7s} {'recv':>7s} {'total CPU s/GiB (medians)':>26s}")
    for mode, res in results.items():
        print(
            f"{mode:8s} {res['median_mib_s']:8.1f} {res['median_sender_cpu_s_per_gib']:7.2f}"
            f" {res['median_receiver_cpu_s_per_gib']:7.2f} {res['median_cpu_s_per_gib']:26.2f}"
        )
    if args.output:
        args.output.write_text(
            __import__("json").dumps(
                {
                    "benchmark": "disk_stream",
                    "command": " ".join(["python3", *sys.argv]),
                    "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                    "machine": {
                        "python": platform.python_version(),
                        "openssl": ssl.OPENSSL_VERSION,
                        "cpus": len(os.sched_getaffinity(0)),
                    },
                    "size_mib": args.size,
                    "modes": results,
                },
                indent=2,
            )
            + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
