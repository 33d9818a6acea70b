"""`gnt-cluster watcher pause|continue|info`: Ganeti's time specifications, the pause file, the
watcher pass doing nothing while paused, and the CLI's lines and errors."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from gnt import watcher, watcher_pause
from gnt.cluster import cli as cluster_cli
from gnt.errors import ParameterError


@pytest.fixture(autouse=True)
def node_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GNT_ROOTDIR", str(tmp_path / "node1"))
    monkeypatch.setenv("GNT_HOSTNAME", "node1")
    return tmp_path


@pytest.mark.parametrize(("text", "seconds"), [("30", 30), ("30s", 30), ("2m", 120), ("1h", 3600), ("1d", 86400)])
def test_timespecs_as_ganeti_reads_them(text: str, seconds: int) -> None:
    assert watcher_pause.parse_timespec(text) == seconds


@pytest.mark.parametrize("text", ["", "1x", "h", "-5", "1.5h", "0", "9999w"])
def test_bad_timespecs_are_refused(text: str) -> None:
    with pytest.raises(ParameterError, match="time specification"):
        watcher_pause.parse_timespec(text)


def test_pause_expires_and_continue_ends_it() -> None:
    assert watcher_pause.paused_until() is None
    until = watcher_pause.set_pause(time.time() + 60)
    assert until is not None and watcher_pause.paused_until() == until
    assert watcher_pause.paused_until(now=until + 1) is None  # an expired pause is no pause
    watcher_pause.set_pause(None)
    assert watcher_pause.paused_until() is None
    watcher_pause.set_pause(None)  # continuing twice is fine


class NoMaster:
    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"a paused watcher must not call the master ({name})")


def test_a_paused_watcher_pass_does_nothing() -> None:
    watcher_pause.set_pause(time.time() + 60)
    done = watcher.run_pass(NoMaster())  # type: ignore[arg-type]
    assert done["paused_until"] and done["restarted"] == [] and done["failed"] == []


class PauseClient:
    def __init__(self) -> None:
        self.puts: list[Any] = []

    def request(self, method: str, path: str, body: Any = None) -> Any:
        self.puts.append((method, path, body))
        duration = body["duration"]
        return {"paused_until": None if duration is None else time.time() + duration}

    def get(self, path: str, **query: Any) -> Any:
        return {"paused_until": None}


@pytest.fixture
def master(monkeypatch: pytest.MonkeyPatch) -> PauseClient:
    fake = PauseClient()
    monkeypatch.setattr(cluster_cli, "client", lambda: fake)
    return fake


def test_cli_pause_info_continue(master: PauseClient) -> None:
    result = CliRunner().invoke(cluster_cli.main, ["watcher", "pause", "1h"])
    assert result.exit_code == 0 and result.output.startswith("The watcher is paused until "), result.output
    assert master.puts == [("PUT", "/2/watcher/pause", {"duration": 3600})]
    result = CliRunner().invoke(cluster_cli.main, ["watcher", "continue"])
    assert result.output == "The watcher is no longer paused.\n"
    assert master.puts[-1] == ("PUT", "/2/watcher/pause", {"duration": None})
    assert CliRunner().invoke(cluster_cli.main, ["watcher", "info"]).output == "The watcher is not paused.\n"


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["watcher", "pause"], "Missing pause duration"),
        (["watcher", "pause", "soon"], "Invalid time specification 'soon'"),
        (["watcher", "sleep"], "Command 'sleep' is not valid."),
        (["watcher", "info", "1h"], "'info' takes no argument"),
    ],
)
def test_cli_bad_input_is_one_line(master: PauseClient, argv: list[str], needle: str) -> None:
    result = CliRunner().invoke(cluster_cli.main, argv)
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], lines
    assert master.puts == []
