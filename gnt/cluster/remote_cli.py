"""gnt-cluster master-ping, command, copyfile and redist-conf (command and copyfile: see gnt.cluster.remote_run)."""

from __future__ import annotations

import os
import stat
import sys
from typing import Any

import click

from gnt.cli.common import CONTEXT, client, common_job_options, handle_errors, job_fields
from gnt.cli.jobs import run_ops
from gnt.errors import GntError, ParameterError

#: Ganeti's separator between two nodes' output
RULE = "-" * 48
#: the largest file copyfile sends (it is read whole, then written whole on each node)
MAX_FILE_BYTES = 256 * 1024 * 1024
#: seconds a command may run on a node before gnt-cluster command stops waiting for it
DEFAULT_TIMEOUT = 3600.0


def _node_names(values: tuple[str, ...]) -> list[str]:
    """-n given several times, or once with commas (both as Ganeti's scripts write it)."""
    return [name for value in values for name in value.split(",") if name]


def _note_skipped(skipped: list[str]) -> None:
    if skipped:
        print(f"Note: skipping offline node(s): {', '.join(skipped)}", file=sys.stderr)


@click.command("master-ping", context_settings=CONTEXT)
def master_ping() -> None:
    """Exit 0 if the master daemon answers, 1 if not (for scripts and monitoring).

    \b
    Example:
      gnt-cluster master-ping || echo "no master"
    """
    from gnt.cli.client import Client

    try:
        Client(timeout=10).get("/version")
    except GntError as err:
        print(f"The master daemon does not answer: {err.message}", file=sys.stderr)
        sys.exit(1)


def _chosen(nodes: tuple[str, ...], group: str | None, skip_master: bool, replication: bool = False) -> list[Any]:
    """The nodes to work on, from the master's config (a query; offline ones noted and skipped)."""
    from gnt.cluster.remote_run import NODE_FIELDS, choose_nodes, target_of

    api = client()
    answer = api.get("/2/query/node", fields=",".join(NODE_FIELDS))
    rows = [dict(zip(NODE_FIELDS, (value for _, value in row), strict=True)) for row in answer["data"]]
    groups = [g["name"] for g in api.get("/2/groups")] if group else []
    chosen, skipped = choose_nodes(rows, _node_names(nodes), group, groups, skip_master)
    _note_skipped(skipped)
    return [target_of(row, replication) for row in chosen]


@click.command(
    "command", context_settings={**CONTEXT, "ignore_unknown_options": True, "allow_interspersed_args": False}
)
@click.option("-n", "--node", "nodes", multiple=True, help="Only on this node (repeatable, or comma-separated)")
@click.option("-g", "--node-group", "group", default=None, help="Only on the nodes of this group")
@click.option("-M", "--show-machine-names", "machine_names", is_flag=True, help="Prefix each line with its node")
@click.option("--failure-only", is_flag=True, help="Show only the nodes where the command failed")
@click.option(
    "--timeout", type=click.FloatRange(min=0, min_open=True), default=DEFAULT_TIMEOUT, show_default=True,
    help="Seconds to wait for the command on each node (then return code 124)",
)  # fmt: skip
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@handle_errors
def command(
    nodes: tuple[str, ...], group: str | None, machine_names: bool, failure_only: bool, timeout: float, command: Any
) -> None:
    """Run a shell command on every online node (or some) over SSH, in parallel; its output per node.

    The master comes last. Exits 1 if the command failed on a node or a node could not be reached
    (return code 255).

    \b
    Example:
      gnt-cluster command uptime
      gnt-cluster command -n node2,node3 --failure-only 'test -e /dev/kvm'
    """
    from gnt.cluster.remote_run import default_remote, run_everywhere

    line = " ".join(command)
    if not line.strip():
        raise ParameterError("No command given")
    results = run_everywhere(default_remote(), _chosen(nodes, group, False), line, timeout)
    failed = False
    for result in results:
        failed = failed or not result.ok
        if failure_only and result.ok:
            continue
        output = result.output.rstrip("\n")
        print(RULE)
        if machine_names:
            for text in output.splitlines():
                print(f"{result.node}: {text}")
        else:
            print(f"node: {result.node}")
            print(output)
        print(f"return code = {result.exit_code}")
    sys.exit(1 if failed else 0)


@click.command("copyfile", context_settings=CONTEXT)
@click.option("-n", "--node", "nodes", multiple=True, help="Only to this node (repeatable, or comma-separated)")
@click.option("-g", "--node-group", "group", default=None, help="Only to the nodes of this group")
@click.option("--use-replication-network", is_flag=True, help="Reach the nodes on their secondary IPs")
@click.argument("file")
@handle_errors
def copyfile(nodes: tuple[str, ...], group: str | None, use_replication_network: bool, file: str) -> None:
    """Copy a file from this node to the same path on every other online node (or some), over SSH, in parallel.

    The file keeps its permission bits and is replaced whole; the directory must exist on each node.

    \b
    Example:
      gnt-cluster copyfile /etc/hosts
      gnt-cluster copyfile -n node2 /etc/motd
    """
    from gnt import paths

    path = os.path.abspath(file)
    data, mode = _read_source(file, path)
    virtual = paths.root_dir()
    if virtual and path.startswith(virtual + "/"):
        path = path[len(virtual) :]  # a virtual node's file: the same place on the others is under their roots
    from gnt.cluster.remote_run import copy_everywhere, default_remote

    targets = _chosen(nodes, group, True, use_replication_network)
    errors = copy_everywhere(default_remote(), targets, path, data, mode)
    failed = [(node, error) for node, error in zip(targets, errors, strict=True) if error]
    for node, error in failed:
        print(f"Copy of file {path} to node {node.name} failed: {error}", file=sys.stderr)
    sys.exit(1 if failed else 0)


def _read_source(file: str, path: str) -> tuple[bytes, int]:
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise ParameterError(f"{file} is not a regular file")
        if info.st_size > MAX_FILE_BYTES:
            raise ParameterError(f"{file} is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB; copy it another way")
        with open(path, "rb") as handle:
            return handle.read(), stat.S_IMODE(info.st_mode)
    except FileNotFoundError:
        raise ParameterError(f"File {file} does not exist") from None
    except OSError as err:
        raise ParameterError(f"Cannot read {file}: {err.strerror}") from None


@click.command("redist-conf", context_settings=CONTEXT)
@click.option("--yes-do-it", is_flag=True, help="Accepted for Ganeti compatibility (it asks nothing)")
@common_job_options
@handle_errors
def redist_conf(yes_do_it: bool, submit: bool, dry_run: bool, priority: str) -> None:
    """Send the config and the job queue to every master candidate, and ssconf to every node, again.

    \b
    Example:
      gnt-cluster redist-conf
    """
    run_ops(client(), [{"OP_ID": "OP_CLUSTER_REDIST_CONF", **job_fields(dry_run, priority)}], submit)


COMMANDS = (master_ping, command, copyfile, redist_conf)
