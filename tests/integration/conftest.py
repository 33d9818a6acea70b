"""Fixtures: one shared 3-node virtual cluster per test session, fresh clusters where a test breaks one."""

from __future__ import annotations

import contextlib
import os
import random
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.vcluster import VCluster

_used: set[int] = set()


def _worker_subnets() -> list[int]:
    """The subnets this process may pick from: all of 20-249, or under pytest-xdist (`-n 2`) every
    Nth one for worker N, so two workers never probe the same subnet and start on it together."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")  # gw0, gw1, ...
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    index = int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0
    return [s for s in range(20, 250) if s % count == index % count]


def _free_subnet() -> int:
    """A 127.0.X.0/24 nobody listens on (other test runs, benchmarks, a developer's own cluster)."""
    choices = _worker_subnets()
    for subnet in random.sample(choices, len(choices)):
        if subnet in _used:
            continue
        try:
            for port in (1811, 5080):
                with socket.socket() as probe:
                    probe.bind((f"127.0.{subnet}.10", port))
        except OSError:
            continue
        _used.add(subnet)
        return subnet
    raise RuntimeError("no free loopback subnet for a test cluster")


def make_cluster(tmp: Path, count: int) -> VCluster:
    return VCluster(tmp, count, _free_subnet())


@contextlib.contextmanager
def running_cluster(directory: Path, count: int) -> Iterator[VCluster]:
    """A started, initialised cluster of `count` nodes; stopped (daemons and guests) afterwards."""
    vc = make_cluster(directory, count)
    vc.start()
    try:
        vc.init()
        yield vc
    finally:
        vc.stop()


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VCluster]:
    """A 3-node cluster shared by tests that leave it as they found it."""
    with running_cluster(tmp_path_factory.mktemp("vc"), 3) as vc:
        yield vc


@pytest.fixture
def fresh_cluster(tmp_path: Path) -> Iterator[VCluster]:
    """A private 3-node cluster for tests that kill daemons or move the master."""
    with running_cluster(tmp_path / "vc", 3) as vc:
        yield vc


@pytest.fixture
def slow_migration_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[VCluster]:
    """A 2-node cluster whose fake hypervisor migrates at 8 MiB/s, so a migration can be caught mid-way."""
    monkeypatch.setenv("GNT_FAKE_MIGRATION_MBPS", "8")
    with running_cluster(tmp_path / "vc", 2) as vc:
        yield vc
