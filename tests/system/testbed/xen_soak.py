"""Soak one Xen test-bed host with PV guests and count the dom0 faults (a bed experiment).

    flock /work/wt/testbed.lock python -m tests.system.testbed.xen_soak --rounds 30 --label baseline

Why: the Xen bed's dom0 went wrong while PV guests ran (doc/design/007-xen.md, "The dom0 faults on
the test bed"): ssh sessions into dom0 dropped or garbled, `xl list` segfaulting on a pointer made
of the guest's init text, a later `xl create` failing to decompress the kernel. The pytest modules
take 20 minutes to show it; this boots one host and runs guests back to back (one powering itself
off, one counting then destroyed, one panicking). While each guest boots it keeps ssh busy: every
second an `xl list` and a `cat` of a 16 kB probe file whose text must come back unchanged (the ssh
stream and the dom0 processes behind it are what broke). After each guest dom0 is checked: 20 `xl
list` in a row exit 0, the xl and libc binaries keep their checksums, no new segfault in dmesg.

A fault (an ssh error, a wrong probe, an unsound dom0) is counted and the soak goes on after
reconnecting, until `--max-faults` faults or dom0 stops answering. Xen's command line, QEMU's CPU
and accelerator are varied without an edit (GNT_XEN_ARGS, GNT_XEN_CPU, GNT_XEN_ACCEL:
tools/testbed/xen.py). It prints one line per round and a verdict, appends the run to `--json`
(keyed by `--label`), and exits non-zero if any fault was seen.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field

from tools.testbed.errors import TestbedError
from tools.testbed.xen import XenTestBed, build_xen, xen_args

from . import conftest  # noqa: F401  (first: it imports xen_fixtures, which imports it back)
from .xen_fixtures import CONSOLE_LOG, GUEST_DIR, GUEST_DISK_SIZE, guest_disk, mount_guest_files

#: files every xl run reads: a page of them changed under dom0 is the fault itself
CHECKED = "/usr/sbin/xl /usr/lib/xen-4.17/bin/xl /usr/lib/x86_64-linux-gnu/libc.so.6 /lib64/ld-linux-x86-64.so.2"
KINDS = ("poweroff", "counter", "crash")
#: controls: `idle` starts no guest (ssh work for IDLE_S only), `paused` builds a guest with `xl create -p`
#: (dom0 maps and fills its memory) but never lets it run
CONTROLS = ("idle", "paused")
IDLE_S = 20.0
PROBE = "/tmp/soak-probe.b64"
DMESG_BAD = "segfault|general protection|Bad page|BUG:|traps:"


@dataclass
class Fault:
    round: int
    kind: str
    what: str
    dmesg: str = ""  # dom0's kernel log lines about faults (segfaults, traps), read after reconnecting


@dataclass
class SoakRun:
    """One soak run: the variant, how much it did, and what went wrong."""

    label: str
    kinds: str
    xen_args: str
    cpu: str
    accel: str
    eager_fpu: str = ""  # Xen's boot line naming its speculative/FPU settings
    boot_s: float = 0.0
    rounds: int = 0  # guests started
    guests_ok: int = 0  # guests that ran to their end with no fault
    ssh_commands: int = 0
    probes: int = 0
    faults: list[Fault] = field(default_factory=list)
    stopped: str = ""  # why the run ended early, if it did
    minutes: float = 0.0


class Soak:
    """One Xen host and the counters of what ran on it."""

    def __init__(self, host, run: SoakRun, probe: str) -> None:  # type: ignore[no-untyped-def]
        self.host = host
        self.run_ = run
        self.probe = probe
        self.after = ""  # the kernel log's last bad lines, read after a fault

    def ssh(self, command: str, check: bool = True, timeout: float = 120.0, stdin: str = ""):  # type: ignore[no-untyped-def]
        self.run_.ssh_commands += 1
        return self.host.run(command, check=check, timeout=timeout, stdin=stdin)

    def check_probe(self) -> None:
        """The probe file's text must come back over ssh exactly as written."""
        self.run_.probes += 1
        got = self.ssh(f"cat {PROBE}", timeout=120).stdout
        if got != self.probe:
            diff = next(
                (i for i, (a, b) in enumerate(zip(got, self.probe, strict=False)) if a != b),
                min(len(got), len(self.probe)),
            )
            raise TestbedError(
                f"probe text changed: {len(got)} chars back of {len(self.probe)}, first difference at {diff}"
            )

    def state(self, name: str) -> str:
        for line in self.ssh("xl list", timeout=60).stdout.splitlines()[1:]:
            fields = line.split()
            if fields and fields[0] == name:
                return fields[4]
        return ""

    def busy_wait(self, what: str, done, timeout: float = 300.0) -> None:  # type: ignore[no-untyped-def]
        """Poll `done` once a second with a probe read each time, until it is true or `timeout`."""
        t = time.monotonic()
        while True:
            self.check_probe()
            if done():
                return
            if time.monotonic() - t > timeout:
                raise TestbedError(f"timed out after {timeout:.0f} s waiting for {what}")
            time.sleep(1)

    def dom0_sound(self, sums: str, bad_lines: int) -> str | None:
        """None, or what is wrong with dom0."""
        loop = self.ssh('for i in $(seq 20); do xl list >/dev/null 2>&1 || echo "xl list rc=$?"; done', timeout=180)
        if loop.stdout.strip():
            return loop.stdout.strip().splitlines()[0]
        now = self.ssh(f"md5sum {CHECKED} 2>/dev/null", check=False, timeout=60).stdout
        if now != sums:
            return f"checksums changed: {now!r}"
        seg = self.ssh(f"dmesg | grep -iE '{DMESG_BAD}'", check=False).stdout.strip().splitlines()
        return f"kernel log: {seg[bad_lines:][-1]}" if len(seg) > bad_lines else None

    def bad_lines(self) -> int:
        return len(self.ssh(f"dmesg | grep -iE '{DMESG_BAD}'", check=False).stdout.strip().splitlines())

    def one_round(self, name: str, kind: str, sums: str) -> tuple[float, str | None]:
        """Run one guest of `kind` to its end, destroy it, check dom0: (seconds xl create took, what is wrong)."""
        t = time.monotonic()
        bad = self.bad_lines()
        if kind == "idle":
            self.busy_wait(f"{IDLE_S:.0f} s", lambda: time.monotonic() - t > IDLE_S)
            return 0.0, self.dom0_sound(sums, bad)
        self.ssh(f"cat > /tmp/{name}.cfg", stdin=guest_config(name, "counter" if kind == "paused" else kind))
        self.ssh(f"xl create {'-p ' if kind == 'paused' else ''}/tmp/{name}.cfg", timeout=300)
        created = time.monotonic() - t
        if kind == "paused":
            self.busy_wait(f"{IDLE_S:.0f} s", lambda: time.monotonic() - t > created + IDLE_S)
            if "p" not in self.state(name):
                return created, f"{name} is not paused"
        elif kind == "counter":
            log_path = CONSOLE_LOG.format(name)
            seen = lambda: self.ssh(f"grep -c GNT-XEN-COUNT {log_path}", check=False).stdout.strip()  # noqa: E731
            self.busy_wait("3 counts", lambda: seen() not in ("", "0", "1", "2"))
        else:
            flag = "s" if kind == "poweroff" else "c"
            self.busy_wait(f"state {flag}", lambda: flag in self.state(name))
        self.ssh(f"xl destroy {name}", timeout=120)
        return created, self.dom0_sound(sums, bad)

    def recover(self, name: str) -> str | None:
        """After a fault: reconnect and destroy the round's guest; None, or why dom0 is lost."""
        self.host.ssh.close()
        try:
            self.host.ssh.connect(120)
            self.ssh(f"xl destroy {name} 2>/dev/null; true", timeout=120)
            self.after = self.ssh(f"dmesg | grep -iE '{DMESG_BAD}' | tail -3", check=False).stdout.strip()
        except Exception as e:  # noqa: BLE001 (any failure here means the host is gone)
            return f"dom0 lost after the fault: {first_line(e)}"
        return None


