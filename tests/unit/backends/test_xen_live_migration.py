"""Live Xen migration on the source (backends/xen/livemigrate.py) with real processes and sockets.

A stand-in `xl` does what xl migrate does with its transport: it runs its last argument with
`sh -c` (the driver's `exec socat ... TCP:127.0.0.1:PORT,...`, a real socat) and writes the stream
into it; when a write fails it says "Migration failed, resuming at sender", marks the guest resumed
and exits 1, as xl does; after the stream it says the target acknowledged it and waits for a go
before it writes the last message. The target is a plain TCP listener in the test's loop.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from backends.xen import livemigrate
from backends.xen.driver import XenPvmHypervisor
from gnt.instance.move import _progress
from gnt.runtime import MigrationPhase, RunState
from tests.unit.backends.test_xen_driver import FakeXl, _free_port, _spec

XL = r"""
import os, subprocess, sys, time
work = os.environ["WORK"]
child = subprocess.Popen(["sh", "-c", sys.argv[-1]], stdin=subprocess.PIPE)
size = int(open(work + "/size").read()) if os.path.exists(work + "/size") else -1  # -1: until cut
sent = 0
try:
    while size < 0 or sent < size:
        child.stdin.write(b"x" * 65536)
        child.stdin.flush()
        sent += 65536
        time.sleep(0.002)
except BrokenPipeError:
    print("migration sender: libxl_domain_suspend failed (rc=-3)", file=sys.stderr)
    print("Migration failed, resuming at sender.", file=sys.stderr)
    open(work + "/resumed", "w").close()
    sys.exit(1)
print("migration sender: Target has acknowledged transfer.", file=sys.stderr, flush=True)
while not os.path.exists(work + "/go"):
    time.sleep(0.01)
try:
    child.stdin.write(b"GO")
    child.stdin.close()
except BrokenPipeError:
    print("** Migration failed during final handshake **", file=sys.stderr)
    sys.exit(1)
child.wait()
print("Migration successful.", file=sys.stderr)
"""


class Target:
    """The target's end: counts what arrives on the migration port."""

    def __init__(self) -> None:
        self.received = 0
        self.closed = asyncio.Event()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(1 << 16):
            self.received += len(data)
        writer.close()
        self.closed.set()


@pytest.fixture
def source(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[XenPvmHypervisor, FakeXl, Any]]:
    work = tmp_path / "work"
    work.mkdir()
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "xl").write_text(f"#!{sys.executable}\n{XL}")
    (bindir / "xl").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    monkeypatch.setenv("WORK", str(work))
    fake = FakeXl()
    hv = XenPvmHypervisor(run_dir=str(tmp_path / "run"), runner=fake, vif_script="/opt/vif-gnt")
    yield hv, fake, work
    (work / "go").touch()  # a test that failed before its "go" leaves no stand-in xl waiting for ever


async def _start(hv: XenPvmHypervisor) -> tuple[Any, Target, Any]:
    spec = _spec()
    spec.hvparams["migration_port"] = port = _free_port()
    target = Target()
    server = await asyncio.start_server(target.serve, "127.0.0.1", port)
    await hv.start(spec)
    await hv.migrate_instance(spec, "127.0.0.1", {"transport": "xl-migrate", "migration_port": port}, live=True)
    return spec, target, server


async def _closed(target: Target, server: Any) -> None:
    """The target saw its end of the stream (bounded: a hang guard only); stop listening."""
    await asyncio.wait_for(target.closed.wait(), 30)
    server.close()


async def _until(check: Any) -> None:
    while not check():
        await asyncio.sleep(0.01)


