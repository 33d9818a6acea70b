"""`blockdev_wipe` through the real node dispatcher: zeros land exactly in the asked range of the
node's own disk, and nothing else can be written (paths outside the node's storage, a range past
the end, a disk with no device)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from agent.server import node_dispatcher
from gnt.confine import write_storage_paths
from storage import zeroing

MIB = 1024 * 1024
DISK = "/srv/gnt/file-storage/inst1/disk0"


@pytest.fixture
def node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "node1"
    root.mkdir()
    write_storage_paths(str(root / "var/lib/gnt/file-storage-paths"), ["/srv/gnt/file-storage"])
    monkeypatch.setenv("GNT_ROOTDIR", str(root))
    monkeypatch.setenv("GNT_HOSTNAME", "node1")
    return root


def call(offset: int, size: int, path: str = DISK, dev_type: str = "file") -> dict[str, Any]:
    disk = {"uuid": "d1", "index": 0, "size": 4, "dev_type": dev_type, "logical_id": ["loop", path]}
    args = {"disk": disk, "offset": offset, "size": size, "instance_name": "inst1"}
    return asyncio.run(node_dispatcher().answer("blockdev_wipe", args))


def dirty_disk(node: Path, mib: int = 4) -> Path:
    path = node / DISK.lstrip("/")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\xab" * mib * MIB)
    return path


def error(answer: dict[str, Any]) -> str:
    assert answer["ok"] is False, answer
    return str(answer["error"]["message"])


def test_the_whole_disk_is_zeroed(node: Path) -> None:
    path = dirty_disk(node)
    assert call(0, 4)["ok"] is True
    assert path.read_bytes() == bytes(4 * MIB)


def test_a_grown_disks_new_space_only_is_zeroed(node: Path) -> None:
    path = dirty_disk(node)
    assert call(1, 3)["ok"] is True
    data = path.read_bytes()
    assert data[:MIB] == b"\xab" * MIB and data[MIB:] == bytes(3 * MIB) and len(data) == 4 * MIB


@pytest.mark.parametrize(
    ("offset", "size", "message"),
    [(-1, 2, "Negative offset"), (0, 0, "Negative size"), (2, 3, "Wipe offset and size are bigger than device size")],
)
def test_bad_ranges_write_nothing_and_never_grow_the_file(node: Path, offset: int, size: int, message: str) -> None:
    path = dirty_disk(node)
    assert message in error(call(offset, size))
    assert path.read_bytes() == b"\xab" * 4 * MIB


def test_a_path_outside_the_nodes_storage_is_refused(node: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"\xab" * MIB)
    for path in (str(victim), "/etc/passwd"):
        answer = call(0, 1, path=path)
        assert answer["error"]["class"] == "RpcArgumentError"
    assert victim.read_bytes() == b"\xab" * MIB


def test_a_missing_disk_is_an_error_not_a_new_file(node: Path) -> None:
    assert "does not exist" in error(call(0, 1))
    assert not (node / DISK.lstrip("/")).exists()


def test_a_diskless_disk_has_nothing_to_wipe(node: Path) -> None:
    assert "no device of its own" in error(call(0, 1, path="", dev_type="diskless"))


def test_zero_range_refuses_a_final_symlink(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.write_bytes(b"\xab" * MIB)
    (tmp_path / "link").symlink_to(target)
    with pytest.raises(Exception, match="Cannot open"):
        zeroing.zero_range(str(tmp_path / "link"), 0, 1)
    assert target.read_bytes() == b"\xab" * MIB
