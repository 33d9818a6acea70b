"""Helpers the instance LUs share: filled parameters, the node-side spec, node checks."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from gnt import constants, diskparams, hvparams
from gnt.errors import ECODE_ENVIRON, ECODE_INVAL, ECODE_NORES, ECODE_STATE, OpPrereqError
from gnt.objects import Cluster, Instance, Node
from gnt.os.params import filled_osparams, os_hvparams
from gnt.rpc import procedures as proc
from gnt.runtime import DiskSpec, InstanceSpec, NicSpec

if TYPE_CHECKING:
    from gnt.jobs.lu import LogicalUnit
    from gnt.rpc.transport import RpcResult


def filled_beparams(cluster: Cluster, inst: Instance) -> dict[str, Any]:
    params = dict(constants.BE_DEFAULTS)
    params.update(cluster.beparams.get("default", {}))
    params.update(inst.beparams)
    if "memory" in params and "maxmem" not in inst.beparams:
        params["maxmem"] = params["minmem"] = params.pop("memory")
    params.pop("memory", None)
    return params


def filled_hvparams(cluster: Cluster, inst: Instance) -> dict[str, Any]:
    params = dict(hvparams.DEFAULTS.get(inst.hypervisor, {}))
    params.update(cluster.hvparams.get(inst.hypervisor, {}))
    params.update(os_hvparams(cluster, inst.os, inst.hypervisor))
    params.update(inst.hvparams)
    return params


def check_uid_pool(
    cluster: Cluster, inst: Instance, extra: dict[str, Any] | None = None, starting: bool = True
) -> None:
    """A kvm guest's security settings must fit together, and one with security_model=pool cannot
    start while the cluster's user-id pool is empty (checked when `starting`): refused here, before
    disks are activated, rather than by the node after."""
    if inst.hypervisor != "kvm":
        return
    params = {**filled_hvparams(cluster, inst), **(extra or {})}
    problem = hvparams.security_problem(params)
    if problem:
        raise OpPrereqError(f"Instance {inst.name}: {problem}", "wrong_input")
    if starting and params.get("security_model") == "pool" and not cluster.uid_pool:
        raise OpPrereqError(
            f"Instance {inst.name} has security_model=pool but the cluster's user-id pool is empty;"
            " add uids with `gnt-cluster modify --add-uids LOW-HIGH` or change its security_model",
            "wrong_state",
        )


def filled_nicparams(cluster: Cluster, nicparams: dict[str, Any]) -> dict[str, Any]:
    params = dict(constants.NIC_DEFAULTS)
    params.update(cluster.nicparams.get("default", {}))
    params.update(nicparams)
    return params


def instance_memory(cluster: Cluster, inst: Instance) -> int:
    return int(filled_beparams(cluster, inst)["maxmem"])


def _disk_params(effective: dict[str, dict[str, Any]], dev_type: str, params: dict[str, Any]) -> dict[str, Any]:
    """A disk's params as its spec carries them: a drbd disk also gets the resync rate its primary
    node's group takes (`-D drbd:resync-rate`, the group's over the cluster's), which each node's view
    then holds (gnt.instance.drbd.node_spec); nodes apply it when the disk next links to its peer."""
    from gnt.drbd import RESYNC_RATE_KEY

    rate = effective.get(constants.DT_DRBD, {}).get("resync-rate")
    if dev_type != constants.DT_DRBD or rate is None:
        return dict(params)
    return {**params, RESYNC_RATE_KEY: int(rate)}


def disk_specs(cfg: Any, inst: Instance) -> list[DiskSpec]:
    """The instance's disks as `build_spec` gives them, without the rest of its spec (verify-disks
    needs only these, for every instance of the cluster). `cfg` is the config (`lu.cfg`): a disk
    takes its primary node's group's disk parameters over the cluster's (gnt.diskparams)."""
    if isinstance(cfg, Cluster):
        raise TypeError("disk specs take the config (lu.cfg), not its cluster: disks take their group's parameters")
    disk_params = diskparams.of_instance(cfg, inst)
    return [
        DiskSpec(
            uuid=d.uuid,
            index=i,
            size=d.size,
            dev_type=d.dev_type,
            logical_id=list(d.logical_id),
            mode=d.mode,
            name=d.name,
            params=_disk_params(disk_params, d.dev_type, d.params),
        )
        for i, d in enumerate(inst.disks)
    ]


