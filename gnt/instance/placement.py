"""Choosing nodes through an iallocator: the built-in one (`hail`) or an external executable.

Both go through Ganeti's iallocator protocol: the master describes the cluster and the request as
JSON, the allocator answers `{success, info, result}`. The built-in allocator answers in a thread
(it is pure numpy work); an external one (`-I NAME`) gets the request in a file, as Ganeti's
plugins do.

Which external allocators may run is the master's choice, not the caller's: any job submitter (a
RAPI user too) names the allocator, and the master runs it as root with the request file as its
argument (`-I /bin/sh` ran the request as a shell script, `$(...)` in a tag included). So, as in
Ganeti, an allocator is a plain name looked up in `IALLOCATOR_SEARCH_PATH` (or a path inside one
of those directories), and its answer is read up to a bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import tempfile
from typing import TYPE_CHECKING, Any

from gnt import ialloc_params, paths
from gnt import query as q
from gnt.errors import ECODE_INVAL, ECODE_NORES, ECODE_TEMP_NORES, OpPrereqError
from gnt.instance import query as iq
from gnt.node import query as nq
from gnt.objects import Instance, Node
from gnt.rpc import procedures as proc

if TYPE_CHECKING:
    from gnt.alloc.model import ClusterModel
    from gnt.jobs.lu import LogicalUnit

BUILTIN_NAME = "hail"
EXTERNAL_TIMEOUT = 60.0
#: the directories external allocators are installed in (cluster-wide paths, as Ganeti's search path)
IALLOCATOR_SEARCH_PATH = ("/usr/local/lib/gnt/iallocators", "/usr/lib/gnt/iallocators")
#: an allocator's answer is a few kB per node; more is a broken (or hostile) program
MAX_ANSWER_BYTES = 16 * 1024 * 1024
_PLUGIN_NAME_RE = re.compile(r"^[a-zA-Z0-9_.-]+\Z")


def allocator_name(requested: str | None, cluster_default: str | None) -> str:
    """The allocator that runs: the one asked for (`-I`), else the cluster's default, else `hail`.

    One function decides, so the allocator named in the job log is the one that ran (the cluster
    default used to be logged while the built-in one answered).
    """
    return requested or cluster_default or BUILTIN_NAME


async def cluster_model(lu: LogicalUnit) -> ClusterModel:
    """The allocator's model of the cluster now: the config plus fresh free memory/disk per node,
    under the nodes' static resource state where the admin set one (gnt.resstate)."""
    from gnt.alloc.rapi import MODEL_INSTANCE_FIELDS, MODEL_NODE_FIELDS, model_from_rapi, state_scope

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
        {
            "uuid": g.uuid,
            "name": g.name,
            "alloc_policy": g.alloc_policy,
            "tags": g.tags,
            "ipolicy": g.ipolicy,
            "networks": sorted(g.networks),  # uuids, as the instances' nic.networks
        }
        for g in cfg.groups.values()
    ]
    c = cfg.cluster
    scope = state_scope(c.default_hypervisor, c.enabled_disk_templates, c.volume_group_name)
    return model_from_rapi(node_rows, inst_rows, groups, c.ipolicy, c.tags, state=scope)


async def run_iallocator(
    lu: LogicalUnit,
    name: str | None,
    request: dict[str, Any],
    node_whitelist: set[str] | None = None,
    ignore_soft_errors: bool = False,
) -> Any:
    """Answer `request` with allocator `name`; raises OpPrereqError when it finds no solution.

    `node_whitelist` (opportunistic locking): the nodes the allocator may choose; the others are
    shown to it as offline, as Ganeti's request does, so built-in and external allocators alike
    keep off them. A failure is then temporary (ECODE_TEMP_NORES): the busy nodes may fit later.
    `ignore_soft_errors` (node evacuation): an external allocator gets ``--ignore-soft-errors``
    after the request file, as Ganeti's IAReqNodeEvac adds it; the built-in one is told directly.
    """
    from gnt.alloc import build_request, process_request

    model = await cluster_model(lu)
    full = build_request(model, request, lu.cfg.cluster.cluster_name)
    full["enabled_hypervisors"] = list(lu.cfg.cluster.enabled_hypervisors)
    if node_whitelist is not None:
        for node_name, data in full["nodes"].items():
            data["offline"] = bool(data.get("offline")) or node_name not in node_whitelist
    label = allocator_name(name, lu.cfg.cluster.default_iallocator)
    arguments = ialloc_params.as_arguments(lu.cfg.cluster.default_iallocator_params)
    if label == BUILTIN_NAME:
        if arguments:
            lu.info(f"The built-in allocator takes no parameters; ignoring {' '.join(arguments)}")
        answer = await asyncio.to_thread(process_request, full, ignore_soft_errors)
    else:
        soft = ["--ignore-soft-errors"] if ignore_soft_errors else []
        answer = await _external(label, full, [*arguments, *soft])
    if not answer.get("success"):
        code = ECODE_NORES if node_whitelist is None else ECODE_TEMP_NORES
        if node_whitelist is not None:
            lu.info(f"IAllocator '{label}' failed on opportunistically acquired nodes: {answer.get('info', '')}")
        raise OpPrereqError(f"Can't compute nodes using iallocator '{label}': {answer.get('info', '')}", code)
    return answer.get("result")


