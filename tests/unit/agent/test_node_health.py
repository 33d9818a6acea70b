"""The watcher's node-health pass (agent.node_health): which config answer decides, and that it acts
only on a node the newest copy knows, marks offline, with maintain_node_health on; the guests it
then stops are only those a hypervisor reports running, their recorded disks shut down after."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from agent import node_health
from gnt.errors import RpcError
from gnt.rpc.client import RpcResult
from gnt.runtime import DiskSpec, InstanceRuntime, RunState


def _answer(node: str, serial: int, offline: bool, maintain: bool = True, known: bool = True) -> RpcResult:
    payload = {"serial": serial, "node": node, "known": known, "offline": offline, "maintain_node_health": maintain}
    return RpcResult(node, payload=payload)


def test_the_newest_config_copy_decides_and_silent_nodes_are_ignored() -> None:
    results = {
        "node1": _answer("node1", 10, offline=False),  # an older copy, before the node was offlined
        "node2": _answer("node2", 12, offline=True),
        "node4": RpcResult("node4", error=RpcError("connection refused")),
        "node5": RpcResult("node5", payload=None),  # holds no copy
    }
    verdict = node_health.newest_verdict(results)
    assert verdict is not None and (verdict.source, verdict.serial) == ("node2", 12) and verdict.must_clean


@pytest.mark.parametrize(
    ("answer", "clean"),
    [
        (_answer("n", 1, offline=True), True),
        (_answer("n", 1, offline=False), False),
        (_answer("n", 1, offline=True, maintain=False), False),
        (_answer("n", 1, offline=True, known=False), False),  # a copy that does not know this node
    ],
)
def test_only_a_known_offline_node_with_the_setting_on_is_cleaned(answer: RpcResult, clean: bool) -> None:
    verdict = node_health.newest_verdict({"n": answer})
    assert verdict is not None and verdict.must_clean is clean


def test_no_answer_means_nothing_is_done(monkeypatch: pytest.MonkeyPatch) -> None:
    assert node_health.newest_verdict({"n": RpcResult("n", error=RpcError("down"))}) is None

    async def guests() -> dict[str, str]:
        return {"vm1": "fake"}

    async def nobody(me: str) -> None:
        return None

    stopped: list[str] = []

    async def stop(guests: dict[str, str], outcome: Any) -> None:
        stopped.extend(guests)

    monkeypatch.setattr(node_health, "local_guests", guests)
    monkeypatch.setattr(node_health, "ask", nobody)
    monkeypatch.setattr(node_health, "stop_guests", stop)
    outcome = asyncio.run(node_health.run_pass())
    assert outcome.verdict is None and stopped == []


class _Hv:
    """A hypervisor with one running and one crashed guest; records stops."""

    def __init__(self) -> None:
        self.states = {"up": RunState.RUNNING, "dead": RunState.CRASHED}
        self.stopped: list[str] = []

    async def instance_info(self, name: str) -> InstanceRuntime | None:
        if name not in self.states:
            return None
        return InstanceRuntime(name, self.states[name], 64, 1, None)

    async def running_disks(self, name: str) -> list[DiskSpec]:
        return [DiskSpec(uuid=f"{name}-d0", index=0, size=4, dev_type="file", logical_id=["loop", "/x"])]

    async def stop(self, spec: Any, timeout: float, force: bool = False) -> None:
        assert force
        self.stopped.append(spec.name)
        del self.states[spec.name]

    async def cleanup(self, name: str) -> None:
        raise AssertionError("nothing left to clean")


class _Storage:
    def __init__(self) -> None:
        self.shut: list[str] = []

    async def shutdown(self, disk: DiskSpec) -> None:
        self.shut.append(disk.uuid)


def test_only_running_guests_are_stopped_then_their_disks_shut_down(monkeypatch: pytest.MonkeyPatch) -> None:
    hv, disks = _Hv(), _Storage()
    monkeypatch.setattr(node_health.backends, "get", lambda name: hv)
    monkeypatch.setattr(node_health.storage, "get", lambda name: disks)
    outcome = node_health.Outcome()
    asyncio.run(node_health.stop_guests({"up": "fake", "dead": "fake"}, outcome))
    assert hv.stopped == ["up"] and disks.shut == ["up-d0"]
    assert outcome.stopped == ["up"] and outcome.deactivated == ["up/disk0"] and outcome.errors == []
