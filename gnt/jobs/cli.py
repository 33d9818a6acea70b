"""gnt-job: the job queue from the admin's side."""

from __future__ import annotations

import datetime
from typing import Any

import click

from gnt.cli.common import CONTEXT, add_list_fields_command, client, handle_errors, list_options, run_list
from gnt.cli.jobs import FINAL, job_error, log_line, wait_job
from gnt.cli.output import print_tree
from gnt.errors import GntError

DEFAULT_FIELDS = ["id", "status", "summary"]


@click.group(context_settings=CONTEXT)
def main() -> None:
    """Job queue commands.

    \b
    Example:
      gnt-job list
      gnt-job info 42
    """


@main.command("list", context_settings=CONTEXT)
@click.argument("ids", nargs=-1)
@list_options
@handle_errors
def list_(ids: tuple[str, ...], output: str | None, no_headers: bool, separator: str | None, units: str | None) -> None:
    """List jobs that are not archived.

    \b
    Example:
      gnt-job list -o id,status,summary --no-headers
    """
    run_list("job", DEFAULT_FIELDS, output, no_headers, separator, units, ids)


add_list_fields_command(main, "job", "gnt-job")


def _ts(value: list[int] | None) -> str:
    if not value:
        return "N/A"
    return datetime.datetime.fromtimestamp(value[0] + value[1] / 1e6).strftime("%Y-%m-%d %H:%M:%S.%f")


def _delta(start: list[int] | None, end: list[int] | None) -> str:
    if not start or not end:
        return ""
    return f" (delta {(end[0] - start[0]) + (end[1] - start[1]) / 1e6:.6f}s)"


def _job_tree(job: dict[str, Any]) -> dict[str, Any]:
    ops = []
    for i, op in enumerate(job["ops"]):
        ops.append(
            {
                "Opcode": op["OP_ID"],
                "Status": job["opstatus"][i],
                "Processing start": _ts(job["opstart_ts"][i]),
                "Execution start": _ts(job["opexec_ts"][i]),
                "Processing end": _ts(job["opend_ts"][i]),
                "Input fields": {k: v for k, v in sorted(op.items())},
                "Result": job["opresult"][i],
                "Execution log": [{"Time": _ts(e[1]), "Content": f"[{e[0]}, {e[2]}, {e[3]}]"} for e in job["oplog"][i]],
            }
        )
    tree = {
        "Job ID": job["id"],
        "Status": job["status"],
        "Received": _ts(job["received_ts"]),
        "Processing start": _ts(job["start_ts"]) + _delta(job["received_ts"], job["start_ts"]),
        "Processing end": _ts(job["end_ts"]) + _delta(job["start_ts"], job["end_ts"]),
    }
    if job["received_ts"] and job["end_ts"]:
        total = (job["end_ts"][0] - job["received_ts"][0]) + (job["end_ts"][1] - job["received_ts"][1]) / 1e6
        tree["Total processing time"] = f"{total:.6f} seconds"
    tree["Opcodes"] = ops
    return tree


@main.command(context_settings=CONTEXT)
@click.argument("ids", nargs=-1, required=True)
@handle_errors
def info(ids: tuple[str, ...]) -> None:
    """Show a job's opcodes, timestamps, results and log.

    \b
    Example:
      gnt-job info 42
    """
    cl = client()
    for job_id in ids:
        try:
            job = cl.get(f"/2/jobs/{int(job_id)}")
        except (GntError, ValueError):
            print(f"- Job ID {job_id} not found")
            continue
        print_tree([_job_tree(job)])


@main.command(context_settings=CONTEXT)
@click.argument("job_id", type=int)
@handle_errors
def watch(job_id: int) -> None:
    """Follow a job's log until it ends.

    \b
    Example:
      gnt-job watch 42
    """
    cl = client()
    job = cl.get(f"/2/jobs/{job_id}")
    print(f"Output from job {job_id} follows")
    print("-" * 25)
    if job["status"] not in FINAL:
        wait_job(cl, job_id)  # prints the whole log as it comes; raises the job's error (exit 1)
        return
    for entry in (e for log in job["oplog"] for e in log):
        print(log_line(entry))
    if job["status"] != "success":
        raise job_error(job)  # as Ganeti: watching a failed or canceled job exits 1


@main.command(context_settings=CONTEXT)
@click.argument("ids", nargs=-1, type=int, required=True)
@handle_errors
def cancel(ids: tuple[int, ...]) -> None:
    """Cancel queued or waiting jobs, or running ones whose operation can stop safely.

    A waiting job (for dependencies, locks or a running slot) gives its locks back at once; a
    running OP_TEST_DELAY or migration stops at its next safe point. Other running jobs cannot be
    cancelled.

    \b
    Example:
      gnt-job cancel 42
    """
    failed = False
    for job_id in ids:
        ok, message = client().request("DELETE", f"/2/jobs/{job_id}")
        print(message)
        failed = failed or not ok
    if failed:
        raise SystemExit(1)


@main.command(context_settings=CONTEXT)
@click.argument("ids", nargs=-1, type=int, required=True)
@handle_errors
def archive(ids: tuple[int, ...]) -> None:
    """Move finished jobs to the archive (they leave `gnt-job list`).

    \b
    Example:
      gnt-job archive 40 41 42
    """
    count = client().request("POST", "/2/jobs/archive", {"ids": list(ids)})
    if count < len(ids):
        print(f"Archived {count} of {len(ids)} jobs (the others are not finished or not found)")
        raise SystemExit(1)
