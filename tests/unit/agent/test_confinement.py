"""A certificate holder cannot touch files outside a node's storage roots, through the real dispatcher.

Regression tests for issue 7: `blockdev_remove` with logical_id ["loop", "/some/file"] deleted that
file, `blockdev_create` made files at any absolute path, and `ssconf_write` with key
`x/../../../TRAVERSED` wrote outside the ssconf directory.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Any

import pytest

from agent.server import node_dispatcher
from gnt.confine import write_storage_paths

SIZE = 4


@pytest.fixture
def node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Virtual node node1 whose storage roots are gnt's file dir and the cluster's shared dir."""
    root = tmp_path / "node1"
    root.mkdir()
    write_storage_paths(
        str(root / "var/lib/gnt/file-storage-paths"), ["/srv/gnt/file-storage", str(tmp_path / "shared")]
    )
    monkeypatch.setenv("GNT_ROOTDIR", str(root))
    monkeypatch.setenv("GNT_HOSTNAME", "node1")
    return root


def call(name: str, args: Any) -> dict[str, Any]:
    return asyncio.run(node_dispatcher().answer(name, args))


def disk(path: str, dev_type: str = "file") -> dict[str, Any]:
    return {"uuid": "d1", "index": 0, "size": SIZE, "dev_type": dev_type, "logical_id": ["loop", path]}


def refused(answer: dict[str, Any]) -> str:
    assert answer["ok"] is False, answer
    assert answer["error"]["class"] == "RpcArgumentError", answer
    return str(answer["error"]["message"])


def test_blockdev_remove_of_a_file_outside_the_roots_deletes_nothing(node: Path, tmp_path: Path) -> None:
    victim = node / "some" / "file"  # what "/some/file" means on this virtual node
    victim.parent.mkdir()
    victim.write_text("precious")
    outside_base = tmp_path / "victim"  # a path in the virtual cluster's base is not localized
    outside_base.write_text("precious")
    for path in ("/some/file", str(outside_base)):
        message = refused(call("blockdev_remove", {"disk": disk(path)}))
        assert "outside this node's allowed directories" in message
    assert victim.read_text() == "precious" and outside_base.read_text() == "precious"


def test_blockdev_remove_through_a_symlink_out_of_a_root_is_refused(node: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "file").write_text("precious")
    storage_dir = node / "srv/gnt/file-storage"
    storage_dir.mkdir(parents=True)
    (storage_dir / "inst1").symlink_to(elsewhere)
    refused(call("blockdev_remove", {"disk": disk("/srv/gnt/file-storage/inst1/file")}))
    assert (elsewhere / "file").read_text() == "precious"


def test_blockdev_create_outside_the_roots_creates_nothing(node: Path, tmp_path: Path) -> None:
    refused(call("blockdev_create", {"disk": disk("/etc/evil/disk0"), "instance_name": "inst1"}))
    refused(call("blockdev_create", {"disk": disk(str(tmp_path / "evil" / "disk0")), "instance_name": "inst1"}))
    assert not (node / "etc").exists() and not (tmp_path / "evil").exists()


def test_blockdev_create_inside_the_roots_works(node: Path, tmp_path: Path) -> None:
    answer = call("blockdev_create", {"disk": disk("/srv/gnt/file-storage/inst1/d0"), "instance_name": "inst1"})
    assert answer["ok"], answer
    assert os.path.getsize(node / "srv/gnt/file-storage/inst1/d0") == SIZE * 1024 * 1024
    shared = call("blockdev_create", {"disk": disk(str(tmp_path / "shared/inst1/d0"), "sharedfile")})
    assert shared["ok"], shared
    assert (tmp_path / "shared/inst1/d0").exists()


def test_a_storage_root_itself_is_not_a_disk(node: Path) -> None:
    (node / "srv/gnt/file-storage").mkdir(parents=True)
    refused(call("blockdev_remove", {"disk": disk("/srv/gnt/file-storage")}))
    assert (node / "srv/gnt/file-storage").is_dir()


def test_ssconf_write_with_a_traversing_key_writes_nothing(node: Path, tmp_path: Path) -> None:
    values = {"cluster_name": "ok", "x/../../../TRAVERSED": "boom"}
    message = refused(call("ssconf_write", {"values": values}))
    assert "Invalid ssconf key" in message
    assert not list(tmp_path.rglob("*TRAVERSED*"))
    assert not (node / "var/lib/gnt/ssconf_cluster_name").exists()  # all or nothing


def test_ssconf_write_of_known_keys_works(node: Path) -> None:
    assert call("ssconf_write", {"values": {"master_node": "node1"}})["ok"]
    assert (node / "var/lib/gnt/ssconf_master_node").read_text() == "node1"


def test_storage_dirs_outside_the_roots_are_refused_and_not_created(node: Path) -> None:
    refused(call("node_info", {"hypervisors": [], "storage_dirs": ["/etc/made-by-rpc"]}))
    refused(call("node_verify", {"hypervisors": [], "storage_dirs": ["/"]}))
    assert not (node / "etc").exists()


def test_names_that_would_escape_are_refused(node: Path) -> None:
    assert "Invalid OS name" in refused(call("os_validate", {"name": "../../bin"}))
    spec = {"name": "../x", "uuid": "u", "hypervisor": "fake", "memory": 32, "vcpus": 1}
    assert "Invalid instance name" in refused(call("instance_start", {"instance": spec}))
    assert "Unknown hypervisor" in refused(call("instance_info", {"name": "a", "hypervisor": "../fake"}))


