"""Ganeti's iallocator protocol: request JSON in, ``{"success", "info", "result"}`` out.

`process_request` answers a request with the built-in allocator, so `main()` lets gnt run
as an external allocator executable (like hail: ``allocator REQUEST_FILE``).
`build_request` does the opposite, for the master calling an external allocator
(``-I /path/to/allocator``): it serialises a cluster model plus a request dict.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from gnt.alloc.allocate import allocate as _allocate
from gnt.alloc.allocate import allocate_secondary, change_group, evacuate, multi_allocate, relocate_secondary
from gnt.alloc.model import DEFAULT_IPOLICY, ClusterModel, Group, Instance, IPolicy, ISpec, Node
from gnt.errors import GntError, OpPrereqError

__all__ = ["build_request", "ipolicy_from_dict", "ipolicy_to_dict", "main", "model_from_request", "process_request"]

_SPEC_KEYS = ("memory-size", "cpu-count", "disk-size", "disk-count", "nic-count", "spindle-use")
_STATE = {"up": "running", "down": "ADMIN_down", "offline": "ADMIN_offline"}


def _spec(d: dict[str, Any] | None, default: ISpec) -> ISpec:
    if not d:
        return default
    base = [default.mem, default.cpu, default.disk, default.disk_count, default.nic_count, default.spindle_use]
    return ISpec(*(int(d.get(k, b)) for k, b in zip(_SPEC_KEYS, base, strict=True)))


def _spec_dict(s: ISpec) -> dict[str, int]:
    vals = (s.mem, s.cpu, s.disk, s.disk_count, s.nic_count, s.spindle_use)
    return dict(zip(_SPEC_KEYS, vals, strict=True))


def ipolicy_from_dict(d: dict[str, Any] | None, base: IPolicy = DEFAULT_IPOLICY) -> IPolicy:
    """An IPolicy from Ganeti's JSON shape (minmax/std/disk-templates/vcpu-ratio/...)."""
    if not d:
        return base
    minmax = tuple(
        (_spec(mm.get("min"), base.minmax[0][0]), _spec(mm.get("max"), base.minmax[0][1])) for mm in d.get("minmax", [])
    )
    return IPolicy(
        minmax or base.minmax,
        _spec(d.get("std"), base.std),
        tuple(d.get("disk-templates", base.templates)),
        float(d.get("vcpu-ratio", base.vcpu_ratio)),
        float(d.get("spindle-ratio", base.spindle_ratio)),
    )


def ipolicy_to_dict(p: IPolicy) -> dict[str, Any]:
    return {
        "minmax": [{"min": _spec_dict(lo), "max": _spec_dict(hi)} for lo, hi in p.minmax],
        "std": _spec_dict(p.std),
        "disk-templates": list(p.templates),
        "vcpu-ratio": p.vcpu_ratio,
        "spindle-ratio": p.spindle_ratio,
    }


def _need(d: dict[str, Any], key: str, what: str) -> Any:
    if key not in d:
        raise OpPrereqError(f"invalid iallocator request: {what} lacks {key!r}", "wrong_input")
    return d[key]


def _node(name: str, d: dict[str, Any], groups: dict[str, int]) -> Node:
    gu = _need(d, "group", f"node {name}")
    if gu not in groups:
        raise OpPrereqError(f"invalid iallocator request: node {name} in unknown group {gu}", "wrong_input")
    nd = d.get("ndparams") or {}
    excl = bool(nd.get("exclusive_storage", False))
    live = not d.get("offline", False) and d.get("vm_capable", True)

    def num(key: str) -> float:
        return float(d.get(key) or 0) if live else 0.0

    spindles = int(num("total_spindles")) if excl else int(nd.get("spindle_count", 1))
    return Node(
        name,
        t_mem=num("total_memory"),
        n_mem=int(num("reserved_memory")),
        f_mem=int(num("free_memory")),
        t_dsk=num("total_disk"),
        f_dsk=int(num("free_disk")),
        t_cpu=num("total_cpus"),
        group=groups[gu],
        offline=not live,
        drained=bool(d.get("drained", False)),
        spindles=spindles,
        tags=list(d.get("tags", [])),
        excl_storage=excl,
        free_spindles=int(num("free_spindles")),
        n_cpu=int(num("reserved_cpus")),
    )


