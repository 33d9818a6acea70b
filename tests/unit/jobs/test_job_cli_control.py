"""gnt-job wait, cancel/change-priority selections, autoarchive and list filters (fake client)."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from gnt.errors import JobLost
from gnt.jobs import cli

ENTRY = [1, [1795230789, 0], "message", "doing things"]


class FakeClient:
    """Answers the master's API from a dict of jobs; records what was asked."""

    def __init__(self, jobs: dict[int, dict[str, Any]]) -> None:
        self.jobs = jobs
        self.requests: list[tuple[str, str, Any]] = []
        self.queries: list[dict[str, Any]] = []

    def get(self, path: str, **query: Any) -> Any:
        if path == "/2/query/job":
            self.queries.append(query)
            wanted = query.get("status")
            rows = [
                [[0, j["id"]], [0, j["status"]], [0, ["TEST_DELAY(1.0)"]]]
                for j in self.jobs.values()
                if wanted is None or j["status"] in wanted.split(",")
            ]
            fields = [
                {"name": "id", "title": "ID", "kind": "number", "doc": ""},
                {"name": "status", "title": "Status", "kind": "text", "doc": ""},
                {"name": "summary", "title": "Summary", "kind": "other", "doc": ""},
            ]
            return {"fields": fields, "data": rows}
        job_id = int(path.split("/")[3])
        if job_id not in self.jobs:
            raise JobLost(f"Job {job_id} not found")
        return self.jobs[job_id]

    def request(self, method: str, path: str, body: Any = None) -> Any:
        self.requests.append((method, path, body))
        if path.endswith("/wait"):
            job = self.get(path.rsplit("/", 1)[0])
            return {"job_info": [job["status"]], "log_entries": [ENTRY]}
        if path == "/2/jobs/archive":
            return 3
        return [True, f"{method} {path} done"]


def job(job_id: int, status: str, opstatus: str = "success", opresult: Any = None) -> dict[str, Any]:
    return {"id": job_id, "status": status, "opstatus": [opstatus], "opresult": [opresult], "oplog": [[ENTRY]]}


def invoke(monkeypatch: pytest.MonkeyPatch, client: FakeClient, *args: str, stdin: str = "") -> Any:
    monkeypatch.setattr(cli, "client", lambda: client)
    return CliRunner().invoke(cli.main, list(args), input=stdin)


# -- wait ---------------------------------------------------------------------------------------------
def test_wait_prints_nothing_and_exits_0_for_a_successful_job(monkeypatch: pytest.MonkeyPatch) -> None:
    result = invoke(monkeypatch, FakeClient({5: job(5, "success")}), "wait", "5")
    assert result.exit_code == 0
    assert result.output == ""


def test_wait_exits_1_with_the_jobs_error_for_a_failed_job(monkeypatch: pytest.MonkeyPatch) -> None:
    failed = job(5, "error", "error", ["OpPrereqError", ["Instance 'x' not known", "unknown_entity"]])
    result = invoke(monkeypatch, FakeClient({5: failed}), "wait", "5")
    assert result.exit_code == 1
    assert "Job 5 failed: Failure: prerequisites not met for this operation:" in result.output
    assert "Instance 'x' not known" in result.output and "doing things" not in result.output


def test_wait_on_an_unknown_job_is_an_error_of_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    result = invoke(monkeypatch, FakeClient({}), "wait", "99")
    assert result.exit_code == 1
    assert "Job 99 not found" in result.output and "failed" not in result.output


# -- cancel / change-priority ----------------------------------------------------------------------------
def test_cancel_needs_ids_or_a_status_filter_but_not_both(monkeypatch: pytest.MonkeyPatch) -> None:
    client = FakeClient({1: job(1, "queued")})
    for args in (["cancel"], ["cancel", "--pending", "1"]):
        result = invoke(monkeypatch, client, *args)
        assert result.exit_code == 1
        assert "Either a status filter or job ID(s) must be specified and never both" in result.output
    assert client.requests == []


def test_cancel_kill_must_be_confirmed_with_yes_do_it(monkeypatch: pytest.MonkeyPatch) -> None:
    client = FakeClient({1: job(1, "running")})
    result = invoke(monkeypatch, client, "cancel", "--kill", "1")
    assert result.exit_code == 1 and "The --kill option must be confirmed with --yes-do-it" in result.output
    assert client.requests == []
    result = invoke(monkeypatch, client, "cancel", "--kill", "--ya-rly", "1")
    assert result.exit_code == 0 and client.requests == [("DELETE", "/2/jobs/1/kill", None)]


