"""Disk parameters of a node group over the cluster's (gnt.diskparams): the overlay every disk spec
takes, a group's changes with `default`/null resets, and the cluster's declarations checking both."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from gnt import diskparams as dp
from gnt import opchecks
from gnt.objects import Cluster, Instance, Node, NodeGroup


def test_the_group_fills_from_the_cluster_key_by_key() -> None:
    cluster = {"drbd": {"resync-rate": 1000, "other": 1}, "plain": {"stripes": 1}}
    group = {"drbd": {"resync-rate": 2000}}
    assert dp.filled(cluster, group) == {"drbd": {"resync-rate": 2000, "other": 1}, "plain": {"stripes": 1}}
    assert dp.filled(cluster, {}) == cluster
    assert dp.filled({}, group) == group


def test_filled_copies_so_a_caller_cannot_change_the_config() -> None:
    cluster = {"drbd": {"resync-rate": 1000}}
    result = dp.filled(cluster, {})
    result["drbd"]["resync-rate"] = 5
    assert cluster == {"drbd": {"resync-rate": 1000}}


def test_changes_set_keys_and_default_or_null_drops_the_groups_own() -> None:
    current = {"drbd": {"resync-rate": 2000}}
    assert dp.apply_changes(current, {"drbd": {"resync-rate": 3000}}) == {"drbd": {"resync-rate": 3000}}
    assert dp.apply_changes(current, {"drbd": {"resync-rate": "default"}}) == {}
    assert dp.apply_changes(current, {"drbd": {"resync-rate": None}}) == {}
    assert dp.apply_changes({}, {"drbd": {"resync-rate": "default"}}) == {}
    assert current == {"drbd": {"resync-rate": 2000}}  # not changed in place


@pytest.mark.parametrize(
    "value",
    [
        {"plain": {"stripes": 2}},
        {"drbd": {"c-plan-ahead": 0}},
        {"drbd": {"resync-rate": 0}},
        {"drbd": {"resync-rate": "fast"}},
        {"drbd": "resync-rate=5"},
    ],
)
def test_a_groups_change_is_refused_with_the_clusters_message(value: dict[str, Any]) -> None:
    with pytest.raises(ValueError) as cluster_err:
        opchecks.diskparams(value)
    with pytest.raises(ValueError) as group_err:
        dp.check_changes(value)
    assert str(group_err.value) == str(cluster_err.value)


def test_a_groups_change_may_reset_a_key() -> None:
    dp.check_changes({"drbd": {"resync-rate": "default"}})
    dp.check_changes({"drbd": {"resync-rate": None}})
    dp.check_changes(None)


def _config(rate_by_group: dict[str, int], cluster_rate: int | None) -> tuple[Any, dict[str, Node]]:
    groups = {name: NodeGroup(name=name, diskparams={"drbd": {"resync-rate": r}}) for name, r in rate_by_group.items()}
    groups["plain"] = NodeGroup(name="plain")
    nodes = {
        "a": Node(name="a", group=groups["rack2"].uuid),
        "b": Node(name="b", group=groups["plain"].uuid),
    }
    cluster = Cluster(diskparams={"drbd": {"resync-rate": cluster_rate}} if cluster_rate else {})
    cfg = SimpleNamespace(
        cluster=cluster, groups={g.uuid: g for g in groups.values()}, nodes={n.uuid: n for n in nodes.values()}
    )
    return cfg, nodes


def test_an_instance_takes_its_primary_nodes_groups_parameters() -> None:
    cfg, nodes = _config({"rack2": 2000}, 1000)
    on_rack2 = Instance(primary_node=nodes["a"].uuid, secondary_nodes=[nodes["b"].uuid])
    on_plain = Instance(primary_node=nodes["b"].uuid, secondary_nodes=[nodes["a"].uuid])
    assert dp.of_instance(cfg, on_rack2) == {"drbd": {"resync-rate": 2000}}
    assert dp.of_instance(cfg, on_plain) == {"drbd": {"resync-rate": 1000}}  # the secondary's group does not count
    assert dp.of_instance(cfg, Instance(primary_node="gone")) == {"drbd": {"resync-rate": 1000}}


def test_build_spec_carries_the_groups_rate_to_drbd_disks_only() -> None:
    from gnt.drbd import RESYNC_RATE_KEY
    from gnt.instance.common import build_spec
    from gnt.objects import Disk

    cfg, nodes = _config({"rack2": 2000}, None)
    disks = [Disk(uuid="d0", size=64, dev_type="drbd"), Disk(uuid="d1", size=64, dev_type="plain")]
    on_rack2 = Instance(name="i", primary_node=nodes["a"].uuid, hypervisor="fake", disks=disks)
    drbd_disk, plain_disk = build_spec(cfg, on_rack2).disks
    assert drbd_disk.params[RESYNC_RATE_KEY] == 2000 and RESYNC_RATE_KEY not in plain_disk.params
    on_plain = Instance(name="j", primary_node=nodes["b"].uuid, hypervisor="fake", disks=disks)
    assert RESYNC_RATE_KEY not in build_spec(cfg, on_plain).disks[0].params  # neither sets one: node's default
    assert disks[0].params == {}  # the config's disk is not changed


def test_build_spec_refuses_a_cluster_for_the_config() -> None:
    from gnt.instance.common import build_spec

    with pytest.raises(TypeError, match="takes the config"):
        build_spec(Cluster(), Instance())
