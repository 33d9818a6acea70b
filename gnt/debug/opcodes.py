"""The debug opcodes beyond OP_TEST_DELAY, with Ganeti's ids and fields; registered into `gnt.opcodes`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from gnt.opcodes import OpCode, _f, register

__all__ = ["OpTestJqueue"]

#: a test job logs at most this many messages, each at most this long: it exercises the queue, not floods it
MAX_LOG_MESSAGES = 1000
MAX_LOG_LENGTH = 4096


def _log_messages(value: Any) -> None:
    if len(value) > MAX_LOG_MESSAGES:
        raise ValueError(f"at most {MAX_LOG_MESSAGES} log messages, not {len(value)}")
    for message in value:
        if len(message) > MAX_LOG_LENGTH:
            raise ValueError(f"log messages are at most {MAX_LOG_LENGTH} characters")


@register
@dataclass(kw_only=True)
class OpTestJqueue(OpCode):
    OP_ID: ClassVar[str] = "OP_TEST_JQUEUE"
    notify_waitlock: bool = _f(False, "Ganeti's socket notification before waiting for locks (not supported)")
    notify_exec: bool = _f(False, "Ganeti's socket notification before executing (not supported)")
    log_messages: list[str] = _f([], "Messages to send as job feedback, each prefixed TESTMSG=", _log_messages)
    fail: bool = _f(False, "Fail the opcode (OpExecError) after logging")

    def check_fields(self) -> None:
        if self.notify_waitlock or self.notify_exec:
            raise ValueError("notify_waitlock and notify_exec (Ganeti's test sockets) are not supported")
