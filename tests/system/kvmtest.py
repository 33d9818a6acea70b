"""Helpers and fixtures for the kvm system tests: real QEMU guests, "nodes" as driver objects, network namespaces.

Two nodes are two driver objects with their own runtime and data dirs (what GNT_ROOTDIR gives a
virtual node), talking over loopback. Everything a test starts is stopped in teardown by pid,
even when the test fails. Run as root after tests/system/install-deps.sh.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

sys.path.insert(0, os.path.dirname(__file__))

import guest  # noqa: E402

from backends.kvm import (  # noqa: E402
    KvmHypervisor,
    create,
    proc,  # noqa: E402
)
from backends.kvm import accel as accel_probe  # noqa: E402
from gnt.runtime import DiskSpec, InstanceSpec, NicSpec  # noqa: E402

TOOLS = ("qemu-system-x86_64", "qemu-img", "socat", "ip", "busybox", "dpkg-deb")
_missing = [t for t in TOOLS if not shutil.which(t)]
if _missing or os.geteuid() != 0:
    why = f"missing {', '.join(_missing)}" if _missing else "not root"
    pytest.skip(
        f"kvm system tests need root and QEMU tools ({why}): run tests/system/install-deps.sh", allow_module_level=True
    )

_counter = itertools.count(1)


_loop: asyncio.AbstractEventLoop | None = None


def run(coro: Any, timeout: float = 240.0) -> Any:
    """Run one coroutine on the tests' own loop (plain test functions; no asyncio plugin needed).

    One loop for the whole session, independent of the current-loop policy that other tests'
    asyncio.run() calls reset, so drivers' supervisor tasks keep running between calls.
    """
    global _loop
    if _loop is None or _loop.is_closed():
        _loop = asyncio.new_event_loop()
    return _loop.run_until_complete(asyncio.wait_for(coro, timeout))


@pytest.fixture(scope="session")
def guest_files() -> tuple[str, str]:
    return guest.kernel(), guest.initramfs()


@pytest.fixture(scope="session")
def accel_verdict(tmp_path_factory: pytest.TempPathFactory, guest_files: tuple[str, str]) -> dict[str, Any]:
    """The real acceleration probe, once per session (a hanging /dev/kvm costs its timeout once)."""
    data = str(tmp_path_factory.mktemp("accel"))
    return run(accel_probe.detect(shutil.which("qemu-system-x86_64") or "", data, [guest_files[0]]))


class Node:
    """One virtual node: a kvm driver with its own dirs; remembers what to clean up."""

    def __init__(self, root: str, accel: str, netns: str | None) -> None:
        self.root = root
        self.driver: KvmHypervisor = self.new_driver(accel, netns)

    def new_driver(self, accel: str, netns: str | None) -> KvmHypervisor:
        """A fresh driver object on the same dirs: what a restarted node daemon gets."""
        return create(
            run_dir=os.path.join(self.root, "run"), data_dir=os.path.join(self.root, "data"), accel=accel, netns=netns
        )

    def disk_dir(self) -> str:
        return proc_dir(os.path.join(self.root, "disks"))

    def teardown(self) -> None:
        run_root = os.path.join(self.root, "run")
        for name in os.listdir(run_root) if os.path.isdir(run_root) else []:
            state = proc.load_state(os.path.join(run_root, name, "runtime.json")) or {}
            proc.signal_pid(state.get("pid"), state.get("start_time"))
            run(self.driver.forget(name), 30)


def proc_dir(path: str) -> str:
    os.makedirs(path, exist_ok=True)
    return path


@pytest.fixture
def make_node(tmp_path: Any, accel_verdict: dict[str, Any]) -> Iterator[Callable[..., Node]]:
    nodes: list[Node] = []

    def factory(netns: str | None = None) -> Node:
        node = Node(str(tmp_path / f"node{len(nodes) + 1}"), accel_verdict["accel"], netns)
        nodes.append(node)
        return node

    yield factory
    for node in nodes:
        node.teardown()


def make_spec(
    name: str = "",
    memory: int = 128,
    args: str = "",
    disks: list[DiskSpec] | None = None,
    nics: list[NicSpec] | None = None,
    **hv: Any,
) -> InstanceSpec:
    name = name or f"inst{next(_counter)}.example.com"
    return InstanceSpec(
        name,
        str(uuid.uuid4()),
        "kvm",
        memory,
        1,
        hvparams=guest.hvparams(args=args, **hv),
        disks=disks or [],
        nics=nics or [],
    )


def make_disk(path: str, dev_type: str, fmt: str = "raw", size: int = 64, index: int = 0) -> DiskSpec:
    subprocess.run(["qemu-img", "create", "-q", "-f", fmt, path, f"{size}M"], check=True)
    return DiskSpec(str(uuid.uuid4()), index, size, dev_type, logical_id=["loop", path], path=path)


@pytest.fixture
def netns() -> Iterator[str]:
    """A network namespace with lo up and a bridge br0 at 10.8.0.1/24 (never leaves the namespace)."""
    name = f"gnt-test-{os.getpid()}-{next(_counter)}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        for argv in (
            ["link", "set", "lo", "up"],
            ["link", "add", "br0", "type", "bridge"],
            ["addr", "add", "10.8.0.1/24", "dev", "br0"],
            ["link", "set", "br0", "up"],
        ):
            subprocess.run(["ip", "-n", name, *argv], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)
