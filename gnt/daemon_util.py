"""`gnt-daemon-util`: start, stop and check gnt's daemons on a host, and install their systemd units.

Ganeti has a `daemon-util` for the same job. One tool serves hosts with systemd (the units from
gnt.systemd_units, so the daemons come back after a reboot) and hosts without it (containers, the
test bed's minimal hosts: the daemon is started detached and found again by its pid file). `gnt-node
add` runs `gnt-daemon-util start gnt-noded` on the new node over SSH, and `gnt-cluster init` runs it
on the master, so a node needs gnt installed and nothing running before it joins.

A pid file is trusted only if `/proc/PID/cmdline` names the daemon: a stale file whose PID was reused
by another program must never get that program killed.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import click

from gnt import paths
from gnt.errors import GntError
from gnt.systemd_units import DAEMONS, UNIT_NAMES, WATCHER, render_units

SYSTEMD_RUNNING = "/run/systemd/system"  # present when systemd is PID 1 (sd_booted(3))
DEFAULT_UNIT_DIR = "/etc/systemd/system"
START_TIMEOUT = 60.0  # seconds a started daemon may take to write its pid file (slow hosts: emulated ones)
STOP_TIMEOUT = 30.0


class DaemonUtilError(GntError):
    """A daemon could not be started, stopped or installed; the message says why."""


def systemd_running() -> bool:
    return os.path.isdir(SYSTEMD_RUNNING)


def _check_daemon(name: str) -> None:
    if name not in DAEMONS:
        raise DaemonUtilError(f"Unknown daemon '{name}'; known: {', '.join(sorted(DAEMONS))}")


def _alive(pid: int) -> bool:
    """Running and not a zombie (an exited child nobody reaped still has a /proc entry)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return [part.decode(errors="replace") for part in handle.read().split(b"\0") if part]
    except OSError:
        return []


def _is_daemon(pid: int, name: str) -> bool:
    """Whether `pid` runs daemon `name` (its console script or its module under python -m)."""
    module = DAEMONS[name].module
    argv = _cmdline(pid)
    return any(os.path.basename(arg) == name or arg == module for arg in argv[:4])


def running_pid(name: str) -> int | None:
    """The daemon's PID from its pid file, if that process is alive and really is the daemon."""
    _check_daemon(name)
    try:
        with open(paths.pid_file(name)) as handle:
            pid = int(handle.read().strip())
    except (OSError, ValueError):
        return None
    return pid if _alive(pid) and _is_daemon(pid, name) else None


def _unit_installed(name: str, unit_dir: str) -> bool:
    return os.path.exists(os.path.join(unit_dir, UNIT_NAMES[name]))


