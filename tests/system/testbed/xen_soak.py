"""Soak one Xen test-bed host with PV guests and check that its dom0 stays sound (a bed experiment).

    flock /work/wt/testbed.lock python -m tests.system.testbed.xen_soak --rounds 8

Why: the Xen bed's dom0 went wrong after PV guests ran (doc/design/007-xen.md, "The dom0 fault"):
ssh to dom0 timing out, `xl list` segfaulting on a pointer made of the guest's init text, a later
`xl create` failing to decompress the kernel. The pytest modules take 20 minutes to show it; this
boots one host and runs guests back to back (one powering itself off, one counting then destroyed,
one panicking), checking dom0 after each: ssh answers, 20 `xl list` in a row exit 0, the xl and
libc binaries keep their checksums, the kernel log has no segfault. Xen's command line and QEMU's
CPU can be varied without an edit (GNT_XEN_ARGS, GNT_XEN_CPU, GNT_XEN_ACCEL: tools/testbed/xen.py).
It prints one line per round and a verdict, and exits non-zero at the first unsound dom0.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time

from tools.testbed.errors import TestbedError
from tools.testbed.xen import XenTestBed, build_xen, xen_args

from . import conftest  # noqa: F401  (first: it imports xen_fixtures, which imports it back)
from .xen_fixtures import CONSOLE_LOG, GUEST_DIR, GUEST_DISK_SIZE, guest_disk, mount_guest_files

#: files every xl run reads: a page of them changed under dom0 is the fault itself
CHECKED = "/usr/sbin/xl /usr/lib/xen-4.17/bin/xl /usr/lib/x86_64-linux-gnu/libc.so.6 /lib64/ld-linux-x86-64.so.2"
KINDS = ("poweroff", "counter", "crash")


def guest_config(name: str, kind: str) -> str:
    return "\n".join(
        [
            f'name = "{name}"',
            f'kernel = "{GUEST_DIR}/vmlinuz"',
            f'ramdisk = "{GUEST_DIR}/initrd.img"',
            f'extra = "console=hvc0 quiet gnt.test={kind}"',
            "memory = 128",
            "vcpus = 1",
            'on_poweroff = "preserve"',
            'on_crash = "preserve"',
            "",
        ]
    )


def state(host, name: str) -> str:  # type: ignore[no-untyped-def]
    for line in host.run("xl list", timeout=60).stdout.splitlines()[1:]:
        fields = line.split()
        if fields[0] == name:
            return fields[4]
    return ""


def wait(what: str, check, timeout: float) -> float:  # type: ignore[no-untyped-def]
    t = time.monotonic()
    while not check():
        if time.monotonic() - t > timeout:
            raise TestbedError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(1)
    return time.monotonic() - t


def dom0_sound(host, sums: str) -> str | None:  # type: ignore[no-untyped-def]
    """None, or what is wrong with dom0."""
    loop = host.run('for i in $(seq 20); do xl list >/dev/null 2>&1 || echo "xl list rc=$?"; done', timeout=180)
    if loop.stdout.strip():
        return loop.stdout.strip().splitlines()[0]
    now = host.run(f"md5sum {CHECKED} 2>/dev/null", check=False, timeout=60).stdout
    if now != sums:
        return f"checksums changed: {now!r}"
    seg = host.run("dmesg | grep -iE 'segfault|general protection|Bad page|BUG:' | tail -3", check=False).stdout
    return f"kernel log: {seg.strip()}" if seg.strip() else None


def one_round(host, name: str, kind: str, sums: str) -> tuple[float, str | None]:  # type: ignore[no-untyped-def]
    """Run one guest of `kind` to its end, destroy it, check dom0: (seconds xl create took, what is wrong)."""
    t = time.monotonic()
    try:
        host.run(f"cat > /tmp/{name}.cfg", stdin=guest_config(name, kind))
        host.run(f"xl create /tmp/{name}.cfg", timeout=300)
        created = time.monotonic() - t
        if kind == "counter":
            log_path = CONSOLE_LOG.format(name)
            seen = lambda: host.run(f"grep -c GNT-XEN-COUNT {log_path}", check=False).stdout.strip()  # noqa: E731
            wait("3 counts", lambda: seen() not in ("", "0", "1", "2"), 300)
        else:
            flag = "s" if kind == "poweroff" else "c"
            wait(f"state {flag}", lambda: flag in state(host, name), 300)
        host.run(f"xl destroy {name}", timeout=120)
        return created, dom0_sound(host, sums)
    except TestbedError as e:
        return float("nan"), str(e).splitlines()[0]


def soak(rounds: int, log=print) -> int:  # type: ignore[no-untyped-def]
    image, boot = build_xen()
    bed = XenTestBed(
        tempfile.mkdtemp(prefix="gnt-xsoak-", dir="/tmp"),
        hosts=["node1"],
        image=image,
        boot=boot,
        shared_size=GUEST_DISK_SIZE,
    )
    failed = 0
    try:
        bed.create()
        guest_disk(bed, boot)
        t = time.monotonic()
        bed.start()
        host = bed["node1"]
        mount_guest_files(host)
        log(f"xen args: {xen_args()} | cpu: {bed.qemu_argv(host)[bed.qemu_argv(host).index('-cpu') + 1]}")
        log(f"boot to xl-ready: {time.monotonic() - t:.0f} s")
        sums = host.run(f"md5sum {CHECKED} 2>/dev/null", check=False).stdout
        for i in range(rounds):
            kind = KINDS[i % len(KINDS)]
            t = time.monotonic()
            created, wrong = one_round(host, f"soak{i}", kind, sums)
            total = time.monotonic() - t
            log(f"round {i} {kind:8} create {created:5.1f} s, total {total:5.1f} s: {wrong or 'dom0 sound'}")
            if wrong:
                failed = i + 1
                break
    finally:
        keep = os.environ.get("GNT_XEN_KEEP")
        if keep:
            os.makedirs(keep, exist_ok=True)
            for h in bed.hosts:
                if os.path.exists(h.path("console.log")):
                    shutil.copy(h.path("console.log"), os.path.join(keep, f"soak-{h.name}-console.log"))
        bed.destroy()
    log(f"verdict: {'dom0 unsound in round ' + str(failed - 1) if failed else f'{rounds} rounds, dom0 sound'}")
    return 1 if failed else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    sys.exit(soak(args.rounds, log=lambda line: print(line, flush=True)))


if __name__ == "__main__":
    main()
