"""OP_INSTANCE_MULTI_ALLOC: place several new instances together, then create each in its own job.

Why together: asked one by one, the allocator would place every instance as if the others did not
exist, and a batch could overcommit a node that each single answer thought free. One
`multi-allocate` request places them in order on one model of the cluster, each placement seeing
the previous ones. Like Ganeti, the LU itself creates nothing: it submits one OP_INSTANCE_CREATE
job per instance that found room (with its nodes filled in) and answers
`{"jobs": [[ok, id], ...], "allocatable": [names], "failed": [names]}`; with `dry_run` it only
computes the placement (`jobs` empty).

The instance bodies are full OP_INSTANCE_CREATE opcodes, checked at submission like any job's, so a
bad body refuses the whole batch before anything is placed.
"""

from __future__ import annotations

from typing import Any

from gnt import constants
from gnt.errors import ECODE_EXISTS, ECODE_INVAL, ECODE_NORES, OpPrereqError
from gnt.instance.common import filled_beparams
from gnt.instance.create import LUInstanceCreate, normalize_beparams
from gnt.instance.multi_opcodes import OpInstanceMultiAlloc
from gnt.jobs.locking import ALL, Level, LockRequest
from gnt.jobs.lu import LogicalUnit, register
from gnt.objects import Instance
from gnt.opcodes import OpInstanceCreate, from_dict

__all__ = ["LUInstanceMultiAlloc", "create_ops"]

#: templates whose instances need a secondary node
_MIRRORED = (constants.DT_DRBD,)


def create_ops(bodies: list[dict[str, Any]]) -> list[OpInstanceCreate]:
    """Each body as a validated OP_INSTANCE_CREATE; a bad one names its position in the batch."""
    ops: list[OpInstanceCreate] = []
    for index, body in enumerate(bodies):
        if body.get("OP_ID", "OP_INSTANCE_CREATE") != "OP_INSTANCE_CREATE":
            raise OpPrereqError(f"Instance {index}: only OP_INSTANCE_CREATE opcodes can be allocated", ECODE_INVAL)
        try:
            op = from_dict({**body, "OP_ID": "OP_INSTANCE_CREATE"})
        except OpPrereqError as err:
            raise OpPrereqError(f"Instance {index}: {err.message}", ECODE_INVAL) from None
        assert isinstance(op, OpInstanceCreate)
        ops.append(op)
    return ops


@register
class LUInstanceMultiAlloc(LogicalUnit):
    OPCODE = OpInstanceMultiAlloc
    op: OpInstanceMultiAlloc

    @classmethod
    def check_opcode(cls, op: Any) -> None:
        if not op.instances:
            raise OpPrereqError("No instances given to allocate", ECODE_INVAL)
        ops = create_ops(op.instances)
        names = [o.instance_name for o in ops]
        dups = sorted({n for n in names if names.count(n) > 1})
        if dups:
            raise OpPrereqError(f"There are duplicate instance names: {', '.join(dups)}", ECODE_INVAL)
        if any(o.iallocator is not None for o in ops):
            raise OpPrereqError("iallocator are not allowed to be set on instance objects", ECODE_INVAL)
        given = [bool(o.pnode) for o in ops] + [bool(o.snode) for o in ops if o.disk_template in _MIRRORED]
        if any(given) and not all(given):
            raise OpPrereqError("There are instance objects providing pnode/snode while others do not", ECODE_INVAL)
        if any(given) and op.iallocator:
            raise OpPrereqError("iallocator and the instances' pnode/snode are mutually exclusive", ECODE_INVAL)

    def check_arguments(self) -> None:
        self.check_opcode(self.op)
        self.creates = create_ops(self.op.instances)
        self.by_allocator = not any(o.pnode for o in self.creates)

    def declare_locks(self, level: Level) -> LockRequest | None:
        return LockRequest(ALL, shared=True) if level == Level.NODE else None

    async def check_prereq(self) -> None:
        for op in self.creates:
            if self.cfg.find_instance(op.instance_name) is not None:
                raise OpPrereqError(f"Instance '{op.instance_name}' is already in the cluster", ECODE_EXISTS)
        if not self.by_allocator:
            self.allocatable = {o.instance_name: [n for n in (o.pnode, o.snode) if n] for o in self.creates}
            self.failed: list[str] = []
            return
        from gnt.instance.placement import run_iallocator

        request = {"type": "multi-allocate", "instances": [self._request(o) for o in self.creates]}
        answer = await run_iallocator(self, self.op.iallocator, request)
        try:
            placed, failed = answer
            self.allocatable = {str(name): [str(n) for n in nodes] for name, nodes in placed}
            self.failed = [str(name) for name in failed]
        except (TypeError, ValueError):
            raise OpPrereqError(
                f"The iallocator's answer {str(answer)[:200]} is not a placement", ECODE_NORES
            ) from None
        for nodes in self.allocatable.values():
            for node in nodes:
                self.cfg.node(node)  # an allocator naming an unknown node is refused here

    def _request(self, op: OpInstanceCreate) -> dict[str, Any]:
        """The allocator's view of one new instance (its size, as instance creation computes it)."""
        hypervisor = op.hypervisor or self.cfg.cluster.default_hypervisor
        be = {**filled_beparams(self.cfg.cluster, Instance(hypervisor=hypervisor)), **normalize_beparams(op.beparams)}
        sizes = (
            []
            if op.disk_template == constants.DT_DISKLESS
            else [LUInstanceCreate._disk_size(i, d) for i, d in enumerate(op.disks)]
        )
        return {
            "name": op.instance_name,
            "disk_template": op.disk_template,
            "tags": list(op.tags),
            "memory": int(be["maxmem"]),
            "vcpus": int(be["vcpus"]),
            "spindle_use": int(be.get("spindle_use", 1)),
            "disks": [{"size": s, "mode": "rw"} for s in sizes],
            "disk_space_total": sum(sizes),
            "nics": [],
            "required_nodes": 2 if op.disk_template in _MIRRORED else 1,
            "hypervisor": hypervisor,
        }

    def _partial(self) -> dict[str, Any]:
        allocatable = [o.instance_name for o in self.creates if o.instance_name in self.allocatable]
        return {"allocatable": allocatable, "failed": list(self.failed)}

    def dry_run_result(self) -> Any:
        return {**self._partial(), "jobs": []}

    async def exec(self) -> dict[str, Any]:
        jobs = []
        for body, op in zip(self.op.instances, self.creates, strict=True):
            nodes = self.allocatable.get(op.instance_name)
            if nodes is None:
                self.warning(f"Instance {op.instance_name} could not be allocated")
                continue
            create = {**body, "OP_ID": "OP_INSTANCE_CREATE", "iallocator": None}
            create["pnode"] = nodes[0]
            create["snode"] = nodes[1] if len(nodes) > 1 else None
            jobs.append([create])
        submitted = await self.ctx.services.queue.submit_many(jobs) if jobs else []
        for ok, value in submitted:
            self.feedback(f"Submitted job {value}" if ok else f"Job submission failed: {value}")
        return {**self._partial(), "jobs": [list(entry) for entry in submitted]}
