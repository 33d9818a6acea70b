"""gnt-debug: debugging helpers."""

from __future__ import annotations

import click

from gnt.cli.common import CONTEXT, client, common_job_options, handle_errors, job_fields
from gnt.cli.jobs import run_ops
from gnt.debug.limits import delay_problem
from gnt.errors import ParameterError


@click.group(context_settings=CONTEXT)
def main() -> None:
    """Debugging commands."""


@main.command(context_settings=CONTEXT)
@click.argument("duration")
@click.option("--no-master", is_flag=True, help="Do not sleep on the master")
@click.option("-n", "--node", "nodes", multiple=True, help="Also sleep on this node (repeatable)")
@click.option("-r", "--repeat", type=int, default=0, help="Repeat this many more times")
@common_job_options
@handle_errors
def delay(
    duration: str, no_master: bool, nodes: tuple[str, ...], repeat: int, submit: bool, dry_run: bool, priority: str
) -> None:
    """Run a job that only sleeps (OP_TEST_DELAY); 0 makes the no-op job.

    \b
    Example:
      gnt-debug delay 0
      gnt-debug delay -n node2 1.5
    """
    try:
        seconds = float(duration)
    except ValueError as err:
        raise ParameterError(f"Invalid duration '{duration}'") from err
    problem = delay_problem(seconds, repeat)
    if problem:
        raise ParameterError(problem)
    op = {
        "OP_ID": "OP_TEST_DELAY",
        "duration": seconds,
        "on_master": not no_master,
        "on_nodes": list(nodes),
        "repeat": repeat,
        "no_locks": not nodes,
        **job_fields(dry_run, priority),
    }
    run_ops(client(), [op], submit)