def first_line(e: BaseException) -> str:
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[0] if text else ''}"


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


def soak(  # type: ignore[no-untyped-def]
    rounds: int, label: str, minutes: float, max_faults: int, kinds: tuple[str, ...] = KINDS, log=print
) -> SoakRun:
    start = time.monotonic()
    image, boot = build_xen()
    bed = XenTestBed(
        tempfile.mkdtemp(prefix="gnt-xsoak-", dir="/tmp"),
        hosts=["node1"],
        image=image,
        boot=boot,
        shared_size=GUEST_DISK_SIZE,
    )
    run = SoakRun(label, ",".join(kinds), xen_args(), "", "")  # cpu and accel: read from the argv below
    try:
        bed.create()
        guest_disk(bed, boot)
        host = bed["node1"]
        argv = bed.qemu_argv(host)
        run.cpu = argv[argv.index("-cpu") + 1]
        run.accel = argv[argv.index("-accel") + 1]
        t = time.monotonic()
        bed.start()
        mount_guest_files(host)
        run.boot_s = round(time.monotonic() - t, 1)
        probe = base64.encodebytes(os.urandom(12 * 1024)).decode()
        soak_ = Soak(host, run, probe)
        soak_.ssh(f"cat > {PROBE}", stdin=probe)
        t = time.monotonic()
        soak_.check_probe()
        probe_s = time.monotonic() - t
        run.eager_fpu = soak_.ssh(
            "xl dmesg | grep -E 'Support for|Other:|XPTI|PV L1TF' | tr -s ' '", check=False
        ).stdout.strip()
        cpuinfo = soak_.ssh(
            "grep -m1 -oE ' (avx2?|xsave|xsaveopt|fxsr_opt|sse4_2|aes) ' /proc/cpuinfo | tr '\\n' ' '", check=False
        )
        log(f"[{label}] xen args: {run.xen_args} | cpu: {run.cpu} | accel: {run.accel}")
        log(f"[{label}] xen: {run.eager_fpu!r}")
        log(f"[{label}] dom0 cpu flags (sample): {cpuinfo.stdout.strip()}")
        log(f"[{label}] boot to xl-ready: {run.boot_s:.0f} s; probe ({len(probe)} chars) read in {probe_s:.1f} s")
        sums = soak_.ssh(f"md5sum {CHECKED} 2>/dev/null", check=False).stdout
        for i in range(rounds):
            if time.monotonic() - start > minutes * 60:
                run.stopped = f"time limit ({minutes:.0f} min) after {i} rounds"
                break
            kind = kinds[i % len(kinds)]
            name = f"soak{i}"
            t = time.monotonic()
            run.rounds += 1
            try:
                created, wrong = soak_.one_round(name, kind, sums)
            except Exception as e:  # noqa: BLE001 (paramiko's own errors are the fault being counted)
                created, wrong = float("nan"), first_line(e)
            total = time.monotonic() - t
            log(
                f"[{label}] round {i} {kind:8} create {created:5.1f} s, total {total:5.1f} s,"
                f" ssh {run.ssh_commands}: {wrong or 'dom0 sound'}"
            )
            if not wrong:
                run.guests_ok += 1
                continue
            lost = soak_.recover(name)
            run.faults.append(Fault(i, kind, wrong, soak_.after))
            if soak_.after:
                log(f"[{label}]   dom0 kernel log: {soak_.after!r}")
            if lost:
                run.stopped = lost
                log(f"[{label}] {lost}")
                break
            if len(run.faults) >= max_faults:
                run.stopped = f"{max_faults} faults"
                break
    finally:
        keep = os.environ.get("GNT_XEN_KEEP")
        if keep:
            os.makedirs(keep, exist_ok=True)
            for h in bed.hosts:
                if os.path.exists(h.path("console.log")):
                    shutil.copy(h.path("console.log"), os.path.join(keep, f"soak-{label}-{h.name}-console.log"))
        bed.destroy()
        run.minutes = round((time.monotonic() - start) / 60, 1)
    log(
        f"[{label}] verdict: {len(run.faults)} faults in {run.rounds} guest boots"
        f" ({run.guests_ok} clean, {run.ssh_commands} ssh commands, {run.probes} probes)"
        + (f"; {run.stopped}" if run.stopped else "")
    )
    return run


