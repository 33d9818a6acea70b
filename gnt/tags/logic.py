"""The tag logical units: get, set, delete and search tags on the cluster, node groups, nodes and instances.

Every kind is one row of `KINDS`: the lock level of its objects, how to find one by name and how to
list them all for a search. Adding a kind (networks) is adding its row. Tags are stored on the
config objects themselves, so they persist, replicate to master candidates and survive a master
failover like every other change: one commit of the one changed object.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from gnt.config.manager import ConfigManager
from gnt.errors import ECODE_INVAL, ECODE_NOENT, OpPrereqError, TagError
from gnt.jobs.locking import Level, LockRequest
from gnt.jobs.lu import LogicalUnit, register
from gnt.objects import ConfigObject
from gnt.opcodes import OpCode
from gnt.tags import syntax
from gnt.tags.opcodes import OpTagsDel, OpTagsGet, OpTagsSearch, OpTagsSet

__all__ = ["KINDS", "LUTagsDel", "LUTagsGet", "LUTagsSearch", "LUTagsSet", "TagKind"]


@dataclass(frozen=True)
class TagKind:
    """How the tag LUs reach the objects of one kind."""

    #: the lock level of one object; None: the cluster object, under the BGL every job holds
    level: Level | None
    #: the object of that name (OpPrereqError unknown_entity when there is none)
    find: Callable[[ConfigManager, str], ConfigObject]
    #: (search path, object) for every object of the kind, as Ganeti's search-tags prints them
    each: Callable[[ConfigManager], Iterable[tuple[str, ConfigObject]]]


def _named(prefix: str, table: Callable[[ConfigManager], dict[str, Any]]) -> Callable[..., Any]:
    return lambda cfg: ((f"{prefix}/{obj.name}", obj) for obj in table(cfg).values())


KINDS: dict[str, TagKind] = {
    syntax.KIND_CLUSTER: TagKind(None, lambda cfg, _name: cfg.cluster, lambda cfg: [("/cluster", cfg.cluster)]),
    syntax.KIND_INSTANCE: TagKind(Level.INSTANCE, ConfigManager.instance, _named("/instances", lambda c: c.instances)),
    syntax.KIND_NODE: TagKind(Level.NODE, ConfigManager.node, _named("/nodes", lambda c: c.nodes)),
    syntax.KIND_NODEGROUP: TagKind(Level.NODEGROUP, ConfigManager.group, _named("/nodegroup", lambda c: c.groups)),
    syntax.KIND_NETWORK: TagKind(Level.NETWORK, ConfigManager.network, _named("/networks", lambda c: c.networks)),
}


class TagsLU(LogicalUnit):
    """Locks the tagged object (shared for reads) and finds it; the cluster needs only the BGL.

    Cluster tag changes take the BGL shared, as every job does (Ganeti takes no lock at all for
    them): the change is read, applied and staged for commit without yielding to another job, so
    two concurrent tag jobs cannot lose each other's tags.
    """

    SHARED = False
    op: Any

    @classmethod
    def check_opcode(cls, op: OpCode) -> None:
        kind = getattr(op, "kind", None)
        if kind not in KINDS:
            raise OpPrereqError(f"Wrong tag type requested ({str(kind)[:40]})", ECODE_INVAL)

    def declare_locks(self, level: Level) -> LockRequest | None:
        kind = KINDS[self.op.kind]
        if kind.level is not None and level == kind.level:
            return LockRequest([self.op.name], shared=self.SHARED)
        return None

    def check_prereq(self) -> None:
        self.target: ConfigObject = KINDS[self.op.kind].find(self.cfg, self.op.name)


@register
class LUTagsGet(TagsLU):
    OPCODE = OpTagsGet
    SHARED = True

    def declare_locks(self, level: Level) -> LockRequest | None:
        return super().declare_locks(level) if self.op.use_locking else None

    async def exec(self) -> list[str]:
        return sorted(self.target.tags)


@register
class LUTagsSet(TagsLU):
    OPCODE = OpTagsSet

    def check_prereq(self) -> None:
        super().check_prereq()
        syntax.validate_tags(self.op.tags)
        count = len(set(self.target.tags) | set(self.op.tags))
        if count > syntax.MAX_TAGS_PER_OBJ:
            what = self.op.kind if self.op.kind == syntax.KIND_CLUSTER else f"{self.op.kind} {self.op.name}"
            raise TagError(f"Too many tags: {what} would hold {count}, at most {syntax.MAX_TAGS_PER_OBJ} are allowed")

    async def exec(self) -> None:
        self.target.tags = sorted(set(self.target.tags) | set(self.op.tags))
        await self.cfg.commit([self.target])


@register
class LUTagsDel(TagsLU):
    OPCODE = OpTagsDel

    def check_prereq(self) -> None:
        super().check_prereq()
        syntax.validate_tags(self.op.tags)
        missing = sorted(set(self.op.tags) - set(self.target.tags))
        if missing:
            shown = ", ".join(f"'{tag}'" for tag in missing)
            raise OpPrereqError(f"Tag(s) {shown} not found", ECODE_NOENT)

    async def exec(self) -> None:
        gone = set(self.op.tags)
        self.target.tags = [tag for tag in self.target.tags if tag not in gone]
        await self.cfg.commit([self.target])


@register
class LUTagsSearch(LogicalUnit):
    """Every (path, tag) whose tag matches the pattern; reads the config only, takes no object lock."""

    OPCODE = OpTagsSearch
    op: OpTagsSearch

    @classmethod
    def check_opcode(cls, op: OpCode) -> None:
        cls._compile(getattr(op, "pattern", ""))

    @staticmethod
    def _compile(pattern: str) -> re.Pattern[str]:
        try:
            return re.compile(pattern)
        except (re.error, RecursionError, OverflowError) as err:
            raise OpPrereqError(f"Invalid search pattern '{pattern[:80]}': {err}", ECODE_INVAL) from None

    def check_prereq(self) -> None:
        self.regex = self._compile(self.op.pattern)

    async def exec(self) -> list[list[str]]:
        found = [
            [path, tag]
            for kind in KINDS.values()
            for path, obj in kind.each(self.cfg)
            for tag in obj.tags
            if self.regex.search(tag)
        ]
        return sorted(found)
