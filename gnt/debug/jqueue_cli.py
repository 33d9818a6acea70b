"""`gnt-debug test-jobqueue`: Ganeti's client-side job queue test, over the real API.

It checks that malformed jobs are refused before they exist, that a job may depend on another,
and, for Ganeti's four modes (success, several successful opcodes, failure, partial failure), that
each opcode's status, result and TESTMSG= log lines come back exactly as sent. Any mismatch is an
error naming what differed; success prints "Job queue test successful".
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from gnt.cli.common import PRIORITIES, client
from gnt.cli.jobs import wait_job
from gnt.errors import GntError, OpExecError

_PREFIX = "TESTMSG="


def _op(messages: list[str], fail: bool, priority: int) -> dict[str, Any]:
    return {"OP_ID": "OP_TEST_JQUEUE", "log_messages": messages, "fail": fail, "priority": priority}


def _test_submission(cl: Any, priority: int) -> None:
    """Malformed jobs are refused at submission: no job id, no job."""
    bad_jobs = [
        [{"OP_ID": "OP_TEST_JQUEUE", "fail": "yes"}],
        [{"OP_ID": "OP_NO_SUCH_OPCODE"}],
        [{"OP_ID": "OP_TEST_JQUEUE", "priority": 99}],
        [],
    ]
    for ops in bad_jobs:
        try:
            job_id = cl.submit(ops)
        except GntError:
            continue
        raise OpExecError(f"Submitting {ops} should have failed but gave job {job_id}")
    print("Job submission tests were successful")
    del priority


def _test_dependency(cl: Any, priority: int) -> None:
    """A job that waits for a failed job with "success" only fails too; with "error" it runs."""
    failing = cl.submit([_op([], True, priority)])
    after_ok = cl.submit([{**_op([], False, priority), "depends": [[failing, ["success"]]]}])
    after_err = cl.submit([{**_op([], False, priority), "depends": [[failing, ["error"]]]}])
    for job_id, want in ((failing, "error"), (after_ok, "error"), (after_err, "success")):
        status = _final(cl, job_id)["status"]
        if status != want:
            raise OpExecError(f"Job {job_id} ended '{status}', expected '{want}' (dependency test)")
    print("Job dependency tests were successful")


def _final(cl: Any, job_id: int) -> dict[str, Any]:
    with contextlib.suppress(GntError):
        wait_job(cl, job_id, quiet=True)
    return cl.get(f"/2/jobs/{job_id}")


def _test_mode(cl: Any, mode: str, priority: int) -> None:
    messages = [f"Testing mode {mode}", "Hello World", "A", "", "B", "Foo|bar|baz", time.strftime("%Y-%m-%d_%H_%M_%S")]
    if mode == "partfail":
        print("Testing partial job failure")
        fails = [False, False, True, False]
        want_status = ["success", "success", "error", "error"]
        want_logged = [messages, messages, messages, []]
    elif mode == "multisuccess":
        print("Testing multiple successful opcodes")
        fails = [False, False]
        want_status, want_logged = ["success", "success"], [messages, messages]
    elif mode == "success":
        print("Testing job success")
        fails, want_status, want_logged = [False], ["success"], [messages]
    else:
        print("Testing job failure")
        fails, want_status, want_logged = [True], ["error"], [messages]
    job_id = cl.submit([_op(messages, fail, priority) for fail in fails])
    job = _final(cl, job_id)
    if job["opstatus"] != want_status:
        raise OpExecError(f"Job {job_id}: opcode statuses {job['opstatus']}, expected {want_status}")
    for idx, (log, wanted) in enumerate(zip(job["oplog"], want_logged, strict=True)):
        got = [str(entry[3])[len(_PREFIX) :] for entry in log if str(entry[3]).startswith(_PREFIX)]
        if got != wanted:
            raise OpExecError(f"Job {job_id} opcode {idx}: test messages {got}, expected {wanted}")
    for idx, (status, result) in enumerate(zip(job["opstatus"], job["opresult"], strict=True)):
        if status == "success" and result is not True:
            raise OpExecError(f"Job {job_id} opcode {idx}: result {result!r}, expected True")
        if fails[idx] and "Opcode failure was requested" not in str(result):
            raise OpExecError(f"Job {job_id} opcode {idx}: error {result!r} does not say the failure was requested")


def run_test_jobqueue(priority: str) -> None:
    cl = client()
    prio = PRIORITIES[priority]
    print("Testing job queue")
    _test_submission(cl, prio)
    _test_dependency(cl, prio)
    for mode in ("success", "multisuccess", "fail", "partfail"):
        _test_mode(cl, mode, prio)
    print("Job queue test successful")
