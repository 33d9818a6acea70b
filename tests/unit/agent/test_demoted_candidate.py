"""A node that stops being a master candidate (demoted, or leaving) keeps none of the candidate-only secrets."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from agent import candidate_files as node_files
from agent import replica
from gnt.rpc import procedures as proc


@pytest.fixture
def node_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GNT_ROOTDIR", str(tmp_path / "node2"))
    monkeypatch.setenv("GNT_HOSTNAME", "node2")
    data = tmp_path / "node2/var/lib/gnt"
    data.mkdir(parents=True)
    (data / "ssconf").mkdir()
    (data / "ssconf/ssconf_master_node").write_text("node1\n")
    return data


def _candidate_files() -> None:
    files = {"cluster_ca": "CA KEY\n", "ssh_key": "SSH KEY\n", "ssh_key_pub": "ssh-ed25519 AAAA\n", "rapi_pem": "R\n"}
    asyncio.run(node_files.candidate_files_write(proc.CandidateFilesArgs(files)))


def test_config_drop_removes_the_ca_key_ssh_key_and_rapi_key(node_dir: Path) -> None:
    _candidate_files()
    (node_dir / "server.pem").write_text("OWN\n")
    assert (node_dir / "cluster-ca.pem").exists() and (node_dir / "ssh/id_ed25519").exists()
    asyncio.run(replica.config_drop(proc.NoArgs()))
    for name in ("cluster-ca.pem", "ssh/id_ed25519", "ssh/id_ed25519.pub", "rapi.pem"):
        assert not (node_dir / name).exists(), name
    assert (node_dir / "server.pem").read_text() == "OWN\n"  # its own identity stays: it is still a node


def test_node_leave_removes_every_candidate_file_and_its_certificate(node_dir: Path) -> None:
    _candidate_files()
    (node_dir / "server.pem").write_text("OWN\n")
    asyncio.run(replica.node_leave(proc.NoArgs()))
    for name in ("cluster-ca.pem", "ssh/id_ed25519", "rapi.pem", "server.pem"):
        assert not (node_dir / name).exists(), name


def test_remove_all_on_a_plain_node_removes_nothing_and_says_so(node_dir: Path) -> None:
    assert node_files.remove_all() == []
