"""The xen driver against a stand-in for xl: what it runs, and what it makes of xl's answers.

The stand-in keeps domains the way Xen does (a preserved poweroff or crash stays listed) and
prints `xl list -v` / `xl info` in xl's format; the parsers are also checked on outputs of a real
Xen 4.17 dom0 (tests/unit/backends/xen_outputs/).
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import sys
from typing import Any
from unittest import mock

import pytest

import backends
from backends.xen import xl
from backends.xen.driver import BLOCK_SCRIPT, XenHvmHypervisor, XenPvmHypervisor
from gnt.errors import HypervisorError
from gnt.runtime import DiskSpec, InstanceSpec, NicSpec, RunState

OUTPUTS = os.path.join(os.path.dirname(__file__), "xen_outputs")


def _read(name: str) -> str:
    with open(os.path.join(OUTPUTS, name)) as f:
        return f.read()


class FakeXl:
    """Just enough of xl: domains by name, with flags and a shutdown reason."""

    def __init__(self, free: int = 1200) -> None:
        self.calls: list[list[str]] = []
        self.domains: dict[str, dict[str, Any]] = {}
        self.next_id = 1
        self.free = free
        self.fail_create = ""
        self.ignores_shutdown = False

    async def __call__(self, argv: list[str], check: bool = True, timeout: float = 0) -> tuple[int, str, str]:
        self.calls.append(argv)
        if argv[1:3] == ["shutdown", "-w"] and self.ignores_shutdown and argv[-1] in self.domains:
            await asyncio.sleep(timeout)  # xl waits for a shutdown that never comes; proc.run kills it
            raise HypervisorError(f"{' '.join(argv)} timed out after {timeout:.0f}s")
        rc, out, err = self.handle(argv[1], argv[2:])
        if check and rc:
            raise HypervisorError(f"{' '.join(argv)} failed (exit {rc}): {err}")
        return rc, out, err

    def handle(self, verb: str, args: list[str]) -> tuple[int, str, str]:
        if verb == "create":
            with open(args[-1]) as f:
                text = f.read()
            name = re.search(r'^name = "(.*)"$', text, re.M).group(1)  # type: ignore[union-attr]
            memory = int(re.search(r"^memory = (\d+)$", text, re.M).group(1))  # type: ignore[union-attr]
            if self.fail_create:
                return 3, "", self.fail_create
            if name in self.domains:
                return 3, "", f"domain with name {name} already exists"
            flags = "--p---" if "-p" in args else "-b----"
            self.domains[name] = {"id": self.next_id, "mem": memory, "flags": flags, "reason": None}
            self.next_id += 1
            return 0, "", f"Parsing config from {args[-1]}\n"
        if verb == "list":
            lines = ["Name                                        ID   Mem VCPUs\tState\tTime(s)   UUID  Reason-Code"]
            lines.append(f"{'Domain-0':40s} {0:5d} {768:5d} {1:5d}     r-----  {20.0:8.1f} " + "0" * 32 + "        -")
            for name, d in self.domains.items():
                reason = "-" if d["reason"] is None else f"{d['reason']:x}"
                lines.append(f"{name:40s} {d['id']:5d} {d['mem']:5d} {1:5d}     {d['flags']}  {1.5:8.1f} u {reason:>8}")
            return 0, "\n".join(lines) + "\n", ""
        if verb == "info":
            free = self.free - sum(d["mem"] for d in self.domains.values())
            return 0, re.sub(r"(?m)^free_memory .*$", f"free_memory : {free}", _read("xl-info.txt")), ""
        name = args[-1]
        if name not in self.domains:
            return 1, "", f"{name} is an invalid domain identifier (rc=-6)"
        if verb == "shutdown":
            if not self.ignores_shutdown:
                self.domains[name].update(flags="---s--", reason=0)
        elif verb == "destroy":
            del self.domains[name]
        elif verb in ("pause", "unpause", "reboot"):
            self.domains[name]["flags"] = "--p---" if verb == "pause" else "-b----"
        return 0, "", ""


def _spec(name: str = "inst1", hv: str = "xen-pvm") -> InstanceSpec:
    spec = InstanceSpec(name, "u-" + name, hv, 128, 1, hvparams={"kernel_path": "/boot/vmlinuz"})
    spec.disks = [DiskSpec("d0", 0, 256, "plain", ["xenvg", "lv0"], path="/dev/xenvg/lv0")]
    spec.nics = [NicSpec("n0", "aa:00:00:00:00:01", link="br0")]
    return spec


@pytest.fixture
def node(tmp_path: Any) -> tuple[XenPvmHypervisor, FakeXl]:
    fake = FakeXl()
    return XenPvmHypervisor(run_dir=str(tmp_path / "run"), runner=fake, vif_script="/opt/vif-gnt"), fake


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_registry_knows_both_xen_flavours() -> None:
    assert isinstance(backends.get("xen-pvm"), XenPvmHypervisor)
    assert isinstance(backends.get("xen-hvm"), XenHvmHypervisor)
    with pytest.raises(HypervisorError, match="Unknown hypervisor 'xen'"):
        backends.get("xen")


def test_start_writes_the_config_and_creates_the_domain(node: Any) -> None:
    hv, fake = node
    run(hv.start(_spec()))
    path = hv.config_path("inst1")
    assert fake.calls[-1] == ["xl", "create", path]
    with open(path) as f:
        assert f"vdev=xvda, access=w, script={BLOCK_SCRIPT}, target=/dev/xenvg/lv0" in f.read()
    assert os.stat(path).st_mode & 0o777 == 0o600
    info = run(hv.instance_info("inst1"))
    assert (info.state, info.memory, info.extra["domid"]) == (RunState.RUNNING, 128, 1)
    assert run(hv.list_instances()) == ["inst1"]


def test_start_paused_then_running_twice_is_refused(node: Any) -> None:
    hv, fake = node
    run(hv.start(_spec(), paused=True))
    assert fake.calls[-1][:3] == ["xl", "create", "-p"]
    assert run(hv.instance_info("inst1")).state == RunState.PAUSED
    with pytest.raises(HypervisorError, match="already running on this node"):
        run(hv.start(_spec()))


def test_a_failed_create_leaves_no_domain_and_no_files(node: Any) -> None:
    hv, fake = node
    fake.fail_create = (
        "Parsing config from /x/config.xl\n"
        "libxl: error: libxl_create.c:1234:domcreate: Domain 3:Unable to find/attach disk /dev/xenvg/lv0\n"
        "libxl: error: libxl_domain.c:1183:libxl__destroy_domid: Domain 3:Non-existant domain\n"
        "libxl: error: libxl_domain.c:1137:domain_destroy_callback: Domain 3:Unable to destroy guest\n"
        "libxl: error: libxl_domain.c:1064:domain_destroy_cb: Domain 3:Destruction of domain failed\n"
    )
    with pytest.raises(HypervisorError, match="xl create inst1 failed .*Unable to find/attach disk") as err:
        run(hv.start(_spec()))
    assert "Destruction of domain failed" not in str(err.value)  # the cause, not the cleanup's echo
    assert fake.domains == {} and not os.path.exists(os.path.dirname(hv.config_path("inst1")))


def test_xm_is_refused_before_anything_runs(node: Any) -> None:
    hv, fake = node
    spec = _spec()
    spec.hvparams["xen_cmd"] = "xm"
    with pytest.raises(HypervisorError, match="xm was removed"):
        run(hv.start(spec))
    assert fake.calls == []


def test_clean_stop_asks_the_guest_then_destroys_the_preserved_domain(node: Any) -> None:
    hv, fake = node
    run(hv.start(_spec()))
    run(hv.stop(_spec(), timeout=5))
    verbs = [c[1] for c in fake.calls if c[1] not in ("list",)]
    assert verbs == ["create", "shutdown", "destroy"]
    assert fake.domains == {} and not os.path.exists(hv.config_path("inst1"))


def test_stop_waits_for_xens_shutdown_event_instead_of_polling_xl_list(node: Any) -> None:
    """`xl shutdown -w` returns when the guest is down: one xl list (is it running?), no polling."""
    hv, fake = node
    run(hv.start(_spec()))
    fake.calls.clear()
    run(hv.stop(_spec(), timeout=5))
    assert fake.calls == [["xl", "list", "-v"], ["xl", "shutdown", "-w", "inst1"], ["xl", "destroy", "inst1"]]


def test_stop_of_a_guest_that_ignores_shutdown_destroys_it_after_the_timeout(node: Any) -> None:
    hv, fake = node
    fake.ignores_shutdown = True
    run(hv.start(_spec()))
    run(hv.stop(_spec(), timeout=0.01))
    assert ["xl", "shutdown", "-w", "inst1"] in fake.calls
    assert fake.domains == {}


def test_stop_with_no_time_to_wait_asks_once_then_destroys(node: Any) -> None:
    hv, fake = node
    fake.ignores_shutdown = True
    run(hv.start(_spec()))
    fake.calls.clear()
    run(hv.stop(_spec(), timeout=0))
    assert [c[1:] for c in fake.calls] == [["list", "-v"], ["shutdown", "inst1"], ["destroy", "inst1"]]
    assert fake.domains == {}


def test_stop_of_a_domain_gone_before_the_destroy_is_no_error(node: Any) -> None:
    """The guest's poweroff may end the domain itself (or someone destroys it): destroy fails, and
    the driver checks that the domain really is gone before it calls that a success."""
    hv, fake = node
    run(hv.start(_spec()))
    shutdown = fake.handle

    def powers_off_and_goes(verb: str, args: list[str]) -> tuple[int, str, str]:
        if verb == "shutdown":
            fake.domains.pop(args[-1], None)
            return 0, "", ""
        return shutdown(verb, args)

    fake.handle = powers_off_and_goes  # type: ignore[method-assign]
    fake.calls.clear()
    run(hv.stop(_spec(), timeout=5))
    assert [c[1] for c in fake.calls] == ["list", "shutdown", "destroy", "list"]
    assert fake.domains == {} and not os.path.exists(hv.config_path("inst1"))


def test_forced_stop_skips_the_guest(node: Any) -> None:
    hv, fake = node
    run(hv.start(_spec()))
    run(hv.stop(_spec(), timeout=5, force=True))
    assert "shutdown" not in [c[1] for c in fake.calls] and fake.domains == {}


def test_guest_poweroff_and_crash_are_told_apart(node: Any) -> None:
    hv, fake = node
    run(hv.start(_spec("off")))
    run(hv.start(_spec("bad")))
    fake.domains["off"].update(flags="---s--", reason=0)
    fake.domains["bad"].update(flags="----c-", reason=3)
    states = {n: i.state for n, i in run(hv.all_instances_info()).items()}
    assert states == {"off": RunState.SHUTDOWN, "bad": RunState.CRASHED}
    run(hv.cleanup("off"))
    assert list(fake.domains) == ["bad"]


def test_a_preserved_poweroff_is_replaced_by_a_new_start(node: Any) -> None:
    hv, fake = node
    run(hv.start(_spec()))
    fake.domains["inst1"].update(flags="---s--", reason=0)
    run(hv.start(_spec()))
    assert run(hv.instance_info("inst1")).state == RunState.RUNNING


def test_reboot_soft_and_hard(node: Any) -> None:
    hv, fake = node
    with pytest.raises(HypervisorError, match="not running"):
        run(hv.reboot(_spec()))
    run(hv.start(_spec()))
    run(hv.reboot(_spec()))
    assert fake.calls[-1] == ["xl", "reboot", "inst1"]
    first = fake.domains["inst1"]["id"]
    run(hv.reboot(_spec(), hard=True))
    assert fake.domains["inst1"]["id"] != first


def test_hvm_shutdown_falls_back_to_acpi(tmp_path: Any) -> None:
    fake = FakeXl()
    hv = XenHvmHypervisor(run_dir=str(tmp_path), runner=fake)
    spec = _spec(hv="xen-hvm")
    run(hv.start(spec))
    run(hv.stop(spec, timeout=5))
    assert ["xl", "shutdown", "-w", "-F", "inst1"] in fake.calls


def test_node_info_counts_dom0_apart_from_the_guests(node: Any) -> None:
    hv, fake = node
    run(hv.start(_spec()))
    info = run(hv.node_info())
    assert info["memory_total"] == 2047 and info["memory_free"] == 1200 - 128
    assert info["memory_dom0"] == 768 and info["memory_instances"] == 128
    assert info["xen_version"] == "4.17.7" and info["accel"].startswith("xen 4.17.7 (pv hvm")


def test_console_is_xl_console(node: Any) -> None:
    hv, _ = node
    assert hv.console_command(_spec()) == ["xl", "console", "inst1"]


def test_accept_refuses_a_guest_bigger_than_free_memory(node: Any) -> None:
    hv, fake = node
    fake.free = 100
    with pytest.raises(HypervisorError, match="needs 128 MiB, Xen has 100 MiB free"):
        run(hv.accept_instance(_spec(), "192.168.77.2"))


def _fake_socat(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A `socat` on PATH that listens on the port of its TCP-LISTEN argument, as the real one does."""
    bindir = tmp_path / "sbin"
    bindir.mkdir(exist_ok=True)
    listener = (
        "import socket, sys, time\n"
        "listen = next(a for a in sys.argv if a.startswith('TCP-LISTEN:'))\n"
        "port = int(listen.split(':')[1].split(',')[0])\n"
        "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
        "s.bind(('127.0.0.1', port)); s.listen(1); time.sleep(60)\n"
    )
    script = f'#!/bin/bash\nexec -a socat {sys.executable} -c {shlex.quote(listener)} "$@"\n'
    (bindir / "socat").write_text(script)
    (bindir / "socat").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")


