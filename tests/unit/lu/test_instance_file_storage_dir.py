"""`--file-storage-dir` (OP_INSTANCE_CREATE's file_storage_dir) through the LUs on the in-process
transport: a file instance's disks go to STORAGE_DIR/SUBDIR/INSTANCE/ (Ganeti's layout), later
disks, a rename and a reservation's commit keep that directory, and a directory that is not
relative and under the storage directory is refused before anything exists.

The node doubles answer behind the real dispatcher, so each disk path a node is sent passes the
node's own confinement to its storage directories."""

from __future__ import annotations

from typing import Any

import pytest

from gnt import opcodes
from gnt.errors import ECODE_INVAL, OpPrereqError
from gnt.instance.common import disk_path, file_disk_dir
from gnt.instance.create import LUInstanceCreate
from gnt.instance.lifecycle import LUInstanceRemove, LUInstanceSetParams
from gnt.instance.rename import LUInstanceRename
from gnt.opcodes import OpInstanceCreate, OpInstanceRemove, OpInstanceSetParams
from tests.unit.lu.conftest import FILE_DIR, SHARED_DIR, Harness
from tests.unit.lu.test_instance_rename_reinstall import _rename, _renames_disks


def create(name: str = "inst1", **kw: Any) -> OpInstanceCreate:
    fields: dict[str, Any] = {
        "instance_name": name,
        "disk_template": "file",
        "disks": [{"size": 64}, {"size": 32}],
        "os_type": "noop",
        "pnode": "node1",
        "start": False,
        "file_storage_dir": "sub/dir",
    }
    fields.update(kw)
    return OpInstanceCreate(**fields)


def _dirs(harness: Harness, name: str) -> set[str]:
    return {d.logical_id[1].rsplit("/", 1)[0] for d in harness.cfg.instance(name).disks}


@pytest.mark.parametrize(("template", "base"), [("file", FILE_DIR), ("sharedfile", SHARED_DIR)])
def test_disks_go_under_the_subdirectory_of_the_storage_directory(harness: Harness, template: str, base: str) -> None:
    harness.run(create(disk_template=template), LUInstanceCreate)
    assert _dirs(harness, "inst1") == {f"{base}/sub/dir/inst1"}
    made = sorted(d.logical_id[1] for d in harness.nodes["node1"].disks.values())
    assert made == sorted(d.logical_id[1] for d in harness.cfg.instance("inst1").disks)


def test_a_later_disk_and_a_rename_keep_the_subdirectory(harness: Harness) -> None:
    harness.run(create(), LUInstanceCreate)
    harness.run(OpInstanceSetParams(instance_name="inst1", disks=[["add", -1, {"size": 16}]]), LUInstanceSetParams)
    assert _dirs(harness, "inst1") == {f"{FILE_DIR}/sub/dir/inst1"}
    _renames_disks(harness.nodes["node1"])
    harness.run(_rename("inst1", "web1"), LUInstanceRename)
    assert _dirs(harness, "web1") == {f"{FILE_DIR}/sub/dir/web1"}
    assert {d.logical_id[1].rsplit("/", 1)[0] for d in harness.nodes["node1"].disks.values()} == {
        f"{FILE_DIR}/sub/dir/web1"
    }
    harness.run(OpInstanceRemove(instance_name="web1"), LUInstanceRemove)
    assert harness.nodes["node1"].disks == {}


def test_a_commit_takes_the_reserved_directory_and_refuses_another(harness: Harness) -> None:
    harness.run(create(forthcoming=True), LUInstanceCreate)
    with pytest.raises(OpPrereqError, match="reserved with its disks in .*/sub/dir/inst1, not .*/other/inst1"):
        harness.run(create(commit=True, file_storage_dir="other"), LUInstanceCreate)
    harness.run(create(commit=True, file_storage_dir=None), LUInstanceCreate)
    assert _dirs(harness, "inst1") == {f"{FILE_DIR}/sub/dir/inst1"}


@pytest.mark.parametrize(
    ("directory", "message"),
    [
        ("../x", "must not contain '..'"),
        ("sub/../../x", "must not contain '..'"),
        ("/etc", "must be relative"),
        ("", "non-empty relative path"),
        ("a//b", "not a normalised relative path"),
        ("a/./b", "not a normalised relative path"),
    ],
)
def test_a_directory_outside_the_storage_directory_is_refused_at_submission(directory: str, message: str) -> None:
    body = {"OP_ID": "OP_INSTANCE_CREATE", "instance_name": "i1", "disk_template": "file", "disks": [{"size": 1}]}
    with pytest.raises(OpPrereqError, match=message) as err:
        opcodes.from_dict({**body, "file_storage_dir": directory})
    assert err.value.code == ECODE_INVAL


def test_a_subdirectory_is_refused_for_templates_without_files(harness: Harness) -> None:
    harness.cfg.cluster.enabled_disk_templates = ["diskless", "file", "plain"]
    with pytest.raises(OpPrereqError, match="--file-storage-dir applies to file-based disk templates, not to 'plain'"):
        harness.run(create(disk_template="plain"), LUInstanceCreate)
    assert harness.cfg.find_instance("inst1") is None and harness.nodes["node1"].disks == {}


def test_the_path_is_computed_under_the_storage_directory_whatever_it_is_given(harness: Harness) -> None:
    cluster = harness.cfg.cluster
    assert file_disk_dir(cluster, "file", "i1", "a/b") == f"{FILE_DIR}/a/b/i1"
    assert disk_path(cluster, "file", "i1", "u", 0, None) == ["loop", f"{FILE_DIR}/i1/u.file.disk0"]
    for escaping in ("../../etc", "/etc"):  # past the opcode's check, the path is still confined
        with pytest.raises(OpPrereqError, match="outside the cluster's storage directory"):
            file_disk_dir(cluster, "file", "i1", escaping)


def test_an_import_puts_its_disks_under_the_subdirectory(harness: Harness) -> None:
    from tests.unit.lu.test_backup import _exported, _import, _transfers

    pnode, holder = harness.nodes["node1"], harness.nodes["node2"]
    _transfers(pnode, holder)
    holder.do_export_list = lambda args: ["imp"]  # type: ignore[attr-defined]
    holder.do_export_info = lambda args: _exported(harness, "imp")  # type: ignore[attr-defined]
    harness.run(_import(file_storage_dir="imports"), LUInstanceCreate)
    assert _dirs(harness, "imp") == {f"{FILE_DIR}/imports/imp"}
    received = {r.disk.logical_id[1].rsplit("/", 1)[0] for n, r in pnode.calls if n == "disk_receive"}
    assert received == {f"{FILE_DIR}/imports/imp"}
