"""File, sharedfile and diskless disk drivers, in a virtual-cluster layout."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

import storage
from gnt.confine import write_storage_paths
from gnt.errors import StorageError
from gnt.runtime import DiskSpec
from storage.file import list_disk_files, storage_usage

MIB = 1024 * 1024


def allow_storage(root: Path) -> None:
    """The node's file-storage-paths: gnt's default, /srv/fs and the virtual cluster's shared dir."""
    dirs = ["/srv/gnt/file-storage", "/srv/fs", str(root.parent / "shared-file-storage")]
    write_storage_paths(str(root / "var/lib/gnt/file-storage-paths"), dirs)


@pytest.fixture
def vnode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Act as virtual node node1 of a virtual cluster in tmp_path."""
    root = tmp_path / "node1"
    root.mkdir()
    allow_storage(root)
    monkeypatch.setenv("GNT_ROOTDIR", str(root))
    return root


def disk(path: str, size: int = 16, dev_type: str = "file") -> DiskSpec:
    return DiskSpec(uuid="d-1", index=0, size=size, dev_type=dev_type, logical_id=["loop", path])


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_file_disk_lifecycle_is_sparse_localized_and_idempotent(vnode: Path) -> None:
    d = disk("/srv/gnt/file-storage/inst1/d-1.file.disk0")
    drv = storage.get("file")
    path = run(drv.create(d, "inst1"))
    assert path == f"{vnode}/srv/gnt/file-storage/inst1/d-1.file.disk0"
    st = os.stat(path)
    assert st.st_size == 16 * MIB and st.st_blocks * 512 < MIB  # sparse
    assert run(drv.create(d, "inst1")) == path  # existing, right size: fine
    assert run(drv.assemble(d, "inst1")) == path
    info = run(drv.info(d))
    assert (info.exists, info.path, info.size) == (True, path, 16)
    run(drv.shutdown(d))
    run(drv.remove(d))
    assert not os.path.exists(path)
    assert not os.path.exists(os.path.dirname(path))  # empty per-instance dir removed
    run(drv.remove(d))  # missing: fine
    assert run(drv.info(d)).exists is False


def test_create_refuses_an_existing_file_of_another_size(vnode: Path) -> None:
    drv = storage.get("file")
    run(drv.create(disk("/srv/gnt/file-storage/i/x", size=10), "i"))
    with pytest.raises(StorageError) as err:
        run(drv.create(disk("/srv/gnt/file-storage/i/x", size=16), "i"))
    assert (
        str(err.value) == f"Disk file {vnode}/srv/gnt/file-storage/i/x already exists with size 10 MiB, expected 16 MiB"
    )


def test_create_in_an_unwritable_directory_is_a_clear_error(vnode: Path) -> None:
    blocker = vnode / "srv"
    blocker.write_text("not a directory")
    with pytest.raises(StorageError, match="File storage directory .* is not writable"):
        run(storage.get("file").create(disk("/srv/gnt/file-storage/i/x"), "i"))


def test_remove_keeps_the_instance_dir_while_other_disks_remain(vnode: Path) -> None:
    drv = storage.get("file")
    a, b = disk("/srv/fs/i/a"), disk("/srv/fs/i/b")
    run(drv.create(a, "i"))
    run(drv.create(b, "i"))
    run(drv.remove(a))
    assert os.path.isdir(vnode / "srv/fs/i")
    run(drv.remove(b))
    assert not os.path.exists(vnode / "srv/fs/i")


def test_assemble_of_a_missing_disk_fails(vnode: Path) -> None:
    with pytest.raises(StorageError, match="does not exist on this node"):
        run(storage.get("file").assemble(disk("/srv/fs/i/missing"), "i"))


def test_grow_is_relative_to_the_configured_size_and_idempotent(vnode: Path) -> None:
    drv = storage.get("file")
    d = disk("/srv/fs/i/g", size=8)
    run(drv.create(d, "i"))
    run(drv.grow(d, 8))
    run(drv.grow(d, 8))  # a retried grow does not grow twice
    assert run(drv.info(d)).size == 16
    with pytest.raises(StorageError, match="does not exist"):
        run(drv.grow(disk("/srv/fs/i/none"), 8))


def test_rename_moves_the_file(vnode: Path) -> None:
    drv = storage.get("file")
    d = disk("/srv/fs/old/d")
    run(drv.create(d, "old"))
    run(drv.rename(d, ["loop", "/srv/fs/new/d"]))
    assert os.path.isfile(vnode / "srv/fs/new/d") and not os.path.exists(vnode / "srv/fs/old")
    run(drv.rename(d, ["loop", "/srv/fs/new/d"]))  # retried: already done


def test_sharedfile_inside_the_vcluster_base_is_shared_by_all_nodes(
    vnode: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = vnode.parent / "shared-file-storage"
    d = disk(f"{shared}/inst1/d.disk0", dev_type="sharedfile")
    path = run(storage.get("sharedfile").create(d, "inst1"))
    assert path == f"{shared}/inst1/d.disk0"
    node2 = vnode.parent / "node2"
    node2.mkdir()
    allow_storage(node2)
    monkeypatch.setenv("GNT_ROOTDIR", str(node2))
    assert run(storage.get("sharedfile").assemble(d, "inst1")) == path


def test_bad_logical_ids_are_refused(vnode: Path) -> None:
    drv = storage.get("file")
    bad = [["loop"], ["nbd", "/srv/x"], ["loop", "relative/path"], ["loop", "/srv/../etc/passwd"]]
    for lid in bad:
        d = DiskSpec(uuid="d", index=0, size=1, dev_type="file", logical_id=lid)
        with pytest.raises(StorageError):
            run(drv.create(d, "i"))
    with pytest.raises(StorageError, match="Invalid size"):
        run(drv.create(disk("/srv/fs/i/z", size=0), "i"))
    with pytest.raises(StorageError, match="Unknown disk type"):
        storage.get("nosuch")


def test_diskless_is_a_no_op() -> None:
    drv = storage.get("diskless")
    d = DiskSpec(uuid="d", index=0, size=0, dev_type="diskless")
    assert run(drv.create(d, "i")) == ""
    assert run(drv.assemble(d, "i")) == ""
    run(drv.remove(d))
    run(drv.shutdown(d))
    assert run(drv.info(d)).path is None


def test_storage_usage_and_orphan_listing(vnode: Path) -> None:
    usage = storage_usage("/srv/gnt/file-storage")  # does not exist yet: measured on a parent
    assert usage["total"] > 0 and 0 <= usage["free"] <= usage["total"]
    drv = storage.get("file")
    run(drv.create(disk("/srv/gnt/file-storage/a/d0"), "a"))
    run(drv.create(disk("/srv/gnt/file-storage/b/d0"), "b"))
    run(drv.create(disk("/srv/gnt/file-storage/sub/dir/c/d0"), "c"))  # made with --file-storage-dir sub/dir
    found = list_disk_files(["/srv/gnt/file-storage", "/srv/gnt/missing"])
    assert found == ["/srv/gnt/file-storage/a/d0", "/srv/gnt/file-storage/b/d0", "/srv/gnt/file-storage/sub/dir/c/d0"]