def build_spec(cfg: Any, inst: Instance) -> InstanceSpec:
    """The node-side record of `inst` under the config `cfg` (`lu.cfg`: its cluster's defaults, and for
    disks its primary node's group's disk parameters over the cluster's, gnt.diskparams)."""
    if isinstance(cfg, Cluster):
        raise TypeError("build_spec takes the config (lu.cfg), not its cluster: disks take their group's parameters")
    cluster = cfg.cluster
    be = filled_beparams(cluster, inst)
    disks = disk_specs(cfg, inst)
    nics = []
    for nic in inst.nics:
        params = filled_nicparams(cluster, nic.nicparams)
        nics.append(
            NicSpec(
                uuid=nic.uuid,
                mac=nic.mac,
                ip=nic.ip,
                name=nic.name,
                network=nic.network,
                mode=str(params["mode"]),
                link=str(params["link"]),
                vlan=str(params.get("vlan", "")),
            )
        )
    return InstanceSpec(
        name=inst.name,
        uuid=inst.uuid,
        hypervisor=inst.hypervisor,
        memory=int(be["maxmem"]),
        vcpus=int(be["vcpus"]),
        os=inst.os,
        hvparams=filled_hvparams(cluster, inst),
        beparams=be,
        osparams=filled_osparams(cluster, inst.os, inst.osparams),
        disks=disks,
        nics=nics,
        disk_template=inst.disk_template,
        network_port=inst.network_port,
    )


def spec_of(lu: LogicalUnit, inst: Instance) -> InstanceSpec:
    """The node-side record of `inst` under the cluster's current defaults (drbd disks as its
    primary node sees them)."""
    return primary_spec(lu.cfg, inst)


def primary_spec(cfg: Any, inst: Instance) -> InstanceSpec:
    """`build_spec`, with each drbd disk as the instance's primary node is sent it (its view)."""
    spec = build_spec(cfg, inst)
    if inst.disk_template == constants.DT_DRBD:
        from gnt.instance.drbd import node_specs

        spec.disks = node_specs(spec.disks, inst, cfg.nodes[inst.primary_node], cfg.nodes)
    return spec


#: the templates whose disks are files under a cluster-wide storage directory
FILE_TEMPLATES = (constants.DT_FILE, constants.DT_SHARED_FILE)


def file_disk_dir(cluster: Cluster, template: str, inst_name: str, subdir: str | None = None) -> str:
    """The directory of a file-based instance's disks: the cluster's (shared) file storage directory,
    then `--file-storage-dir` (relative, checked by the opcode), then the instance's name (Ganeti's
    layout). The result is checked to stay under the storage directory whatever `subdir` holds."""
    base = cluster.file_storage_dir if template == constants.DT_FILE else cluster.shared_file_storage_dir
    if not base:
        raise OpPrereqError(f"No storage directory configured for disk template '{template}'", ECODE_ENVIRON)
    base = os.path.normpath(base)
    directory = os.path.normpath(os.path.join(base, subdir or "", inst_name))
    if os.path.isabs(subdir or "") or not directory.startswith(base.rstrip("/") + "/"):
        raise OpPrereqError(
            f"File storage directory {subdir!r} is outside the cluster's storage directory {base}", ECODE_INVAL
        )
    return directory


def disk_path(
    cluster: Cluster, template: str, inst_name: str, disk_uuid: str, index: int, subdir: str | None = None
) -> list[str]:
    """logical_id of a new disk: [driver, path] for file disks, [vg, lv] for plain ones, as Ganeti
    stores them (an LV is named `<unique id>.disk<N>`; the disk's own UUID is that id here).
    `subdir`: a file disk's directory relative to the storage directory (`--file-storage-dir`)."""
    if template == constants.DT_PLAIN:
        if not cluster.volume_group_name:
            message = "No volume group configured for plain disks; set one with `gnt-cluster modify --vg-name`"
            raise OpPrereqError(message, ECODE_ENVIRON)
        return [cluster.volume_group_name, f"{disk_uuid}.disk{index}"]
    if template not in FILE_TEMPLATES:
        return []
    directory = file_disk_dir(cluster, template, inst_name, subdir)
    return ["loop", os.path.join(directory, f"{disk_uuid}.{template}.disk{index}")]


