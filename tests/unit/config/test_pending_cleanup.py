"""Disks a rollback could not remove are recorded, reported in the job log, and removed later."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from gnt.cluster import pending
from gnt.config.manager import ConfigManager
from gnt.errors import RpcError
from gnt.objects import Disk, Instance, Node
from gnt.rpc.client import RpcClient, RpcResult, Target
from gnt.runtime import DiskSpec


@dataclass
class FakeRpc:
    """A transport where blockdev_remove answers per node: down nodes fail, the others succeed (and are logged)."""

    down: set[str] = field(default_factory=set)
    removed: list[tuple[str, str]] = field(default_factory=list)

    async def call(self, target: Target, procedure: str, args: dict[str, Any], timeout: float) -> RpcResult:
        assert procedure == "blockdev_remove"
        if target.name in self.down:
            return RpcResult(target.name, error=RpcError(f"Error while contacting node {target.name}"))
        self.removed.append((target.name, args["disk"]["uuid"]))
        return RpcResult(target.name, payload=None)

    async def close(self) -> None:
        return None


class FakeServices:
    def target(self, node: Any) -> Target:
        return Target(node.name, node.primary_ip, node.offline)


class FakeLU:
    def __init__(self, cfg: ConfigManager, rpc: FakeRpc) -> None:
        self.cfg, self.rpc = cfg, RpcClient(rpc)
        self.ctx = type("Ctx", (), {"services": FakeServices()})()
        self.log: list[str] = []

    def warning(self, message: str) -> None:
        self.log.append(message)


@pytest.fixture(autouse=True)
def node_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GNT_ROOTDIR", str(tmp_path / "node1"))
    monkeypatch.setattr(pending, "_lock", None)
    return tmp_path / "node1"


def disk(uuid: str) -> DiskSpec:
    return DiskSpec(uuid=uuid, index=0, size=50, dev_type="file", logical_id=["loop", f"/srv/d/{uuid}"])


def test_unreachable_node_is_recorded_and_reported_then_removed_when_it_answers(cfg: ConfigManager) -> None:
    rpc = FakeRpc(down={"node2"})
    lu = FakeLU(cfg, rpc)
    node2 = cfg.node("node2")
    left = asyncio.run(pending.remove_disks(lu, node2, [disk("d1")], "doomed"))
    assert [d.uuid for d in left] == ["d1"]
    assert "Could not remove disk 0 of instance doomed on node node2" in lu.log[0]
    assert [e["disk"]["uuid"] for e in pending.entries()] == ["d1"]

    still = asyncio.run(pending.retry(lu))
    assert still["removed"] == [] and len(still["pending"]) == 1
    assert len(pending.entries()) == 1

    rpc.down.clear()
    done = asyncio.run(pending.retry(lu))
    assert done["removed"] == ["disk 0 (/srv/d/d1) of instance doomed on node node2"]
    assert rpc.removed == [("node2", "d1")]
    assert pending.entries() == []


def test_a_disk_the_config_uses_again_is_never_removed(cfg: ConfigManager) -> None:
    rpc = FakeRpc(down={"node2"})
    lu = FakeLU(cfg, rpc)
    asyncio.run(pending.remove_disks(lu, cfg.node("node2"), [disk("d2")], "doomed"))
    adopted = Disk(uuid="d2", size=50, dev_type="file")
    inst = Instance(name="adopted", primary_node=cfg.node("node2").uuid, disks=[adopted])
    cfg.commit_sync([inst])
    rpc.down.clear()
    done = asyncio.run(pending.retry(lu))
    assert done["removed"] == [] and len(done["dropped"]) == 1
    assert rpc.removed == [] and pending.entries() == []


def test_reachable_node_leaves_no_record(cfg: ConfigManager) -> None:
    lu = FakeLU(cfg, FakeRpc())
    assert asyncio.run(pending.remove_disks(lu, cfg.node("node2"), [disk("d3")], "x")) == []
    assert lu.log == [] and pending.entries() == []


def test_a_disk_uuid_in_use_on_other_nodes_is_still_removed_from_this_one(cfg: ConfigManager) -> None:
    """replace-disks -n keeps a drbd disk's uuid: the half-made copy on a new secondary that died is
    recorded with the uuid of a disk the instance still uses on its old nodes, and must go all the same."""
    dead = Node(name="node3", primary_ip="127.0.0.3")
    cfg.commit_sync([dead])
    primary, old_secondary = cfg.node("node1"), cfg.node("node2")
    inst = Instance(
        name="moved",
        primary_node=primary.uuid,
        secondary_nodes=[old_secondary.uuid],
        disks=[Disk(uuid="d4", size=50, dev_type="file")],
    )
    cfg.commit_sync([inst])
    rpc = FakeRpc(down={dead.name})
    lu = FakeLU(cfg, rpc)
    asyncio.run(pending.remove_disks(lu, dead, [disk("d4")], "moved"))
    rpc.down.clear()
    done = asyncio.run(pending.retry(lu))
    assert done["removed"] == [f"disk 0 (/srv/d/d4) of instance moved on node {dead.name}"]
    assert rpc.removed == [(dead.name, "d4")] and pending.entries() == []
