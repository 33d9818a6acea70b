"""The ExtStorage logical unit (OP_EXTSTORAGE_DIAGNOSE): a read of the nodes, no locks, no config change."""

from __future__ import annotations

from typing import Any

from gnt.extstorage import query
from gnt.extstorage.opcodes import OpExtStorageDiagnose
from gnt.jobs.lu import LogicalUnit, register


@register
class LUExtStorageDiagnose(LogicalUnit):
    """Every ExtStorage provider on the vm_capable nodes, as rows of the asked fields."""

    OPCODE = OpExtStorageDiagnose
    op: OpExtStorageDiagnose

    async def exec(self) -> list[list[Any]]:
        infos = await query.collect(self.cfg, self.rpc, self.ctx.services)
        return query.select(infos, list(self.op.output_fields), list(self.op.names))
