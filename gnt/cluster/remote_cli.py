"""gnt-cluster master-ping, command, copyfile and redist-conf (the CLI side; see gnt.cluster.remote)."""

from __future__ import annotations

import base64
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
#: what copyfile sends in one call (the master's unix socket takes bodies up to 64 MiB, base64 grows by a third)
MAX_FILE_BYTES = 32 * 1024 * 1024


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


@click.command(
    "command", context_settings={**CONTEXT, "ignore_unknown_options": True, "allow_interspersed_args": False}
)
@click.option("-n", "--node", "nodes", multiple=True, help="Only on this node (repeatable, or comma-separated)")
@click.option("-g", "--node-group", "group", default=None, help="Only on the nodes of this group")
@click.option("-M", "--show-machine-names", "machine_names", is_flag=True, help="Prefix each line with its node")
@click.option("--failure-only", is_flag=True, help="Show only the nodes where the command failed")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@handle_errors
def command(nodes: tuple[str, ...], group: str | None, machine_names: bool, failure_only: bool, command: Any) -> None:
    """Run a shell command on every online node (or some), in parallel; its output per node.

    The master comes last. Exits 1 if the command failed on a node or a node could not be reached.

    \b
    Example:
      gnt-cluster command uptime
      gnt-cluster command -n node2,node3 --failure-only 'test -e /dev/kvm'
    """
    line = " ".join(command)
    body = {"command": line, "nodes": _node_names(nodes) or None, "group": group}
    answer = client().request("POST", "/2/cluster/command", body)
    _note_skipped(answer["skipped"])
    failed = False
    for result in answer["results"]:
        ok = result["exit_code"] == 0 and not result.get("error")
        failed = failed or not ok
        if failure_only and ok:
            continue
        output = result.get("error") or result["output"].rstrip("\n")
        print(RULE)
        if machine_names:
            for text in output.splitlines():
                print(f"{result['node']}: {text}")
        else:
            print(f"node: {result['node']}")
            print(output)
        print(f"return code = {result['exit_code']}")
    sys.exit(1 if failed else 0)


@click.command("copyfile", context_settings=CONTEXT)
@click.option("-n", "--node", "nodes", multiple=True, help="Only to this node (repeatable, or comma-separated)")
@click.option("-g", "--node-group", "group", default=None, help="Only to the nodes of this group")
@click.option("--use-replication-network", is_flag=True, help="Accepted for Ganeti compatibility (not used)")
@click.argument("file")
@handle_errors
def copyfile(nodes: tuple[str, ...], group: str | None, use_replication_network: bool, file: str) -> None:
    """Copy a file from this node to the same path on every other online node (or some), in parallel.

    The file keeps its permission bits; the directory must exist on each node.

    \b
    Example:
      gnt-cluster copyfile /etc/hosts
      gnt-cluster copyfile -n node2 /etc/motd
    """
    path = os.path.abspath(file)
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise ParameterError(f"{file} is not a regular file")
        if info.st_size > MAX_FILE_BYTES:
            raise ParameterError(f"{file} is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB; copy it another way")
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        raise ParameterError(f"File {file} does not exist") from None
    except OSError as err:
        raise ParameterError(f"Cannot read {file}: {err.strerror}") from None
    from gnt import paths

    virtual = paths.root_dir()
    if virtual and path.startswith(virtual + "/"):
        path = path[len(virtual) :]  # a virtual node's file: the same place on the others is under their roots
    body = {
        "path": path,
        "data": base64.b64encode(data).decode(),
        "mode": stat.S_IMODE(info.st_mode),
        "nodes": _node_names(nodes) or None,
        "group": group,
    }
    answer = client().request("POST", "/2/cluster/copyfile", body)
    _note_skipped(answer["skipped"])
    failed = [r for r in answer["results"] if r["error"]]
    for result in failed:
        print(f"Copy of file {path} to node {result['node']} failed: {result['error']}", file=sys.stderr)
    sys.exit(1 if failed else 0)


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
