"""The master's in-memory config: commits, serials, name indexes, lookups and replication order."""

from __future__ import annotations

import asyncio
import json
import random

import pytest

from gnt.config import store
from gnt.config.manager import ConfigManager
from gnt.db import SqliteWriter
from gnt.errors import ECODE_NOENT, ConfigurationError, OpPrereqError
from gnt.objects import Instance


def rows(writer: SqliteWriter) -> dict[tuple[str, str], dict[str, object]]:
    return {(k, u): json.loads(d) for k, u, d in writer.conn.execute("SELECT kind, uuid, data FROM objects")}


def test_initial_commit_persists_everything_at_serial_one(cfg: ConfigManager, config_writer: SqliteWriter) -> None:
    assert cfg.serial == 1
    assert store.read_serial(config_writer.conn) == 1
    assert {k for k, _ in rows(config_writer)} == {"cluster", "nodegroup", "node"}
    assert cfg.master().name == "node1"
    assert all(n.serial_no == 1 for n in cfg.nodes.values())


def test_commit_bumps_config_serial_and_object_serial_no(cfg: ConfigManager, config_writer: SqliteWriter) -> None:
    node = cfg.node("node2")
    node.offline = True
    serial = asyncio.run(cfg.commit(put=[node]))
    assert serial == cfg.serial == 2
    assert node.serial_no == 2
    assert store.read_serial(config_writer.conn) == 2
    assert rows(config_writer)[("node", node.uuid)]["offline"] is True


def test_commit_persists_exactly_the_changed_objects(cfg: ConfigManager, config_writer: SqliteWriter) -> None:
    seen: list[store.ChangeSet] = []
    cfg.on_commit.append(seen.append)
    before = rows(config_writer)
    node = cfg.node("node2")
    node.drained = True
    asyncio.run(cfg.commit(put=[node]))
    after = rows(config_writer)
    assert [row[:2] for row in seen[0]["put"]] == [["node", node.uuid]]
    assert seen[0]["delete"] == []
    changed = {key for key in after if after[key] != before.get(key)}
    assert changed == {("node", node.uuid)}


def test_new_objects_start_at_serial_no_one(cfg: ConfigManager) -> None:
    inst = Instance(name="inst1", primary_node=cfg.node("node1").uuid)
    asyncio.run(cfg.commit(put=[inst]))
    assert inst.serial_no == 1
    assert cfg.instance("inst1") is inst


def test_new_cluster_starts_at_serial_no_one_like_other_new_objects(cfg: ConfigManager) -> None:
    assert cfg.cluster.serial_no == 1
    assert cfg.default_group().serial_no == 1


def test_cluster_serial_no_bumps_on_later_commits(cfg: ConfigManager) -> None:
    cfg.cluster.candidate_pool_size = 3
    asyncio.run(cfg.commit(put=[cfg.cluster]))
    assert cfg.cluster.serial_no == 2


def test_name_index_follows_renames(cfg: ConfigManager) -> None:
    node = cfg.node("node2")
    node.name = "node2-renamed"
    asyncio.run(cfg.commit(put=[node]))
    assert cfg.node("node2-renamed") is node
    assert cfg.find_node("node2") is None
    assert cfg.find_node(node.uuid) is node


def test_instance_name_index_follows_renames(cfg: ConfigManager) -> None:
    inst = Instance(name="a", primary_node=cfg.node("node1").uuid)
    asyncio.run(cfg.commit(put=[inst]))
    inst.name = "b"
    asyncio.run(cfg.commit(put=[inst]))
    assert cfg.find_instance("a") is None
    assert cfg.instance("b") is inst


def test_deletion_removes_object_index_and_row(cfg: ConfigManager, config_writer: SqliteWriter) -> None:
    node = cfg.node("node2")
    asyncio.run(cfg.commit(delete=[node]))
    assert cfg.find_node("node2") is None
    assert node.uuid not in cfg.nodes
    assert ("node", node.uuid) not in rows(config_writer)
    with pytest.raises(OpPrereqError) as info:
        cfg.node("node2")
    assert info.value.code == ECODE_NOENT


def test_unknown_node_lookup_raises_unknown_entity(cfg: ConfigManager) -> None:
    with pytest.raises(OpPrereqError) as info:
        cfg.node("x")
    assert info.value.code == ECODE_NOENT
    assert info.value.message == "Node 'x' not known"


def test_unknown_instance_lookup_raises_unknown_entity(cfg: ConfigManager) -> None:
    with pytest.raises(OpPrereqError) as info:
        cfg.instance("x")
    assert info.value.code == ECODE_NOENT
    assert info.value.message == "Instance 'x' not known"


def test_unknown_group_lookup_raises_unknown_entity(cfg: ConfigManager) -> None:
    assert cfg.group("default") is cfg.default_group()
    with pytest.raises(OpPrereqError, match="Node group 'g9' not known"):
        cfg.group("g9")


def test_find_returns_none_for_empty_names(cfg: ConfigManager) -> None:
    assert cfg.find_node(None) is None
    assert cfg.find_node("") is None
    assert cfg.find_instance(None) is None


def test_load_reads_back_what_was_committed(cfg: ConfigManager, config_writer: SqliteWriter) -> None:
    inst = Instance(name="inst1", primary_node=cfg.node("node1").uuid, secondary_nodes=[cfg.node("node2").uuid])
    asyncio.run(cfg.commit(put=[inst]))
    fresh = ConfigManager(config_writer)
    fresh.load()
    assert fresh.serial == 2
    assert fresh.instance("inst1") == inst
    assert fresh.node("node2") == cfg.node("node2")
    assert fresh.cluster == cfg.cluster
    assert [i.name for i in fresh.secondary_instances(cfg.node("node2").uuid)] == ["inst1"]
    assert fresh.snapshot() == cfg.snapshot()


def test_load_without_cluster_asks_for_init(config_writer: SqliteWriter) -> None:
    with pytest.raises(ConfigurationError, match="gnt-cluster init"):
        ConfigManager(config_writer).load()


def test_generate_mac_skips_used_macs(cfg: ConfigManager) -> None:
    prefix = cfg.cluster.mac_prefix
    first = cfg.generate_mac()
    assert first == f"{prefix}:00:00:01"
    assert cfg.generate_mac() == f"{prefix}:00:00:02"


def test_commit_to_unknown_object_kind_is_refused(cfg: ConfigManager) -> None:
    with pytest.raises(ConfigurationError, match="Unknown config object"):
        asyncio.run(cfg.commit(put=[object()]))  # type: ignore[list-item]


def test_replicator_receives_change_sets_in_serial_order_under_concurrent_commits(cfg: ConfigManager) -> None:
    received: list[int] = []
    rng = random.Random(4)

    async def replicator(changes: store.ChangeSet) -> None:
        received.append(int(changes["serial"]))
        await asyncio.sleep(rng.random() * 0.01)

    cfg.replicator = replicator

    async def main() -> list[int]:
        async def bump(i: int) -> int:
            await asyncio.sleep(rng.random() * 0.005)
            inst = Instance(name=f"inst{i}", primary_node=cfg.cluster.master_node)
            return await cfg.commit(put=[inst])

        return await asyncio.wait_for(asyncio.gather(*(bump(i) for i in range(20))), 5)

    serials = asyncio.run(main())
    assert sorted(serials) == list(range(2, 22))
    assert received == list(range(2, 22))
    assert cfg.serial == 21