def _gone(pid: int) -> bool:
    """Exited (a zombie counts: its parent may not have reaped it yet)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_accept_listens_on_the_migration_port_and_a_failed_move_stops_the_receiver(
    node: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    hv, fake = node
    _fake_socat(tmp_path, monkeypatch)
    spec = _spec()
    spec.hvparams["migration_port"] = port = _free_port()
    accept_calls: list[list[str]] = []

    async def scenario() -> tuple[dict, int, set[int], set[int]]:
        info = await hv.accept_instance(spec, "127.0.0.1")
        accept_calls.extend(fake.calls)
        with open(os.path.join(hv.run_root, "inst1", "receiver.pid")) as f:
            pid = int(f.read())
        listening = driver_mod._listening_ports()
        await hv.finalize_migration_dst(spec, info, success=False)
        return info, pid, listening, driver_mod._listening_ports()

    from backends.xen import driver as driver_mod

    info, pid, during, after = run(scenario())
    assert sorted(accept_calls) == [["xl", "info"], ["xl", "list", "-v"]]  # one list for memory and name
    assert info["migration_port"] == port and port in during  # the source may connect once accept returns
    assert port not in after  # the receiver is gone with the failed move, and so are its files
    assert _gone(pid)
    assert not os.path.exists(os.path.join(hv.run_root, "inst1"))


def test_accept_refuses_a_busy_migration_port_and_a_bad_one(
    node: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    hv, _ = node
    _fake_socat(tmp_path, monkeypatch)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        spec = _spec()
        spec.hvparams["migration_port"] = busy.getsockname()[1]
        with pytest.raises(HypervisorError, match="is busy on this node"):
            run(hv.accept_instance(spec, "127.0.0.1"))
    spec.hvparams["migration_port"] = 70000
    with pytest.raises(HypervisorError, match="migration_port must be a TCP port"):
        run(hv.accept_instance(spec, "127.0.0.1"))
    assert not os.path.exists(os.path.join(hv.run_root, "inst1"))


def test_the_sources_migrated_away_leftover_is_destroyed(node: Any) -> None:
    hv, fake = node
    fake.domains["inst1--migratedaway"] = {"id": 7, "mem": 128, "flags": "---s--", "reason": 2}
    run(hv.finalize_migration_src(_spec(), success=True))
    assert fake.domains == {}


# -- parsers on real outputs ------------------------------------------------------------------


def test_parse_list_of_the_spike_dom0() -> None:
    domains = xl.parse_list(_read("xl-list-spike.txt"))
    assert [(d.name, d.domid, d.memory, d.vcpus, d.flags) for d in domains] == [
        ("Domain-0", 0, 768, 1, "r-----"),
        ("pvtest", 2, 128, 1, "-b----"),
    ]
    assert [xl.domain_state(d) for d in domains] == [RunState.RUNNING, RunState.RUNNING]


def test_parse_list_verbose_of_a_real_dom0() -> None:
    (dom0,) = xl.parse_list(_read("xl-list-v.txt"))
    assert (dom0.name, dom0.domid, dom0.memory, dom0.flags) == ("Domain-0", 0, 768, "r-----")
    assert dom0.uuid == "00000000-0000-0000-0000-000000000000" and dom0.reason is None


def test_parse_list_rejects_garbage() -> None:
    with pytest.raises(HypervisorError, match="cannot read this xl list line"):
        xl.parse_list("Name ID Mem\nfoo bar baz qux quux 1\n")


@pytest.mark.parametrize(
    ("flags", "reason", "state"),
    [
        ("-b----", None, RunState.RUNNING),
        ("r-----", None, RunState.RUNNING),
        ("--p---", None, RunState.PAUSED),
        ("---s--", 0, RunState.SHUTDOWN),
        ("---s--", 1, RunState.RUNNING),  # a reboot in progress
        ("---sc-", 3, RunState.CRASHED),
        ("---s--", 4, RunState.CRASHED),  # watchdog
        ("-----d", None, RunState.SHUTDOWN),
    ],
)
def test_domain_state_table(flags: str, reason: int | None, state: RunState) -> None:
    assert xl.domain_state(xl.XlDomain("g", 1, 128, 1, flags, 0.0, reason=reason)) == state


def test_parse_info_of_a_real_dom0() -> None:
    info = xl.parse_info(_read("xl-info.txt"))
    assert info["xen_version"] == "4.17.7" and info["virt_caps"].startswith("pv hvm")
    acct = xl.memory_accounting(info, xl.parse_list(_read("xl-list-spike.txt")))
    assert (acct["memory_total"], acct["memory_free"], acct["memory_dom0"]) == (2047, 1256, 768)
    assert acct["cpu_total"] == 1


def test_version_is_xens(node: Any) -> None:
    hv, _ = node
    assert run(hv.version()) == "4.17.7"


def _fake_xl_binary(tmp_path: Any, monkeypatch: pytest.MonkeyPatch, body: str) -> None:
    """An `xl` on PATH for the migration's background process (the rest goes through FakeXl)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "xl").write_text(f'#!/bin/sh\necho "$@" > {tmp_path}/argv\n{body}\n')
    (bindir / "xl").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")


