"""LUTestAllocator (OP_TEST_ALLOCATOR): build an iallocator request from the opcode and show it
(`--dir in`) or run the allocator on it and show the answer (`--dir out`), as Ganeti's.

The request is Ganeti's iallocator protocol (version 2) over the master's current model of the
cluster, the same one instance creation and evacuation send (`gnt.instance.placement`).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from gnt import disktypes
from gnt.debug.opcodes import OpTestAllocator
from gnt.errors import ECODE_EXISTS, ECODE_INVAL, OpPrereqError
from gnt.jobs.lu import LogicalUnit, register

_DISK_MODES = ("rw", "ro")


def _check_disks(disks: list[dict[str, Any]]) -> None:
    for row in disks:
        size, mode = row.get("size"), row.get("mode")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0 or mode not in _DISK_MODES:
            raise OpPrereqError("Invalid contents of the 'disks' parameter", ECODE_INVAL)


@register
class LUTestAllocator(LogicalUnit):
    OPCODE = OpTestAllocator
    op: OpTestAllocator

    def check_prereq(self) -> None:
        op, cfg = self.op, self.cfg
        if op.mode in ("allocate", "multi-allocate"):
            if cfg.find_instance(op.name) is not None:
                raise OpPrereqError(f"Instance '{op.name}' already in the cluster", ECODE_EXISTS)
            _check_disks(op.disks)
        elif op.mode == "relocate":
            self.instance = cfg.instance(op.name)
        elif not op.instances:
            raise OpPrereqError("Missing instances", ECODE_INVAL)
        else:
            for name in op.instances:
                cfg.instance(name)
        if op.direction == "out" and not op.iallocator:
            raise OpPrereqError("Missing allocator name", ECODE_INVAL)
        if op.iallocator:
            from gnt.instance.placement import check_allocator

            check_allocator(op.iallocator)

    def _alloc_request(self, name: str) -> dict[str, Any]:
        op = self.op
        template = op.disk_template or "plain"
        mirrored = template in disktypes.DISK_KINDS and disktypes.kind(template).needs_secondary
        return {
            "name": name,
            "disk_template": template,
            "tags": list(op.tags),
            "os": op.os,
            "vcpus": op.vcpus,
            "memory": op.memory,
            "spindle_use": op.spindle_use,
            "disks": [dict(d) for d in op.disks],
            "disk_space_total": sum(int(d["size"]) for d in op.disks),
            "nics": [dict(n) for n in op.nics],
            "required_nodes": 2 if mirrored else 1,
            "hypervisor": op.hypervisor or self.cfg.cluster.default_hypervisor,
            "group_name": op.group_name,
        }

    def request(self) -> dict[str, Any]:
        """The request part of Ganeti's iallocator input for this opcode's mode."""
        op = self.op
        if op.mode == "allocate":
            return {"type": "allocate", **self._alloc_request(op.name)}
        if op.mode == "multi-allocate":
            names = [f"{op.name}{idx}" for idx in range(op.count)]
            return {"type": "multi-allocate", "instances": [self._alloc_request(n) for n in names]}
        if op.mode == "relocate":
            inst = self.instance
            return {
                "type": "relocate",
                "name": inst.name,
                "relocate_from": [self.cfg.node_name(u) for u in inst.secondary_nodes],
                "required_nodes": 1,
                "disk_space_total": sum(d.size for d in inst.disks),
            }
        if op.mode == "change-group":
            return {"type": "change-group", "instances": list(op.instances), "target_groups": list(op.target_groups)}
        return {"type": "node-evacuate", "instances": list(op.instances), "evac_mode": op.evac_mode}

    async def exec(self) -> str:
        from gnt.alloc import build_request, process_request
        from gnt.instance import placement

        model = await placement.cluster_model(self)
        full = build_request(model, self.request(), self.cfg.cluster.cluster_name)
        full["enabled_hypervisors"] = list(self.cfg.cluster.enabled_hypervisors)
        if self.op.direction == "in":
            return json.dumps(full, indent=2, sort_keys=True)
        name = self.op.iallocator or placement.BUILTIN_NAME
        if name == placement.BUILTIN_NAME:
            answer = await asyncio.to_thread(process_request, full)
        else:
            from gnt import ialloc_params

            arguments = ialloc_params.as_arguments(self.cfg.cluster.default_iallocator_params)
            answer = await placement._external(name, full, arguments)  # noqa: SLF001 - the same runner placement uses
        return json.dumps(answer, indent=2, sort_keys=True)
