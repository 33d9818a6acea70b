"""The node daemon's start-up check: which guests the newest config places elsewhere."""

from __future__ import annotations

import asyncio

import pytest

from agent import startup
from gnt.errors import RpcError
from gnt.rpc.client import RpcResult


def _answer(node: str, serial: int, instances: dict[str, str]) -> RpcResult:
    placed = {name: {"primary_node": where, "admin_state": "up"} for name, where in instances.items()}
    return RpcResult(node, payload={"serial": serial, "node": node, "instances": placed})


def test_newest_config_copy_wins_and_silent_nodes_are_ignored() -> None:
    results = {
        "node1": _answer("node1", 41, {"a": "node3"}),
        "node2": _answer("node2", 42, {"a": "node2"}),
        "node4": RpcResult("node4", error=RpcError("connection refused")),
        "node5": RpcResult("node5", payload=None),  # holds no copy
    }
    best = startup.newest_placement(results)
    assert best is not None and (best.source, best.serial) == ("node2", 42)


def test_no_answer_means_no_placement() -> None:
    assert startup.newest_placement({"node1": RpcResult("node1", error=RpcError("down"))}) is None


def test_only_guests_placed_on_another_node_are_stale() -> None:
    placement = startup.Placement("node1", 7, {"moved": {"primary_node": "node2"}, "here": {"primary_node": "node3"}})
    guests = {"moved": "fake", "here": "fake", "unknown": "fake"}
    assert startup.stale_guests(guests, placement, "node3") == {"moved": "node2"}


def test_check_retries_until_a_config_holder_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = [None, None, startup.Placement("node1", 3, {"moved": {"primary_node": "node2"}})]
    stopped: list[str] = []

    async def ask(names: list[str]) -> startup.Placement | None:
        return answers.pop(0)

    async def stop(name: str, hv: str, elsewhere: str, placement: startup.Placement) -> None:
        stopped.append(name)

    monkeypatch.setattr(startup, "_ask", ask)
    monkeypatch.setattr(startup, "_stop", stop)
    monkeypatch.setattr(startup, "RETRY_INTERVAL", 0.01)
    monkeypatch.setenv("GNT_HOSTNAME", "node3")
    assert asyncio.run(startup.stop_moved_guests({"moved": "fake", "here": "fake"})) == ["moved"]
    assert stopped == ["moved"] and answers == []