def _systemctl(*argv: str) -> None:
    result = subprocess.run(["systemctl", *argv], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise DaemonUtilError(f"systemctl {' '.join(argv)} failed: {detail[-1] if detail else result.returncode}")


def daemon_argv(name: str) -> list[str]:
    """The daemon's console script next to this interpreter, or its module under `python -P -m`."""
    script = os.path.join(os.path.dirname(sys.executable), name)
    if os.access(script, os.X_OK):
        return [script]
    return [sys.executable, "-P", "-m", DAEMONS[name].module]


def start(name: str, extra_args: tuple[str, ...] = (), unit_dir: str = DEFAULT_UNIT_DIR) -> str:
    """Start `name` unless it runs already; returns what was done (one line for the admin)."""
    _check_daemon(name)
    if systemd_running() and _unit_installed(name, unit_dir) and not extra_args:
        _systemctl("enable", "--now", UNIT_NAMES[name])
        return f"{name}: enabled and started by systemd ({UNIT_NAMES[name]})"
    pid = running_pid(name)
    if pid is not None:
        return f"{name}: already running (pid {pid})"
    paths.ensure_dir(paths.log_dir())
    start_log = paths.log_file(f"{name}-start")
    with open(start_log, "ab") as log:
        proc = subprocess.Popen(
            [*daemon_argv(name), *extra_args],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            cwd="/",
            start_new_session=True,  # survives the SSH session or shell that started it
        )
    deadline = time.monotonic() + START_TIMEOUT
    while running_pid(name) != proc.pid:  # the daemon writes its pid file once it is set up
        if proc.poll() is not None:
            raise DaemonUtilError(f"{name} exited at once with status {proc.returncode}; see {start_log}")
        if time.monotonic() > deadline:
            raise DaemonUtilError(
                f"{name} (pid {proc.pid}) wrote no pid file within {START_TIMEOUT:.0f} s; see {start_log}"
            )
        time.sleep(0.05)
    return f"{name}: started (pid {proc.pid})"


def stop(name: str, unit_dir: str = DEFAULT_UNIT_DIR, timeout: float = STOP_TIMEOUT) -> str:
    """Stop `name` (and keep systemd from starting it at boot); a daemon that is not running is fine."""
    _check_daemon(name)
    if systemd_running() and _unit_installed(name, unit_dir):
        _systemctl("disable", "--now", UNIT_NAMES[name])
        return f"{name}: stopped and disabled ({UNIT_NAMES[name]})"
    pid = running_pid(name)
    if pid is None:
        return f"{name}: not running"
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() > deadline:
            raise DaemonUtilError(f"{name} (pid {pid}) did not stop within {timeout:.0f} s of SIGTERM")
        time.sleep(0.05)
    return f"{name}: stopped (pid {pid})"


def install_units(unit_dir: str = DEFAULT_UNIT_DIR, enable: tuple[str, ...] = ()) -> list[str]:
    """Write the units (ExecStart: this install's console scripts); reload and enable if systemd runs."""
    for name in enable:
        _check_daemon(name)
    bindir = os.path.dirname(sys.executable)
    missing = [name for name in (*DAEMONS, WATCHER) if not os.access(os.path.join(bindir, name), os.X_OK)]
    if missing:
        raise DaemonUtilError(f"No console script {missing[0]} in {bindir}; install gnt with pip first")
    os.makedirs(unit_dir, exist_ok=True)
    written = []
    for filename, text in render_units(bindir).items():
        target = os.path.join(unit_dir, filename)
        tmp = f"{target}.tmp"
        with open(tmp, "w") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
        written.append(target)
    if systemd_running() and shutil.which("systemctl"):
        _systemctl("daemon-reload")
        for name in enable:
            _systemctl("enable", UNIT_NAMES[name])
    return written


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Start, stop and check gnt's daemons on this host; install their systemd units."""


@cli.command("start")
@click.argument("daemon")
@click.argument("extra", nargs=-1)
def start_cmd(daemon: str, extra: tuple[str, ...]) -> None:
    """Start DAEMON (gnt-noded, gnt-masterd) unless it runs; arguments after -- go to the daemon."""
    click.echo(start(daemon, extra))


@cli.command("stop")
@click.argument("daemon")
def stop_cmd(daemon: str) -> None:
    """Stop DAEMON if it runs."""
    click.echo(stop(daemon))


@cli.command("check")
@click.argument("daemon")
def check_cmd(daemon: str) -> None:
    """Exit 0 if DAEMON runs (printing its pid), 1 if not."""
    pid = running_pid(daemon)
    if pid is None:
        click.echo(f"{daemon}: not running")
        sys.exit(1)
    click.echo(f"{daemon}: running (pid {pid})")


@cli.command("install-units")
@click.option("--unit-dir", default=DEFAULT_UNIT_DIR, show_default=True, help="Where to write the unit files")
@click.option("--enable", "enable", multiple=True, help="Enable this daemon's unit (repeatable)")
def install_units_cmd(unit_dir: str, enable: tuple[str, ...]) -> None:
    """Write systemd units for gnt-noded, gnt-masterd and the gnt-watcher timer."""
    for path in install_units(unit_dir, enable):
        click.echo(path)


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(1)
    except click.ClickException as err:
        err.show()
        sys.exit(err.exit_code)
    except (DaemonUtilError, OSError) as err:
        click.echo(f"gnt-daemon-util: {err}", err=True)
        sys.exit(1)
