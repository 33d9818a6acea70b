"""Procedure children run in their own process group and never outlive the procedure or the daemon."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent import children, os_scripts
from gnt.errors import OpExecError
from tests.unit.agent.test_os_scripts import inst, make_os

#: an OS create script that starts a long grandchild, notes its pid, then waits for it
SPAWNS_GRANDCHILD = 'sleep 300 & echo $! > "$GRANDCHILD_PID_FILE"; wait'


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def wait_until(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.fixture
def node_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "node1"
    root.mkdir()
    monkeypatch.setenv("GNT_ROOTDIR", str(root))
    monkeypatch.setenv("GNT_HOSTNAME", "node1")
    return root


def _os_with_grandchild(tmp_path: Path) -> tuple[Path, Path]:
    pid_file = tmp_path / "grandchild.pid"
    make_os(tmp_path / "os", "spawner", create=f"GRANDCHILD_PID_FILE={pid_file}\n{SPAWNS_GRANDCHILD}")
    return tmp_path / "os", pid_file


def test_timeout_kills_the_scripts_whole_process_group(tmp_path: Path, node_root: Path) -> None:
    os_dir, pid_file = _os_with_grandchild(tmp_path)
    with pytest.raises(OpExecError, match="timed out"):
        asyncio.run(os_scripts.run_create("spawner", inst(), [], [str(os_dir)], str(tmp_path / "log"), timeout=0.5))
    grandchild = int(pid_file.read_text())
    wait_until(lambda: not alive(grandchild))
    assert os.listdir(node_root / "var/run/gnt/children") == []


def test_cancelled_procedure_kills_the_scripts_process_group(tmp_path: Path, node_root: Path) -> None:
    os_dir, pid_file = _os_with_grandchild(tmp_path)

    async def cancel_midway() -> None:
        task = asyncio.create_task(os_scripts.run_create("spawner", inst(), [], [str(os_dir)], str(tmp_path / "l")))
        while not pid_file.exists() or not pid_file.read_text().strip():
            await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel_midway())
    grandchild = int(pid_file.read_text())
    wait_until(lambda: not alive(grandchild))


DAEMON = """
import asyncio, sys
from agent import children

async def main():
    proc = await children.spawn("/bin/sh", "-c", sys.argv[1])
    print(proc.pid, flush=True)
    await children.run_in_group(proc, None)

asyncio.run(main())
"""


def test_children_of_a_killed_daemon_die_and_leftovers_are_reaped_at_next_start(
    tmp_path: Path, node_root: Path
) -> None:
    pid_file = tmp_path / "grandchild.pid"
    script = f"GRANDCHILD_PID_FILE={pid_file}\n{SPAWNS_GRANDCHILD}"
    daemon = subprocess.Popen(
        [sys.executable, "-c", DAEMON, script], stdout=subprocess.PIPE, text=True, cwd=str(Path(__file__).parents[3])
    )
    leader = int(daemon.stdout.readline())
    wait_until(lambda: pid_file.exists() and pid_file.read_text().strip())
    grandchild = int(pid_file.read_text())
    daemon.send_signal(signal.SIGKILL)
    daemon.wait()
    wait_until(lambda: not alive(leader))  # PR_SET_PDEATHSIG: the script dies with the daemon
    assert alive(grandchild)  # ... but its own child does not inherit that
    restart = "from agent import children; print(children.reap_leftovers())"
    out = subprocess.run(
        [sys.executable, "-c", restart], capture_output=True, text=True, check=True, cwd=str(Path(__file__).parents[3])
    ).stdout
    assert str(grandchild) in out
    wait_until(lambda: not alive(grandchild))
    assert os.listdir(node_root / "var/run/gnt/children") == []


def test_kill_all_ends_every_running_group(tmp_path: Path, node_root: Path) -> None:
    async def run() -> int:
        proc = await children.spawn("/bin/sh", "-c", "sleep 300 & wait")
        waiter = asyncio.create_task(children.run_in_group(proc, None))
        await asyncio.sleep(0.2)
        children.kill_all()
        code = await waiter
        return code if code is not None else 0

    assert asyncio.run(run()) == -signal.SIGKILL
