"""Build the cluster model from RAPI-shaped dicts (``/2/nodes?bulk=1`` and friends).

The master's query layer already produces these shapes, so the allocator can run on the
live config without a separate conversion per caller.
"""

from __future__ import annotations

from typing import Any

from gnt.alloc.iallocator import ipolicy_from_dict
from gnt.alloc.model import ClusterModel, Group, Instance, Node
from gnt.errors import OpPrereqError
from gnt.resstate import effective_node

__all__ = ["MODEL_INSTANCE_FIELDS", "MODEL_NODE_FIELDS", "model_from_rapi", "state_scope"]

#: the RAPI/query fields `model_from_rapi` reads; callers ask the master for exactly these
MODEL_NODE_FIELDS = (
    "name",
    "offline",
    "drained",
    "mtotal",
    "mnode",
    "mfree",
    "dtotal",
    "dfree",
    "ctotal",
    "cnos",
    "role",
    "group.uuid",
    "tags",
    "ndparams",
    "sptotal",
    "spfree",
    "hv_state",
    "disk_state",
)
MODEL_INSTANCE_FIELDS = (
    "name",
    "beparams",
    "disk.sizes",
    "disk_template",
    "pnode",
    "snodes",
    "tags",
    "admin_state",
    "oper_state",
    "nic.networks",
    "forthcoming",
)


def _status(d: dict[str, Any]) -> str:
    admin = d.get("admin_state", "up")
    if admin == "offline":
        return "ADMIN_offline"
    oper = d.get("oper_state")
    if admin == "up":
        return "running" if oper in (True, None) else "ERROR_down"
    return "ERROR_up" if oper else "ADMIN_down"


def state_scope(
    default_hypervisor: str | None, enabled_disk_templates: list[str], vg_name: str | None
) -> tuple[str | None, str | None]:
    """Which static state the model reads (gnt.resstate): the default hypervisor's, as the design
    counts capacity for the first hypervisor only, and the volume group's when LVM disks are
    enabled (the node's disk figures are then that volume group's, else the file storage's)."""
    lvm = any(t in ("plain", "drbd") for t in enabled_disk_templates)
    return default_hypervisor, (vg_name if lvm else None)


def _with_state(d: dict[str, Any], scope: tuple[str | None, str | None]) -> dict[str, Any]:
    """The row with its node's static state over the live figures (gnt.resstate.effective_node)."""
    hypervisor, vg_name = scope
    hv = (d.get("hv_state") or {}).get(hypervisor, {}) if hypervisor else {}
    ds = ((d.get("disk_state") or {}).get("plain") or {}).get(vg_name, {}) if vg_name else {}
    return effective_node(d, hv, ds) if hv or ds else d


def _node(d: dict[str, Any], groups: dict[str, int]) -> Node:
    gu = d.get("group.uuid")
    if gu not in groups:
        groups.setdefault(str(gu), 0)
    nd = d.get("ndparams") or {}
    sp_total = d.get("sptotal")
    return Node(
        d["name"],
        t_mem=float(d.get("mtotal") or 0),
        n_mem=int(d.get("mnode") or 0),
        f_mem=int(d.get("mfree") or 0),
        t_dsk=float(d.get("dtotal") or 0),
        f_dsk=int(d.get("dfree") or 0),
        t_cpu=float(d.get("ctotal") or 0),
        group=groups[str(gu)],
        # a node that gave no live data (mfree unknown) must not receive anything
        offline=bool(d.get("offline")) or ("mfree" in d and d["mfree"] is None),
        drained=bool(d.get("drained")),
        master=d.get("role") == "M",
        spindles=int(sp_total if sp_total is not None else nd.get("spindle_count", 1)),
        tags=list(d.get("tags") or []),
        excl_storage=bool(nd.get("exclusive_storage", False)),
        free_spindles=int(d.get("spfree") or 0),
        n_cpu=int(d.get("cnos") or 1),
        cpu_speed=float(nd.get("cpu_speed", 1.0) or 1.0),
    )


#: the model holds counts and sizes in numpy int64; a config value beyond this (stored before opcodes
#: carried ranges) is reported by name instead of overflowing deep inside numpy
_MODEL_INT_MAX = 2**53


def _count(value: Any, what: str, name: Any) -> int:
    number = int(value)
    if not -_MODEL_INT_MAX <= number <= _MODEL_INT_MAX:
        raise OpPrereqError(
            f"instance {name}: {what} {number} is out of range; fix it with gnt-instance modify", "wrong_input"
        )
    return number


def _instance(d: dict[str, Any], nodes: dict[str, int]) -> Instance:
    be = d.get("beparams") or {}
    name = d.get("name")
    sizes = [_count(s, "disk size", name) for s in d.get("disk.sizes") or []]
    pnode = d.get("pnode")
    if pnode not in nodes:
        raise OpPrereqError(f"instance {d.get('name')}: unknown primary node {pnode!r}", "wrong_input")
    snodes = [s for s in d.get("snodes") or [] if s in nodes]
    return Instance(
        d["name"],
        mem=_count(be.get("maxmem", be.get("memory", 0)), "memory", name),
        dsk=_count(sum(sizes), "total disk size", name),
        vcpus=_count(be.get("vcpus", 1), "vcpus", name),
        status=_status(d),
        pnode=nodes[pnode],
        snode=nodes[snodes[0]] if snodes else -1,
        template=str(d.get("disk_template", "diskless")),
        tags=list(d.get("tags") or []),
        auto_balance=bool(be.get("auto_balance", True)),
        spindle_use=_count(be.get("spindle_use", 1), "spindle_use", name),
        disks=sizes or None,
        networks=tuple(str(n) for n in d.get("nic.networks") or [] if n),
        forthcoming=bool(d.get("forthcoming", False)),
    )


def model_from_rapi(
    nodes: list[dict[str, Any]],
    instances: list[dict[str, Any]],
    groups: list[dict[str, Any]] | None = None,
    ipolicy: dict[str, Any] | None = None,
    cluster_tags: list[str] | None = None,
    state: tuple[str | None, str | None] = (None, None),
) -> ClusterModel:
    """A model from RAPI bulk node/instance/group dicts and the cluster ipolicy dict.

    Groups need ``uuid`` and ``name`` (``alloc_policy``, ``ipolicy``, ``tags``, ``networks``
    optional); without groups, every node lands in one default group. A group's ``networks``
    and an instance's ``nic.networks`` must name networks the same way (the master passes uuids)
    for network-aware placement. `state` (`state_scope`) names the hypervisor and the volume group
    whose static state (the rows' ``hv_state`` and ``disk_state``) stands over the live figures.
    """
    cpol = ipolicy_from_dict(ipolicy)
    glist: list[Group] = []
    gidx: dict[str, int] = {}
    for g in groups or []:
        gidx[str(g["uuid"])] = len(glist)
        glist.append(
            Group(
                g.get("name", g["uuid"]),
                g["uuid"],
                g.get("alloc_policy", "preferred"),
                list(g.get("tags") or []),
                list(g.get("networks") or []),
                ipolicy_from_dict(g.get("ipolicy"), cpol),
            )
        )
    if not glist:
        uuids = sorted({str(n.get("group.uuid")) for n in nodes}) or ["default"]
        for u in uuids:
            gidx[u] = len(glist)
            glist.append(Group("default" if len(uuids) == 1 else u, u, ipolicy=cpol))
    nlist = [_node(_with_state(n, state), gidx) for n in nodes]
    nidx = {n.name: i for i, n in enumerate(nlist)}
    ilist = [_instance(x, nidx) for x in instances]
    return ClusterModel(glist, nlist, ilist, cluster_tags, cpol)
