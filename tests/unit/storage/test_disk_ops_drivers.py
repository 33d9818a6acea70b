"""What the disk operations ask of the drivers: grow_check (grow-disk's dry run) for file and plain,
the plain driver's LV states in one `lvs` (verify-disks), and the hypervisors' online resize."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

import backends
from gnt.errors import HypervisorError, StorageError
from gnt.runtime import InstanceSpec
from storage.lvm import PlainDevice
from tests.unit.storage.test_file import disk as file_disk
from tests.unit.storage.test_file import vnode  # noqa: F401 - fixture
from tests.unit.storage.test_lvm_driver import FakeLvm, node  # noqa: F401 - fixture
from tests.unit.storage.test_lvm_driver import disk as plain_disk

MIB = 1024 * 1024


def test_file_grow_check_refuses_more_than_the_file_system_holds(vnode: Path) -> None:  # noqa: F811
    import storage

    dev = storage.get("file")
    d = file_disk("/srv/gnt/file-storage/inst1/d0")
    asyncio.run(dev.create(d, "inst1"))
    asyncio.run(dev.grow_check(d, 16))  # fits: changes nothing
    assert os.path.getsize(vnode / "srv/gnt/file-storage/inst1/d0") == 16 * MIB
    st = os.statvfs(vnode)
    too_much = st.f_bavail * st.f_frsize // MIB + 1024
    with pytest.raises(StorageError, match="Not enough free space for disk file .* needs"):
        asyncio.run(dev.grow_check(d, too_much))
    with pytest.raises(StorageError, match="Not enough free space"):
        asyncio.run(dev.grow(d, too_much))  # the grow itself refuses too: a sparse file would take it
    assert os.path.getsize(vnode / "srv/gnt/file-storage/inst1/d0") == 16 * MIB


def test_file_grow_check_of_a_missing_disk_names_it(vnode: Path) -> None:  # noqa: F811
    import storage

    with pytest.raises(StorageError, match="it does not exist"):
        asyncio.run(storage.get("file").grow_check(file_disk("/srv/gnt/file-storage/inst1/gone"), 16))


def test_plain_grow_check_runs_no_change(node: Path) -> None:  # noqa: F811
    lvm = FakeLvm(vgs={"xenvg": [4096, 4096]})
    dev = PlainDevice(lvm)
    asyncio.run(dev.create(plain_disk(), "inst1"))
    before = len(lvm.changes())
    asyncio.run(dev.grow_check(plain_disk(), 1024))
    with pytest.raises(StorageError, match="Not enough free space in volume group xenvg"):
        asyncio.run(dev.grow_check(plain_disk(), 8192))
    with pytest.raises(StorageError, match="does not exist on this node"):
        asyncio.run(dev.grow_check(plain_disk(lv="other"), 16))
    assert len(lvm.changes()) == before


def test_plain_lv_states_is_one_lvs_for_all_disks(node: Path) -> None:  # noqa: F811
    lvm = FakeLvm()
    dev = PlainDevice(lvm)
    for i in range(5):
        asyncio.run(dev.create(plain_disk(lv=f"u{i}.disk0"), "inst1"))
    asyncio.run(dev.shutdown(plain_disk(lv="u3.disk0")))
    lvm.calls.clear()
    states = asyncio.run(dev.lv_states(["xenvg", "notallowed"]))
    assert [c[0] for c in lvm.calls].count("lvs") == 1
    assert {s["name"]: s["active"] for s in states} == {f"u{i}.disk0": i != 3 for i in range(5)}


def test_fake_resize_refuses_a_guest_that_does_not_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GNT_ROOTDIR", str(tmp_path / "node1"))
    spec = InstanceSpec(name="i", uuid="u", hypervisor="fake", memory=128, vcpus=1)
    with pytest.raises(HypervisorError, match="is not running on this node"):
        asyncio.run(backends.get("fake").resize_disk(spec, 0, 128))
