"""gnt-job watch: the exit code tells how the job ended (Ganeti exits 1 for a failed job)."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from gnt.jobs import cli

ENTRY = [1, [1795230789, 0], "message", "doing things"]


class FakeClient:
    def __init__(self, job: dict[str, Any]) -> None:
        self.job = job

    def get(self, path: str, **_: Any) -> dict[str, Any]:
        return self.job

    def request(self, method: str, path: str, body: Any = None) -> Any:
        return {"job_info": [self.job["status"]], "log_entries": [ENTRY]}


def job(status: str, opstatus: str, opresult: Any) -> dict[str, Any]:
    return {"id": 5, "status": status, "opstatus": [opstatus], "opresult": [opresult], "oplog": [[ENTRY]]}


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        (job("success", "success", None), 0, None),
        (job("error", "error", ["OpPrereqError", ["Node 'x' not known", "unknown_entity"]]), 1, "Node 'x' not known"),
        (job("canceled", "canceled", ["OpExecError", ["Job canceled by request"]]), 1, "Job canceled by request"),
    ],
)
def test_watch_of_a_finished_job_exits_with_its_outcome(
    monkeypatch: pytest.MonkeyPatch, body: dict[str, Any], code: int, message: str | None
) -> None:
    monkeypatch.setattr(cli, "client", lambda: FakeClient(body))
    result = CliRunner().invoke(cli.main, ["watch", "5"])
    assert result.exit_code == code
    assert "Output from job 5 follows" in result.output and "doing things" in result.output
    if message:
        assert message in result.output


def test_watch_of_a_job_that_fails_while_watched_exits_1(monkeypatch: pytest.MonkeyPatch) -> None:
    running = job("running", "running", None)
    client = FakeClient(running)
    monkeypatch.setattr(cli, "client", lambda: client)
    real_request = client.request

    def finish(method: str, path: str, body: Any = None) -> Any:
        client.job = job("error", "error", ["OpExecError", ["boom"]])
        return real_request(method, path, body)

    client.request = finish  # type: ignore[method-assign]
    result = CliRunner().invoke(cli.main, ["watch", "5"])
    assert result.exit_code == 1
    assert "boom" in result.output
    assert result.output.count("doing things") == 1  # the log is printed once


@pytest.mark.parametrize("value", ["inf", "nan", "-inf", "1e308", "-1", "86401"])
def test_gnt_debug_delay_refuses_absurd_durations_in_one_line(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    from gnt.debug import cli as debug_cli

    def no_client() -> None:
        raise AssertionError("nothing may be submitted")

    monkeypatch.setattr(debug_cli, "client", no_client)
    result = CliRunner().invoke(debug_cli.main, ["delay", "--submit", "--", value])
    assert result.exit_code == 1
    assert len(result.output.strip().splitlines()) == 1
    assert result.output.startswith("Parameter Error: ")
