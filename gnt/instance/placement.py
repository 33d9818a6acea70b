"""Choosing nodes through an iallocator: the built-in one (`hail`) or an external executable.

Both go through Ganeti's iallocator protocol: the master describes the cluster and the request as
JSON, the allocator answers `{success, info, result}`. The built-in allocator answers in a thread
(it is pure numpy work); an external one (`-I /path/to/allocator`) gets the request in a file, as
Ganeti's plugins do.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from typing import TYPE_CHECKING, Any

from gnt import query as q
from gnt.errors import ECODE_INVAL, ECODE_NORES, OpPrereqError
from gnt.instance import query as iq
from gnt.node import query as nq
from gnt.objects import Instance, Node
from gnt.rpc import procedures as proc

if TYPE_CHECKING:
    from gnt.alloc.model import ClusterModel
    from gnt.jobs.lu import LogicalUnit

BUILTIN_NAME = "hail"
EXTERNAL_TIMEOUT = 60.0


def allocator_name(requested: str | None, cluster_default: str | None) -> str:
    """The allocator that runs: the one asked for (`-I`), else the cluster's default, else `hail`.

    One function decides, so the allocator named in the job log is the one that ran (the cluster
    default used to be logged while the built-in one answered).
    """
    return requested or cluster_default or BUILTIN_NAME


async def cluster_model(lu: LogicalUnit) -> ClusterModel:
    """The allocator's model of the cluster now: the config plus fresh free memory/disk per node."""
    from gnt.alloc.rapi import MODEL_INSTANCE_FIELDS, MODEL_NODE_FIELDS, model_from_rapi

    cfg, services = lu.cfg, lu.ctx.services
    online = [n for n in cfg.nodes.values() if not n.offline]
    results = await services.live(online, proc.NODE_INFO, services.node_info_args(), fresh=True)
    live = {name: (None if r.failed else r.payload) for name, r in results.items()}
    node_fields = q.select(nq.FIELDS, list(MODEL_NODE_FIELDS))
    nodes = sorted(cfg.nodes.values(), key=lambda n: n.name)
    node_rows = q.as_dicts(node_fields, q.evaluate(node_fields, nodes, nq.NodeQueryContext(cfg, live)))
    inst_fields = q.select(iq.FIELDS, list(MODEL_INSTANCE_FIELDS))
    insts = sorted(cfg.instances.values(), key=lambda i: i.name)
    inst_rows = q.as_dicts(inst_fields, q.evaluate(inst_fields, insts, iq.InstanceQueryContext(cfg, {})))
    groups = [
        {"uuid": g.uuid, "name": g.name, "alloc_policy": g.alloc_policy, "tags": g.tags} for g in cfg.groups.values()
    ]
    return model_from_rapi(node_rows, inst_rows, groups, cfg.cluster.ipolicy, cfg.cluster.tags)


async def run_iallocator(lu: LogicalUnit, name: str | None, request: dict[str, Any]) -> Any:
    """Answer `request` with allocator `name`; raises OpPrereqError when it finds no solution."""
    from gnt.alloc import build_request, process_request

    model = await cluster_model(lu)
    full = build_request(model, request, lu.cfg.cluster.cluster_name)
    full["enabled_hypervisors"] = list(lu.cfg.cluster.enabled_hypervisors)
    label = allocator_name(name, lu.cfg.cluster.default_iallocator)
    if label == BUILTIN_NAME:
        answer = await asyncio.to_thread(process_request, full)
    else:
        answer = await _external(label, full)
    if not answer.get("success"):
        raise OpPrereqError(f"Can't compute nodes using iallocator '{label}': {answer.get('info', '')}", ECODE_NORES)
    return answer.get("result")


def check_allocator(name: str) -> None:
    """Refuse an allocator name that cannot run on the master: neither `hail` nor an executable's absolute path."""
    if name in ("", BUILTIN_NAME):
        return
    if not os.path.isabs(name) or not os.path.isfile(name) or not os.access(name, os.X_OK):
        raise OpPrereqError(
            f"Unknown iallocator '{name}': give 'hail' or the absolute path of an executable", ECODE_INVAL
        )


async def _external(path: str, request: dict[str, Any]) -> dict[str, Any]:
    check_allocator(path)
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="gnt-ialloc-", delete=False) as handle:
        json.dump(request, handle)
    try:
        proc = await asyncio.create_subprocess_exec(
            path, handle.name, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(), EXTERNAL_TIMEOUT)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise OpPrereqError(f"iallocator '{path}' did not answer in {EXTERNAL_TIMEOUT:g}s", ECODE_NORES) from None
    finally:
        os.unlink(handle.name)
    if proc.returncode != 0:
        raise OpPrereqError(f"iallocator '{path}' failed (exit {proc.returncode}): {err.decode()[-300:]}", ECODE_NORES)
    try:
        return json.loads(out)
    except ValueError as exc:
        raise OpPrereqError(f"iallocator '{path}' gave an invalid answer: {exc}", ECODE_NORES) from exc


async def nodes_for_new_instance(
    lu: LogicalUnit,
    name: str,
    allocator: str | None,
    template: str,
    memory: int,
    vcpus: int,
    disk_sizes: list[int],
    tags: list[str],
) -> list[Node]:
    """Primary (and secondary, for internally mirrored templates) for a new instance."""
    request = {
        "type": "allocate",
        "name": name,
        "disk_template": template,
        "tags": tags,
        "memory": memory,
        "vcpus": vcpus,
        "spindle_use": 1,
        "disks": [{"size": s, "mode": "rw"} for s in disk_sizes],
        "disk_space_total": sum(disk_sizes),
        "nics": [],
        "required_nodes": 2 if template == "drbd" else 1,
        "hypervisor": lu.cfg.cluster.default_hypervisor,
    }
    names = await run_iallocator(lu, allocator, request)
    return [lu.cfg.node(n) for n in names]


async def target_for_move(lu: LogicalUnit, inst: Instance, allocator: str | None) -> Node:
    """Where to migrate or fail over an instance whose disks every node reaches."""
    request = {"type": "node-evacuate", "instances": [inst.name], "evac_mode": "primary-only"}
    moved, failed, _ = await run_iallocator(lu, allocator, request)
    if not moved:
        reason = failed[0][1] if failed and len(failed[0]) > 1 else "no node can take it"
        raise OpPrereqError(f"Can't find a target node for instance {inst.name}: {reason}", ECODE_NORES)
    return lu.cfg.node(moved[0][2][0])