def find_allocator(name: str) -> str | None:
    """The executable an external allocator name stands for: a plain name found in the search path,
    or a path whose directory is one of the search path's; None for anything else."""
    dirs = [paths.localize(d) for d in IALLOCATOR_SEARCH_PATH]
    if _PLUGIN_NAME_RE.match(name) and name not in (".", ".."):
        candidates = [os.path.join(d, name) for d in dirs]
    elif os.path.isabs(name) and os.path.normpath(name) == name:
        local = paths.localize(name)
        candidates = [local] if os.path.dirname(local) in dirs else []
    else:
        candidates = []
    for candidate in candidates:
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def check_allocator(name: str) -> None:
    """Refuse an allocator name that cannot run on the master: neither `hail` nor an installed allocator."""
    if name in ("", BUILTIN_NAME):
        return
    if find_allocator(name) is None:
        raise OpPrereqError(
            f"Unknown iallocator '{name}': give 'hail', or the name of an executable installed in"
            f" {' or '.join(IALLOCATOR_SEARCH_PATH)}",
            ECODE_INVAL,
        )


async def _read_bounded(stream: asyncio.StreamReader | None, limit: int, proc: asyncio.subprocess.Process) -> bytes:
    """All of `stream` up to `limit` bytes; past that the process is killed and the rest discarded.

    The pipe is read to its end either way: a stream left unread keeps the process's exit unseen.
    """
    chunks: list[bytes] = []
    size = 0
    while stream is not None and (chunk := await stream.read(65536)):
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
        elif proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
    if size > limit:
        raise OverflowError(size)
    return b"".join(chunks)


