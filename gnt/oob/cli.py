"""`gnt-node power|health` and `gnt-cluster epo`: Ganeti's out-of-band commands on the CLI.

Each builds OP_OOB_COMMAND (the master runs the node's `oob_program`) and prints Ganeti's
two-column table, Node and Status. Registered onto the tools' click groups by
`add_node_oob_commands` and `add_epo_command`, so the tools' own modules change by one line.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from gnt.cli.common import CONTEXT, PRIORITIES, client, confirm, handle_errors, print_jobid_option
from gnt.cli.jobs import run_ops
from gnt.cli.output import table
from gnt.errors import ParameterError

#: `gnt-node power` subcommands, mapped to the OOB command (Ganeti's list)
POWER_COMMANDS = {"on": "power-on", "off": "power-off", "cycle": "power-cycle", "status": "power-status"}
#: subcommands that ask for confirmation and need node names
_ASK = ("power-off", "power-cycle")
_RS_NORMAL = 0
_RS_TEXT = {2: "(nodata)", 3: "(unavail)", 4: "(offline)"}
DEFAULT_OOB_TIMEOUT = 60
DEFAULT_POWER_DELAY = 2.0


def _oob_options(fn: Any) -> Any:
    fn = click.option(
        "--oob-timeout",
        type=click.IntRange(1, 3600),
        default=DEFAULT_OOB_TIMEOUT,
        help="Seconds the out-of-band program may take per node",
    )(fn)
    return fn


def _print_table(rows: list[list[str]], no_headers: bool, separator: str | None) -> None:
    headers = None if no_headers else ["Node", "Status"]
    for line in table(headers, rows, [False, False], separator):
        print(line)


def _oob_op(nodes: list[str], command: str, **fields: Any) -> dict[str, Any]:
    return {"OP_ID": "OP_OOB_COMMAND", "node_names": nodes, "command": command, **fields}


def add_node_oob_commands(main: click.Group) -> None:
    """Add `power`, `health` and `powercycle` to gnt-node."""

    @main.command(context_settings=CONTEXT)
    @click.argument("node")
    @click.option("--yes", "confirmed", is_flag=True, help="Do not ask for confirmation")
    @click.option("-f", "--force", is_flag=True, help="Allow power-cycling the master node")
    @click.option("--submit", is_flag=True, help="Submit the job and print its ID, do not wait")
    @print_jobid_option
    @click.option("--dry-run", is_flag=True, help="Only check the prerequisites")
    @click.option("--priority", type=click.Choice(["low", "normal", "high"]), default="normal", help="Job priority")
    @handle_errors
    def powercycle(node: str, confirmed: bool, force: bool, submit: bool, dry_run: bool, priority: str) -> None:
        """Hard-reboot a node through its node daemon (the master only with --force).

        \b
        Example:
          gnt-node powercycle --yes node3
        """
        if not confirmed and not sys.stdin.isatty():
            raise ParameterError(f"Not powercycling node {node} without confirmation; use --yes")
        confirm(f"Are you sure you want to hard powercycle node {node}?", confirmed)
        op = {
            "OP_ID": "OP_NODE_POWERCYCLE",
            "node_name": node,
            "force": force,
            "dry_run": dry_run,
            "priority": PRIORITIES[priority],
        }
        results = run_ops(client(), [op], submit)
        if results and results[0]:
            print(results[0], file=sys.stderr)

    @main.command(context_settings=CONTEXT)
    @click.argument("subcommand")
    @click.argument("nodes", nargs=-1)
    @click.option("-f", "--force", is_flag=True, help="Do not ask for confirmation")
    @click.option("--ignore-status", is_flag=True, help="Do not mark the node offline before power-off")
    @click.option("--auto-promote", is_flag=True, help="Promote another node to candidate if needed")
    @click.option(
        "--power-delay",
        type=click.FloatRange(0, 3600),
        default=DEFAULT_POWER_DELAY,
        help="Seconds between powering on two nodes",
    )
    @click.option("--no-headers", is_flag=True, help="Do not print the header line")
    @click.option("--separator", default=None, help="Separator between fields (no alignment)")
    @click.option("--submit", is_flag=True, help="Submit the job and print its ID, do not wait")
    @print_jobid_option
    @click.option("--priority", type=click.Choice(["low", "normal", "high"]), default="normal", help="Job priority")
    @_oob_options
    @handle_errors
    def power(subcommand: str, nodes: tuple[str, ...], **opts: Any) -> None:
        """Power nodes on, off, cycle them or show their power status (out-of-band).

        SUBCOMMAND is on, off, cycle or status; without NODES, status and on act on every node.
        Power-off first marks the nodes offline (unless --ignore-status).

        \b
        Example:
          gnt-node power status
          gnt-node power -f off node3
        """
        command = POWER_COMMANDS.get(subcommand)
        if command is None:
            raise ParameterError(f"power subcommand {subcommand} not supported.")
        names = list(nodes)
        if command in _ASK:
            if not names:
                raise ParameterError("Please provide at least one node for this command")
            confirm(f"The following nodes will be powered {subcommand}: {', '.join(names)}. Continue?", opts["force"])
        ops: list[dict[str, Any]] = []
        priority = PRIORITIES[opts["priority"]]
        if command == "power-off" and not opts["ignore_status"]:
            for name in names:
                ops.append(
                    {
                        "OP_ID": "OP_NODE_SET_PARAMS",
                        "node_name": name,
                        "offline": True,
                        "auto_promote": opts["auto_promote"],
                        "force": opts["force"],
                        "priority": priority,
                    }
                )
        ops.append(
            _oob_op(
                names,
                command,
                ignore_status=opts["ignore_status"],
                timeout=opts["oob_timeout"],
                power_delay=opts["power_delay"],
                priority=priority,
            )
        )
        results = run_ops(client(), ops, opts["submit"])
        if results is None:
            return
        rows: list[list[str]] = []
        errors = 0
        for (_, name), (status, data) in results[-1]:
            if status != _RS_NORMAL:
                errors += 1
                rows.append([name, _RS_TEXT.get(status, "(unknown)")])
            elif command == "power-status":
                rows.append([name, "powered" if data["powered"] else "unpowered"])
            else:
                rows.append([name, "invoked"])
        _print_table(rows, opts["no_headers"], opts["separator"])
        if errors:
            sys.exit(1)

    @main.command(context_settings=CONTEXT)
    @click.argument("nodes", nargs=-1)
    @click.option("--no-headers", is_flag=True, help="Do not print the header line")
    @click.option("--separator", default=None, help="Separator between fields (no alignment)")
    @click.option("--priority", type=click.Choice(["low", "normal", "high"]), default="normal", help="Job priority")
    @_oob_options
    @handle_errors
    def health(
        nodes: tuple[str, ...], no_headers: bool, separator: str | None, priority: str, oob_timeout: int
    ) -> None:
        """Show the health items the out-of-band program reports for nodes (all when none given).

        \b
        Example:
          gnt-node health node2
        """
        op = _oob_op(list(nodes), "health", timeout=oob_timeout, priority=PRIORITIES[priority])
        results = run_ops(client(), [op])
        rows: list[list[str]] = []
        errors = 0
        for (_, name), (status, data) in results[0]:
            if status != _RS_NORMAL:
                errors += 1
                rows.append([name, _RS_TEXT.get(status, "(unknown)")])
                continue
            if not data:
                rows.append([name, ""])
            for idx, (item, item_status) in enumerate(data):
                rows.append([name if idx == 0 else "", f"{item}={item_status}"])
        _print_table(rows, no_headers, separator)
        if errors:
            sys.exit(1)