def test_migration_runs_xl_migrate_and_the_source_forgets_the_guest(
    node: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    hv, fake = node
    _fake_xl_binary(tmp_path, monkeypatch, "exit 0")

    async def scenario() -> list[str]:
        await hv.start(_spec())
        await hv.migrate_instance(_spec(), "192.168.77.2", {}, live=True)
        while (status := await hv.migration_status(_spec())).phase == "active":
            await asyncio.sleep(0.01)
        fake.domains.pop("inst1")  # xl destroys the source copy once the target has it
        await hv.finalize_migration_src(_spec(), success=True)
        return [status.phase]

    assert run(scenario()) == ["completed"]
    # xl runs its last argument as the transport (`-s ""`): socat to the target's migration port
    assert (tmp_path / "argv").read_text().split() == [
        "migrate",
        "-s",
        "-C",
        hv.config_path("inst1"),
        "inst1",
        "exec",
        "socat",
        "-b524288",
        "-",
        # the stream gives up on a target that stops acknowledging (xl then resumes the guest here)
        "TCP:192.168.77.2:8002,keepalive,keepidle=10,keepintvl=5,keepcnt=3,setsockopt-int=6:18:30000",
    ]
    assert not os.path.exists(hv.config_path("inst1"))


# -- non-live migration: xl save -p into a TCP stream, xl restore on the target --------------------

#: a stand-in `xl` binary for the save and the restore (both run as real processes with real pipes)
_SAVE_RESTORE_XL = r"""
echo "$@" >> "$WORK/argv"
case "$1" in
save) [ -e "$WORK/save-fails" ] && { echo "xc: error: Failed to suspend" >&2; exit 1; }
      cat "$WORK/image" > "$4"; touch "$WORK/saved" ;;
restore) cat "$3" > "$WORK/received"
      [ -e "$WORK/restore-fails" ] && { echo "xc: error: Restore failed (22 = Invalid argument)" >&2; exit 1; }
      touch "$WORK/restored" ;;
esac
"""


class SaveRestoreXl(FakeXl):
    """FakeXl whose domains follow what the stand-in binary did: xl save -p leaves the source copy
    paused; a successful xl restore creates the domain on the target."""

    def __init__(self, work: Any, side: str) -> None:
        super().__init__()
        self.work, self.side = work, side

    def handle(self, verb: str, args: list[str]) -> tuple[int, str, str]:
        if self.side == "src" and (self.work / "saved").exists() and "inst1" in self.domains:
            (self.work / "saved").unlink()
            self.domains["inst1"]["flags"] = "--p---"
        if self.side == "dst" and (self.work / "restored").exists() and "inst1" not in self.domains:
            self.domains["inst1"] = {"id": 9, "mem": 128, "flags": "-b----", "reason": None}
        return super().handle(verb, args)


@pytest.fixture
def pair(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any, Any, Any]:
    """A source and a target node in one process (the target's listener is in its daemon, here this loop)."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "image").write_bytes(os.urandom(3 * 1048576 + 17))  # a few chunks and a bit
    monkeypatch.setenv("WORK", str(work))
    _fake_xl_binary(tmp_path, monkeypatch, _SAVE_RESTORE_XL)
    src_xl, dst_xl = SaveRestoreXl(work, "src"), SaveRestoreXl(work, "dst")
    src = XenPvmHypervisor(run_dir=str(tmp_path / "src"), runner=src_xl, vif_script="/opt/vif-gnt")
    dst = XenPvmHypervisor(run_dir=str(tmp_path / "dst"), runner=dst_xl, vif_script="/opt/vif-gnt")
    return src, dst, work, (src_xl, dst_xl)


def _non_live_spec(port: int) -> InstanceSpec:
    spec = _spec()
    spec.hvparams.update(migration_mode="non-live", migration_port=port)
    return spec


async def _move(src: Any, dst: Any, spec: InstanceSpec, finalize: bool = True) -> Any:
    await src.start(spec)
    info = await dst.accept_instance(spec, "127.0.0.1")
    await src.migrate_instance(spec, "127.0.0.1", info, live=False)
    while (status := await src.migration_status(spec)).phase == "active":
        await asyncio.sleep(0.01)
    if finalize:
        ok = status.phase == "completed"
        await dst.finalize_migration_dst(spec, info, success=ok)
        await src.finalize_migration_src(spec, success=ok)
    return info, status


def test_non_live_migration_saves_into_the_targets_restore_and_only_then_drops_the_source(pair: Any) -> None:
    src, dst, work, (src_xl, dst_xl) = pair
    spec = _non_live_spec(_free_port())
    info, status = run(_move(src, dst, spec))
    assert info["transport"] == "xl-save-restore"
    assert status.phase == "completed" and status.transferred == (work / "image").stat().st_size
    assert (work / "received").read_bytes() == (work / "image").read_bytes()  # the image arrived whole
    argv = {line.split()[0]: line.split() for line in (work / "argv").read_text().splitlines()}
    save, restore = argv["save"], argv["restore"]  # restore starts first: it waits on the stream
    assert save == ["save", "-p", "inst1", "/dev/stdout"]  # -p: the source copy stays (paused), not destroyed
    assert restore == ["restore", dst.config_path("inst1"), "/dev/stdin"]  # the target's own config
    assert "inst1" in dst_xl.domains and dst_xl.domains["inst1"]["flags"] == "-b----"
    assert src_xl.domains == {} and not os.path.exists(src.config_path("inst1"))
    assert os.path.exists(dst.config_path("inst1"))
    assert spec.hvparams["migration_port"] not in _ports()  # the listener went with the move


def _ports() -> set[int]:
    from backends.xen import driver as driver_mod

    return driver_mod._listening_ports()


def test_a_failed_restore_keeps_the_guest_on_the_source_and_unpauses_it(pair: Any) -> None:
    src, dst, work, (src_xl, dst_xl) = pair
    (work / "restore-fails").touch()
    spec = _non_live_spec(_free_port())

    async def scenario() -> Any:
        info, status = await _move(src, dst, spec, finalize=False)
        assert (await src.instance_info("inst1")).state == RunState.PAUSED
        assert src_xl.domains["inst1"]["flags"] == "--p---"  # saved, paused, still here
        with pytest.raises(HypervisorError, match="never confirmed"):  # a wrong success must not drop it
            await src.finalize_migration_src(spec, success=True)
        assert "inst1" in src_xl.domains
        await dst.finalize_migration_dst(spec, info, success=False)
        await src.finalize_migration_src(spec, success=False)
        return status

    status = run(scenario())
    assert status.phase == "failed" and "Restore failed (22 = Invalid argument)" in status.message
    assert src_xl.domains["inst1"]["flags"] == "-b----"  # running again where it was
    assert "inst1" not in dst_xl.domains and not os.path.exists(os.path.join(dst.run_root, "inst1"))


def test_an_unreachable_target_fails_before_the_guest_is_suspended(pair: Any) -> None:
    src, _, work, (src_xl, _) = pair
    spec = _non_live_spec(_free_port())  # nobody listens there

    async def scenario() -> Any:
        await src.start(spec)
        await src.migrate_instance(spec, "127.0.0.1", {"transport": "xl-save-restore"}, live=False)
        while (status := await src.migration_status(spec)).phase == "active":
            await asyncio.sleep(0.01)
        await src.finalize_migration_src(spec, success=False)
        return status

    status = run(scenario())
    assert status.phase == "failed" and "cannot reach the target's migration port" in status.message
    assert not (work / "argv").exists()  # xl save never ran
    assert src_xl.domains["inst1"]["flags"] == "-b----"


def test_a_failed_save_reports_xls_error_and_the_target_keeps_nothing(pair: Any) -> None:
    src, dst, work, (src_xl, dst_xl) = pair
    (work / "save-fails").touch()
    spec = _non_live_spec(_free_port())
    _, status = run(_move(src, dst, spec))
    assert status.phase == "failed" and "xl save exited 1: xc: error: Failed to suspend" in status.message
    assert "inst1" in src_xl.domains and dst_xl.domains == {}


def test_a_stalled_stream_does_not_hold_the_targets_finalize(pair: Any) -> None:
    """The source sends part of an image and then nothing: a failed finalize kills xl restore at
    once instead of waiting for the rest, and leaves no domain or file behind."""
    _, dst, work, (_, dst_xl) = pair
    spec = _non_live_spec(_free_port())

    async def scenario() -> None:
        info = await dst.accept_instance(spec, "127.0.0.1")
        reader, writer = await asyncio.open_connection("127.0.0.1", spec.hvparams["migration_port"])
        writer.write(b"half an image")
        await writer.drain()
        while not (work / "argv").exists():  # xl restore runs and waits for the rest
            await asyncio.sleep(0.01)
        await asyncio.wait_for(dst.finalize_migration_dst(spec, info, success=False), 30)  # a hang guard only
        assert await reader.read() == b""  # the connection was closed without an answer
        writer.close()

    run(scenario())
    assert dst_xl.domains == {} and not os.path.exists(os.path.join(dst.run_root, "inst1"))
    assert not (work / "restored").exists()


def test_accept_picks_the_receiver_from_the_migration_mode(
    node: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """live: socat into xl migrate-receive; non-live: gnt's own listener for xl restore."""
    hv, _ = node
    _fake_socat(tmp_path, monkeypatch)

    async def accept(mode: str) -> dict:
        spec = _spec()
        spec.hvparams.update(migration_mode=mode, migration_port=_free_port())
        info = await hv.accept_instance(spec, "127.0.0.1")
        assert spec.hvparams["migration_port"] in _ports()
        await hv.finalize_migration_dst(spec, info, success=False)
        return info

    assert run(accept("live"))["transport"] == "xl-migrate"
    assert run(accept("non-live"))["transport"] == "xl-save-restore"


def test_guest_poweroff_and_crash_as_a_real_dom0_lists_them() -> None:
    """Two guests of the test bed's Xen host: one powered itself off, one panicked (both preserved)."""
    domains = {d.name: d for d in xl.parse_list(_read("xl-list-v-states.txt"))}
    assert (domains["offguest"].flags, domains["offguest"].reason) == ("---s--", 0)
    assert (domains["crashguest"].flags, domains["crashguest"].reason) == ("---sc-", 3)
    assert xl.domain_state(domains["offguest"]) == RunState.SHUTDOWN
    assert xl.domain_state(domains["crashguest"]) == RunState.CRASHED
    assert xl.domain_state(domains["Domain-0"]) == RunState.RUNNING


def test_verify_names_a_block_script_that_cannot_run(tmp_path: Any) -> None:
    """block-gnt is what blkback's device comes from: a node where it is not executable cannot start a PV guest."""
    script = tmp_path / "block-gnt"
    script.write_text("#!/bin/sh\n")
    hv = XenPvmHypervisor(
        run_dir=str(tmp_path / "run"), runner=FakeXl(), vif_script="/bin/true", block_script=str(script)
    )
    with mock.patch("shutil.which", return_value="/usr/sbin/xl"):
        assert run(hv.verify()) == [f"gnt's block script {script} is not executable"]


def test_the_shipped_block_script_is_executable() -> None:
    assert os.access(BLOCK_SCRIPT, os.X_OK)
