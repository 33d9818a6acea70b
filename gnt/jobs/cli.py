"""gnt-job: the job queue from the admin's side."""

from __future__ import annotations

import datetime
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from gnt.cli.common import (
    CONTEXT,
    PRIORITIES,
    AliasedGroup,
    add_list_fields_command,
    client,
    confirm,
    filter_option,
    handle_errors,
    list_options,
    printable,
    resolve_fields,
)
from gnt.cli.jobs import FINAL, job_error, log_line, wait_job
from gnt.cli.output import print_query, print_tree
from gnt.errors import ECODE_INVAL, ECODE_STATE, GntError, JobLost, OpPrereqError, ParameterError

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_FIELDS = ["id", "status", "summary"]


@click.group(cls=AliasedGroup, aliases={"show": "info"}, context_settings=CONTEXT)
def main() -> None:
    """Job queue commands.

    \b
    Example:
      gnt-job list
      gnt-job info 42
    """


#: Ganeti's status filters: option -> the job statuses it selects
STATUS_FILTERS = {
    "pending": ("queued", "waiting", "canceling"),
    "queued": ("queued",),
    "waiting": ("waiting",),
    "running": ("running",),
    "error": ("error",),
    "finished": ("success", "error", "canceled"),
}


def _status_option(name: str, help_text: str) -> Callable[[F], F]:
    """One of the mutually overriding status filters (as in Ganeti, the last one given wins)."""
    return click.option(f"--{name}", "status_filter", flag_value=name, default=None, help=help_text)


def _pending_filters(fn: F) -> F:
    """--pending, --queued, --waiting: the selections of cancel and change-priority."""
    fn = _status_option("waiting", "Select waiting jobs only")(fn)
    fn = _status_option("queued", "Select queued jobs only")(fn)
    return _status_option("pending", "Select jobs pending execution or being cancelled")(fn)


@main.command("list", context_settings=CONTEXT)
@click.argument("ids", nargs=-1)
@list_options
@_status_option("finished", "Show finished jobs only")
@_status_option("error", "Show failed jobs only")
@_status_option("running", "Show jobs currently running only")
@_status_option("pending", "Show only jobs pending execution")
@click.option("--archived", is_flag=True, help="Include archived jobs in the list (slow on a big archive)")
@filter_option
@handle_errors
def list_(
    ids: tuple[str, ...],
    output: str | None,
    no_headers: bool,
    separator: str | None,
    units: str | None,
    status_filter: str | None,
    archived: bool,
    use_filter: bool,
) -> None:
    """List jobs that are not archived (--archived: those too); with -F the arguments are a filter.

    \b
    Example:
      gnt-job list -o id,status,summary --no-headers
      gnt-job list --running
      gnt-job list -F 'status == "error" and summary =~ m/^INSTANCE_/'
    """
    fields = resolve_fields(output, DEFAULT_FIELDS)
    if archived and "archived" not in fields:
        fields.append("archived")
    query = {
        "fields": ",".join(fields),
        "names": ",".join(ids) or None,
        "status": ",".join(STATUS_FILTERS[status_filter]) if status_filter else None,
        "archived": 1 if archived else None,
    }
    if use_filter:  # Ganeti's query language, evaluated by the master (PUT /2/query/job)
        from gnt import qlang

        try:
            qfilter = qlang.parse_text(" ".join(ids))
        except OpPrereqError as err:
            raise ParameterError(err.message) from None
        selection = {k: v for k, v in query.items() if k in ("status", "archived")}
        result = client().request("PUT", "/2/query/job", {"fields": fields, "qfilter": qfilter}, query=selection)
        print_query(result, no_headers, separator, units)
        return
    print_query(client().get("/2/query/job", **query), no_headers, separator, units)


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


def _multi_job_action(
    ids: tuple[int, ...], status_filter: str | None, force: bool, question: str, action: Callable[[int], list[Any]]
) -> None:
    """Ganeti's selection for cancel and change-priority: job ids, or every job in a status (listed
    and confirmed unless --force); prints each answer, exit 1 if any was refused."""
    if bool(ids) == (status_filter is not None):
        raise OpPrereqError("Either a status filter or job ID(s) must be specified and never both", ECODE_INVAL)
    cl = client()
    if status_filter is not None:
        result = cl.get("/2/query/job", fields="id,status,summary", status=",".join(STATUS_FILTERS[status_filter]))
        jobs = [int(row[0][1]) for row in result["data"]]
        if not jobs:
            raise OpPrereqError("No jobs with the requested status have been found", ECODE_STATE)
        if not force:
            print_query(result, False, None, None)
            confirm(question, False)
    else:
        jobs = list(ids)
    failed = False
    for job_id in jobs:
        try:
            ok, message = action(job_id)
        except JobLost as err:
            ok, message = False, err.message
        print(message)
        failed = failed or not ok
    if failed:
        raise SystemExit(1)


