"""The logical-unit base class: *how* an opcode is done, in fixed phases.

`check_opcode` (opcode alone, also at submission) -> `check_arguments` -> `declare_locks(level)`
level by level, each acquired by the processor before the next level is declared (so a level's
names may come from the config read under the locks above it) -> `check_prereq` (reads the
config, never mutates it: this is what makes --dry-run honest) -> `exec` (RPC, then one config
commit). LUs never take locks by hand.

Which LU runs which opcode is not decided here: the daemon builds a `Registry` from the LU
modules it wires in (`daemons/registry.py`), so the job layer does not import what it runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from gnt.errors import OpCanceledError
from gnt.jobs.locking import BGL, HeldLocks, Level, LockManager, LockRequest
from gnt.opcodes import OpCode

if TYPE_CHECKING:
    from gnt.config.manager import ConfigManager
    from gnt.rpc.client import RpcClient

Feedback = Callable[[str, str], None]
T = TypeVar("T")


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
    #: whether a running job may be cancelled: the LU stops safely at its cancellable points
    #: (`await self.interruptible(...)`, `self.checkpoint()`, or its own checks of `self.cancel`)
    CANCELLABLE: ClassVar[bool] = False
    #: Ganeti's hook path (`instance-start`): the processor runs `<hooks dir>/<HPATH>-{pre,post}.d/`
    #: around `exec` on `hooks_nodes()` with `hooks_env()` (see gnt.hooks.master); None: no hooks
    HPATH: ClassVar[str | None] = None
    #: Ganeti's hook object type (GANETI_OBJECT_TYPE): INSTANCE, NODE, CLUSTER, ...
    HTYPE: ClassVar[str | None] = None

    def __init__(self, op: OpCode, ctx: Context, feedback: Feedback) -> None:
        self.op = op
        self.ctx = ctx
        self.cfg = ctx.cfg
        self.rpc = ctx.rpc
        self._feedback = feedback
        self.held: HeldLocks | None = None
        self.cancel = asyncio.Event()

    # -- phases ------------------------------------------------------------------------------
    @classmethod
    def check_opcode(cls, op: OpCode) -> None:
        """Checks of the opcode alone that run at submission too: bad input never becomes a job."""

    def check_arguments(self) -> None:
        """Validate the opcode on its own (no config access)."""

    def declare_locks(self, level: Level) -> LockRequest | None:
        """The locks needed at `level` (None: none), asked level by level in `Level` order.

        Every level above `level` is already held when this is called, so the names may be read
        from the config (an instance's nodes, once the instance lock is held). The processor asks
        again after acquiring the level; if the answer changed meanwhile, it releases the level and
        retries. The BGL (cluster level) is added by `locks_at`.
        """
        return None

    def check_prereq(self) -> None:
        """Check the config allows the operation; raise OpPrereqError if not. Must not mutate."""

    async def exec(self) -> Any:
        raise NotImplementedError

    def dry_run_result(self) -> Any:
        return None

    def hooks_env(self) -> dict[str, Any]:
        """The opcode's hook environment, without the GANETI_ prefix; asked after `check_prereq`
        (pre) and again after `exec` (post, as GANETI_POST_*)."""
        return {}

    def hooks_nodes(self) -> tuple[list[Any], list[Any]]:
        """The nodes (config objects) the pre and the post hooks run on; by default the master."""
        master = [self.cfg.master()] if self.cfg.cluster.master_node in self.cfg.nodes else []
        return master, master

    # -- helpers -----------------------------------------------------------------------------
    def locks_at(self, level: Level) -> LockRequest | None:
        if level == Level.CLUSTER:
            return LockRequest([BGL], shared=not self.BGL_EXCLUSIVE)
        return self.declare_locks(level)

    def checkpoint(self) -> None:
        """A cancellable point: stop here (OpCanceledError) if the job was asked to cancel."""
        if self.CANCELLABLE and self.cancel.is_set():
            raise OpCanceledError(f"{self.op.OP_ID} canceled by request")

    async def interruptible(self, aw: Awaitable[T]) -> T:
        """Await `aw`, stopping it at once if the job is cancelled meanwhile (then OpCanceledError).

        Only for steps that are safe to abandon half-way (a sleep, a read); the LU must be CANCELLABLE.
        """
        self.checkpoint()
        if not self.CANCELLABLE:
            return await aw
        work = asyncio.ensure_future(aw)
        stop = asyncio.ensure_future(self.cancel.wait())
        try:
            await asyncio.wait((work, stop), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (work, stop):
                if not task.done():
                    task.cancel()
            if not work.done() or work.cancelled():
                await asyncio.gather(work, return_exceptions=True)
        if work.cancelled():
            raise OpCanceledError(f"{self.op.OP_ID} canceled by request")
        return work.result()

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


L = TypeVar("L", bound=type[LogicalUnit])


def register(cls: L) -> L:
    """Class decorator: marks `cls` as the LU that runs `cls.OPCODE`; `Registry.from_modules` collects it."""
    cls._runs_opcode = cls.OPCODE.OP_ID  # type: ignore[attr-defined]
    return cls


class Registry(dict[str, type[LogicalUnit]]):
    """Opcode id -> the logical unit that runs it; built by the daemon's wiring and handed to the queue."""

    @classmethod
    def of(cls, lus: Iterable[type[LogicalUnit]]) -> Registry:
        registry = cls()
        for lu_cls in lus:
            op_id = lu_cls.OPCODE.OP_ID
            if op_id in registry and registry[op_id] is not lu_cls:
                raise ValueError(f"{op_id} is run by both {registry[op_id].__name__} and {lu_cls.__name__}")
            registry[op_id] = lu_cls
        return registry

    @classmethod
    def from_modules(cls, modules: Iterable[ModuleType]) -> Registry:
        """Every LU the given modules define and mark with `@register`."""
        return cls.of(
            obj
            for module in modules
            for obj in vars(module).values()
            if isinstance(obj, type) and "_runs_opcode" in vars(obj) and obj.__module__ == module.__name__
        )
