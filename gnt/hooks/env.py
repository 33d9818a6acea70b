"""The hook environments of the LUs that run hooks: Ganeti's variable names, values from the config.

Keys are without the GANETI_ prefix (gnt.hooks.master adds it). An instance's environment is
Ganeti's BuildInstanceHookEnv: its name, nodes, OS, state, memory, CPUs, template, NICs, disks,
tags and filled backend and hypervisor parameters; each opcode adds its own few (Ganeti's
BuildHooksEnv of the LU), listed in `OPCODE_ENV` so every LU of a kind shares one declaration.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from gnt.instance.common import filled_beparams, filled_hvparams, filled_nicparams

if TYPE_CHECKING:
    from gnt.objects import Instance, Node

#: per opcode: its own variables (Ganeti's names), from the opcode's fields
OPCODE_ENV: dict[str, Callable[[Any], dict[str, Any]]] = {
    "OP_INSTANCE_CREATE": lambda op: {"ADD_MODE": op.mode},
    "OP_INSTANCE_REMOVE": lambda op: {"SHUTDOWN_TIMEOUT": op.shutdown_timeout},
    "OP_INSTANCE_STARTUP": lambda op: {"FORCE": op.force},
    "OP_INSTANCE_SHUTDOWN": lambda op: {"TIMEOUT": op.timeout},
    "OP_INSTANCE_REBOOT": lambda op: {
        "IGNORE_SECONDARIES": op.ignore_secondaries,
        "REBOOT_TYPE": op.reboot_type,
        "SHUTDOWN_TIMEOUT": op.shutdown_timeout,
    },
    "OP_INSTANCE_RENAME": lambda op: {"INSTANCE_NEW_NAME": op.new_name},
    "OP_INSTANCE_MIGRATE": lambda op: {"MIGRATE_CLEANUP": op.cleanup},
    "OP_INSTANCE_FAILOVER": lambda op: {
        "IGNORE_CONSISTENCY": op.ignore_consistency,
        "SHUTDOWN_TIMEOUT": op.shutdown_timeout,
    },
}


def opcode_env(op: Any) -> dict[str, Any]:
    make = OPCODE_ENV.get(op.OP_ID)
    return make(op) if make else {}


def instance_env(cfg: Any, inst: Instance) -> dict[str, Any]:
    """Ganeti's instance hook variables for `inst` (node names from the config)."""
    cluster = cfg.cluster

    def name(uuid: str) -> str:
        node = cfg.nodes.get(uuid)
        return node.name if node is not None else uuid

    be = filled_beparams(cluster, inst)
    env: dict[str, Any] = {
        "OP_TARGET": inst.name,
        "INSTANCE_NAME": inst.name,
        "INSTANCE_UUID": inst.uuid,
        "INSTANCE_PRIMARY": name(inst.primary_node),
        "INSTANCE_SECONDARIES": " ".join(name(u) for u in inst.secondary_nodes),
        "INSTANCE_OS_TYPE": inst.os,
        "INSTANCE_STATUS": inst.admin_state,
        "INSTANCE_MINMEM": be.get("minmem"),
        "INSTANCE_MAXMEM": be.get("maxmem"),
        "INSTANCE_MEMORY": be.get("maxmem"),
        "INSTANCE_VCPUS": be.get("vcpus"),
        "INSTANCE_DISK_TEMPLATE": inst.disk_template,
        "INSTANCE_HYPERVISOR": inst.hypervisor,
        "INSTANCE_NIC_COUNT": len(inst.nics),
        "INSTANCE_DISK_COUNT": len(inst.disks),
        "INSTANCE_TAGS": " ".join(inst.tags),
    }
    for index, nic in enumerate(inst.nics):
        params = filled_nicparams(cluster, nic.nicparams)
        prefix = f"INSTANCE_NIC{index}_"
        env.update({prefix + "UUID": nic.uuid, prefix + "MAC": nic.mac, prefix + "IP": nic.ip or "",
                    prefix + "MODE": params.get("mode"), prefix + "LINK": params.get("link")})  # fmt: skip
        if nic.name:
            env[prefix + "NAME"] = nic.name
        if params.get("mode") == "bridged":
            env[prefix + "BRIDGE"] = params.get("link")
        if nic.network:
            net = getattr(cfg, "networks", {}).get(nic.network)
            env[prefix + "NETWORK_NAME"] = net.name if net is not None else nic.network
    for index, disk in enumerate(inst.disks):
        prefix = f"INSTANCE_DISK{index}_"
        env.update({prefix + "UUID": disk.uuid, prefix + "SIZE": disk.size, prefix + "MODE": disk.mode})
        if disk.name:
            env[prefix + "NAME"] = disk.name
    for key, value in be.items():
        env[f"INSTANCE_BE_{key}"] = value
    for key, value in filled_hvparams(cluster, inst).items():
        env[f"INSTANCE_HV_{key}"] = value
    return env


