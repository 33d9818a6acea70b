"""The OS logical unit (OP_OS_DIAGNOSE) and the per-OS part of OP_CLUSTER_SET_PARAMS.

`gnt-os modify` is OP_CLUSTER_SET_PARAMS with `os_hvp`, `osparams`, `hidden_os` and
`blacklisted_os`, as in Ganeti; the cluster LU hands those fields to `check_cluster_changes`
(prerequisites: the OS accepts the parameters on every node that has it) and
`apply_cluster_changes` (the config change), kept here beside the rest of the OS logic.
"""

from __future__ import annotations

from typing import Any

from gnt.jobs.lu import LogicalUnit, register
from gnt.os import query
from gnt.os.opcodes import OpOsDiagnose
from gnt.os.params import validate_on_nodes


@register
class LUOsDiagnose(LogicalUnit):
    """Every OS on the vm_capable nodes, as rows of the asked fields (no locks: a read of the nodes)."""

    OPCODE = OpOsDiagnose
    op: OpOsDiagnose

    async def exec(self) -> list[list[Any]]:
        infos = await query.collect(self.cfg, self.rpc, self.ctx.services)
        return query.select(infos, list(self.op.output_fields), list(self.op.names))


def _updated(current: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """Ganeti's GetUpdatedParams(use_default=True): a value 'default' (or None) removes the key."""
    result = dict(current)
    for key, value in changes.items():
        if value is None or value == "default":
            result.pop(key, None)
        else:
            result[key] = value
    return result


async def check_cluster_changes(lu: LogicalUnit, op: Any) -> None:
    """New per-OS parameters must be accepted by the OS on every node that has it (Ganeti checks
    with required=False: a node without the OS is not asked to know it)."""
    from gnt.instance.common import check_hvparams

    for per_hv in (op.os_hvp or {}).values():
        for hv, params in per_hv.items():
            check_hvparams(hv, {k: v for k, v in params.items() if v not in (None, "default")})
    public = op.osparams or {}
    private = getattr(op, "osparams_private_cluster", None) or {}
    if not public and not private:
        return
    cluster = lu.cfg.cluster
    nodes = [n for n in lu.cfg.nodes.values() if n.vm_capable and not n.offline]
    for os_name in sorted({*public, *private}):
        wanted = _updated(cluster.osparams.get(os_name, {}), public.get(os_name, {}))
        hidden = _updated(cluster.osparams_private_cluster.get(os_name, {}), private.get(os_name, {}))
        await validate_on_nodes(lu, nodes, os_name, {**wanted, **hidden}, force_variant=True, required=False)


def apply_cluster_changes(lu: LogicalUnit, op: Any, cluster: Any) -> None:
    """Apply the per-OS fields of OP_CLUSTER_SET_PARAMS to `cluster` (committed by the caller)."""
    for os_name, per_hv in (op.os_hvp or {}).items():
        merged = dict(cluster.os_hvp.get(os_name, {}))
        for hv, params in per_hv.items():
            merged[hv] = _updated(merged.get(hv, {}), params)
            if not merged[hv]:
                del merged[hv]
        if merged:
            cluster.os_hvp[os_name] = merged
        else:
            cluster.os_hvp.pop(os_name, None)
    # public, then private parameters (gnt-os modify -O, --os-parameters-private)
    for field in ("osparams", "osparams_private_cluster"):
        stored: dict[str, dict[str, Any]] = getattr(cluster, field)
        for os_name, params in (getattr(op, field, None) or {}).items():
            merged = _updated(stored.get(os_name, {}), params)
            if merged:
                stored[os_name] = merged
            else:
                stored.pop(os_name, None)
    for attr, desc in (("hidden_os", "hidden"), ("blacklisted_os", "blacklisted")):
        current: list[str] = getattr(cluster, attr)
        for action, os_name in getattr(op, attr) or []:
            if action == "add":
                if os_name in current:
                    lu.feedback(f"OS {os_name} already in {desc}, ignoring")
                else:
                    current.append(os_name)
            elif os_name in current:
                current.remove(os_name)
            else:
                lu.feedback(f"OS {os_name} not found in {desc}, ignoring")
