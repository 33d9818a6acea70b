"""gnt-cluster master-ping, command, copyfile and redist-conf on a virtual cluster (issue 9)."""

from __future__ import annotations

import os

from tests.integration.test_rapi import ADMIN, READER, Rapi, rapi  # noqa: F401 - the fixture
from tests.integration.vcluster import VCluster

__all__ = ["rapi"]


def blocks(out: str) -> list[list[str]]:
    """Ganeti's per-node output: blocks after a rule of dashes."""
    parts = out.split("-" * 48 + "\n")
    assert parts[0] == ""
    return [part.splitlines() for part in parts[1:]]


def test_master_ping(cluster: VCluster) -> None:
    assert cluster.run("gnt-cluster", "master-ping").rc == 0
    elsewhere = cluster.run("gnt-cluster", "master-ping", node="node2")  # no master daemon there
    assert elsewhere.rc == 1 and elsewhere.out == ""


def test_command_runs_everywhere_in_parallel_master_last(cluster: VCluster) -> None:
    out = cluster.ok("gnt-cluster", "command", "echo", "hello from $GNT_HOSTNAME")
    assert blocks(out) == [
        ["node: node2", "hello from node2", "return code = 0"],
        ["node: node3", "hello from node3", "return code = 0"],
        ["node: node1", "hello from node1", "return code = 0"],
    ]
    machine = cluster.ok("gnt-cluster", "command", "-M", "-n", "node3", "echo a; echo b")
    assert blocks(machine) == [["node3: a", "node3: b", "return code = 0"]]
    # options after the command belong to it
    assert blocks(cluster.ok("gnt-cluster", "command", "-n", "node2", "echo", "-n", "x"))[0][1] == "x"


def test_command_failures_exit_1_and_failure_only_shows_them(cluster: VCluster) -> None:
    result = cluster.run("gnt-cluster", "command", "--failure-only", '[ "$GNT_HOSTNAME" != node2 ] || exit 3')
    assert result.rc == 1
    assert blocks(result.out) == [["node: node2", "", "return code = 3"]]


def test_command_bad_inputs_are_one_line_errors(cluster: VCluster) -> None:
    for argv, message in (
        (["-n", "nosuchnode", "true"], "Node 'nosuchnode' not known"),
        (["-g", "nosuchgroup", "true"], "Node group 'nosuchgroup' not known"),
        (["-n", "node2", "-g", "default", "true"], "not both"),
    ):
        result = cluster.run("gnt-cluster", "command", *argv)
        assert result.rc == 1 and result.out == ""
        assert message in result.err.strip().splitlines()[-1], result.err  # Ganeti's OpPrereqError form
    group = cluster.ok("gnt-cluster", "command", "-g", "default", "true")
    assert len(blocks(group)) == 3


def test_command_needs_no_node_daemon(cluster: VCluster) -> None:
    """The command goes over SSH (here: run as the virtual node), never through gnt-noded."""
    cluster.kill_daemon("node3", "gnt-noded")
    try:
        out = cluster.ok("gnt-cluster", "command", "-n", "node3", "echo $GNT_HOSTNAME; pwd")
        assert blocks(out) == [["node: node3", "node3", str(cluster.dir / "node3"), "return code = 0"]]
    finally:
        cluster.start_noded("node3")


def test_command_skips_offline_nodes(cluster: VCluster) -> None:
    cluster.ok("gnt-node", "modify", "-O", "yes", "node3")
    try:
        result = cluster.run("gnt-cluster", "command", "true")
        assert result.rc == 0 and "skipping offline node(s): node3" in result.err
        assert [b[0] for b in blocks(result.out)] == ["node: node2", "node: node1"]
    finally:
        cluster.ok("gnt-node", "modify", "-O", "no", "node3")


def test_command_timeout_stops_waiting(cluster: VCluster) -> None:
    result = cluster.run("gnt-cluster", "command", "--timeout", "1", "-n", "node2", "echo started; sleep 60")
    assert result.rc == 1
    assert blocks(result.out)[0][-1] == "return code = 124"


def test_copyfile_to_every_other_node_keeps_content_and_mode(cluster: VCluster) -> None:
    for node in ("node1", "node2", "node3"):
        (cluster.dir / node / "etc").mkdir(exist_ok=True)
    source = cluster.dir / "node1/etc/gnt-copy.txt"
    source.write_text("copied\n")
    source.chmod(0o640)
    cluster.ok("gnt-cluster", "copyfile", str(source))
    for node in ("node2", "node3"):
        copy = cluster.dir / node / "etc/gnt-copy.txt"
        assert copy.read_text() == "copied\n" and oct(os.stat(copy).st_mode & 0o777) == "0o640"
    source.write_text("only node3\n")
    cluster.ok("gnt-cluster", "copyfile", "-n", "node3", str(source))
    assert (cluster.dir / "node3/etc/gnt-copy.txt").read_text() == "only node3\n"
    assert (cluster.dir / "node2/etc/gnt-copy.txt").read_text() == "copied\n"


def test_copyfile_bad_inputs(cluster: VCluster) -> None:
    missing = cluster.run("gnt-cluster", "copyfile", str(cluster.dir / "nosuchfile"))
    assert missing.rc != 0 and "does not exist" in missing.err and len(missing.err.strip().splitlines()) == 1
    directory = cluster.run("gnt-cluster", "copyfile", str(cluster.dir))
    assert directory.rc != 0 and "not a regular file" in directory.err
    unknown = cluster.run("gnt-cluster", "copyfile", "-n", "nosuchnode", str(cluster.dir / "hosts"))
    assert unknown.rc == 1 and "Node 'nosuchnode' not known" in unknown.err and not unknown.out
    (cluster.dir / "node1/opt-gnt-test").mkdir(exist_ok=True)
    source = cluster.dir / "node1/opt-gnt-test/file"
    source.write_text("x")
    result = cluster.run("gnt-cluster", "copyfile", str(source))  # that directory exists on node1 only
    assert result.rc == 1
    lines = result.err.strip().splitlines()
    assert len(lines) == 2 and all("directory /opt-gnt-test does not exist" in line for line in lines)


def test_redist_conf_puts_back_what_a_node_lost(cluster: VCluster, rapi: Rapi) -> None:  # noqa: F811
    lost = cluster.dir / "node3/var/lib/gnt/ssconf/ssconf_node_list"
    if not lost.exists():
        lost = next((cluster.dir / "node3").rglob("ssconf_node_list"))
    lost.unlink()
    cluster.ok("gnt-cluster", "redist-conf")
    assert lost.read_text().split() == ["node1", "node2", "node3"]
    lost.unlink()
    status, job_id = rapi.call("PUT", "/2/redistribute-config", user=ADMIN)
    assert status == 200 and isinstance(job_id, int)
    assert cluster.wait_job(job_id) == "success"
    assert lost.exists()
    assert rapi.call("PUT", "/2/redistribute-config", user=READER)[0] == 403
    # command and copyfile are not served over HTTPS
    assert rapi.call("POST", "/2/cluster/command", {"command": "true"}, user=ADMIN)[0] in (404, 405)