def check_node_online(node: Node, what: str = "node") -> None:
    if node.offline:
        raise OpPrereqError(
            f"Can't use offline {what} {node.name}; bring it back with `gnt-node modify -O no {node.name}`",
            ECODE_STATE,
        )


def check_node_usable(node: Node) -> None:
    """A node new instances may land on."""
    check_node_online(node)
    if node.drained:
        raise OpPrereqError(f"Can't use drained node {node.name}", ECODE_STATE)
    if not node.vm_capable:
        raise OpPrereqError(f"Can't use non-vm_capable node {node.name}", ECODE_STATE)


async def node_free_memory(lu: LogicalUnit, node: Node, hypervisor: str, answer: RpcResult | None = None) -> int:
    """MiB free for `hypervisor`'s guests on `node`, asked of the node (fresh data, or its `answer`
    to a node_info for `hypervisor` the caller just got), under the node's static hypervisor state
    (gnt.resstate) when the admin set one."""
    from gnt import resstate

    if answer is None:
        services = lu.ctx.services
        answer = (await services.live([node], proc.NODE_INFO, proc.NodeInfoArgs([hypervisor]), fresh=True))[node.name]
    info = answer.get("Cannot get node information")
    return resstate.free_memory(lu.cfg, node, hypervisor, info["hv"][hypervisor])


def not_enough_memory(node: Node, reason: str, needed: int, free: int) -> OpPrereqError:
    return OpPrereqError(
        f"Not enough memory on node {node.name} for {reason}: needed {needed} MiB, available {free} MiB", ECODE_NORES
    )


async def check_free_memory(lu: LogicalUnit, node: Node, hypervisor: str, needed: int, reason: str) -> None:
    """Ask the node (fresh data) whether `needed` MiB fit; raise insufficient_resources if not."""
    free = await node_free_memory(lu, node, hypervisor)
    if needed > free:
        raise not_enough_memory(node, reason, needed, free)


async def check_free_vg(lu: LogicalUnit, node: Node, vg: str, needed: int, reason: str) -> None:
    """Ask the node (fresh data) whether `needed` MiB fit in volume group `vg` (Ganeti's
    per-VG free disk check); insufficient_resources if not, environment_error if it has no such VG."""
    # not through the services' live cache: that holds whole node_info answers for list queries
    result = await lu.rpc.node_info(lu.ctx.services.target(node), proc.NodeInfoArgs([], [], [vg]))
    info = result.get(f"Cannot get node information from {node.name}")
    entry = next((e for e in info.get("storage", []) if e.get("type") == "lvm-vg" and e.get("name") == vg), {})
    if "free" not in entry:
        raise OpPrereqError(
            f"Volume group {vg} is not usable on node {node.name}: {entry.get('error', 'not reported')}",
            ECODE_ENVIRON,
        )
    if not entry.get("allowed", False):
        raise OpPrereqError(
            f"Node {node.name} does not allow plain disks in volume group {vg}; add it to the node's"
            " lvm-volume-groups file",
            ECODE_ENVIRON,
        )
    if needed > int(entry["free"]):
        raise OpPrereqError(
            f"Not enough disk space on target node {node.name} vg {vg}: required {needed} MiB,"
            f" available {int(entry['free'])} MiB ({reason})",
            ECODE_NORES,
        )


def check_hvparams(hypervisor: str, params: dict[str, Any]) -> None:
    """Refuse hypervisor parameters the hypervisor does not know (a typo must not pass silently)."""
    known = hvparams.DEFAULTS.get(hypervisor)
    if known is None:
        raise OpPrereqError(f"Unknown hypervisor '{hypervisor}'", "wrong_input")
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise OpPrereqError(f"Unknown hypervisor parameter(s) for {hypervisor}: {', '.join(unknown)}", "wrong_input")
    problem = hvparams.value_problem(hypervisor, params)
    if problem:
        raise OpPrereqError(problem, "wrong_input")
