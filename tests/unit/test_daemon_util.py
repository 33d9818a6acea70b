"""gnt-daemon-util: units rendered for this install, daemons started once, stopped by a pid file that
is trusted only when the process really is the daemon."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from gnt import daemon_util
from gnt.systemd_units import render_units


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def node_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GNT_ROOTDIR", str(tmp_path))
    monkeypatch.setenv("GNT_HOSTNAME", "node1")
    monkeypatch.setattr(daemon_util, "SYSTEMD_RUNNING", str(tmp_path / "no-systemd-here"))
    return tmp_path


def test_units_name_this_installs_scripts_and_leave_guests_running_on_stop() -> None:
    units = render_units("/opt/venv/bin")
    assert sorted(units) == ["gnt-masterd.service", "gnt-noded.service", "gnt-watcher.service", "gnt-watcher.timer"]
    noded = units["gnt-noded.service"]
    assert "ExecStart=/opt/venv/bin/gnt-noded\n" in noded
    assert "KillMode=process\n" in noded  # stopping the daemon must not kill the instances it started
    assert "WantedBy=multi-user.target" in noded
    assert "Requires=gnt-noded.service\n" in units["gnt-masterd.service"]
    assert "ExecStart=/opt/venv/bin/gnt-watcher\n" in units["gnt-watcher.service"]
    assert "OnUnitActiveSec=5min\n" in units["gnt-watcher.timer"]


def test_install_units_writes_readable_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(daemon_util, "SYSTEMD_RUNNING", str(tmp_path / "no-systemd-here"))
    bindir = os.path.dirname(sys.executable)
    if not all(os.access(os.path.join(bindir, n), os.X_OK) for n in ("gnt-noded", "gnt-masterd", "gnt-watcher")):
        pytest.skip(f"gnt's console scripts are not installed next to {sys.executable} (pip install -e .)")
    written = daemon_util.install_units(str(tmp_path / "units"))
    assert len(written) == 4
    noded = tmp_path / "units" / "gnt-noded.service"
    assert noded.stat().st_mode & 0o777 == 0o644
    assert f"ExecStart={bindir}/gnt-noded\n" in noded.read_text()


def test_unknown_daemon_is_refused(node_root: Path) -> None:
    with pytest.raises(daemon_util.DaemonUtilError, match="Unknown daemon 'gnt-nope'; known: gnt-masterd, gnt-noded"):
        daemon_util.start("gnt-nope")


def test_start_check_start_again_and_stop(node_root: Path) -> None:
    port = str(free_port())
    said = daemon_util.start("gnt-noded", ("-b", "127.0.0.1", "-p", port))
    pid = daemon_util.running_pid("gnt-noded")
    try:
        assert pid is not None and said == f"gnt-noded: started (pid {pid})"
        assert daemon_util.start("gnt-noded") == f"gnt-noded: already running (pid {pid})"
    finally:
        assert daemon_util.stop("gnt-noded") == f"gnt-noded: stopped (pid {pid})"
    assert daemon_util.running_pid("gnt-noded") is None
    assert not daemon_util._alive(pid)
    assert daemon_util.stop("gnt-noded") == "gnt-noded: not running"


def test_a_daemon_that_exits_at_once_is_an_error_naming_its_log(node_root: Path) -> None:
    with pytest.raises(daemon_util.DaemonUtilError, match=r"gnt-noded exited at once with status 2; see .*start"):
        daemon_util.start("gnt-noded", ("--port", "not-a-number"))


def test_a_pid_file_naming_another_program_is_not_trusted(node_root: Path) -> None:
    stranger = subprocess.Popen(["sleep", "60"])
    try:
        pid_file = node_root / "var/run/gnt/gnt-noded.pid"
        pid_file.parent.mkdir(parents=True)
        pid_file.write_text(f"{stranger.pid}\n")
        assert daemon_util.running_pid("gnt-noded") is None
        assert daemon_util.stop("gnt-noded") == "gnt-noded: not running"
        assert stranger.poll() is None  # still alive: never signalled
    finally:
        stranger.kill()
        stranger.wait()


def test_cli_errors_are_one_line_and_exit_1(node_root: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", "from gnt.daemon_util import main; main()", "check", "gnt-noded"],
        capture_output=True,
        text=True,
        env={**os.environ},
    )
    assert result.returncode == 1 and result.stdout == "gnt-noded: not running\n"
    bad = subprocess.run(
        [sys.executable, "-c", "from gnt.daemon_util import main; main()", "start", "gnt-nope"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 1
    assert bad.stderr == "gnt-daemon-util: Unknown daemon 'gnt-nope'; known: gnt-masterd, gnt-noded\n"
