"""gnt-debug: debugging helpers."""

from __future__ import annotations

import sys

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


@main.command("test-jobqueue", context_settings=CONTEXT)
@click.option("--priority", type=click.Choice(["low", "normal", "high"]), default="normal", help="Job priority")
@handle_errors
def test_jobqueue(priority: str) -> None:
    """Exercise the job queue: refused submissions, dependencies, logging, success and failure.

    \b
    Example:
      gnt-debug test-jobqueue
    """
    from gnt.debug.jqueue_cli import run_test_jobqueue

    run_test_jobqueue(priority)


@main.command("submit-job", context_settings=CONTEXT)
@click.argument("files", nargs=-1)
@click.option("-v", "--verbose", is_flag=True, help="Print the jobs' ids and their log")
@click.option("--op-repeat", type=click.IntRange(1, 10000), default=1, help="Repeat the opcodes in each job")
@click.option("--job-repeat", type=click.IntRange(1, 10000), default=1, help="Submit each file this many times")
@click.option("--timing-stats", is_flag=True, help="Print counters and timings")
@click.option("--each", is_flag=True, help="Submit the jobs one by one, not in one request")
@handle_errors
def submit_job(
    files: tuple[str, ...], verbose: bool, op_repeat: int, job_repeat: int, timing_stats: bool, each: bool
) -> None:
    """Submit jobs of opcodes read from JSON files (each file: a list of opcodes).

    \b
    Example:
      echo '[{"OP_ID": "OP_TEST_DELAY", "duration": 0}]' > job.json
      gnt-debug submit-job --job-repeat 10 --timing-stats job.json
    """
    from gnt.debug.submit import submit_jobs

    sys.exit(submit_jobs(files, op_repeat, job_repeat, each, timing_stats, verbose))


@main.command(context_settings=CONTEXT)
@click.option("-o", "--output", default=None, help="Fields to show (comma-separated, '+' adds to the default)")
@click.option("--no-headers", is_flag=True, help="Do not print the header line")
@click.option("--separator", default=None, help="Separator between fields (no alignment)")
@click.option("--interval", type=click.IntRange(1, 3600), default=None, help="Repeat every N seconds")
@click.option("-v", "--verbose", is_flag=True, help="Accepted for Ganeti compatibility")
@handle_errors
def locks(output: str | None, no_headers: bool, separator: str | None, interval: int | None, verbose: bool) -> None:
    """Show the master's lock table: each lock's mode, owners and waiting jobs.

    \b
    Example:
      gnt-debug locks
      gnt-debug locks --interval 2 -o name,owner
    """
    from gnt.debug.locks_cli import show_locks

    show_locks(output, no_headers, separator, interval)