def record(path: str, run: SoakRun) -> None:
    """Append the run to the JSON list in `path` (a run of the same label is kept: runs add up)."""
    runs = []
    if os.path.exists(path):
        with open(path) as f:
            runs = json.load(f)
    runs.append(asdict(run))
    with open(path + ".tmp", "w") as f:
        json.dump(runs, f, indent=1)
        f.write("\n")
    os.replace(path + ".tmp", path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--minutes", type=float, default=22.0, help="stop starting guests after this long")
    parser.add_argument("--max-faults", type=int, default=3)
    parser.add_argument("--label", default="run")
    parser.add_argument("--json", help="append the run to this JSON list")
    parser.add_argument(
        "--kinds", default=",".join(KINDS), help=f"rounds' kinds in turn, of {', '.join(KINDS + CONTROLS)}"
    )
    args = parser.parse_args()
    kinds = tuple(args.kinds.split(","))
    if set(kinds) - set(KINDS + CONTROLS):
        parser.error(f"unknown kinds: {', '.join(sorted(set(kinds) - set(KINDS + CONTROLS)))}")
    run = soak(args.rounds, args.label, args.minutes, args.max_faults, kinds, log=lambda line: print(line, flush=True))
    if args.json:
        record(args.json, run)
    sys.exit(1 if run.faults else 0)


if __name__ == "__main__":
    main()
