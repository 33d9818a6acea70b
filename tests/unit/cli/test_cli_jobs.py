"""Following jobs from the CLI: log lines, results and errors."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from gnt.cli import jobs
from gnt.errors import ECODE_NOENT, GntError, OpExecError, OpPrereqError

TS = 1795230789  # a fixed instant; the expected text is computed in the local time zone


def test_log_line_formats_like_ganeti_feedback() -> None:
    line = jobs.log_line([3, [TS, 123], "message", "Waiting for job 5 ..."])
    assert line == time.strftime("%a %b %d %H:%M:%S %Y", time.localtime(TS)) + " Waiting for job 5 ..."
    assert re.fullmatch(r"\w{3} \w{3} \d{2} \d{2}:\d{2}:\d{2} \d{4} Waiting for job 5 \.\.\.", line)


def test_job_error_decodes_prereq_error_with_code() -> None:
    job = {
        "status": "error",
        "opstatus": ["success", "error", "error"],
        "opresult": [None, ["OpPrereqError", ["Node 'x' not known", "unknown_entity"]], ["OpExecError", ["Preceding"]]],
    }
    err = jobs.job_error(job)
    assert type(err) is OpPrereqError
    assert err.code == ECODE_NOENT
    assert err.message == "Node 'x' not known"


def test_job_error_of_a_canceled_job() -> None:
    job = {"status": "canceled", "opstatus": ["canceled"], "opresult": [["OpExecError", ["Job canceled by request"]]]}
    err = jobs.job_error(job)
    assert type(err) is OpExecError
    assert err.message == "Job canceled by request"


def test_job_error_without_a_failed_opcode_names_the_status() -> None:
    err = jobs.job_error({"status": "error", "opstatus": ["success"], "opresult": [None]})
    assert type(err) is OpExecError
    assert err.message == "Job ended with status error"


def test_job_error_with_a_bare_string_argument() -> None:
    err = jobs.job_error({"status": "error", "opstatus": ["error"], "opresult": [["RpcError", "node down"]]})
    assert err.message == "node down"
    assert type(err).__name__ == "RpcError"


class FakeClient:
    """Answers the calls wait_job and run_ops make, from a script."""

    def __init__(self, changes: list[Any], job: dict[str, Any]) -> None:
        self.changes = list(changes)
        self.job = job
        self.requests: list[tuple[str, str, Any]] = []
        self.submitted: list[Any] = []

    def request(self, method: str, path: str, body: Any = None) -> Any:
        self.requests.append((method, path, body))
        return self.changes.pop(0)

    def get(self, path: str, **query: Any) -> Any:
        return self.job

    def submit(self, ops: list[dict[str, Any]]) -> int:
        self.submitted.append(ops)
        return 17


def test_wait_job_prints_log_lines_and_returns_results(capsys: pytest.CaptureFixture[str]) -> None:
    client = FakeClient(
        [
            {"job_info": ["running"], "log_entries": [[1, [TS, 0], "message", "one"]]},
            None,  # a timeout: ask again
            {"job_info": ["success"], "log_entries": [[2, [TS, 0], "message", "two"]]},
        ],
        {"status": "success", "opstatus": ["success"], "opresult": [["done"]]},
    )
    assert jobs.wait_job(client, 17) == [["done"]]  # type: ignore[arg-type]
    out = capsys.readouterr().out.splitlines()
    assert [line.split(" ", 5)[-1] for line in out] == ["one", "two"]
    # each wait tells the server what was already seen
    assert client.requests[1][2]["previous_log_serial"] == 1
    assert client.requests[2][2]["previous_job_info"] == ["running"]
    assert client.requests[0][1] == "/2/jobs/17/wait"


def test_wait_job_raises_the_jobs_error(capsys: pytest.CaptureFixture[str]) -> None:
    client = FakeClient(
        [{"job_info": ["error"], "log_entries": []}],
        {
            "status": "error",
            "opstatus": ["error"],
            "opresult": [["OpPrereqError", ["Instance 'i' not known", "unknown_entity"]]],
        },
    )
    with pytest.raises(OpPrereqError, match="Instance 'i' not known"):
        jobs.wait_job(client, 17, quiet=True)  # type: ignore[arg-type]


def test_run_ops_with_submit_prints_the_job_id(capsys: pytest.CaptureFixture[str]) -> None:
    client = FakeClient([], {})
    assert jobs.run_ops(client, [{"OP_ID": "OP_TEST_DELAY", "duration": 0}], submit=True) is None  # type: ignore[arg-type]
    assert capsys.readouterr().out == "JobID: 17\n"
    assert client.submitted == [[{"OP_ID": "OP_TEST_DELAY", "duration": 0}]]


def test_job_error_returns_a_gnterror() -> None:
    assert isinstance(jobs.job_error({"status": "error", "opstatus": [], "opresult": []}), GntError)