def test_progress_is_the_bytes_the_stream_sent_and_abort_lets_xl_resume_the_guest(source: Any) -> None:
    """While xl migrates, the status carries what its transport wrote to the target (and says xl has
    no other figures); abort cuts that transport, so xl itself fails the write, resumes the guest
    and exits: xl is not killed, the status says cancelled, the guest stays running here."""
    hv, fake, work = source

    async def scenario() -> tuple[Any, Any, Target, int | None]:
        spec, target, server = await _start(hv)
        while (status := await hv.migration_status(spec)).transferred < 1 << 20:
            assert status.phase == MigrationPhase.ACTIVE, status.message
            await asyncio.sleep(0.01)
        await hv.abort_migration(spec)
        cancelled = await hv.migration_status(spec)
        await asyncio.wait_for(target.closed.wait(), 30)  # a hang guard only
        server.close()
        await hv.finalize_migration_src(spec, success=False)
        return status, cancelled, target, hv._migrations.get(spec.name)

    status, cancelled, target, left = run(scenario())
    assert status.progress == f"{status.transferred / 1048576:.1f} MiB of the stream sent" + (
        " (xl migrate reports no remaining amount, dirty rate or downtime)"
    )
    assert target.received >= status.transferred  # the figure counts bytes that went to the target
    assert cancelled.phase == MigrationPhase.CANCELLED, cancelled.message
    assert (work / "resumed").exists()  # xl's own failure path ran: it was not killed
    assert "Migration failed, resuming at sender" in (work.parent / "run" / "inst1" / "migrate.log").read_text()
    assert fake.domains["inst1"]["flags"] == "-b----" and left is None
    assert run(hv.instance_info("inst1")).state == RunState.RUNNING


def test_after_the_target_acknowledged_the_stream_abort_lets_xl_finish(source: Any) -> None:
    """Once xl logged the target's acknowledgement, it renames the source copy away and lets the
    target start the guest: a stream cut then would leave the guest nowhere for sure, so abort
    waits for xl instead (the stand-in fails if its last message cannot be written)."""
    hv, _, work = source
    (work / "size").write_text(str(1 << 20))

    async def scenario() -> tuple[Any, Target]:
        spec, target, server = await _start(hv)
        log = work.parent / "run" / "inst1" / "migrate.log"
        await _until(lambda: log.exists() and livemigrate.ACKNOWLEDGED in log.read_text())
        aborting = asyncio.ensure_future(hv.abort_migration(spec))
        await asyncio.sleep(0.2)
        (work / "go").touch()
        await asyncio.wait_for(aborting, 30)  # a hang guard only
        status = await hv.migration_status(spec)
        await _closed(target, server)
        return status, target

    status, target = run(scenario())
    assert status.phase == MigrationPhase.COMPLETED, status.message
    assert target.received == (1 << 20) + 2 and not (work / "resumed").exists()


def test_the_node_s_wait_for_a_live_move_ends_when_xl_exits(source: Any) -> None:
    """The node daemon's `wait_migration` for an outgoing live move waits on xl's exit: it comes
    back at its timeout while xl still sends, and at once after the move ended."""
    hv, _, work = source
    (work / "size").write_text(str(1 << 20))

    async def scenario() -> tuple[Any, Any]:
        spec, target, server = await _start(hv)
        await asyncio.wait_for(hv.wait_migration(spec, 0.05), 30)  # xl waits for "go": the timeout
        sending = await hv.migration_status(spec)
        (work / "go").touch()
        await asyncio.wait_for(hv.wait_migration(spec, 600), 30)  # returns on xl's exit, not at 600 s
        ended = await hv.migration_status(spec)
        await _closed(target, server)
        return sending, ended

    sending, ended = run(scenario())
    assert sending.phase == MigrationPhase.ACTIVE, sending.message
    assert ended.phase == MigrationPhase.COMPLETED, ended.message


def test_the_master_logs_the_hypervisors_own_line_when_it_has_no_figures() -> None:
    """QEMU's figures as figures; xl's line as it is, never as zeros that look measured."""
    qemu = {"transferred": 1 << 20, "remaining": 3 << 20, "dirty_rate": 12, "expected_downtime": 30}
    assert _progress(qemu) == "transferred 1.0 MiB, remaining 3.0 MiB, dirty rate 12 pages/s, expected downtime 30 ms"
    xen = {**qemu, "remaining": 0, "dirty_rate": 0, "expected_downtime": 0, "progress": "5.0 MiB of the stream sent"}
    assert _progress(xen) == "5.0 MiB of the stream sent"


def test_children_finds_the_transport_by_name_and_parent() -> None:
    async def scenario() -> tuple[list[int], list[int], list[int], int | None]:
        proc = await asyncio.create_subprocess_exec("sh", "-c", "exec sleep 30")  # as xl runs its transport
        await _until(lambda: livemigrate.children(os.getpid(), "sleep"))
        found = livemigrate.children(os.getpid(), "sleep")
        proc.kill()
        await proc.wait()
        return [proc.pid], found, livemigrate.children(os.getpid(), "socat"), livemigrate.bytes_written(proc.pid)

    pid, found, none, gone = run(scenario())
    assert found == pid and none == [] and gone is None


