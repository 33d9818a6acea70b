"""Helpers shared by the fake-hypervisor unit tests (driver, migration)."""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import time
from collections.abc import Callable, Coroutine
from typing import Any

from backends.fake import FakeHypervisor, _proc
from gnt.runtime import InstanceSpec, RunState

TICK = 0.02
Factory = Callable[..., FakeHypervisor]


def async_test(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(fn(*args, **kwargs))

    return wrapper


def kill_guests(run_dir: str) -> None:
    """Kill the guests a test started, by the pid each recorded (and only if still ours)."""
    if not os.path.isdir(run_dir):
        return
    for name in os.listdir(run_dir):
        pid = _proc.alive_pid(os.path.join(run_dir, name))
        if pid is not None:
            os.kill(pid, signal.SIGKILL)


def spec(name: str = "inst1", memory: int = 128) -> InstanceSpec:
    return InstanceSpec(name=name, uuid=f"uuid-{name}", hypervisor="fake", memory=memory, vcpus=1)


async def wait_for(predicate: Callable[[], Coroutine[Any, Any, bool]], timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


async def counter(hv: FakeHypervisor, name: str = "inst1") -> int:
    info = await hv.instance_info(name)
    assert info is not None
    return int(info.extra["counter"])


async def state(hv: FakeHypervisor, name: str = "inst1") -> RunState | None:
    info = await hv.instance_info(name)
    return info.state if info else None
