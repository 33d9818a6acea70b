"""`--user-shutdown` (the cluster's enabled_user_shutdown): a guest that powered itself off is
USER_down only while it is enabled; disabled, it is ERROR_down like a crash (Ganeti's default), so
the watcher, which restarts ERROR_down only, starts it again. Startup brings a USER_down guest back.
"""

from __future__ import annotations

from typing import Any

import pytest

from gnt import watcher
from gnt.cluster.logic import LUClusterSetParams
from gnt.instance.lifecycle import LUInstanceStartup
from gnt.instance.query import InstanceQueryContext
from gnt.objects import Cluster
from gnt.opcodes import OpClusterSetParams, OpInstanceStartup
from gnt.serial import from_dict, to_dict
from tests.unit.lu.conftest import Harness


def powered_off(name: str) -> dict[str, Any]:
    """What a node reports for a guest that powered itself off (RunState.SHUTDOWN)."""
    return {"name": name, "state": "shutdown", "memory": 128, "vcpus": 1}


def status(harness: Harness, state: str) -> str:
    live = {"node1": {"inst1": {**powered_off("inst1"), "state": state}}, "node2": {}}
    return str(InstanceQueryContext(harness.cfg, live).status(harness.cfg.instance("inst1")))


def enable(harness: Harness, on: bool) -> None:
    harness.run(OpClusterSetParams(enabled_user_shutdown=on), LUClusterSetParams)


def test_user_shutdown_is_off_by_default_and_modify_turns_it_on_and_off(harness: Harness) -> None:
    assert harness.cfg.cluster.enabled_user_shutdown is False
    enable(harness, True)
    assert harness.cfg.cluster.enabled_user_shutdown is True
    enable(harness, False)
    assert harness.cfg.cluster.enabled_user_shutdown is False


def test_a_guests_own_poweroff_is_error_down_while_user_shutdown_is_off(harness: Harness) -> None:
    harness.add_instance("inst1", "node1")
    assert status(harness, "shutdown") == "ERROR_down"
    assert status(harness, "crashed") == "ERROR_down"


def test_a_guests_own_poweroff_is_user_down_once_enabled_but_a_crash_stays_error_down(harness: Harness) -> None:
    harness.add_instance("inst1", "node1")
    enable(harness, True)
    assert status(harness, "shutdown") == "USER_down"
    assert status(harness, "crashed") == "ERROR_down"
    assert status(harness, "running") == "running"


def test_an_admin_shutdown_stays_admin_down_whatever_the_setting(harness: Harness) -> None:
    harness.add_instance("inst1", "node1", up=False)
    enable(harness, True)
    assert status(harness, "shutdown") == "ADMIN_down"


def test_startup_brings_a_user_down_instance_back(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    harness.add_instance("inst1", "node1")
    enable(harness, True)
    node = harness.nodes["node1"]
    node.running.pop("inst1")
    monkeypatch.setattr(node, "do_instance_info", lambda args: powered_off(args.name), raising=False)
    harness.run(OpInstanceStartup(instance_name="inst1"), LUInstanceStartup)
    assert "instance_start" in node.names() and "inst1" in node.running


class ListingClient:
    """The master as the watcher sees it: one query, then the jobs it submits."""

    def __init__(self, rows: list[tuple[str, str]]) -> None:
        self.rows = rows
        self.jobs: list[list[dict[str, Any]]] = []

    def get(self, path: str, **query: Any) -> Any:
        return {"data": [[[0, name], [0, state]] for name, state in self.rows]}

    def submit_many(self, jobs: list[list[dict[str, Any]]]) -> list[tuple[bool, Any]]:
        self.jobs.extend(jobs)
        return [(True, i) for i, _ in enumerate(jobs)]

    def request(self, method: str, path: str, body: Any = None) -> Any:
        return 0


def test_the_watcher_restarts_error_down_and_leaves_user_down(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness.add_instance("inst1", "node1")
    enable(harness, True)
    user_down = status(harness, "shutdown")
    enable(harness, False)
    error_down = status(harness, "shutdown")
    monkeypatch.setattr("gnt.cli.jobs.wait_job", lambda *a, **k: [{}])
    client = ListingClient([("userdown", user_down), ("crashed", error_down)])
    done = watcher.run_pass(client)  # type: ignore[arg-type]
    assert done["restarted"] == ["crashed"]
    assert client.jobs == [[{"OP_ID": "OP_INSTANCE_STARTUP", "instance_name": "crashed"}]]


def test_the_setting_survives_a_reload_and_an_older_config_reads_as_off(harness: Harness) -> None:
    enable(harness, True)
    saved = to_dict(harness.cfg.cluster)
    assert from_dict(Cluster, saved).enabled_user_shutdown is True
    saved.pop("enabled_user_shutdown")
    assert from_dict(Cluster, saved).enabled_user_shutdown is False