@pytest.mark.parametrize("yes", [True, False])
def test_cancel_pending_lists_asks_and_cancels_each_pending_job(monkeypatch: pytest.MonkeyPatch, yes: bool) -> None:
    client = FakeClient({1: job(1, "queued"), 2: job(2, "waiting"), 3: job(3, "running"), 4: job(4, "success")})
    asked: list[tuple[str, bool]] = []

    def confirm(message: str, force: bool) -> None:
        asked.append((message, force))
        if not yes:
            raise SystemExit(1)

    monkeypatch.setattr(cli, "confirm", confirm)
    result = invoke(monkeypatch, client, "cancel", "--pending")
    assert client.queries[0]["status"] == "queued,waiting,canceling"
    assert "1 queued" in result.output and "2 waiting" in result.output and "running" not in result.output
    assert asked == [("Cancel job(s) listed above?", False)]
    assert result.exit_code == (0 if yes else 1)
    assert [r[1] for r in client.requests] == (["/2/jobs/1", "/2/jobs/2"] if yes else [])


def test_cancel_queued_with_force_asks_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    client = FakeClient({1: job(1, "queued"), 2: job(2, "waiting")})
    result = invoke(monkeypatch, client, "cancel", "--queued", "-f")
    assert result.exit_code == 0
    assert "listed above" not in result.output
    assert [r[1] for r in client.requests] == ["/2/jobs/1"]


def test_status_filter_matching_nothing_is_a_wrong_state_error(monkeypatch: pytest.MonkeyPatch) -> None:
    result = invoke(monkeypatch, FakeClient({4: job(4, "success")}), "cancel", "--waiting", "-f")
    assert result.exit_code == 1
    assert "No jobs with the requested status have been found" in result.output
    assert "wrong_state" in result.output


def test_change_priority_sends_ganetis_priority_values(monkeypatch: pytest.MonkeyPatch) -> None:
    client = FakeClient({7: job(7, "queued")})
    result = invoke(monkeypatch, client, "change-priority", "--priority", "high", "7")
    assert result.exit_code == 0
    assert client.requests == [("PUT", "/2/jobs/7/priority", {"priority": -10})]


def test_change_priority_exits_1_when_a_job_was_not_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    client = FakeClient({7: job(7, "success")})
    client.request = lambda method, path, body=None: [False, "Job 7 is finished"]  # type: ignore[method-assign]
    result = invoke(monkeypatch, client, "change-priority", "--priority", "low", "7")
    assert result.exit_code == 1 and "Job 7 is finished" in result.output


def test_change_priority_requires_the_priority(monkeypatch: pytest.MonkeyPatch) -> None:
    result = invoke(monkeypatch, FakeClient({}), "change-priority", "7")
    assert result.exit_code == 2 and "--priority" in result.output


# -- autoarchive and list ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "seconds"), [("0", 0), ("90", 90), ("30s", 30), ("5m", 300), ("2h", 7200), ("1d", 86400), ("4w", 2419200)]
)
def test_parse_timespec_knows_ganetis_units(text: str, seconds: int) -> None:
    assert cli.parse_timespec(text) == seconds


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Empty time specification passed"),
        ("d", "Invalid time specification (only suffix?)"),
        ("1x", "Invalid time specification '1x'"),
        ("-5", "Invalid time specification '-5'"),
        ("1.5h", "Invalid time specification '1.5h'"),
        ("٣d", "Invalid time specification"),
    ],
)
def test_autoarchive_refuses_a_malformed_age(monkeypatch: pytest.MonkeyPatch, text: str, message: str) -> None:
    client = FakeClient({})
    result = invoke(monkeypatch, client, "autoarchive", "--", text)
    assert result.exit_code == 1 and message in result.output
    assert client.requests == []


def test_autoarchive_sends_the_age_in_seconds_and_prints_the_count(monkeypatch: pytest.MonkeyPatch) -> None:
    client = FakeClient({})
    result = invoke(monkeypatch, client, "autoarchive", "1d")
    assert result.exit_code == 0 and result.output == "Archived 3 jobs, 0 unchecked left\n"
    assert client.requests == [("POST", "/2/jobs/archive", {"age": 86400})]
    invoke(monkeypatch, client, "autoarchive", "all")
    assert client.requests[-1] == ("POST", "/2/jobs/archive", {"age": -1})


@pytest.mark.parametrize(
    ("option", "statuses"),
    [
        ("--pending", "queued,waiting,canceling"),
        ("--running", "running"),
        ("--error", "error"),
        ("--finished", "success,error,canceled"),
    ],
)
def test_list_status_filters_ask_the_master_for_those_statuses(
    monkeypatch: pytest.MonkeyPatch, option: str, statuses: str
) -> None:
    client = FakeClient({1: job(1, "running"), 2: job(2, "error")})
    result = invoke(monkeypatch, client, "list", option)
    assert result.exit_code == 0
    assert client.queries[-1]["status"] == statuses


def test_list_archived_adds_the_archived_field(monkeypatch: pytest.MonkeyPatch) -> None:
    client = FakeClient({})
    invoke(monkeypatch, client, "list", "--archived")
    assert client.queries[-1]["archived"] == 1 and client.queries[-1]["fields"] == "id,status,summary,archived"
