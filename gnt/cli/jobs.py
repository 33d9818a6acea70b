"""Submitting jobs from the CLI and following them: feedback lines as they come, then the result."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

from gnt.cli.client import Client
from gnt.errors import GntError, OpExecError, OpPrereqError

FINAL = ("success", "error", "canceled")


def log_line(entry: list[Any]) -> str:
    """Ganeti's feedback line: 'Sat Nov 21 01:33:09 2026 message'."""
    _, (secs, _usec), _, message = entry
    return f"{time.strftime('%a %b %d %H:%M:%S %Y', time.localtime(secs))} {message}"


def wait_job(client: Client, job_id: int, quiet: bool = False) -> Any:
    """Follow a job to its end, printing log lines; return its results or raise its error."""
    status: str | None = None
    serial = 0
    while True:
        body = {"fields": ["status"], "previous_job_info": [status], "previous_log_serial": serial, "timeout": 30}
        change = client.request("POST", f"/2/jobs/{job_id}/wait", body)
        if change is None:
            continue
        status = change["job_info"][0]
        for entry in change["log_entries"]:
            serial = max(serial, entry[0])
            if not quiet:
                print(log_line(entry), flush=True)
        if status in FINAL:
            break
    job = client.get(f"/2/jobs/{job_id}", fields="status,opstatus,opresult")
    if job["status"] == "success":
        return job["opresult"]
    raise job_error(job)


def job_error(job: dict[str, Any]) -> GntError:
    for status, result in zip(job["opstatus"], job["opresult"], strict=False):
        if status in ("error", "canceled") and isinstance(result, list) and len(result) == 2:
            cls, args = result
            args = list(args) if isinstance(args, list) else [str(args)]
            return GntError.from_dict({"class": cls, "message": args[0] if args else "", "args": args[1:]})
    return OpExecError(f"Job ended with status {job['status']}")


def run_ops(client: Client, ops: list[dict[str, Any]], submit: bool = False, quiet: bool = False) -> Any:
    """Submit one job; with `submit` print its id and return, else wait for it."""
    try:
        job_id = client.submit(ops)
    except OpPrereqError:
        # The master refused the job. Say why in one line when it is a malformed value, checked here
        # only now: importing the opcode declarations costs every command ~50 ms of start-up.
        from gnt.cli.common import validate_ops

        validate_ops(ops)
        raise
    announce_job(job_id)
    if submit:
        print(f"JobID: {job_id}")
        return None
    return wait_job(client, job_id, quiet)


def announce_job(job_id: Any) -> None:
    """With --print-jobid, the job id as the first line of output, as Ganeti prints it."""
    from gnt.cli.common import print_jobid_requested

    if print_jobid_requested():
        print(job_id, flush=True)


def follow_jobs(
    client: Client,
    jobs: Iterable[tuple[str, bool, Any]],
    refused: Callable[[str, Any], str],
    failed: Callable[[str, Any, Exception], str],
    wait: Callable[[Client, Any], Any] | None = None,
) -> int:
    """Follow jobs another job submitted (label, submitted?, job id or refusal) to their ends.

    Every job is reported, then the number that failed or were never submitted is returned; the
    caller words the lines (`refused(label, reason)`, `failed(label, job_id, error)`).
    """
    bad = 0
    for label, ok, value in jobs:
        if not ok:
            print(refused(label, value))
            bad += 1
            continue
        try:
            (wait or wait_job)(client, value)
        except Exception as err:  # noqa: BLE001 - every job is reported, then the count
            print(failed(label, value, err))
            bad += 1
    return bad


def warn(message: str) -> None:
    print(message, file=sys.stderr)