def run(coro: Any) -> Any:
    return asyncio.run(coro)


CONSOLED = r"""
import os, signal, sys, time
signal.signal(signal.SIGHUP, lambda *_: open(os.environ["WORK"] + "/hup", "a").write("hup\n"))
open(os.environ["WORK"] + "/consoled-ready", "w").close()
time.sleep(60)
"""


def test_an_arrived_guest_makes_xenconsoled_reopen_its_logs(
    source: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """xenconsoled named the log after NAME--incoming; a successful finalize on the target sends it
    SIGHUP (its log reload), so the guest's console goes on in guest-NAME.log."""
    from backends.xen import driver

    hv, fake, work = source
    consoled = tmp_path / "bin" / "xenconsoled"  # comm "xenconsoled", as the real one
    consoled.write_text(f"#!{sys.executable}\n{CONSOLED}")
    consoled.chmod(0o755)
    monkeypatch.setattr(driver, "XENCONSOLED_PIDFILE", str(tmp_path / "xenconsoled.pid"))
    fake.domains["inst1"] = {"id": 4, "mem": 128, "flags": "-b----", "reason": None}

    async def scenario() -> None:
        proc = await asyncio.create_subprocess_exec(str(consoled))
        try:
            (tmp_path / "xenconsoled.pid").write_text(f"{proc.pid}\n")
            await _until(lambda: (work / "consoled-ready").exists())
            await hv.finalize_migration_dst(_spec(), {}, success=False)  # a failed move: no reload
            assert not (work / "hup").exists() and fake.domains == {}
            fake.domains["inst1"] = {"id": 5, "mem": 128, "flags": "-b----", "reason": None}
            await hv.finalize_migration_dst(_spec(), {}, success=True)
            await asyncio.wait_for(_until(lambda: (work / "hup").exists()), 30)  # a hang guard only
        finally:
            proc.kill()
            await proc.wait()

    run(scenario())


def test_the_non_live_stream_gives_up_on_a_silent_target_as_the_live_one_does() -> None:
    """The save stream's socket gets the options xl migrate's socat gets (xl.STREAM_TIMEOUT)."""
    import socket

    from backends.xen import xl
    from backends.xen.saverestore import watch_peer

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        with socket.create_connection(listener.getsockname()) as sock:
            watch_peer(sock)
            alive = sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE)
            idle, interval, count, user_timeout = (
                sock.getsockopt(socket.IPPROTO_TCP, option)
                for option in (socket.TCP_KEEPIDLE, socket.TCP_KEEPINTVL, socket.TCP_KEEPCNT, socket.TCP_USER_TIMEOUT)
            )
    assert alive == 1 and user_timeout == xl.STREAM_TIMEOUT * 1000
    assert xl._stream_options() == (
        f"keepalive,keepidle={idle},keepintvl={interval},keepcnt={count},setsockopt-int=6:18:{user_timeout}"
    )


def test_a_broken_stream_is_said_as_such_in_one_line(tmp_path: Any) -> None:
    """xl's log after the target lost power (libxl only sees its helper's broken pipe; the cause is
    socat's line): the message names the broken stream, the transport's reason and the resume."""
    log = tmp_path / "migrate.log"
    log.write_text(
        "migration target: Ready to receive domain.\n"
        "2026/11/29 14:15:02 socat[812] E write(5, 0x55d0c2a0e000, 524288): Connection timed out\n"
        "libxl: error: libxl_utils.c:505:libxl_read_exactly: file/stream truncated reading ipc msg header"
        " from domain 1 save/restore helper stdout pipe\n"
        "libxl: error: libxl_exec.c:127:libxl_report_child_exitstatus: domain 1 save/restore helper [384]"
        " died due to fatal signal Broken pipe\n"
        "migration sender: libxl_domain_suspend failed (rc=-3)\n"
        "Migration failed, resuming at sender.\n"
    )
    assert livemigrate.failure(1, str(log)) == (
        "xl migrate exited 1: the migration stream to the target broke (Connection timed out);"
        " xl resumed the guest on the source"
    )
    log.write_text("xc: error: Failed to enable logdirty: 95,22,0\nMigration failed, resuming at sender.\n")
    assert livemigrate.failure(1, str(log)) == (  # other failures: xl's error lines, as before
        "xl migrate exited 1: xc: error: Failed to enable logdirty: 95,22,0 Migration failed, resuming at sender."
    )