def test_an_incoming_migration_cannot_place_a_disk_outside_the_roots(node: Path, tmp_path: Path) -> None:
    spec = {
        "name": "inst1",
        "uuid": "u",
        "hypervisor": "kvm",
        "memory": 32,
        "vcpus": 1,
        "disks": [disk(str(tmp_path / "planted"))],
    }
    refused(call("accept_instance", {"instance": spec, "target_address": "127.0.0.1"}))
    assert not (tmp_path / "planted").exists()


def test_refusals_are_logged_on_the_node(node: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="gnt-noded"):
        refused(call("blockdev_remove", {"disk": disk("/some/file")}))
    assert any("refused" in r.getMessage() and "/some/file" in r.getMessage() for r in caplog.records)


def test_a_missing_roots_file_allows_only_the_default_directories(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "node1"
    root.mkdir()
    monkeypatch.setenv("GNT_ROOTDIR", str(root))
    assert call("blockdev_create", {"disk": disk("/srv/gnt/file-storage/i/d0")})["ok"]
    refused(call("blockdev_create", {"disk": disk("/srv/elsewhere/i/d0")}))


def test_a_trailing_newline_does_not_slip_past_the_name_patterns(node: Path) -> None:
    """`$` also matches before a final newline: ssconf key 'x\\n' wrote the file `ssconf_x\\n`."""
    assert "Invalid ssconf key" in refused(call("ssconf_write", {"values": {"cluster_name\n": "boom"}}))
    assert not list((node / "var/lib/gnt").glob("ssconf_*"))
    assert "Invalid OS name" in refused(call("os_validate", {"name": "noop\n"}))
    assert "Invalid instance name" in refused(call("instance_info", {"name": "inst1\n", "hypervisor": "fake"}))


def test_no_certificate_holder_can_make_the_master_node_leave_or_drop_its_config(node: Path) -> None:
    """Issue 7 re-test: node2's certificate sent `node_leave` to node1's daemon, which deleted the
    master's config.db, its cluster certificate and its ssconf."""
    gnt = node / "var/lib/gnt"
    gnt.mkdir(parents=True, exist_ok=True)
    (gnt / "ssconf_master_node").write_text("node1")
    (gnt / "config.db").write_text("the master's config")
    for procedure in ("node_leave", "config_drop"):
        assert "this node is the cluster's master" in refused(call(procedure, {}))
    assert (gnt / "config.db").read_text() == "the master's config"
    assert (gnt / "ssconf_master_node").exists()


def test_a_running_master_daemon_s_config_is_not_overwritten_as_a_replica(node: Path) -> None:
    run = node / "var/run/gnt"
    run.mkdir(parents=True, exist_ok=True)
    (run / "gnt-masterd.pid").write_text(str(os.getpid()))  # a live process stands for the master daemon
    assert "this node is the cluster's master" in refused(call("config_replace", {"serial": 99, "objects": {}}))
    assert "this node is the cluster's master" in refused(call("config_apply", {"changes": []}))
    assert not (node / "var/lib/gnt/config.db").exists()


def test_blockdev_rename_moves_a_disk_inside_the_roots_only(node: Path, tmp_path: Path) -> None:
    """Rename (gnt-instance rename) is confined at both ends: neither the file it moves nor where it
    moves it may lie outside the node's storage roots."""
    created = call(
        "blockdev_create", {"disk": disk("/srv/gnt/file-storage/inst1/d1.file.disk0"), "instance_name": "inst1"}
    )
    assert created["ok"] is True, created
    old = node / "srv/gnt/file-storage/inst1/d1.file.disk0"
    for target in ("/etc/evil/disk0", str(tmp_path / "evil" / "disk0"), "/srv/gnt/file-storage"):
        args = {"disk": disk("/srv/gnt/file-storage/inst1/d1.file.disk0"), "new_logical_id": ["loop", target]}
        refused(call("blockdev_rename", args))
    assert old.exists() and not (node / "etc").exists() and not (tmp_path / "evil").exists()
    victim = node / "some" / "file"
    victim.parent.mkdir()
    victim.write_text("precious")
    args = {"disk": disk("/some/file"), "new_logical_id": ["loop", "/srv/gnt/file-storage/inst2/stolen"]}
    refused(call("blockdev_rename", args))
    assert victim.read_text() == "precious"
    args = {"disk": disk("/srv/gnt/file-storage/inst1/d1.file.disk0"),
            "new_logical_id": ["loop", "/srv/gnt/file-storage/web1/d1.file.disk0"]}  # fmt: skip
    assert call("blockdev_rename", args)["ok"] is True
    assert not old.exists() and not old.parent.exists()
    assert (node / "srv/gnt/file-storage/web1/d1.file.disk0").stat().st_size == SIZE * 1024 * 1024


def test_instance_run_rename_refuses_an_old_name_that_would_escape(node: Path) -> None:
    spec = {"name": "web1", "uuid": "u", "hypervisor": "fake", "memory": 64, "vcpus": 1, "os": "noop"}
    refused(call("instance_run_rename", {"instance": spec, "old_name": "../../etc"}))


def test_hotplug_of_a_disk_outside_the_roots_is_refused_before_any_driver_runs(node: Path) -> None:
    spec = {"name": "inst1", "uuid": "u1", "hypervisor": "fake", "memory": 64, "vcpus": 1}
    message = refused(call("instance_hotplug", {"instance": spec, "action": "add", "disk": disk("/etc/shadow")}))
    assert "outside this node's allowed directories" in message
