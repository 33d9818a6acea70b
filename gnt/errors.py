"""Typed errors shared by every part of gnt.

The tree::

    GntError                      root; exit 1, HTTP 500
    ├── OpPrereqError(code)       the operation cannot run as asked; HTTP 400
    ├── OpExecError               it started and failed on a node; HTTP 500
    │   └── OpCanceledError       stopped on request while running
    ├── HooksAbort                a pre hook failed: the opcode did not run
    ├── ParameterError            a malformed parameter (CLI parse); HTTP 400
    ├── TagError                  a tag that breaks Ganeti's tag rules; HTTP 400
    ├── JobQueueError             queue drained/full, unknown job; HTTP 400
    ├── LockError                 lock acquisition failed or timed out
    ├── RpcError                  a node could not be reached or answered badly
    │   └── RpcArgumentError      a node refused a call's arguments (bad record, path outside its roots)
    ├── HypervisorError           a hypervisor refused or failed
    ├── StorageError              a block device operation failed
    ├── ConfigurationError        the config is inconsistent or unreadable
    └── ApiError(status)          an HTTP-level error from the API (404, 401, ...)

Each class knows how the CLI and the API present it, so both map errors in one place.
`to_dict`/`from_dict` carry an error across RPC and the API without losing its class.
"""

from __future__ import annotations

from typing import Any

# Ganeti's error categories for OpPrereqError.
ECODE_INVAL = "wrong_input"
ECODE_NOENT = "unknown_entity"
ECODE_EXISTS = "already_exists"
ECODE_STATE = "wrong_state"
ECODE_NORES = "insufficient_resources"
#: no resources among what could be had now (opportunistic locking): trying again later may succeed
ECODE_TEMP_NORES = "temp_insufficient_resources"
ECODE_ENVIRON = "environment_error"
ECODE_FAULT = "internal_error"
ECODE_NOTUNIQUE = "resource_not_unique"
ECODE_ALL = (
    ECODE_INVAL,
    ECODE_NOENT,
    ECODE_EXISTS,
    ECODE_STATE,
    ECODE_NORES,
    ECODE_TEMP_NORES,
    ECODE_ENVIRON,
    ECODE_FAULT,
    ECODE_NOTUNIQUE,
)


class GntError(Exception):
    """Root of all gnt errors."""

    exit_code = 1
    http_status = 500
    #: first line the CLI prints, as Ganeti does ("Failure: ...").
    cli_heading = "Failure: command execution error:"

    def __init__(self, message: str = "", *args: Any) -> None:
        super().__init__(message, *args)
        self.message = message

    def cli_lines(self) -> list[str]:
        """The lines the CLI prints for this error."""
        return [self.cli_heading, self.message]

    def to_dict(self) -> dict[str, Any]:
        return {"class": type(self).__name__, "message": self.message, "args": list(self.args[1:])}

    @staticmethod
    def from_dict(data: dict[str, Any]) -> GntError:
        cls = _CLASSES.get(str(data.get("class")), GntError)
        return cls(str(data.get("message", "")), *data.get("args", []))

    def __str__(self) -> str:
        return self.message


class OpPrereqError(GntError):
    """Prerequisites not met; `code` is one of Ganeti's error categories."""

    http_status = 400
    cli_heading = "Failure: prerequisites not met for this operation:"

    def __init__(self, message: str = "", code: str = ECODE_INVAL) -> None:
        super().__init__(message, code)
        self.code = code

    def cli_lines(self) -> list[str]:
        return [self.cli_heading, f"error type: {self.code}, error details:", self.message]


class OpExecError(GntError):
    """Execution failed after prerequisites were met."""


class OpCanceledError(OpExecError):
    """A running operation stopped on request (e.g. a cancelled migration); nothing was changed."""


class ParameterError(GntError):
    """A parameter could not be parsed; reported before any job is submitted."""

    exit_code = 1
    http_status = 400

    def cli_lines(self) -> list[str]:
        return [f"Parameter Error: {self.message}"]


class TagError(GntError):
    """A tag that is too long, empty, has characters outside Ganeti's set, or one tag too many."""

    http_status = 400
    cli_heading = "Failure: invalid tag(s) given:"


class JobQueueError(GntError):
    http_status = 400
    cli_heading = "Failure: job queue error:"


class JobLost(JobQueueError):
    """The job is not (or no longer) in the queue."""

    http_status = 404


class LockError(GntError):
    cli_heading = "Failure: lock error:"


class RpcError(GntError):
    cli_heading = "Failure: RPC error:"


class RpcArgumentError(RpcError):
    """A node refused a call: the arguments do not match the procedure's declaration, or a path or
    name in them is not allowed on that node (see gnt.rpc.procedures and gnt.confine)."""

    cli_heading = "Failure: RPC arguments refused:"


class HypervisorError(GntError):
    cli_heading = "Failure: hypervisor error:"


class StorageError(GntError):
    cli_heading = "Failure: block device error:"


class ConfigurationError(GntError):
    cli_heading = "Failure: configuration error:"


class ApiError(GntError):
    """An HTTP error answered by the API; `status` is the HTTP status code."""

    def __init__(self, message: str = "", status: int = 500) -> None:
        super().__init__(message, status)
        self.status = status
        self.http_status = status

    def cli_lines(self) -> list[str]:
        return [f"Failure: {self.message}"]


class HooksAbort(GntError):
    """A pre hook script failed on a node, so the opcode was not run (Ganeti's HooksAbort); the
    message lists each failure as Ganeti prints it."""

    cli_heading = "Failure: hooks execution failed:"

    def cli_lines(self) -> list[str]:
        return [self.cli_heading, *self.message.split("\n")]


_CLASSES: dict[str, type[GntError]] = {
    cls.__name__: cls
    for cls in (
        GntError,
        OpPrereqError,
        OpExecError,
        OpCanceledError,
        ParameterError,
        TagError,
        JobQueueError,
        JobLost,
        LockError,
        RpcError,
        HypervisorError,
        StorageError,
        ConfigurationError,
        ApiError,
        HooksAbort,
    )
}
_CLASSES[RpcArgumentError.__name__] = RpcArgumentError
