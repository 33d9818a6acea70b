"""Fixtures: one shared 3-node virtual cluster per test session, fresh clusters where a test breaks one."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.vcluster import VCluster

# Each cluster gets its own 127.0.X.0/24, away from the default (2) a developer may be running.
_subnets = itertools.count(100 + (os.getpid() % 50) * 2)


def make_cluster(tmp: Path, count: int) -> VCluster:
    return VCluster(tmp, count, next(_subnets))


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VCluster]:
    """A 3-node cluster shared by tests that leave it as they found it."""
    vc = make_cluster(tmp_path_factory.mktemp("vc"), 3)
    vc.start()
    try:
        vc.init()
        yield vc
    finally:
        vc.stop()


@pytest.fixture
def fresh_cluster(tmp_path: Path) -> Iterator[VCluster]:
    """A private 3-node cluster for tests that kill daemons or move the master."""
    vc = make_cluster(tmp_path / "vc", 3)
    vc.start()
    try:
        vc.init()
        yield vc
    finally:
        vc.stop()
