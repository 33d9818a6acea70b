"""node_powercycle on a node: answered first, then a reboot; on a virtual node only the daemon restarts."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest

import backends
from agent import powercycle
from agent.server import node_dispatcher
from backends.base import Hypervisor
from gnt.errors import HypervisorError


class _Recorder:
    def __init__(self) -> None:
        self.killed = 0
        self.real = 0

    async def kill_all_guests(self) -> None:
        self.killed += 1

    def powercycle(self) -> None:
        self.real += 1


@pytest.fixture
def virtual(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "node2"
    root.mkdir()
    monkeypatch.setenv("GNT_ROOTDIR", str(root))
    monkeypatch.setenv("GNT_HOSTNAME", "node2")
    return root


def test_virtual_node_kills_its_guests_and_re_executes_the_daemon(
    virtual: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    execs: list[tuple[str, list[str]]] = []
    monkeypatch.setattr(powercycle.os, "execv", lambda path, argv: execs.append((path, argv)))
    hv = _Recorder()
    asyncio.run(powercycle._powercycle(hv))  # type: ignore[arg-type]  # noqa: SLF001
    assert hv.killed == 1 and hv.real == 0
    assert execs == [(sys.executable, [sys.executable, *sys.orig_argv[1:]])]


def test_real_reboot_is_refused_on_a_virtual_node(virtual: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.sync", lambda: pytest.fail("must not sync"))
    with pytest.raises(HypervisorError, match="refusing to reboot the real host"):
        Hypervisor.powercycle(backends.get("fake"))


def test_the_call_answers_before_the_reboot(virtual: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The handler only schedules: the answer goes back, the reboot runs POWERCYCLE_DELAY later."""
    fired: list[Any] = []

    async def fake_powercycle(hv: Any) -> None:
        fired.append(hv)

    monkeypatch.setattr(powercycle, "_powercycle", fake_powercycle)
    monkeypatch.setattr(powercycle, "POWERCYCLE_DELAY", 0.01)

    async def scenario() -> Any:
        answer = await node_dispatcher().call("node_powercycle", {"hypervisor": "fake"})
        assert fired == []
        await asyncio.sleep(0.1)
        return answer

    answer = asyncio.run(scenario())
    assert answer == "Reboot scheduled in 0.01 seconds"
    assert fired == [backends.get("fake")]


def test_an_unknown_hypervisor_is_refused_before_anything_is_scheduled(
    virtual: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(powercycle, "_powercycle", lambda hv: pytest.fail("nothing may be scheduled"))
    monkeypatch.setattr(powercycle, "POWERCYCLE_DELAY", 0.0)

    async def scenario() -> None:
        for bad in ("../../bin/reboot", "nosuchhv"):
            with pytest.raises(Exception, match="(?i)hypervisor"):
                await node_dispatcher().call("node_powercycle", {"hypervisor": bad})
        await asyncio.sleep(0.05)

    asyncio.run(scenario())
