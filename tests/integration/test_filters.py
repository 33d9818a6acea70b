"""Job filter rules on a virtual cluster: `gnt-filter` and RAPI `/2/filters` drive the real master.

A REJECT rule refuses matching jobs, a PAUSE rule holds them queued until it is deleted (also
across a master restart), and every bad input is a one-line error or a 4xx.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import running_cluster
from tests.integration.test_rapi import ADMIN, READER, Rapi
from tests.integration.vcluster import VCluster, wait_for

PAUSE_NEW = '--predicates=[["jobid", [">", "id", "watermark"]]]'
DELAY_OPCODE = '--predicates=[["opcode", ["=", "OP_ID", "OP_TEST_DELAY"]]]'


def rules(vc: VCluster) -> list[str]:
    return vc.ok("gnt-filter", "list", "--no-headers", "-o", "uuid").split()


@pytest.fixture
def clean(cluster: VCluster) -> Iterator[VCluster]:
    """The shared cluster, with every filter rule a test added deleted afterwards."""
    try:
        yield cluster
    finally:
        for uuid in rules(cluster):
            cluster.ok("gnt-filter", "delete", uuid)


@pytest.fixture
def rapi(cluster: VCluster) -> Rapi:
    users = cluster.dir / "node1/var/lib/gnt/rapi/users"
    users.parent.mkdir(parents=True, exist_ok=True)
    users.write_text("# name password options\nadmin s3cret write\nreader r3ad\n")
    users.chmod(0o600)
    return Rapi(cluster)


def test_reject_rule_refuses_matching_jobs_and_delete_lifts_it(clean: VCluster) -> None:
    vc = clean
    uuid = vc.ok("gnt-filter", "add", DELAY_OPCODE, "--action=REJECT", "--reason=no delays today").strip()
    assert uuid in rules(vc)
    job_id = vc.submit("gnt-debug", "delay", "0")
    assert vc.wait_job(job_id) == "canceled"
    info = vc.ok("gnt-job", "info", str(job_id))
    assert f"rejected by job filter rule {uuid}" in info
    shown = vc.ok("gnt-filter", "info", uuid)
    assert f"UUID: {uuid}" in shown and "Action: REJECT" in shown and "no delays today" in shown
    vc.ok("gnt-filter", "delete", uuid)
    assert vc.wait_job(vc.submit("gnt-debug", "delay", "0")) == "success"


def test_pause_holds_jobs_queued_until_the_rule_is_deleted(clean: VCluster) -> None:
    vc = clean
    uuid = vc.ok("gnt-filter", "add", PAUSE_NEW, "--action=PAUSE").strip()
    held = vc.submit("gnt-debug", "delay", "0")
    # the rule holds the job in the queue: the master may take any time, it must still be queued
    assert vc.job_status(held) == "queued"
    other = vc.ok("gnt-filter", "add", "--priority=1", "--action=ACCEPT").strip()
    assert vc.job_status(held) == "queued"  # the PAUSE rule (priority 0) comes first
    listed = vc.ok("gnt-filter", "list", "--no-headers", "--separator=|", "-o", "uuid,priority,action")
    assert listed.splitlines() == [f"{uuid}|0|PAUSE", f"{other}|1|ACCEPT"]
    vc.ok("gnt-filter", "delete", uuid)
    assert vc.wait_job(held) == "success"


def test_replace_changes_the_action_and_moves_the_watermark(clean: VCluster) -> None:
    vc = clean
    uuid = vc.ok("gnt-filter", "add", PAUSE_NEW, "--action=PAUSE").strip()
    first = int(vc.ok("gnt-filter", "list", "--no-headers", "-o", "watermark", uuid))
    held = vc.submit("gnt-debug", "delay", "0")
    assert vc.job_status(held) == "queued"
    assert vc.ok("gnt-filter", "replace", PAUSE_NEW, "--action=REJECT", uuid).strip() == uuid
    # the new watermark is past the held job: "id > watermark" no longer matches it, so it runs
    assert vc.wait_job(held) == "success"
    assert int(vc.ok("gnt-filter", "list", "--no-headers", "-o", "watermark", uuid)) >= held > first
    assert vc.wait_job(vc.submit("gnt-debug", "delay", "0")) == "canceled"  # newer jobs are rejected
    fresh = "3b3f0b4e-5b3e-4a35-9f5e-0c1b2e6f3a11"
    assert vc.ok("gnt-filter", "replace", "--action=CONTINUE", fresh).strip() == fresh  # creates it
    assert set(rules(vc)) == {uuid, fresh}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["add", "--action=DROP"], "Invalid filter action 'DROP'"),
        (["add", "--action=RATE_LIMIT 0"], "Invalid RATE_LIMIT '0'"),
        (["add", '--predicates=[["nodename", ["=", "x", 1]]]'], "Unknown filter predicate 'nodename'"),
        (["add", '--predicates=[["jobid", ["=", "name", 1]]]'], "unknown field 'name'"),
        (["add", "--predicates=[[jobid"], "Invalid --predicates: not JSON"),
        (["add", "--priority=-1"], "Invalid --priority '-1'"),
        (["delete", "not-a-uuid"], "Invalid filter UUID 'not-a-uuid'"),
        (["replace", "../x"], "Invalid filter UUID '../x'"),
    ],
)
def test_bad_input_is_a_one_line_error(cluster: VCluster, argv: list[str], message: str) -> None:
    before = rules(cluster)
    result = cluster.run("gnt-filter", *argv)
    assert result.rc == 1 and result.out == ""
    (line,) = result.err.strip().splitlines()
    assert line.startswith("Parameter Error: ") and message in line
    assert rules(cluster) == before


def test_unknown_rule_is_a_clear_error(cluster: VCluster) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    for argv in (["delete", missing], ["info", missing], ["list", missing]):
        result = cluster.run("gnt-filter", *argv)
        assert result.rc == 1 and f"Filter rule '{missing}' not known" in result.err, argv
    fields = cluster.ok("gnt-filter", "list-fields", "--no-headers")
    assert [line.split()[0] for line in fields.splitlines()] == [
        "uuid", "watermark", "priority", "predicates", "action", "reason_trail"
    ]  # fmt: skip


def test_rapi_filters_with_ganetis_bodies(clean: VCluster, rapi: Rapi) -> None:
    body = {"priority": 3, "predicates": [["opcode", ["=", "OP_ID", "OP_TEST_DELAY"]]], "action": ["RATE_LIMIT", 2]}
    status, uuid = rapi.call("POST", "/2/filters", body, user=ADMIN)
    assert status == 200 and isinstance(uuid, str)
    status, listed = rapi.call("GET", "/2/filters")  # reads are anonymous, as in Ganeti
    assert status == 200 and listed == [{"uuid": uuid, "uri": f"/2/filters/{uuid}"}]
    status, rule = rapi.call("GET", f"/2/filters/{uuid}")
    assert status == 200 and rule["action"] == ["RATE_LIMIT", 2] and rule["priority"] == 3
    assert set(rule) == {"uuid", "watermark", "priority", "predicates", "action", "reason_trail"}
    assert rapi.call("GET", "/2/filters?bulk=1")[1] == [rule]
    status, same = rapi.call("PUT", f"/2/filters/{uuid}", {"action": "ACCEPT"}, user=ADMIN)
    assert (status, same) == (200, uuid)
    assert rapi.call("GET", f"/2/filters/{uuid}")[1]["action"] == "ACCEPT"
    assert rapi.call("DELETE", f"/2/filters/{uuid}", user=ADMIN) == (200, None)
    assert rapi.call("GET", f"/2/filters/{uuid}")[0] == 404


@pytest.mark.parametrize(
    ("method", "path", "body", "user", "status"),
    [
        ("POST", "/2/filters", {"action": "ACCEPT"}, None, 401),
        ("POST", "/2/filters", {"action": "ACCEPT"}, READER, 403),
        ("DELETE", "/2/filters/00000000-0000-4000-8000-000000000000", None, READER, 403),
        ("POST", "/2/filters", {"action": "FLOOD"}, ADMIN, 400),
        ("POST", "/2/filters", {"action": ["RATE_LIMIT", -3]}, ADMIN, 400),
        ("POST", "/2/filters", {"predicates": [["jobid", [">", "id"]]]}, ADMIN, 400),
        ("POST", "/2/filters", {"predicates": "everything"}, ADMIN, 400),
        ("POST", "/2/filters", {"priority": "high"}, ADMIN, 400),
        ("POST", "/2/filters", {"colour": "red"}, ADMIN, 400),
        ("POST", "/2/filters", ["ACCEPT"], ADMIN, 400),
        ("PUT", "/2/filters/not-a-uuid", {"action": "ACCEPT"}, ADMIN, 400),
        ("GET", "/2/filters/00000000-0000-4000-8000-000000000000", None, None, 404),
        ("GET", "/2/filters/not-a-uuid", None, None, 404),
        ("DELETE", "/2/filters/00000000-0000-4000-8000-000000000000", None, ADMIN, 404),
        ("DELETE", "/2/filters/not-a-uuid", None, ADMIN, 400),
        ("PATCH", "/2/filters", {}, ADMIN, 405),
    ],
)
def test_rapi_bad_requests_are_4xx_with_ganetis_body(
    cluster: VCluster, rapi: Rapi, method: str, path: str, body: object, user: str | None, status: int
) -> None:
    got, answer = rapi.call(method, path, body, user=user)
    assert got == status, answer
    assert answer["code"] == status and isinstance(answer["explain"], str) and "\n" not in answer["explain"]
    assert rules(cluster) == []


@pytest.fixture
def one_node(tmp_path: Path) -> Iterator[VCluster]:
    with running_cluster(tmp_path / "vc", 1) as vc:
        yield vc


def test_paused_job_stays_queued_across_a_master_restart(one_node: VCluster) -> None:
    vc = one_node
    uuid = vc.ok("gnt-filter", "add", PAUSE_NEW, "--action=PAUSE").strip()
    held = vc.submit("gnt-debug", "delay", "0")
    assert vc.job_status(held) == "queued"
    vc.kill_daemon("node1", "gnt-masterd")
    vc.start_masterd("node1")
    assert vc.job_status(held) == "queued"
    vc.ok("gnt-filter", "delete", uuid)
    wait_for(lambda: vc.job_status(held) == "success", 30)
