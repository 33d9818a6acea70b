"""A candidate writes only the master's files it is meant to keep, at its own paths, keys private."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import pytest

from agent import candidate_files as node_files
from gnt import candidate_files
from gnt.errors import RpcArgumentError
from gnt.rpc import procedures as proc


@pytest.fixture
def node_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GNT_ROOTDIR", str(tmp_path / "node2"))
    monkeypatch.setenv("GNT_HOSTNAME", "node2")
    return tmp_path / "node2/var/lib/gnt"


def _write(files: dict[str, str | None]) -> None:
    asyncio.run(node_files.candidate_files_write(proc.CandidateFilesArgs(files)))


def test_candidate_writes_key_private_and_removes_an_absent_flag(node_dir: Path) -> None:
    _write({"ssh_key": "KEY\n", "known_hosts": "h ssh-ed25519 AAAA\n", "queue_drain": ""})
    key = node_dir / "ssh/id_ed25519"
    assert key.read_text() == "KEY\n" and stat.S_IMODE(key.stat().st_mode) == 0o600
    assert (node_dir / "queue.drain").exists()
    assert candidate_files.read_all(["queue_drain", "rapi_pem"]) == {"queue_drain": "", "rapi_pem": None}
    _write({"queue_drain": None})
    assert not (node_dir / "queue.drain").exists()


def test_candidate_refuses_an_unknown_name_and_writes_nothing(node_dir: Path) -> None:
    with pytest.raises(RpcArgumentError, match="not a file a master candidate keeps: ../../etc/passwd"):
        _write({"ssh_key": "KEY\n", "../../etc/passwd": "x"})
    assert not (node_dir / "ssh/id_ed25519").exists()
