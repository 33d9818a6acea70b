"""The debug opcodes beyond OP_TEST_DELAY, with Ganeti's ids and fields; registered into `gnt.opcodes`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from gnt import opchecks as ck
from gnt.opcodes import OpCode, _f, register
from gnt.os import secrets as os_secrets

__all__ = ["OpTestAllocator", "OpTestJqueue", "OpTestOsParams"]

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


@register
@dataclass(kw_only=True)
class OpTestOsParams(OpCode):
    """gnt-debug test-osparams: checks that secret OS parameters reach a logical unit intact."""

    OP_ID: ClassVar[str] = "OP_TEST_OS_PARAMS"
    osparams_secret: dict[str, Any] | None = _f(
        None, "Secret OS parameters to hand to the logical unit (never stored)", os_secrets.check_hidden_params
    )


#: Ganeti's iallocator modes and directions
IALLOCATOR_MODES = ("allocate", "relocate", "change-group", "node-evacuate", "multi-allocate")
IALLOCATOR_DIRS = ("in", "out")


def _one_of(choices: tuple[str, ...]) -> Any:
    def check(value: Any) -> None:
        if value not in choices:
            raise ValueError(f"'{str(value)[:80]}' is not one of {', '.join(choices)}")

    return check


@register
@dataclass(kw_only=True)
class OpTestAllocator(OpCode):
    OP_ID: ClassVar[str] = "OP_TEST_ALLOCATOR"
    SUMMARY_FIELD: ClassVar[str | None] = "iallocator"
    direction: str = _f(doc="in: show the allocator's input; out: run it and show its output",
                        check=_one_of(IALLOCATOR_DIRS))  # fmt: skip
    mode: str = _f(doc="The request type", check=_one_of(IALLOCATOR_MODES))
    name: str = _f(doc="Instance name (allocate: a new one; relocate: an existing one)")
    nics: list[dict[str, Any]] = _f([], "NICs of the new instance: [{mac, ip, bridge}]")
    disks: list[dict[str, Any]] = _f([], "Disks of the new instance: [{size, mode}]")
    hypervisor: str | None = _f(None, "Hypervisor (default: the cluster's)")
    group_name: str | None = _f(None, "Node group to allocate in")
    iallocator: str | None = _f(None, "Allocator to run (direction out)")
    tags: list[str] = _f([], "Tags of the new instance")
    memory: int = _f(128, "Memory of the new instance (MiB)", ck.int_range(0, 2**31))
    vcpus: int = _f(1, "VCPUs of the new instance", ck.int_range(1, 1024))
    os: str | None = _f(None, "OS of the new instance")
    disk_template: str | None = _f(None, "Disk template of the new instance")
    instances: list[str] = _f([], "Instances (change-group, node-evacuate)")
    evac_mode: str = _f(
        "all",
        "node-evacuate mode: primary-only, secondary-only or all",
        _one_of(("primary-only", "secondary-only", "all")),
    )
    target_groups: list[str] = _f([], "Groups to move to (change-group)")
    spindle_use: int = _f(1, "Spindles of the new instance", ck.int_range(0, 1024))
    count: int = _f(1, "How many instances (multi-allocate)", ck.int_range(1, 1000))
