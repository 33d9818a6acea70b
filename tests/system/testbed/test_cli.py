"""`tools/testbed/testbed` as a developer uses it: up, ssh, off, on, down, with hosts outliving each command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

import pytest

from tools.testbed import procs

from .conftest import REPO, missing_requirement

pytestmark = pytest.mark.timeout(1200)

CLI = os.path.join(REPO, "tools", "testbed", "testbed")


def run_cli(directory: str, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHON=sys.executable)
    return subprocess.run([CLI, "--dir", directory, *args], capture_output=True, text=True, env=env, timeout=timeout)


def test_cli_up_ssh_power_and_down() -> None:
    why = missing_requirement()
    if why:
        pytest.skip(why)
    directory = tempfile.mkdtemp(prefix="gnt-tbcli-", dir="/tmp")
    pids: list[int] = []
    try:
        up = run_cli(directory, "up", "--names", "solo")
        assert up.returncode == 0, up.stderr
        assert "solo" in up.stdout and "running" in up.stdout
        with open(os.path.join(directory, "bed.json")) as f:
            pids = [h["pid"] for h in json.load(f)["hosts"]]
        assert all(procs.alive(p) for p in pids)

        ssh = run_cli(directory, "ssh", "solo", "hostname; lvm version | head -1")
        assert ssh.returncode == 0, ssh.stderr
        assert ssh.stdout.startswith("solo\n") and "LVM version" in ssh.stdout
        assert run_cli(directory, "ssh", "solo", "exit 3").returncode == 3

        again = run_cli(directory, "up")
        assert again.returncode == 1 and again.stderr.startswith("testbed: error: a test bed already exists")
        nohost = run_cli(directory, "off", "nohost")
        assert nohost.returncode == 1 and "no host 'nohost'" in nohost.stderr and "Traceback" not in nohost.stderr

        assert run_cli(directory, "off", "solo").returncode == 0
        assert not procs.alive(pids[0])
        assert "off" in run_cli(directory, "status").stdout.splitlines()[1]
    finally:
        down = run_cli(directory, "down")
    assert down.returncode == 0, down.stderr
    assert not os.path.exists(directory)
    assert not any(procs.alive(p) for p in pids)
