"""The virtual cluster as a newcomer meets it: any working directory, a second cluster, error messages."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import make_cluster, running_cluster
from tests.integration.vcluster import ADD_INSTANCE, VCluster, alive


@pytest.fixture(scope="module")
def occupied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VCluster]:
    """A running, initialised 1-node cluster: its node daemon and RAPI hold their addresses."""
    with running_cluster(tmp_path_factory.mktemp("occupied"), 1) as vc:
        yield vc


def live_daemons(vc: VCluster) -> list[str]:
    """Pid files of this cluster that name a live process."""
    return [str(p) for p in vc.dir.glob("node*/var/run/gnt/*.pid") if alive(int(p.read_text() or 0))]


def test_daemons_start_from_a_directory_holding_a_decoy_gnt_package(tmp_path: Path) -> None:
    decoy = tmp_path / "work"
    (decoy / "gnt").mkdir(parents=True)
    (decoy / "gnt" / "__init__.py").write_text("raise ImportError('the decoy gnt package was imported')\n")
    (decoy / "daemons").mkdir()
    (decoy / "daemons" / "__init__.py").write_text("raise ImportError('the decoy daemons package was imported')\n")
    vc = make_cluster(tmp_path / "vc", 2)
    vc.start(cwd=decoy)
    try:
        vc.ok("gnt-cluster", "init", "cluster", cwd=decoy)
        vc.ok("gnt-node", "add", "node2", cwd=decoy)
        vc.stop()
        vc.start(cwd=decoy)  # start-all also starts gnt-masterd now that node1 is the master
        assert "node2" in vc.ok("gnt-node", "list", "--no-headers", "-o", "name", cwd=decoy)
        vc.ok("gnt-cluster", "master-failover", node="node2", cwd=decoy)
        assert "node2" in vc.ok("gnt-cluster", "getmaster", node="node2", cwd=decoy)
    finally:
        vc.stop()


def test_start_all_fails_at_once_naming_the_taken_address(occupied: VCluster, tmp_path: Path) -> None:
    clash = VCluster(tmp_path / "clash", 2, occupied.subnet)
    address = occupied.address("node1")
    result = clash.run_script("start-all")
    try:
        assert result.rc == 1
        assert f"gnt-noded on node1 failed: gnt-noded: cannot listen on {address}:1811" in result.err
        assert f"see {clash.dir}/node1/var/log/gnt/noded.out" in result.err
        assert live_daemons(clash) == []  # node2's daemon, which could start, was stopped again
    finally:
        clash.stop()


def test_vcluster_setup_picks_a_free_subnet(occupied: VCluster, tmp_path: Path) -> None:
    # occupied was set up with an explicit subnet; the default must steer clear of it and of any taken one
    fresh = VCluster(tmp_path / "fresh", 1, None)
    assert fresh.subnet != occupied.subnet
    with socket.socket() as probe:
        probe.bind((fresh.address("node1"), 1811))
    assert f"addresses {fresh.address('node1')} and up" in fresh.setup_output.stdout


def test_failed_masterd_start_names_the_log_holding_the_error(tmp_path: Path) -> None:
    vc = make_cluster(tmp_path / "vc", 1)
    vc.start()
    try:
        with socket.socket() as squatter:  # someone else holds the RAPI address
            squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            squatter.bind((vc.address("node1"), 5080))
            squatter.listen()
            result = vc.run("gnt-cluster", "init", "cluster")
        start_log = vc.dir / "node1/var/log/gnt/gnt-masterd-start.log"
        assert result.rc == 1
        assert f"cannot listen on {vc.address('node1')}:5080 for the RAPI" in result.err
        assert f"see {start_log}" in result.err
        assert "cannot listen on" in start_log.read_text()
        assert "Traceback" not in start_log.read_text()
        assert not (vc.dir / "node1/var/lib/gnt/config.db").exists()  # the failed init left nothing behind
        vc.ok("gnt-cluster", "init", "cluster")  # and can simply be run again
    finally:
        vc.stop()


def test_start_all_reports_a_master_daemon_that_cannot_listen(tmp_path: Path) -> None:
    vc = make_cluster(tmp_path / "vc", 1)
    vc.start()
    try:
        vc.ok("gnt-cluster", "init", "cluster")
        vc.stop()
        with socket.socket() as squatter:
            squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            squatter.bind((vc.address("node1"), 5080))
            squatter.listen()
            result = vc.run_script("start-all")
        assert result.rc == 1
        assert "gnt-masterd on node1 failed: gnt-masterd: not starting:" in result.err
        assert f"cannot listen on {vc.address('node1')}:5080 for the RAPI" in result.err
        assert f"see {vc.dir}/node1/var/log/gnt/masterd.out" in result.err
        # the node daemon stays up (the master's way out needs it), and the message says how to stop it
        assert live_daemons(vc) == [str(vc.pid_path("node1", "gnt-noded"))]
        assert "node daemons are left running" in result.err and f"{vc.dir}/stop-all" in result.err
        vc.start()
        assert "node1" in vc.ok("gnt-node", "list")
    finally:
        vc.stop()


def test_sharedfile_storage_defaults_to_one_directory_for_the_virtual_cluster(tmp_path: Path) -> None:
    vc = make_cluster(tmp_path / "vc", 2)
    vc.start()
    try:
        vc.ok("gnt-cluster", "init", "cluster")
        vc.ok("gnt-node", "add", "node2")
        shared = vc.dir / "shared-file-storage"
        assert f"shared file storage path: {shared}" in vc.ok("gnt-cluster", "info")
        vc.ok(*ADD_INSTANCE, "-t", "sharedfile", "--disk", "0:size=4M", "-B", "memory=32M", "-n", "node1", "sf1")
        assert list(shared.glob("sf1/*"))
        vc.ok("gnt-instance", "migrate", "-f", "-n", "node2", "sf1")
        assert vc.instance_field("sf1", "pnode") == "node2"
        assert vc.instance_field("sf1", "status") == "running"
    finally:
        vc.stop()
