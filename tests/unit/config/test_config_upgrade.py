"""Config format conversions for `gnt-cluster upgrade`: release lookup, step chains, version checks."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gnt import CONFIG_VERSION, __version__
from gnt.config import upgrade as formats
from gnt.config.manager import ConfigManager
from gnt.errors import ConfigurationError, OpPrereqError


def _rename_field(old: str, new: str) -> Any:
    def step(snapshot: formats.Snapshot) -> formats.Snapshot:
        for node in snapshot.get("node", {}).values():
            node[new] = node.pop(old)
        return snapshot

    return step


@pytest.fixture
def two_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    """Formats 100 -> 101 (node 'name' becomes 'hostname') -> 102 (back to 'name')."""
    steps = [
        formats.Step(100, 101, _rename_field("name", "hostname"), _rename_field("hostname", "name")),
        formats.Step(101, 102, _rename_field("hostname", "name"), _rename_field("name", "hostname")),
    ]
    monkeypatch.setattr(formats, "STEPS", steps)


def test_this_release_is_known_and_others_are_refused_before_anything_changes() -> None:
    assert formats.check_release(__version__) == CONFIG_VERSION
    with pytest.raises(OpPrereqError, match="Unknown gnt version '9.9.9': this gnt can upgrade to"):
        formats.check_release("9.9.9")
    with pytest.raises(OpPrereqError, match="Invalid version 'latest'"):
        formats.check_release("latest")


@pytest.mark.usefixtures("two_steps")
def test_conversion_runs_each_step_up_then_back_down(cfg: ConfigManager) -> None:
    snapshot = cfg.snapshot()
    middle = formats.convert(snapshot, 100, 101)
    assert all("hostname" in n and "name" not in n for n in middle["node"].values())
    assert next(iter(middle["cluster"].values()))["config_version"] == 101
    assert "name" in next(iter(snapshot["node"].values()))  # the input is left alone
    top = formats.convert(middle, 101, 102)
    back = formats.convert(top, 102, 100)
    assert back["node"] == snapshot["node"]
    assert [d for d, _ in formats.plan(102, 100)] == ["down", "down"]


@pytest.mark.usefixtures("two_steps")
def test_formats_no_chain_joins_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="No conversion of the configuration from format 100 to 103"):
        formats.plan(100, 103)
    with pytest.raises(ConfigurationError, match="from format 99 to 101"):
        formats.plan(99, 101)


def test_no_steps_today_means_same_format_only() -> None:
    assert formats.plan(CONFIG_VERSION, CONFIG_VERSION) == []
    with pytest.raises(ConfigurationError):
        formats.plan(CONFIG_VERSION, CONFIG_VERSION + 1)


def test_every_online_node_must_answer_with_the_target_version() -> None:
    formats.check_versions({"node1": "0.1.0", "node2": "offline"}, "0.1.0")
    with pytest.raises(OpPrereqError, match="^Mixed gnt versions: node2 runs 0.0.9, node3 runs 0.2.0; install"):
        formats.check_versions({"node1": "0.1.0", "node2": "0.0.9", "node3": "0.2.0"}, "0.1.0")
    with pytest.raises(OpPrereqError, match="Could not get the gnt version of node2"):
        formats.check_versions({"node1": "0.1.0", "node2": None}, "0.1.0")


def test_a_config_written_before_formats_were_stamped_reads_as_format_100(cfg: ConfigManager) -> None:
    cluster = cfg.snapshot()["cluster"]
    for data in cluster.values():
        data.pop("config_version", None)
    from gnt import serial
    from gnt.objects import Cluster

    assert serial.from_dict(Cluster, next(iter(cluster.values()))).config_version == 100
    asyncio.run(cfg.commit([cfg.cluster]))
