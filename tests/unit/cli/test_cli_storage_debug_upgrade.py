"""gnt-storage, gnt-debug wconfd/metad and gnt-cluster upgrade: what each refuses before asking the master."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from gnt.cluster import cli as cluster_cli
from gnt.debug import cli as debug_cli
from gnt.extstorage import cli as storage_cli
from gnt.providers import cli as providers_cli


class NoMaster:
    """A master that must not be asked."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the master was asked ({name}) for a command refused locally")


@pytest.fixture(autouse=True)
def no_master(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setattr(debug_cli, "client", NoMaster)
    monkeypatch.setenv("GNT_ROOTDIR", str(tmp_path / "node1"))
    monkeypatch.setenv("GNT_HOSTNAME", "node1")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["wconfd", "echo"], "Command 'echo' takes only precisely argument."),
        (["wconfd", "listlocks"], "Command 'listlocks' takes precisely one argument."),
        (["wconfd", "flushconfig", "now"], "Command 'flushconfig' takes no arguments."),
        (["wconfd", "reboot"], "Command 'reboot' not supported"),
        (["metad", "ping"], "Command 'ping' not supported"),
    ],
)
def test_debug_commands_check_their_arguments_as_ganeti_does(argv: list[str], message: str) -> None:
    result = CliRunner().invoke(debug_cli.main, argv)
    assert result.exit_code == 1 and message in result.output


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "Precisely one of the options --to and --resume has to be given"),
        (["--to", "0.1.0", "--resume"], "Precisely one of the options --to and --resume has to be given"),
        (["--to", "latest"], "Invalid version 'latest'"),
        (["--to", "7.0"], "Unknown gnt version '7.0'"),
    ],
)
def test_upgrade_refuses_bad_options_before_touching_anything(argv: list[str], message: str, tmp_path: Any) -> None:
    result = CliRunner().invoke(cluster_cli.main, ["upgrade", *argv])
    assert result.exit_code == 1 and message in result.output
    assert not (tmp_path / "node1/var/lib/gnt/upgrade-intent").exists()


def test_storage_commands_say_when_no_node_has_a_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(providers_cli, "client", lambda: None)
    monkeypatch.setattr(providers_cli, "run_ops", lambda cl, ops, quiet: [[]])
    result = CliRunner().invoke(storage_cli.main, ["diagnose"])
    assert result.exit_code == 1 and "Can't get the list of ExtStorage providers" in result.output
    result = CliRunner().invoke(storage_cli.main, ["info"])
    assert result.exit_code == 1 and "Can't get the ExtStorage providers list" in result.output


def test_storage_diagnose_sorts_nodes_naturally_valid_ones_first(monkeypatch: pytest.MonkeyPatch) -> None:
    good = [["/es/p", True, "", [["a", "A"]]]]
    rows = [["p", {"node10": good, "node2": good, "node1": []}, {"g10": True, "g2": False}]]
    monkeypatch.setattr(providers_cli, "client", lambda: None)
    monkeypatch.setattr(providers_cli, "run_ops", lambda cl, ops, quiet: [rows])
    result = CliRunner().invoke(storage_cli.main, ["diagnose"])
    assert result.exit_code == 0
    assert result.output.splitlines() == [
        "Provider: p",
        "---",
        "  Node: node2, status: valid (path: /es/p) [parameters: a]",
        "  Node: node10, status: valid (path: /es/p) [parameters: a]",
        "  Node: node1, status: ExtStorage provider not found",
        "  --",
        "  For nodegroup: g10 --> valid",
        "  For nodegroup: g2 --> invalid",
        "",
    ]