@main.command(context_settings=CONTEXT)
@click.argument("ids", nargs=-1, type=int)
@click.option("-f", "--force", is_flag=True, help="Do not ask for confirmation")
@click.option("--kill", is_flag=True, help="Kill running jobs too (needs --yes-do-it)")
@click.option("--yes-do-it", "--ya-rly", "yes_do_it", is_flag=True, help="Really use --kill")
@_pending_filters
@handle_errors
def cancel(ids: tuple[int, ...], force: bool, kill: bool, yes_do_it: bool, status_filter: str | None) -> None:
    """Cancel queued or waiting jobs, or running ones whose operation can stop safely.

    A waiting job (for dependencies, locks or a running slot) gives its locks back at once; a
    running OP_TEST_DELAY or migration stops at its next safe point. Other running jobs can only
    be killed (--kill --yes-do-it): the operation stops where it stands and may leave what it was
    changing half done. --pending (queued, waiting or cancelling), --queued and --waiting select
    every job in that state, listed and confirmed unless -f.

    \b
    Example:
      gnt-job cancel 42
      gnt-job cancel --pending -f
    """
    if kill and not yes_do_it:
        raise OpPrereqError("The --kill option must be confirmed with --yes-do-it", ECODE_INVAL)
    path = "/2/jobs/{}/kill" if kill else "/2/jobs/{}"
    cl = client()
    _multi_job_action(
        ids,
        status_filter,
        force,
        f"{'KILL' if kill else 'Cancel'} job(s) listed above?",
        lambda job_id: cl.request("DELETE", path.format(job_id)),
    )


@main.command("change-priority", context_settings=CONTEXT)
@click.argument("ids", nargs=-1, type=int)
@click.option("--priority", type=click.Choice(list(PRIORITIES)), required=True, help="The new priority")
@click.option("-f", "--force", is_flag=True, help="Do not ask for confirmation")
@_pending_filters
@handle_errors
def change_priority(ids: tuple[int, ...], priority: str, force: bool, status_filter: str | None) -> None:
    """Change the priority of jobs that have not finished (of their opcodes not started yet).

    A job waiting for a running slot moves in the line at once.

    \b
    Example:
      gnt-job change-priority --priority high 42
      gnt-job change-priority --priority low --queued -f
    """
    cl = client()
    _multi_job_action(
        ids,
        status_filter,
        force,
        "Change priority of job(s) listed above?",
        lambda job_id: cl.request("PUT", f"/2/jobs/{job_id}/priority", {"priority": PRIORITIES[priority]}),
    )


@main.command(context_settings=CONTEXT)
@click.argument("job_id", type=int)
@handle_errors
def wait(job_id: int) -> None:
    """Wait for a job to finish, printing nothing; exit status 0 if it succeeded, else 1 and the error.

    \b
    Example:
      gnt-job wait 42
    """
    cl = client()
    cl.get(f"/2/jobs/{job_id}", fields="status")  # an unknown job is an error of its own, not "failed"
    try:
        wait_job(cl, job_id, quiet=True)
    except JobLost:
        raise
    except GntError as err:
        lines = err.cli_lines()
        print(printable(f"Job {job_id} failed: {lines[0]}"), file=sys.stderr)
        for line in lines[1:]:
            print(printable(line), file=sys.stderr)
        raise SystemExit(err.exit_code) from None


#: Ganeti's time specification suffixes, in seconds
TIME_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_timespec(text: str) -> int:
    """Seconds in Ganeti's time specification: N, or N with s, m, h, d or w (`4w`)."""
    if not text:
        raise OpPrereqError("Empty time specification passed", ECODE_INVAL)
    number, multiplier = text, 1
    if text[-1] in TIME_UNITS:
        number, multiplier = text[:-1], TIME_UNITS[text[-1]]
        if not number:
            raise OpPrereqError("Invalid time specification (only suffix?)", ECODE_INVAL)
    if not number.isdigit() or not number.isascii():
        raise OpPrereqError(f"Invalid time specification '{printable(text[:40])}'", ECODE_INVAL)
    return int(number) * multiplier


@main.command(context_settings=CONTEXT)
@click.argument("age")
@handle_errors
def autoarchive(age: str) -> None:
    """Archive finished jobs older than AGE (seconds, or with a unit: 30m, 12h, 1d, 4w), or all of them.

    \b
    Example:
      gnt-job autoarchive 1d
      gnt-job autoarchive all
    """
    seconds = -1 if age == "all" else parse_timespec(age)
    count = client().request("POST", "/2/jobs/archive", {"age": seconds})
    print(f"Archived {count} jobs, 0 unchecked left")


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
