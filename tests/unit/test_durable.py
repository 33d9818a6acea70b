"""Files a node needs after a power cut are synced before and after their rename (gnt.durable).

On the test bed's hosts a node powered off a minute after joining came back with an empty cluster
certificate, ssconf and storage lists (the renames had reached the disk, the data had not)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from gnt import certs, confine, durable


@pytest.fixture
def synced(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every fsync, as the path it was called on, and every rename, in order."""
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append("fsync " + os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    def replace(src: str, dst: str) -> None:
        events.append(f"rename {dst}")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    return events


def test_replace_syncs_the_data_then_renames_then_syncs_the_directory(tmp_path: Path, synced: list[str]) -> None:
    tmp, target = tmp_path / "f.tmp", tmp_path / "f"
    tmp.write_text("data")
    durable.replace(str(tmp), str(target))
    assert synced == [f"fsync {tmp}", f"rename {target}", f"fsync {tmp_path}"]
    assert target.read_text() == "data"


def test_the_cluster_certificate_is_durable(tmp_path: Path, synced: list[str]) -> None:
    certs.write_pem(str(tmp_path / "server.pem"), b"PEM\n")
    assert synced[-2:] == [f"rename {tmp_path / 'server.pem'}", f"fsync {tmp_path}"]
    assert synced[0].startswith(f"fsync {tmp_path / 'server.pem'}.tmp")


def test_the_node_local_lists_are_durable(tmp_path: Path, synced: list[str]) -> None:
    confine.write_volume_groups(str(tmp_path / "lvm-volume-groups"), ["xenvg"])
    assert synced == [
        f"fsync {tmp_path / 'lvm-volume-groups'}.tmp",
        f"rename {tmp_path / 'lvm-volume-groups'}",
        f"fsync {tmp_path}",
    ]


def test_ssconf_pushed_to_a_node_is_durable(tmp_path: Path, synced: list[str], monkeypatch) -> None:
    from agent import handlers
    from gnt.rpc import procedures as proc

    root = tmp_path / "node1"
    monkeypatch.setenv("GNT_ROOTDIR", str(root))
    monkeypatch.setenv("GNT_HOSTNAME", "node1")
    asyncio.run(handlers.ssconf_write(proc.SsconfWriteArgs({"master_node": "node1"})))
    directory = root / "var/lib/gnt"
    assert synced == [
        f"fsync {directory / 'ssconf_master_node'}.tmp",
        f"rename {directory / 'ssconf_master_node'}",
        f"fsync {directory}",
    ]


def test_a_key_never_lands_in_a_leftover_world_readable_temporary_file(tmp_path: Path) -> None:
    (tmp_path / "server.pem.tmp").write_text("left by a crash")
    os.chmod(tmp_path / "server.pem.tmp", 0o644)
    certs.write_pem(str(tmp_path / "server.pem"), b"PEM\n")
    assert (tmp_path / "server.pem").stat().st_mode & 0o077 == 0
    assert (tmp_path / "server.pem").read_bytes() == b"PEM\n"
