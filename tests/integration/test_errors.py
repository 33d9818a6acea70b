"""Bad input gives Ganeti's error shapes, exit 1 (2 for usage), and changes nothing."""

from __future__ import annotations

import pytest

from tests.integration.vcluster import ADD_DISKLESS, ADD_INSTANCE, VCluster

ADD = ADD_DISKLESS


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            [*ADD, "-B", "memory=64M", "-n", "node99", "err-x"],
            "Failure: prerequisites not met for this operation:\nerror type: unknown_entity, error details:\n"
            "Node 'node99' not known\n",
        ),
        (
            [*ADD, "-B", "memory=abc", "-n", "node1", "err-y"],
            "Parameter Error: 'memory' (value abc) is not a valid size. error: Invalid format\n",
        ),
        (
            [*ADD, "-B", "memory=-5", "-n", "node1", "err-y"],
            "Parameter Error: 'memory' (value -5) is not a valid size. error: Invalid format\n",
        ),
        (
            [
                "gnt-instance",
                "add",
                "-o",
                "nosuchos",
                "--no-name-check",
                "--no-ip-check",
                "--no-nics",
                "-t",
                "diskless",
                "-B",
                "memory=64M",
                "-n",
                "node1",
                "err-z",
            ],
            "Failure: command execution error:\n"
            "OS Parameters validation failed on node node1: Directory for OS nosuchos not found in search path\n",
        ),
        (
            ["gnt-instance", "remove", "-f", "no-such-instance"],
            "Failure: prerequisites not met for this operation:\nerror type: unknown_entity, error details:\n"
            "Instance 'no-such-instance' not known\n",
        ),
        (
            ["gnt-instance", "info", "no-such-instance"],
            "Failure: prerequisites not met for this operation:\nerror type: unknown_entity, error details:\n"
            "Instance 'no-such-instance' not known\n",
        ),
        (
            [
                *ADD_INSTANCE,
                "-t",
                "bogus",
                "-n",
                "node1",
                "err-t",
            ],
            "Failure: prerequisites not met for this operation:\nerror type: wrong_input, error details:\n"
            "Invalid disk template 'bogus'\n",
        ),
        (
            [
                *ADD_INSTANCE,
                "-t",
                "file",
                "--disk",
                "0:size=0",
                "-n",
                "node1",
                "err-s",
            ],
            "Failure: prerequisites not met for this operation:\nerror type: wrong_input, error details:\n"
            "Disk 0: size must be positive\n",
        ),
    ],
)
def test_bad_input_prints_ganeti_error_and_changes_nothing(cluster: VCluster, argv: list[str], expected: str) -> None:
    before = cluster.ok("gnt-instance", "list", "--no-headers", "-o", "name")
    result = cluster.run(*argv)
    assert result.rc == 1
    assert result.err == expected
    assert cluster.ok("gnt-instance", "list", "--no-headers", "-o", "name") == before


def test_duplicate_name_is_refused(cluster: VCluster) -> None:
    cluster.ok(*ADD, "-B", "memory=32M", "-n", "node1", "dup-a")
    result = cluster.run(*ADD, "-B", "memory=32M", "-n", "node2", "dup-a")
    assert result.rc == 1
    assert "error type: already_exists" in result.err and "Instance 'dup-a' is already in the cluster" in result.err
    assert cluster.instance_field("dup-a", "pnode") == "node1"
    cluster.ok("gnt-instance", "remove", "-f", "dup-a")


def test_migrate_and_failover_of_file_instance_refused(cluster: VCluster) -> None:
    cluster.ok(
        *ADD_INSTANCE,
        "-t",
        "file",
        "--disk",
        "0:size=4M",
        "-B",
        "memory=32M",
        "-n",
        "node3",
        "err-f",
    )
    migrate = cluster.run("gnt-instance", "migrate", "-f", "err-f")
    assert migrate.rc == 1
    assert migrate.err.endswith(
        "error type: wrong_state, error details:\nInstance's disk layout 'file' does not allow migrations\n"
    )
    failover = cluster.run("gnt-instance", "failover", "-f", "err-f")
    assert failover.rc == 1
    assert "Instance's disk layout 'file' does not allow failovers" in failover.err
    assert cluster.instance_field("err-f", "pnode") == "node3"
    cluster.ok("gnt-instance", "remove", "-f", "err-f")


def test_offline_target_node_is_refused(cluster: VCluster) -> None:
    cluster.ok(*ADD, "-B", "memory=32M", "-n", "node1", "off-a")
    cluster.ok("gnt-node", "modify", "-O", "yes", "node3")
    try:
        assert cluster.ok("gnt-node", "list", "--no-headers", "-o", "name,role", "node3").split() == ["node3", "O"]
        result = cluster.run("gnt-instance", "migrate", "-f", "-n", "node3", "off-a")
        assert result.rc == 1
        assert "error type: wrong_state" in result.err and "offline" in result.err
        assert cluster.instance_field("off-a", "pnode") == "node1"
    finally:
        cluster.ok("gnt-node", "modify", "-O", "no", "node3")
    cluster.ok("gnt-instance", "remove", "-f", "off-a")


def test_not_enough_memory_is_refused(cluster: VCluster) -> None:
    result = cluster.run(*ADD, "-B", "memory=1000G", "-n", "node1", "big-a")
    assert result.rc == 1  # as in Ganeti, the instance policy (at most 32 GiB by default) refuses it first
    assert "error type: wrong_input" in result.err and "memory-size value 1024000 is not in range" in result.err
    result = cluster.run(*ADD, "-B", "memory=1000G", "-n", "node1", "--ignore-ipolicy", "big-a")
    assert result.rc == 1
    assert "error type: insufficient_resources" in result.err
    assert "big-a" not in cluster.ok("gnt-instance", "list")


def test_usage_errors_exit_2(cluster: VCluster) -> None:
    assert cluster.run("gnt-instance", "add", "--bogus").rc == 2
    assert cluster.run("gnt-node", "frobnicate").rc == 2
    assert cluster.run("gnt-instance", "add", "inst").rc == 2  # -t is required


def test_unknown_job_info_says_not_found(cluster: VCluster) -> None:
    result = cluster.run("gnt-job", "info", "999999")
    assert result.out == "- Job ID 999999 not found\n"


def test_unknown_list_field_is_refused(cluster: VCluster) -> None:
    result = cluster.run("gnt-instance", "list", "-o", "name,nosuchfield")
    assert result.rc == 1
    assert "Unknown output fields selected: nosuchfield" in result.err


def test_cli_on_non_master_node_names_the_master(cluster: VCluster) -> None:
    result = cluster.run("gnt-instance", "list", node="node2")
    assert result.rc == 1
    assert "This is not the master node, please connect to node 'node1'" in result.err


def test_node_remove_with_instances_refused(cluster: VCluster) -> None:
    cluster.ok(*ADD, "-B", "memory=32M", "-n", "node2", "rm-a")
    result = cluster.run("gnt-node", "remove", "node2")
    assert result.rc == 1 and "Instance rm-a is still running on the node" in result.err
    master = cluster.run("gnt-node", "remove", "node1")
    assert master.rc == 1 and "master node" in master.err
    cluster.ok("gnt-instance", "remove", "-f", "rm-a")