def with_master(cfg: Any, nodes: Iterable[Node | None]) -> list[Node]:
    """The master, then `nodes` (each once; None and unknown left out)."""
    result: dict[str, Node] = {}
    if cfg.cluster.master_node in cfg.nodes:
        master = cfg.master()
        result[master.uuid] = master
    for node in nodes:
        if node is not None:
            result.setdefault(node.uuid, node)
    return list(result.values())


def instance_nodes(cfg: Any, inst: Instance, *extra: Node | None) -> list[Node]:
    """Where an instance's hooks run: the master and the instance's nodes (Ganeti's usual choice)."""
    own = [cfg.nodes.get(u) for u in (inst.primary_node, *inst.secondary_nodes)]
    return with_master(cfg, [*own, *extra])


def node_env(op: Any, node: Node | None) -> dict[str, Any]:
    """OP_NODE_ADD / OP_NODE_REMOVE: the node's name (and, once known, its addresses and roles)."""
    env: dict[str, Any] = {"OP_TARGET": op.node_name, "NODE_NAME": op.node_name}
    if op.OP_ID == "OP_NODE_ADD":
        primary = node.primary_ip if node is not None else getattr(op, "primary_ip", None) or ""
        env.update(
            {
                "NODE_PIP": primary,
                "NODE_SIP": (node.secondary_ip if node is not None else op.secondary_ip) or primary,
                "MASTER_CAPABLE": node.master_capable if node is not None else op.master_capable is not False,
                "VM_CAPABLE": node.vm_capable if node is not None else op.vm_capable is not False,
            }
        )
    return env


def planned_instance(lu: Any) -> Instance:
    """OP_INSTANCE_CREATE's instance as its pre hooks see it: from the opcode and what check_prereq
    chose (nodes, hypervisor), before anything exists; the post hooks see the config's."""
    from gnt.objects import Disk, Instance, Nic

    op = lu.op
    created = lu.cfg.find_instance(op.instance_name)
    if created is not None:
        return created
    snode = getattr(lu, "snode", None)
    return Instance(
        name=op.instance_name,
        uuid="",
        primary_node=lu.pnode.uuid,
        secondary_nodes=[snode.uuid] if snode is not None else [],
        os=op.os_type or "",
        hypervisor=lu.hypervisor,
        disk_template=op.disk_template,
        admin_state="up" if op.start else "down",
        beparams=dict(lu.beparams),
        hvparams=dict(op.hvparams),
        tags=list(op.tags),
        disks=[
            Disk(uuid="", size=size, dev_type=op.disk_template, mode=d.get("mode", "rw"), name=d.get("name"))
            for size, d in zip(lu.disk_sizes, op.disks, strict=False)
        ],
        nics=[
            Nic(
                uuid="",
                mac=n.get("mac") or "auto",
                ip=n.get("ip"),
                name=n.get("name"),
                network=n.get("network"),
                nicparams={k: n[k] for k in ("mode", "link", "vlan") if n.get(k) is not None},
            )  # fmt: skip
            for n in op.nics
        ],
    )


def node_hook_nodes(cfg: Any, name: str, removing: bool) -> tuple[list[Node], list[Node]]:
    """OP_NODE_ADD: every node before, and the new one too after; OP_NODE_REMOVE: every other node."""
    others = [n for n in cfg.nodes.values() if n.name != name]
    if removing:
        return others, others
    new = cfg.find_node(name)
    return others, [*others, *([new] if new is not None else [])]