def _nic_networks(nics: Any) -> tuple[str, ...]:
    """The networks a request's NICs are on (Ganeti sends each NIC's ``network`` uuid, or null)."""
    if not isinstance(nics, list):
        return ()
    return tuple(str(n["network"]) for n in nics if isinstance(n, dict) and n.get("network"))


def _instance(name: str, d: dict[str, Any], nodes: dict[str, int] | None) -> Instance:
    disks = [int(x.get("size", 0)) for x in d.get("disks", [])]
    dsk = int(d.get("disk_space_total", sum(disks)))
    inst = Instance(
        name,
        mem=int(_need(d, "memory", f"instance {name}")),
        dsk=dsk,
        vcpus=int(d.get("vcpus", 1)),
        status=_STATE.get(str(d.get("admin_state", "up")), "running"),
        pnode=-1,
        template=str(_need(d, "disk_template", f"instance {name}")),
        tags=list(d.get("tags", [])),
        spindle_use=int(d.get("spindle_use", 1)),
        disks=disks or None,
        forthcoming=bool(d.get("forthcoming", False)),
        networks=_nic_networks(d.get("nics")),
    )
    if nodes is not None:
        names = d.get("nodes") or []
        if not names or names[0] not in nodes:
            raise OpPrereqError(f"invalid iallocator request: bad nodes for instance {name}", "wrong_input")
        inst.pnode = nodes[names[0]]
        inst.snode = nodes[names[1]] if len(names) > 1 and names[1] in nodes else -1
    return inst


def model_from_request(req: dict[str, Any]) -> ClusterModel:
    """The cluster model described by an iallocator request."""
    cpol = ipolicy_from_dict(req.get("ipolicy"))
    groups, gidx = [], {}
    for uuid, g in (req.get("nodegroups") or {}).items():
        gidx[uuid] = len(groups)
        groups.append(
            Group(
                g.get("name", uuid),
                uuid,
                g.get("alloc_policy", "preferred"),
                list(g.get("tags", [])),
                list(g.get("networks", [])),
                ipolicy_from_dict(g.get("ipolicy"), cpol),
            )
        )
    nodes = [_node(n, d, gidx) for n, d in (req.get("nodes") or {}).items()]
    nidx = {n.name: i for i, n in enumerate(nodes)}
    insts = [_instance(n, d, nidx) for n, d in (req.get("instances") or {}).items()]
    return ClusterModel(groups, nodes, insts, list(req.get("cluster_tags", [])), cpol)


def _answer(model: ClusterModel, rq: dict[str, Any], ignore_soft_errors: bool = False) -> tuple[str, Any]:
    kind = _need(rq, "type", "request")
    if kind == "allocate":
        inst = _instance(_need(rq, "name", "request"), rq, None)
        place = _allocate(model, inst, rq.get("group_name"))
        return f"allocated on {', '.join(place.nodes)} (score {place.score:.8f})", place.nodes
    if kind == "relocate":
        node = relocate_secondary(model, _need(rq, "name", "request"), list(rq.get("relocate_from", [])))
        return f"new secondary {node}", [node]
    if kind == "allocate-secondary":  # Ganeti's IALLOCATOR_MODE_ALLOCATE_SECONDARY: the answer is one node name
        node = allocate_secondary(model, _need(rq, "name", "request"))
        return f"new secondary {node}", node
    if kind == "node-evacuate":
        names = list(_need(rq, "instances", "request"))
        res = evacuate(model, names, str(rq.get("evac_mode", "all")), ignore_soft_errors)
        return f"{len(res[1])} instances failed to move and {len(res[0])} were moved successfully", list(res)
    if kind == "change-group":
        res = change_group(model, list(_need(rq, "instances", "request")), rq.get("target_groups"))
        return f"{len(res[1])} instances failed to move and {len(res[0])} were moved successfully", list(res)
    if kind == "multi-allocate":
        insts = [_instance(_need(r, "name", "request"), r, None) for r in _need(rq, "instances", "request")]
        done, failed = multi_allocate(model, insts, rq.get("group_name"))
        info = f"{len(failed)} instances failed to allocate and {len(done)} were allocated successfully"
        return info, [[[n, nodes] for n, nodes in done], failed]
    raise OpPrereqError(f"invalid request type {kind!r}", "wrong_input")


