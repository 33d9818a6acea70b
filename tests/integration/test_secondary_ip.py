"""A dual-homed virtual cluster: secondary IPs on init, node add and modify through the real CLI.

Every loopback address is this machine's, so each virtual node gets a second one (127.0.X.1NN) as
its replication address; migrations then run between those (the unit tests check the addresses).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import make_cluster
from tests.integration.vcluster import ADD_DISKLESS, Result, VCluster


def _one_line_error(result: Result, text: str) -> None:
    assert result.rc == 1, result.text
    lines = [
        line for line in result.err.splitlines() if line.strip() and not line.startswith(("Failure:", "error type:"))
    ]
    assert len(lines) == 1 and text in lines[0], result.text


@pytest.fixture
def dual(tmp_path: Path) -> Iterator[VCluster]:
    vc = make_cluster(tmp_path / "vc", 3)
    vc.start()
    try:
        yield vc
    finally:
        vc.stop()


def _sip(vc: VCluster, node: str) -> str:
    return f"127.0.{vc.subnet}.{100 + int(node[4:])}"


def test_dual_homed_cluster(dual: VCluster) -> None:
    vc = dual
    shared = f"--shared-file-storage-dir={vc.dir / 'shared-file-storage'}"
    _one_line_error(
        vc.run("gnt-cluster", "init", "-s", "10.255.255.1", shared, "cluster"), "does not belong to this host"
    )
    _one_line_error(vc.run("gnt-cluster", "init", "-s", "not-an-ip", shared, "cluster"), "Invalid secondary IP")
    vc.ok("gnt-cluster", "init", "-s", _sip(vc, "node1"), shared, "cluster")
    _one_line_error(
        vc.run("gnt-node", "add", "node2"), "The master has a secondary ip but the new node doesn't have one"
    )
    _one_line_error(vc.run("gnt-node", "add", "-s", _sip(vc, "node1"), "node2"), "conflict with existing node node1")
    vc.ok("gnt-node", "add", "-s", _sip(vc, "node2"), "node2")
    vc.ok("gnt-node", "add", "-s", _sip(vc, "node3"), "node3")
    listed = vc.ok("gnt-node", "list", "--no-headers", "--separator=:", "-o", "name,pip,sip").split()
    assert listed == [f"{n}:{vc.address(n)}:{_sip(vc, n)}" for n in ("node1", "node2", "node3")]

    vc.ok(*ADD_DISKLESS, "-B", "memory=64M", "-n", "node1", "sip-a")
    vc.ok("gnt-instance", "migrate", "-f", "-n", "node2", "sip-a")  # the target listens on its secondary IP
    assert vc.instance_field("sip-a", "pnode") == "node2"

    _one_line_error(
        vc.run("gnt-node", "modify", "-s", "10.255.255.1", "node3"),
        "Node claims it doesn't have the secondary ip you gave (10.255.255.1)",
    )
    _one_line_error(vc.run("gnt-node", "modify", "-s", vc.address("node3"), "node3"), "multi-homed cluster")
    new = f"127.0.{vc.subnet}.203"
    assert "secondary_ip -> " + new in vc.ok("gnt-node", "modify", "-s", new, "node3")
    assert f"secondary ip: {new}" in vc.ok("gnt-node", "info", "node3").lower()
    vc.ok("gnt-instance", "migrate", "-f", "-n", "node3", "sip-a")
    vc.ok("gnt-instance", "remove", "-f", "sip-a")
