"""`gnt-instance move`: Ganeti's options, prompt and messages (registered by `add_move_command`).

Kept apart from `gnt.instance.cli` so the two change independently; imports no logical unit.
"""

from __future__ import annotations

import click

from gnt.cli.common import CONTEXT, client, common_job_options, confirm, handle_errors, job_fields
from gnt.cli.jobs import run_ops

__all__ = ["add_move_command"]

COMPRESSIONS = ("none", "gzip")


def add_move_command(group: click.Group) -> None:
    """Add `move` to the gnt-instance command group."""

    @group.command(context_settings=CONTEXT)
    @click.argument("name")
    @click.option("-f", "--force", is_flag=True, help="Do not ask for confirmation")
    @click.option("-n", "--node", "target_node", required=True, help="Node to move the instance to")
    @click.option("--compress", type=click.Choice(COMPRESSIONS), default="none", help="Transport compression")
    @click.option("--shutdown-timeout", type=int, default=120, help="Seconds for a clean shutdown")
    @click.option("--ignore-consistency", is_flag=True, help="Go on even if the source cannot shut it down")
    @click.option("--ignore-ipolicy", is_flag=True, help="Ignore the instance policy")
    @common_job_options
    @handle_errors
    def move(
        name: str,
        force: bool,
        target_node: str,
        compress: str,
        shutdown_timeout: int,
        ignore_consistency: bool,
        ignore_ipolicy: bool,
        submit: bool,
        dry_run: bool,
        priority: str,
    ) -> None:
        """Move a stopped or running instance to another node by copying its disks (file, plain).

        The instance is shut down for the copy and started on the new node if it was running.

        \b
        Example:
          gnt-instance move -f -n node3 inst1
        """
        confirm(f"Instance {name} will be moved. This requires a shutdown of the instance. Continue?", force)
        op = {
            "OP_ID": "OP_INSTANCE_MOVE",
            "instance_name": name,
            "target_node": target_node,
            "compress": compress,
            "shutdown_timeout": shutdown_timeout,
            "ignore_consistency": ignore_consistency,
            "ignore_ipolicy": ignore_ipolicy,
            **job_fields(dry_run, priority),
        }
        run_ops(client(), [op], submit)
