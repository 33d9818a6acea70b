"""The job and opcode state machines, checked as tables over every (from, to) pair."""

from __future__ import annotations

import itertools

import pytest

from gnt.errors import JobQueueError, OpPrereqError
from gnt.jobs.job import (
    FINAL,
    OP_FINAL,
    OP_TRANSITIONS,
    TRANSITIONS,
    Job,
    JobStatus,
    OpStatus,
    decode_error,
    encode_error,
)

# The table as the design says it should be: anything not listed must be refused.
EXPECTED = {
    ("queued", "waiting"),
    ("queued", "canceled"),
    ("queued", "error"),
    ("waiting", "queued"),  # put back after a master restart: nothing ran
    ("waiting", "running"),
    ("waiting", "canceling"),
    ("waiting", "canceled"),
    ("waiting", "error"),
    ("running", "waiting"),  # the next opcode waits for its locks or a slot
    ("running", "success"),
    ("running", "error"),
    ("running", "canceling"),  # only LUs marked CANCELLABLE (migrations) get there
    ("canceling", "canceled"),
    ("canceling", "error"),
    ("canceling", "success"),  # the operation finished before it could stop
}

PAIRS = [(a, b) for a, b in itertools.product(JobStatus, JobStatus) if a != b]

OP_EXPECTED = {
    ("queued", "waiting"),
    ("queued", "error"),  # a preceding opcode or a dependency failed
    ("queued", "canceled"),
    ("waiting", "queued"),  # put back after a master restart
    ("waiting", "running"),
    ("waiting", "error"),  # bad arguments, or locks that kept changing
    ("waiting", "canceled"),
    ("running", "success"),
    ("running", "error"),
    ("running", "canceled"),  # a cancellable LU stopped on request
}

OP_PAIRS = [(a, b) for a, b in itertools.product(OpStatus, OpStatus) if a != b]


def test_transitions_table_matches_the_design() -> None:
    allowed = {(str(a), str(b)) for a, targets in TRANSITIONS.items() for b in targets}
    assert allowed == EXPECTED
    assert set(TRANSITIONS) == set(JobStatus)


@pytest.mark.parametrize(("old", "new"), PAIRS, ids=[f"{a}->{b}" for a, b in PAIRS])
def test_set_status_follows_the_transition_table(old: JobStatus, new: JobStatus) -> None:
    job = Job(id=7, ops=[{}], status=old)
    if new in TRANSITIONS[old]:
        job.set_status(new)
        assert job.status == new
    else:
        with pytest.raises(JobQueueError, match=f"Job 7: invalid transition {old} -> {new}"):
            job.set_status(new)
        assert job.status == old


@pytest.mark.parametrize("final", sorted(FINAL))
def test_final_states_have_no_exits(final: JobStatus) -> None:
    assert TRANSITIONS[final] == frozenset()
    assert Job(id=1, ops=[], status=final).finalized


@pytest.mark.parametrize("status", [s for s in JobStatus if s not in FINAL])
def test_non_final_states_are_not_finalized_and_can_end(status: JobStatus) -> None:
    assert not Job(id=1, ops=[], status=status).finalized
    # every live state can reach a final state (nothing can get stuck)
    seen, todo = {status}, [status]
    while todo:
        for nxt in TRANSITIONS[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    assert seen & FINAL


def test_setting_the_same_status_is_a_no_op() -> None:
    job = Job(id=1, ops=[{}], status=JobStatus.SUCCESS)
    job.set_status(JobStatus.SUCCESS)
    assert job.status == JobStatus.SUCCESS


def test_new_job_has_per_opcode_slots() -> None:
    job = Job(id=3, ops=[{}, {}])
    assert job.status == JobStatus.QUEUED
    assert job.opstatus == ["queued", "queued"]
    assert job.opresult == [None, None]
    assert job.oplog == [[], []]
    job.oplog[0].append("x")
    assert job.oplog[1] == []  # not aliased


def test_add_log_numbers_entries_across_opcodes() -> None:
    job = Job(id=3, ops=[{}, {}])
    first = job.add_log(0, "hello")
    second = job.add_log(1, "world", "debug")
    assert first[0] == 1 and second[0] == 2
    assert first[2:] == ["message", "hello"]
    assert second[2:] == ["debug", "world"]
    assert job.log_serial == 2
    assert [e[3] for e in job.all_log()] == ["hello", "world"]


def test_job_dict_round_trip() -> None:
    job = Job(id=5, ops=[{"OP_ID": "OP_TEST_DELAY"}], priority=-3, summary=["TEST_DELAY(1.0)"])
    job.set_status(JobStatus.WAITING)
    job.add_log(0, "x")
    back = Job.from_dict(job.to_dict())
    assert back == job


def test_encode_and_decode_error_keep_class_and_code() -> None:
    encoded = encode_error(OpPrereqError("Node 'x' not known", "unknown_entity"))
    assert encoded == ["OpPrereqError", ["Node 'x' not known", "unknown_entity"]]
    err = decode_error(encoded)
    assert isinstance(err, OpPrereqError)
    assert err.code == "unknown_entity"


def test_encode_error_wraps_foreign_exceptions_as_opexecerror() -> None:
    assert encode_error(KeyError("k")) == ["OpExecError", ["KeyError: 'k'"]]


def test_opcode_transitions_table_matches_the_design() -> None:
    allowed = {(str(a), str(b)) for a, targets in OP_TRANSITIONS.items() for b in targets}
    assert allowed == OP_EXPECTED
    assert set(OP_TRANSITIONS) == set(OpStatus)
    assert all(OP_TRANSITIONS[s] == frozenset() for s in OP_FINAL)


@pytest.mark.parametrize(("old", "new"), OP_PAIRS, ids=[f"{a}->{b}" for a, b in OP_PAIRS])
def test_set_op_status_follows_the_opcode_table(old: OpStatus, new: OpStatus) -> None:
    job = Job(id=7, ops=[{}, {}], opstatus=[old, OpStatus.QUEUED], opresult=["before", None])
    if new in OP_TRANSITIONS[old]:
        job.set_op_status(0, new, "result")
        assert job.opstatus[0] == new
        assert job.opresult[0] == ("result" if new in OP_FINAL else "before")
    else:
        with pytest.raises(JobQueueError, match=f"Job 7 opcode 0: invalid transition {old} -> {new}"):
            job.set_op_status(0, new, "result")
        assert job.opstatus[0] == old and job.opresult[0] == "before"
    assert job.opstatus[1] == OpStatus.QUEUED  # the other opcode is untouched


@pytest.mark.parametrize("status", list(OpStatus))
def test_every_opcode_status_has_a_docstring(status: OpStatus) -> None:
    assert status.__doc__ and status.__doc__ != OpStatus.__doc__


@pytest.mark.parametrize("status", list(JobStatus))
def test_every_job_status_has_a_docstring(status: JobStatus) -> None:
    assert status.__doc__ and status.__doc__ != JobStatus.__doc__


def test_end_ops_ends_only_unfinished_opcodes() -> None:
    job = Job(id=1, ops=[{}, {}, {}], opstatus=[OpStatus.SUCCESS, OpStatus.WAITING, OpStatus.QUEUED])
    job.opresult = ["ok", None, None]
    job.end_ops(OpStatus.CANCELED, ["OpExecError", ["Job canceled by request"]])
    assert job.opstatus == ["success", "canceled", "canceled"]
    assert job.opresult[0] == "ok" and job.opresult[2] == ["OpExecError", ["Job canceled by request"]]
