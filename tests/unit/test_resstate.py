"""Static resource state (gnt.resstate): Ganeti's key sets and checks, changes with resets, the
cluster -> group -> node inheritance, and what the state does to a node's figures."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from gnt import opcodes, resstate
from gnt.errors import OpPrereqError


def test_key_sets_are_ganetis() -> None:
    assert resstate.HV_STATE_KEYS == ("mem_total", "mem_node", "mem_hv", "cpu_total", "cpu_node")
    assert resstate.DISK_STATE_KEYS == ("disk_total", "disk_reserved", "disk_overhead")
    assert resstate.DISK_STATE_TYPES == ("plain",)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"qemu": {"mem_total": 1}}, "invalid hypervisor 'qemu' in hypervisor state"),
        ({"kvm": {"mem_free": 1}}, "hypervisor state of kvm: unknown parameter 'mem_free'"),
        ({"kvm": {"mem_total": "lots"}}, "mem_total must be an integer, not 'lots'"),
        ({"kvm": {"mem_total": -1}}, "mem_total must be between 0 and"),
        ({"kvm": {"cpu_total": True}}, "cpu_total must be an integer"),
        ({"kvm": {"mem_node": "default"}}, "mem_node must be an integer"),  # nothing to reset in a full state
        ({"kvm": 5}, "expected an object of parameters"),
        ([1], "expected {hypervisor"),
    ],
)
def test_bad_hypervisor_states_are_refused(value: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        resstate.check_hv_state(value)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"lvm-vg": {"xenvg": {"disk_total": 1}}}, "invalid storage type 'lvm-vg' in disk state"),
        ({"plain": {"xenvg": {"total": 1}}}, "disk state of plain/xenvg: unknown parameter 'total'"),
        ({"plain": {"xenvg": {"disk_reserved": 1.5}}}, "disk_reserved must be an integer"),
        ({"plain": {"": {"disk_total": 1}}}, "invalid storage name"),
        ({"plain": ["xenvg"]}, "expected {name"),
    ],
)
def test_bad_disk_states_are_refused(value: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        resstate.check_disk_state(value)


def test_changes_may_reset_a_key_and_the_opcodes_check_them() -> None:
    resstate.check_hv_state_changes({"kvm": {"mem_node": "default", "mem_hv": None}})
    resstate.check_disk_state_changes({"plain": {"xenvg": {"disk_reserved": "default"}}})
    op = opcodes.from_dict({"OP_ID": "OP_NODE_SET_PARAMS", "node_name": "n1", "hv_state": {"kvm": {"mem_total": 1}}})
    assert op.hv_state == {"kvm": {"mem_total": 1}}
    with pytest.raises(OpPrereqError, match="invalid hypervisor 'lxc'"):
        opcodes.from_dict({"OP_ID": "OP_CLUSTER_SET_PARAMS", "hv_state": {"lxc": {}}})
    with pytest.raises(OpPrereqError, match="unknown parameter 'size'"):
        opcodes.from_dict({"OP_ID": "OP_NODE_ADD", "node_name": "n9", "disk_state": {"plain": {"vg": {"size": 1}}}})
    with pytest.raises(OpPrereqError, match="must be an integer"):  # a node add has nothing to reset
        opcodes.from_dict({"OP_ID": "OP_NODE_ADD", "node_name": "n9", "hv_state": {"kvm": {"mem_hv": "default"}}})


def test_apply_merges_keys_and_drops_what_is_reset() -> None:
    current = {"kvm": {"mem_total": 4096, "mem_node": 512}, "fake": {"cpu_total": 2}}
    changed = resstate.apply_hv_state(
        current, {"kvm": {"mem_node": "default", "mem_hv": 64}, "fake": {"cpu_total": None}}
    )
    assert changed == {"kvm": {"mem_total": 4096, "mem_hv": 64}}
    assert current["kvm"] == {"mem_total": 4096, "mem_node": 512}  # a copy: the stored state is untouched
    disks = resstate.apply_disk_state(
        {"plain": {"xenvg": {"disk_total": 100}}}, {"plain": {"xenvg": {"disk_total": None}}}
    )
    assert disks == {}
    assert resstate.apply_disk_state({}, {"plain": {"vg2": {"disk_reserved": 10}}}) == {
        "plain": {"vg2": {"disk_reserved": 10}}
    }


def test_a_nodes_own_value_wins_over_its_groups_which_wins_over_the_clusters() -> None:
    cluster = SimpleNamespace(
        hv_state_static={"kvm": {"mem_node": 1024, "mem_hv": 32}},
        disk_state_static={"plain": {"xenvg": {"disk_reserved": 100}}},
    )
    group = SimpleNamespace(uuid="g1", hv_state_static={"kvm": {"mem_node": 2048}}, disk_state_static={})
    node = SimpleNamespace(
        group="g1",
        hv_state_static={"kvm": {"mem_total": 8192}},
        disk_state_static={"plain": {"xenvg": {"disk_total": 5}}},
    )
    cfg = SimpleNamespace(cluster=cluster, groups={"g1": group})
    hv, disks = resstate.of_node(cfg, node)
    assert hv == {"kvm": {"mem_node": 2048, "mem_hv": 32, "mem_total": 8192}}
    assert disks == {"plain": {"xenvg": {"disk_reserved": 100, "disk_total": 5}}}
    orphan = SimpleNamespace(group="gone", hv_state_static={}, disk_state_static={})
    assert resstate.of_node(cfg, orphan)[0] == {"kvm": {"mem_node": 1024, "mem_hv": 32}}


LIVE = {"mtotal": 16384, "mnode": 1024, "mfree": 11264, "dtotal": 100_000, "dfree": 60_000, "ctotal": 8, "cnos": 8}


def test_no_state_leaves_the_live_figures_alone() -> None:
    assert resstate.effective_node(LIVE, {}, {}) == LIVE


def test_a_reduced_mem_total_reduces_total_and_free_memory() -> None:
    # live: 16384 total, 1024 node, 4096 in instances, 11264 free; the admin says only 8192 are the guests'
    row = resstate.effective_node(LIVE, {"mem_total": 8192}, {})
    assert (row["mtotal"], row["mnode"], row["mfree"]) == (8192, 1024, 8192 - 1024 - 4096)


def test_mem_node_and_mem_hv_reserve_memory_but_never_add_any() -> None:
    row = resstate.effective_node(LIVE, {"mem_node": 3072, "mem_hv": 512}, {})
    assert (row["mtotal"], row["mnode"], row["mfree"]) == (16384, 3072, 16384 - 3072 - 512 - 4096)
    bigger = resstate.effective_node(LIVE, {"mem_total": 65536}, {})
    assert bigger["mtotal"] == 65536 and bigger["mfree"] == LIVE["mfree"]  # no memory the node lacks
    unknown = resstate.effective_node(LIVE, {"mem_total": 0}, {})  # Ganeti's default: unknown, the live one stands
    assert unknown["mtotal"] == LIVE["mtotal"] and unknown["mfree"] == LIVE["mfree"]


def test_cpu_state_overrides_the_core_counts() -> None:
    row = resstate.effective_node(LIVE, {"cpu_total": 4, "cpu_node": 1}, {})
    assert (row["ctotal"], row["cnos"]) == (4, 1)


def test_disk_state_sets_the_total_and_keeps_the_reserve_free() -> None:
    row = resstate.effective_node(LIVE, {}, {"disk_total": 50_000, "disk_reserved": 1_000, "disk_overhead": 500})
    used = LIVE["dtotal"] - LIVE["dfree"]
    assert row["dtotal"] == 50_000 and row["dfree"] == 50_000 - 500 - used - 1_000
    assert resstate.effective_node(LIVE, {}, {"disk_reserved": 70_000})["dfree"] == 0


def test_a_node_without_live_data_keeps_its_unknowns() -> None:
    row = resstate.effective_node({"mtotal": None, "mnode": None, "mfree": None}, {"mem_node": 512}, {})
    assert row["mfree"] is None and row["mnode"] == 512


def test_free_memory_of_the_start_checks_follows_the_state() -> None:
    node = SimpleNamespace(group="g", hv_state_static={"fake": {"mem_total": 2048}}, disk_state_static={})
    cfg = SimpleNamespace(cluster=SimpleNamespace(hv_state_static={}, disk_state_static={}), groups={})
    info = {"memory_total": 8192, "memory_dom0": 512, "memory_free": 6144}
    assert resstate.free_memory(cfg, node, "fake", info) == 2048 - 512 - (8192 - 512 - 6144)
    assert resstate.free_memory(cfg, node, "kvm", info) == 6144
    assert resstate.free_memory(cfg, node, "fake", {"memory_free": 100}) == 100  # no total to work from
