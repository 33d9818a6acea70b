"""`gnt-node restricted-command`: run a node's own restricted command by name (Ganeti's)."""

from __future__ import annotations

import sys
from typing import Any

import click

from gnt.cli.common import CONTEXT, PRIORITIES, client, handle_errors, print_jobid_option
from gnt.cli.jobs import run_ops
from gnt.errors import ParameterError


def _group_nodes(group: str) -> list[str]:
    """The group's online nodes (Ganeti's GetOnlineNodes)."""
    cl = client()
    (row,) = cl.get("/2/query/group", fields="node_list", names=group)["data"]
    names = row[0][1] or []
    if not names:
        return []
    rows = cl.get("/2/query/node", fields="name,offline", names=",".join(names))["data"]
    return [name[1] for name, offline in rows if not offline[1]]


def add_restricted_command(main: click.Group) -> None:
    @main.command("restricted-command", context_settings=CONTEXT)
    @click.argument("command")
    @click.argument("nodes", nargs=-1)
    @click.option("--sync", is_flag=True, help="Lock the nodes while the command runs")
    @click.option("-M", "--show-machine-names", is_flag=True, help="Prefix each output line with the node name")
    @click.option("-g", "--node-group", default=None, help="Run on the online nodes of this group")
    @click.option("--submit", is_flag=True, help="Submit the job and print its ID, do not wait")
    @print_jobid_option
    @click.option("--priority", type=click.Choice(["low", "normal", "high"]), default="normal", help="Job priority")
    @handle_errors
    def restricted_command(command: str, nodes: tuple[str, ...], **opts: Any) -> None:
        """Run COMMAND, a program in each node's restricted-commands directory, without arguments.

        \b
        Example:
          gnt-node restricted-command update-firmware node2 node3
          gnt-node restricted-command -M -g rack1 show-raid
        """
        names = list(nodes) + (_group_nodes(opts["node_group"]) if opts["node_group"] else [])
        if not names:
            raise ParameterError("Node group or node names must be given")
        op = {
            "OP_ID": "OP_RESTRICTED_COMMAND",
            "command": command,
            "nodes": names,
            "use_locking": opts["sync"],
            "priority": PRIORITIES[opts["priority"]],
        }
        result = run_ops(client(), [op], opts["submit"])
        if result is None:
            return
        failed = False
        for node, (ok, text) in zip(names, result[0], strict=True):
            print("------------------------------------------------")
            if opts["show_machine_names"]:
                for line in str(text).splitlines():
                    print(f"{node}: {line}")
            else:
                print(f"node: {node}")
                print(text)
            failed = failed or not ok
        if failed:
            sys.exit(1)
