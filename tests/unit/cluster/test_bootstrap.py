"""How `gnt-cluster init` starts the master daemon, and the defaults it picks in a virtual cluster."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gnt.cluster import bootstrap


def test_daemon_runs_from_the_console_script_next_to_the_interpreter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = tmp_path / "gnt-masterd"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python3"))
    assert bootstrap.daemon_argv("gnt-masterd") == [str(script)]


def test_daemon_without_console_script_keeps_the_working_directory_off_sys_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = sys.executable
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python3"))
    argv = bootstrap.daemon_argv("gnt-noded")
    assert argv == [str(tmp_path / "python3"), "-P", "-m", "daemons.noded"]
    # what -P buys: a decoy package in the working directory is not what gets imported
    (tmp_path / "daemons").mkdir()
    (tmp_path / "daemons" / "__init__.py").write_text("raise SystemExit('decoy imported')\n")
    (tmp_path / "daemons" / "noded.py").write_text("")
    probe = [real, "-P", "-c", "import daemons, os; print(os.path.dirname(daemons.__file__))"]
    out = subprocess.run(probe, cwd=tmp_path, capture_output=True, text=True, check=True).stdout.strip()
    assert out != str(tmp_path / "daemons")


def test_virtual_cluster_shares_one_sharedfile_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GNT_ROOTDIR", str(tmp_path / "node2"))
    assert bootstrap.default_shared_file_storage_dir() == str(tmp_path / "shared-file-storage")
    assert (tmp_path / "shared-file-storage").is_dir()


def test_real_node_uses_the_standard_sharedfile_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GNT_ROOTDIR", raising=False)
    assert bootstrap.default_shared_file_storage_dir() == "/srv/gnt/shared-file-storage"
