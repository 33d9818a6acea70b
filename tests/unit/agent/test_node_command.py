"""The node side of gnt-cluster command and copyfile (agent.remote): bounds and refusals."""

from __future__ import annotations

import asyncio
import base64
import os
from pathlib import Path

import pytest

from agent import remote
from gnt.errors import RpcArgumentError
from gnt.rpc import procedures as proc


@pytest.fixture
def node_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "node1"
    (root / "etc").mkdir(parents=True)
    monkeypatch.setenv("GNT_ROOTDIR", str(root))
    monkeypatch.setenv("GNT_HOSTNAME", "node1")
    return root


def test_command_returns_exit_code_and_combined_output(node_root: Path) -> None:
    answer = asyncio.run(remote.node_command(proc.NodeCommandArgs("echo out; echo err >&2; exit 7")))
    assert answer == {"exit_code": 7, "output": "out\nerr\n"}


def test_command_is_killed_after_its_timeout_with_what_it_printed(node_root: Path) -> None:
    answer = asyncio.run(remote.node_command(proc.NodeCommandArgs("echo started; sleep 60", timeout=1)))
    assert answer["exit_code"] == -9
    assert answer["output"].startswith("started\n") and "killed after 1s" in answer["output"]


def test_command_output_is_capped(node_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(remote, "MAX_OUTPUT", 10)
    answer = asyncio.run(remote.node_command(proc.NodeCommandArgs("printf '%050d' 0")))
    assert answer["output"] == "0" * 10 + "\n(output cut at 10 bytes)"


def test_empty_command_is_refused(node_root: Path) -> None:
    with pytest.raises(RpcArgumentError, match="empty"):
        asyncio.run(remote.node_command(proc.NodeCommandArgs("  ")))


def _write(path: str, data: bytes = b"x", mode: int = 0o600) -> None:
    asyncio.run(remote.node_write_file(proc.NodeWriteFileArgs(path, base64.b64encode(data).decode(), mode)))


def test_write_file_lands_under_the_node_root_with_its_mode(node_root: Path) -> None:
    _write("/etc/motd", b"hello", 0o640)
    target = node_root / "etc/motd"
    assert target.read_bytes() == b"hello" and oct(os.stat(target).st_mode & 0o7777) == "0o640"


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("etc/motd", "normalised absolute path"),
        ("/etc/../etc/motd", "normalised absolute path"),
        ("/nosuchdir/motd", "directory /nosuchdir does not exist on node1"),
        ("/etc", "is a directory"),
    ],
)
def test_write_file_refusals(node_root: Path, path: str, message: str) -> None:
    with pytest.raises(RpcArgumentError, match=message):
        _write(path)


def test_write_file_refuses_content_that_is_not_base64(node_root: Path) -> None:
    with pytest.raises(RpcArgumentError, match="base64"):
        asyncio.run(remote.node_write_file(proc.NodeWriteFileArgs("/etc/x", "not base64!", 0o644)))
    assert not (node_root / "etc/x").exists()