async def _external(path: str, request: dict[str, Any], arguments: list[str] | None = None) -> dict[str, Any]:
    """Run an installed allocator on `request`, with the cluster's default parameters as options
    after the request file (`--KEY=VALUE`), as Ganeti's node daemon runs one."""
    check_allocator(path)
    executable = find_allocator(path) or path
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="gnt-ialloc-", delete=False) as handle:
        json.dump(request, handle)
    try:
        proc = await asyncio.create_subprocess_exec(
            executable, handle.name, *(arguments or []), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        out_err = asyncio.gather(
            _read_bounded(proc.stdout, MAX_ANSWER_BYTES, proc),
            _read_bounded(proc.stderr, MAX_ANSWER_BYTES, proc),
            return_exceptions=True,
        )
        try:
            (out, err), _ = await asyncio.wait_for(asyncio.gather(out_err, proc.wait()), EXTERNAL_TIMEOUT)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            with contextlib.suppress(TimeoutError):  # its pipes are read to their end, as above
                drain = [_read_bounded(s, 0, proc) for s in (proc.stdout, proc.stderr)]
                await asyncio.wait_for(asyncio.gather(*drain, proc.wait(), return_exceptions=True), 5)
            raise OpPrereqError(f"iallocator '{path}' did not answer in {EXTERNAL_TIMEOUT:g}s", ECODE_NORES) from None
        if isinstance(out, OverflowError) or isinstance(err, OverflowError):
            raise OpPrereqError(f"iallocator '{path}' wrote more than {MAX_ANSWER_BYTES} bytes", ECODE_NORES)
        if isinstance(out, BaseException) or isinstance(err, BaseException):
            raise OpPrereqError(
                f"iallocator '{path}' could not be read: {out if isinstance(out, BaseException) else err}"
            )
    finally:
        os.unlink(handle.name)
    if proc.returncode != 0:
        raise OpPrereqError(
            f"iallocator '{path}' failed (exit {proc.returncode}): {err.decode(errors='replace')[-300:]}", ECODE_NORES
        )
    try:
        answer = json.loads(out)
    except ValueError as exc:
        raise OpPrereqError(f"iallocator '{path}' gave an invalid answer: {exc}", ECODE_NORES) from exc
    if not isinstance(answer, dict):
        raise OpPrereqError(f"iallocator '{path}' gave an invalid answer: not a JSON object", ECODE_NORES)
    return answer


def nic_networks(cfg: Any, nics: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The iallocator request's NICs: each NIC's network uuid (or None) and address.

    A network no node group is connected to is refused here, by name, before any allocator runs.
    """
    out: list[dict[str, Any]] = []
    for index, nic in enumerate(nics):
        name = nic.get("network") if isinstance(nic, dict) else None
        if not isinstance(name, str) or name.lower() in ("", "none"):
            out.append({"network": None, "ip": nic.get("ip") if isinstance(nic, dict) else None})
            continue
        net = cfg.network(name)
        if not any(net.uuid in g.networks for g in cfg.groups.values()):
            raise OpPrereqError(
                f"NIC {index}: network {net.name} is connected to no node group, so no node can host the"
                f" instance (gnt-network connect -N mode=...,link=... {net.name} GROUP)",
                ECODE_NORES,
            )
        out.append({"network": net.uuid, "ip": nic.get("ip")})
    return out


async def nodes_for_new_instance(
    lu: LogicalUnit,
    name: str,
    allocator: str | None,
    template: str,
    memory: int,
    vcpus: int,
    disk_sizes: list[int],
    tags: list[str],
    nics: list[dict[str, Any]] | None = None,
    group_name: str | None = None,
    node_whitelist: set[str] | None = None,
) -> list[Node]:
    """Primary (and secondary, for internally mirrored templates) for a new instance, in node group
    `group_name` only when given (`gnt-instance add -g`; the request's group_name, as Ganeti's).

    `nics` are the opcode's NICs: a NIC on a network (`network=NAME`, `ip=pool` too) may only land
    in a node group that network is connected to, so the request names each NIC's network as
    Ganeti's does and the allocator leaves out the groups that lack one.
    """
    request_nics = nic_networks(lu.cfg, nics or [])
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
        "nics": request_nics,
        "required_nodes": 2 if template == "drbd" else 1,
        "hypervisor": lu.cfg.cluster.default_hypervisor,
    }
    if group_name is not None:
        request["group_name"] = group_name
    try:
        whitelist = () if node_whitelist is None else (node_whitelist,)  # only when set: callers' stubs take 3
        names = await run_iallocator(lu, allocator, request, *whitelist)
    except OpPrereqError as err:  # the allocator names networks by uuid (the protocol's); the admin by name
        message = str(err.args[0]) if err.args else str(err)
        for nic in request_nics:
            if nic["network"] is not None:
                message = message.replace(nic["network"], lu.cfg.networks[nic["network"]].name)
        raise OpPrereqError(message, *err.args[1:]) from None
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and lu.cfg.find_node(n) for n in names):
        raise OpPrereqError(f"The iallocator's answer {str(names)[:200]} names no known node", ECODE_NORES)
    chosen = [lu.cfg.node(n) for n in names]
    if len(chosen) == 2:
        from gnt.alloc.location import shared_locations

        shared = shared_locations(lu.cfg.cluster.tags, chosen[0].tags, chosen[1].tags)
        if shared:  # advisory, as in Ganeti: no pair in distinct failure domains could take it
            lu.warning(
                f"Primary {chosen[0].name} and secondary {chosen[1].name} of {name} share failure domain"
                f" {', '.join(shared)}: the allocator found no fitting pair in distinct locations"
            )
    return chosen


async def target_for_move(lu: LogicalUnit, inst: Instance, allocator: str | None) -> Node:
    """Where to migrate or fail over an instance whose disks every node reaches."""
    request = {"type": "node-evacuate", "instances": [inst.name], "evac_mode": "primary-only"}
    answer = await run_iallocator(lu, allocator, request)
    try:
        moved, failed, _ = answer
        if not moved:
            reason = failed[0][1] if failed and len(failed[0]) > 1 else "no node can take it"
            raise OpPrereqError(f"Can't find a target node for instance {inst.name}: {reason}", ECODE_NORES)
        target = moved[0][2][0]
    except (TypeError, ValueError, IndexError, KeyError):
        target = None
    if not isinstance(target, str) or lu.cfg.find_node(target) is None:
        raise OpPrereqError(f"The iallocator's answer {str(answer)[:200]} names no known target node", ECODE_NORES)
    return lu.cfg.node(target)