def process_request(req: dict[str, Any], ignore_soft_errors: bool = False) -> dict[str, Any]:
    """Answer an iallocator request; failures become ``success: false`` with the reason.

    `ignore_soft_errors` is hail's --ignore-soft-errors, which Ganeti passes on the command line
    (not in the request) for a node evacuation asked with it; it affects node-evacuate only.
    """
    try:
        model = model_from_request(req)
        info, result = _answer(model, _need(req, "request", "message"), ignore_soft_errors)
    except GntError as err:
        return {"success": False, "info": err.message, "result": []}
    return {"success": True, "info": info, "result": result}


def _node_dict(m: ClusterModel, i: int) -> dict[str, Any]:
    n = m.nodes[i]
    return {
        "total_memory": n.t_mem,
        "reserved_memory": n.n_mem,
        "free_memory": int(m.written_free_mem()[i]),
        "total_disk": n.t_dsk,
        "free_disk": int(m.f_dsk[i]),
        "total_cpus": n.t_cpu,
        "reserved_cpus": n.n_cpu,
        "total_spindles": n.spindles,
        "free_spindles": int(m.f_sp[i]),
        "offline": n.offline,
        "drained": n.drained,
        "master_candidate": n.master,
        "vm_capable": True,
        "group": m.groups[n.group].uuid,
        "tags": list(n.tags),
        "ndparams": {"spindle_count": n.spindles, "exclusive_storage": n.excl_storage},
    }


def _inst_dict(m: ClusterModel, x: Instance) -> dict[str, Any]:
    nodes = [m.nodes[x.pnode].name] + ([m.nodes[x.snode].name] if x.snode >= 0 else [])
    state = {"running": "up", "ADMIN_offline": "offline"}.get(x.status, "down")
    # a diskless instance has no disk (a [0] here failed the ipolicy's minimum disk size on the way back)
    disks = x.disks or ([x.dsk] if x.dsk else [])
    return {
        "memory": x.mem,
        "vcpus": x.vcpus,
        "spindle_use": x.spindle_use,
        "disks": [{"size": d, "mode": "rw"} for d in disks],
        "disk_space_total": x.dsk,
        "disk_template": x.template,
        "nodes": nodes,
        "tags": list(x.tags),
        "admin_state": state,
        "nics": [{"network": net} for net in x.networks],
        "forthcoming": x.forthcoming,
    }


def build_request(model: ClusterModel, request: dict[str, Any], cluster_name: str = "cluster") -> dict[str, Any]:
    """A full iallocator request (version 2) for `request` against `model`."""
    return {
        "version": 2,
        "cluster_name": cluster_name,
        "cluster_tags": list(model.cluster_tags),
        "enabled_hypervisors": ["kvm"],
        "ipolicy": ipolicy_to_dict(model.ipolicy),
        "nodegroups": {
            g.uuid: {
                "name": g.name,
                "alloc_policy": g.alloc_policy,
                "ipolicy": ipolicy_to_dict(g.policy),
                "tags": list(g.tags),
                "networks": list(g.networks),
            }
            for g in model.groups
        },
        "nodes": {n.name: _node_dict(model, i) for i, n in enumerate(model.nodes)},
        "instances": {x.name: _inst_dict(model, x) for x in model.instances},
        "request": request,
    }


def main(argv: list[str] | None = None) -> int:
    """Entry point of the external-allocator executable: ``gnt-hail REQUEST_FILE [--OPTION...]``.

    The options are the cluster's default iallocator parameters, which the master passes to every
    allocator it runs (as Ganeti does), and ``--ignore-soft-errors`` for a node evacuation asked
    with it; gnt-hail acts on that one and takes the others without effect.
    """
    args = sys.argv[1:] if argv is None else argv
    if not args or any(not a.startswith("--") for a in args[1:]):
        print("usage: gnt-hail REQUEST_FILE [--OPTION[=VALUE]...]", file=sys.stderr)
        return 2
    try:
        req = json.loads(Path(args[0]).read_text())
    except (OSError, ValueError) as err:
        print(json.dumps({"success": False, "info": f"cannot read request: {err}", "result": []}))
        return 1
    print(json.dumps(process_request(req, "--ignore-soft-errors" in args[1:])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
