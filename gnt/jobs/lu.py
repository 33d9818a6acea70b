"""The logical-unit base class: *how* an opcode is done, in fixed phases.

`check_arguments` (opcode alone) -> `declare_locks` -> the processor acquires them ->
`check_prereq` (reads the config, never mutates it: this is what makes --dry-run honest) ->
`exec` (RPC, then one config commit). LUs never take locks by hand.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from gnt.jobs.locking import BGL, HeldLocks, Level, LockManager, LockRequest
from gnt.opcodes import OpCode

if TYPE_CHECKING:
    from gnt.config.manager import ConfigManager
    from gnt.rpc.client import RpcClient

Feedback = Callable[[str, str], None]


@dataclass
class Context:
    """What the processor hands every LU."""

    cfg: ConfigManager
    rpc: RpcClient
    locks: LockManager
    #: the master daemon's services that some LUs need (job submission, ssconf push, ...)
    services: Any = None


class LogicalUnit:
    """Base for all LUs; subclasses set `OPCODE` and override the phases they need."""

    OPCODE: ClassVar[type[OpCode]]
    #: whether the LU needs the big cluster lock exclusively (cluster-wide changes)
    BGL_EXCLUSIVE: ClassVar[bool] = False
    #: whether a running job may be cancelled (the LU watches `self.cancel` and stops safely)
    CANCELLABLE: ClassVar[bool] = False

    def __init__(self, op: OpCode, ctx: Context, feedback: Feedback) -> None:
        self.op = op
        self.ctx = ctx
        self.cfg = ctx.cfg
        self.rpc = ctx.rpc
        self._feedback = feedback
        self.held: HeldLocks | None = None
        self.cancel = asyncio.Event()

    # -- phases ------------------------------------------------------------------------------
    def check_arguments(self) -> None:
        """Validate the opcode on its own (no config access)."""

    def declare_locks(self) -> dict[Level, LockRequest]:
        """Locks needed, by level; the BGL is added by `all_locks`."""
        return {}

    def check_prereq(self) -> None:
        """Check the config allows the operation; raise OpPrereqError if not. Must not mutate."""

    async def exec(self) -> Any:
        raise NotImplementedError

    def dry_run_result(self) -> Any:
        return None

    # -- helpers -----------------------------------------------------------------------------
    def all_locks(self) -> dict[Level, LockRequest]:
        locks = dict(self.declare_locks())
        locks[Level.CLUSTER] = LockRequest([BGL], shared=not self.BGL_EXCLUSIVE)
        return locks

    def feedback(self, message: str) -> None:
        """A job log line the CLI prints as the job goes."""
        self._feedback(message, "message")

    def info(self, message: str) -> None:
        self._feedback(f" - INFO: {message}", "message")

    def warning(self, message: str) -> None:
        self._feedback(f" - WARNING: {message}", "message")

    def release_locks(self, level: Level) -> None:
        if self.held is not None:
            self.ctx.locks.release(self.held, level)


REGISTRY: dict[str, type[LogicalUnit]] = {}


def register(cls: type[LogicalUnit]) -> type[LogicalUnit]:
    """Class decorator: the LU that runs `cls.OPCODE`."""
    REGISTRY[cls.OPCODE.OP_ID] = cls
    return cls
