"""The error tree: CLI lines as Ganeti prints them, exit codes, HTTP statuses, and transport."""

from __future__ import annotations

import pytest

from gnt import errors
from gnt.errors import (
    ApiError,
    ConfigurationError,
    GntError,
    HypervisorError,
    JobLost,
    JobQueueError,
    LockError,
    OpExecError,
    OpPrereqError,
    ParameterError,
    RpcError,
    StorageError,
)

ALL_CLASSES = [
    GntError,
    OpPrereqError,
    OpExecError,
    ParameterError,
    JobQueueError,
    JobLost,
    LockError,
    RpcError,
    HypervisorError,
    StorageError,
    ConfigurationError,
    ApiError,
]


def test_opprereqerror_cli_lines_match_ganeti_three_lines() -> None:
    err = OpPrereqError("Node 'node9' not known", errors.ECODE_NOENT)
    assert err.cli_lines() == [
        "Failure: prerequisites not met for this operation:",
        "error type: unknown_entity, error details:",
        "Node 'node9' not known",
    ]


def test_opprereqerror_defaults_to_wrong_input_code() -> None:
    assert OpPrereqError("bad").code == errors.ECODE_INVAL


def test_generic_error_cli_lines_are_heading_then_message() -> None:
    assert OpExecError("disk failed").cli_lines() == ["Failure: command execution error:", "disk failed"]
    assert JobQueueError("drained").cli_lines() == ["Failure: job queue error:", "drained"]


def test_parameter_error_is_a_single_line() -> None:
    assert ParameterError("'memory' is bad").cli_lines() == ["Parameter Error: 'memory' is bad"]


def test_api_error_carries_its_status_as_http_status() -> None:
    err = ApiError("Not found", 404)
    assert err.status == 404
    assert err.http_status == 404
    assert err.cli_lines() == ["Failure: Not found"]


@pytest.mark.parametrize(
    ("cls", "status"),
    [
        (GntError, 500),
        (OpPrereqError, 400),
        (OpExecError, 500),
        (ParameterError, 400),
        (JobQueueError, 400),
        (JobLost, 404),
        (LockError, 500),
        (RpcError, 500),
        (ConfigurationError, 500),
    ],
)
def test_each_class_has_its_http_status(cls: type[GntError], status: int) -> None:
    assert cls.http_status == status


@pytest.mark.parametrize("cls", ALL_CLASSES)
def test_every_error_exits_1_and_derives_from_gnterror(cls: type[GntError]) -> None:
    assert issubclass(cls, GntError)
    assert cls.exit_code == 1


def test_str_is_the_message() -> None:
    assert str(OpPrereqError("Instance 'x' not known", errors.ECODE_NOENT)) == "Instance 'x' not known"


def test_opprereqerror_round_trip_preserves_class_message_and_code() -> None:
    err = OpPrereqError("Instance 'x' already exists", errors.ECODE_EXISTS)
    data = err.to_dict()
    assert data == {"class": "OpPrereqError", "message": "Instance 'x' already exists", "args": ["already_exists"]}
    back = GntError.from_dict(data)
    assert type(back) is OpPrereqError
    assert back.message == err.message
    assert back.code == errors.ECODE_EXISTS


def test_api_error_round_trip_preserves_status() -> None:
    back = GntError.from_dict(ApiError("Unauthorized", 401).to_dict())
    assert type(back) is ApiError
    assert back.status == 401


@pytest.mark.parametrize(
    "cls", [c for c in ALL_CLASSES if c not in (OpPrereqError, ApiError)], ids=lambda c: c.__name__
)
def test_round_trip_preserves_class_of_plain_errors(cls: type[GntError]) -> None:
    back = GntError.from_dict(cls("boom").to_dict())
    assert type(back) is cls
    assert back.message == "boom"


def test_from_dict_of_unknown_class_falls_back_to_gnterror() -> None:
    back = GntError.from_dict({"class": "ValueError", "message": "odd"})
    assert type(back) is GntError
    assert back.message == "odd"


def test_error_codes_are_ganetis_categories() -> None:
    assert set(errors.ECODE_ALL) == {
        "wrong_input",
        "unknown_entity",
        "already_exists",
        "wrong_state",
        "insufficient_resources",
        "temp_insufficient_resources",
        "environment_error",
        "internal_error",
        "resource_not_unique",
    }
