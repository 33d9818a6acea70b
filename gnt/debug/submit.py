"""`gnt-debug submit-job`: submit opcodes read from JSON files, as Ganeti's GenericOpCodes.

Each file holds one job: a JSON list of opcodes. `--op-repeat` repeats the opcodes inside each
job, `--job-repeat` submits each file that many times; `--each` submits the jobs one by one
instead of in one request; `--timing-stats` prints Ganeti's counters and timings.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from gnt.cli.common import client, validate_ops
from gnt.cli.jobs import wait_job
from gnt.errors import GntError, ParameterError

#: a typo in a repeat count must not flood the queue
MAX_JOBS = 10000
MAX_OPS = 100000


def load_job(path: str) -> list[dict[str, Any]]:
    """The opcodes in `path`: a JSON list of objects, each checked as the master will."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except OSError as err:
        raise ParameterError(f"Cannot read {path}: {err.strerror or err}") from None
    except (ValueError, UnicodeDecodeError) as err:
        raise ParameterError(f"{path} is not valid JSON: {err}") from None
    if not isinstance(data, list) or not data or not all(isinstance(op, dict) for op in data):
        raise ParameterError(f"{path} must hold a non-empty JSON list of opcodes")
    validate_ops(data)
    return data


def _submit_one(cl: Any, ops: list[dict[str, Any]]) -> tuple[bool, Any]:
    try:
        return True, cl.submit(ops)
    except GntError as err:
        return False, str(err)


def submit_jobs(
    files: tuple[str, ...],
    op_repeat: int,
    job_repeat: int,
    each: bool,
    timing: bool,
    verbose: bool,
    overrides: dict[str, Any] | None = None,
) -> int:
    """Build, submit and wait for the jobs; 0 if all succeeded, 1 otherwise.

    `overrides` (--dry-run, --priority) are set on every opcode read, over what the file says.
    """
    if not files:
        raise ParameterError("Please give at least one file of opcodes")
    if timing:
        print("Loading...")
    contents = {path: [{**op, **(overrides or {})} for op in load_job(path)] for path in dict.fromkeys(files)}
    jobs: list[tuple[str, list[dict[str, Any]]]] = []
    for job_idx in range(job_repeat):
        for path in files:
            jobs.append((f"file {path}/{job_idx}", contents[path] * op_repeat))
    op_count = sum(len(ops) for _, ops in jobs)
    if len(jobs) > MAX_JOBS or op_count > MAX_OPS:
        raise ParameterError(
            f"{len(jobs)} jobs of {op_count} opcodes in all is too many (at most {MAX_JOBS}, {MAX_OPS})"
        )
    cl = client()
    start = time.monotonic()
    if timing:
        print("Submitting...")
    submitted = [_submit_one(cl, ops) for _, ops in jobs] if each else cl.submit_many([ops for _, ops in jobs])
    submitted_at = time.monotonic()
    if timing:
        print("Executing...")
    if verbose:
        ok_ids = [str(job_id) for ok, job_id in submitted if ok]
        if ok_ids:
            print(f"Submitted jobs {', '.join(ok_ids)}")
    failed = 0
    for (name, _), (ok, job_id) in zip(jobs, submitted, strict=True):
        if not ok:
            print(f"Failed to submit job for {name}: {job_id}", file=sys.stderr)
            failed += 1
            continue
        print(f"Waiting for job {job_id} for {name} ...")
        try:
            wait_job(cl, job_id, quiet=not verbose)
        except GntError as err:
            print(f"Job {job_id} for {name} has failed: {err}", file=sys.stderr)
            failed += 1
    done = time.monotonic()
    if timing:
        print(f"C:op     {op_count:4d}")
        print(f"C:job    {len(jobs):4d}")
        print(f"T:submit {submitted_at - start:4.4f}")
        print(f"T:exec   {done - submitted_at:4.4f}")
        print(f"T:total  {done - start:4.4f}")
    return 1 if failed else 0
