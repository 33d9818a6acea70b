"""`gnt-instance modify --disk ID:modify | ID:detach | attach:name=X` (Ganeti 3.0) through the real
CLI and RAPI on a virtual cluster: the disk file moves out of its instance's directory and into the
next one with its data, and every refusal is one line, exit 1, nothing changed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.test_disk_ops import refused, sizes
from tests.integration.test_rapi import ADMIN, Rapi, rapi  # noqa: F401 - fixture
from tests.integration.vcluster import ADD_INSTANCE, VCluster, wait_for

FILES = "srv/gnt/file-storage"


def _add(cluster: VCluster, name: str, node: str, *disks: str) -> None:
    spec = [arg for i, size in enumerate(disks) for arg in ("--disk", f"{i}:size={size}")]
    cluster.ok(*ADD_INSTANCE, "-t", "file", *spec, "-B", "memory=32M", "--no-start", "-n", node, name)


@pytest.fixture
def pair(cluster: VCluster) -> Iterator[tuple[str, str]]:
    _add(cluster, "att-a", "node2", "16M", "8M")
    _add(cluster, "att-b", "node2", "4M")
    yield "att-a", "att-b"
    for name in ("att-a", "att-b", "att-c"):
        cluster.run("gnt-instance", "remove", "-f", name)


def _files(cluster: VCluster, *parts: str) -> list[Path]:
    return sorted(p for p in (cluster.dir / "node2" / FILES).joinpath(*parts).glob("*") if p.is_file())


def test_modify_detach_and_attach_move_a_disk_with_its_data(cluster: VCluster, pair: tuple[str, str]) -> None:
    a, b = pair
    out = cluster.ok("gnt-instance", "modify", "--disk", "1:modify,name=data,mode=ro", a)
    assert " - disk.mode/1 -> ro" in out and " - disk.name/1 -> data" in out
    assert cluster.instance_field(a, "disk.names") in ("None,data", "-,data", ",data")
    (data,) = [p for p in _files(cluster, a) if p.name.endswith("disk1")]
    with open(data, "r+b") as disk:
        disk.write(b"kept across detach")

    out = cluster.ok("gnt-instance", "modify", "--disk", "data:detach", a)
    assert " - disk/1 -> detach" in out
    assert sizes(cluster, a) == "16" and not data.exists()
    (loose,) = _files(cluster)  # DIR/FILE, out of the instance's directory
    assert loose.name == data.name

    assert "No disk was found with this name: nosuch" in refused(
        cluster, "gnt-instance", "modify", "--disk", "attach:name=nosuch", b
    )
    _add(cluster, "att-c", "node1", "4M")
    assert "Disk nodes are ['node2'] while the instance's nodes are ['node1']" in refused(
        cluster, "gnt-instance", "modify", "--disk", "attach:name=data", "att-c"
    )
    out = cluster.ok("gnt-instance", "modify", "--disk", "0:attach,name=data", b)
    assert " - disk/0 -> attach:size=8,mode=ro" in out
    assert sizes(cluster, b) == "8,4" and _files(cluster) == []
    (moved,) = [p for p in _files(cluster, b) if p.name == data.name]
    assert moved.read_bytes()[:18] == b"kept across detach"


def test_detach_of_a_running_instance_needs_hotplug(cluster: VCluster, pair: tuple[str, str]) -> None:
    a, _ = pair
    cluster.ok("gnt-instance", "startup", a)
    text = refused(cluster, "gnt-instance", "modify", "--disk", "1:detach", a)
    assert "cannot add or remove disks without hotplug" in text
    assert sizes(cluster, a) == "16,8" and len(_files(cluster, a)) == 2


def test_detach_and_attach_over_rapi(cluster: VCluster, pair: tuple[str, str], rapi: Rapi) -> None:  # noqa: F811
    a, b = pair

    def modify(name: str, body: dict[str, object]) -> None:
        status, job_id = rapi.call("PUT", f"/2/instances/{name}/modify", body, user=ADMIN)
        assert status == 200, job_id
        wait_for(lambda: rapi.call("GET", f"/2/jobs/{job_id}", user=ADMIN)[1]["status"] in ("success", "error"), 20)
        assert rapi.call("GET", f"/2/jobs/{job_id}", user=ADMIN)[1]["status"] == "success"

    uuid = cluster.instance_field(a, "disk.uuids").split(",")[1]
    modify(a, {"disks": [["detach", uuid, {}]]})
    assert sizes(cluster, a) == "16"
    modify(b, {"disks": [["attach", -1, {"uuid": uuid}]]})
    assert sizes(cluster, b) == "4,8"
    status, body = rapi.call("PUT", f"/2/instances/{b}/modify", {"disks": [["attach", -1, {}]]}, user=ADMIN)
    assert status == 400 and "Only one argument is permitted in attach op" in body["explain"]
