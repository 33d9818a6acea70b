"""restricted_command on a node: only the node's own executables, by a plain name, nothing from the caller."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from agent import restricted
from agent.server import node_dispatcher
from gnt.errors import GntError


@pytest.fixture
def cmd_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "node2"
    root.mkdir()
    monkeypatch.setenv("GNT_ROOTDIR", str(root))
    monkeypatch.setenv("GNT_HOSTNAME", "node2")
    directory = root / "etc/gnt/restricted-commands"
    directory.mkdir(parents=True)
    directory.chmod(0o755)
    return directory


@pytest.fixture
def delays(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The error delay, recorded instead of slept."""
    slept: list[float] = []
    real_sleep = asyncio.sleep

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        await real_sleep(0)

    monkeypatch.setattr(restricted.asyncio, "sleep", sleep)
    return slept


def _script(directory: Path, name: str, body: str, mode: int = 0o755) -> Path:
    path = directory / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(mode)
    return path


def _call(name: str) -> str:
    return asyncio.run(node_dispatcher().call("restricted_command", {"command": name}))


def test_runs_the_named_command_with_no_environment_in_root(cmd_dir: Path, delays: list[float]) -> None:
    _script(cmd_dir, "show-env", 'echo "cwd=$(pwd) args=$# env=$(env | grep -v -e ^PWD= -e ^SHLVL= -e ^_= | wc -l)"\n')
    assert _call("show-env") == "cwd=/ args=0 env=0\n"
    assert delays == []


@pytest.mark.parametrize("name", ["../../../bin/sh", "a/b", "", " ", ".", "..", "x y", "x;reboot", "missing"])
def test_bad_or_unknown_names_fail_alike_after_the_delay(cmd_dir: Path, delays: list[float], name: str) -> None:
    with pytest.raises(GntError, match=r"^Executing command '.*' failed$"):
        _call(name)
    assert delays == [restricted.INVALID_DELAY]


@pytest.mark.parametrize(("dir_mode", "file_mode"), [(0o777, 0o755), (0o755, 0o777), (0o755, 0o775), (0o755, 0o644)])
def test_writable_by_others_or_not_executable_is_refused(
    cmd_dir: Path, delays: list[float], dir_mode: int, file_mode: int
) -> None:
    marker = cmd_dir.parent / "ran"
    _script(cmd_dir, "touch-it", f"touch {marker}\n", file_mode)
    cmd_dir.chmod(dir_mode)
    with pytest.raises(GntError, match=r"^Executing command 'touch-it' failed$"):
        _call("touch-it")
    assert not marker.exists() and delays == [restricted.INVALID_DELAY]


def test_missing_directory_is_refused(cmd_dir: Path, delays: list[float]) -> None:
    cmd_dir.rmdir()
    with pytest.raises(GntError, match="failed"):
        _call("anything")
    assert delays == [restricted.INVALID_DELAY]


def test_a_failing_command_reports_its_exit_code_and_output(cmd_dir: Path, delays: list[float]) -> None:
    _script(cmd_dir, "broken", "echo oops; exit 3\n")
    with pytest.raises(GntError, match=r"Restricted command 'broken' failed: exited with exit code 3; output: oops"):
        _call("broken")
    assert delays == []
