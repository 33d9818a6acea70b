"""OP_INSTANCE_QUERY_DATA: Ganeti's per-instance info dict, behind `gnt-instance info` and
`GET /2/instances/NAME/info`.

A job rather than a query because Ganeti's RAPI answers `info` with a job id, and its clients
(`GetInstanceInfo`) wait for the job and read this dict from its result. With `static` no node is
asked anything (Ganeti's `--static`: fast, and works with the nodes down); otherwise each
instance's primary node says whether it runs.
"""

from __future__ import annotations

from typing import Any

from gnt.errors import OpExecError
from gnt.instance.common import filled_beparams, filled_hvparams, filled_nicparams
from gnt.instance.multi_opcodes import OpInstanceQueryData
from gnt.instance.query import _disk_path
from gnt.jobs.locking import ALL, Level, LockRequest
from gnt.jobs.lu import LogicalUnit, register
from gnt.objects import Disk, Instance, Nic
from gnt.rpc import procedures as proc

__all__ = ["LUInstanceQueryData", "disk_info", "nic_info"]


def disk_info(disk: Disk, index: int, pnode: str) -> dict[str, Any]:
    """Ganeti's disk entry; `pstatus`/`sstatus` are the device status, which gnt does not probe."""
    return {
        "iv_name": f"disk/{index}",
        "dev_type": disk.dev_type,
        "logical_id": list(disk.logical_id),
        "drbd_info": None,
        "pstatus": None,
        "sstatus": None,
        "children": [],
        "mode": disk.mode,
        "size": disk.size,
        "spindles": None,
        "name": disk.name,
        "uuid": disk.uuid,
        "path": _disk_path(disk),
        "node": pnode,
    }


def nic_info(cluster: Any, nic: Nic) -> list[Any]:
    """Ganeti 3.0's NIC tuple: (name, uuid, ip, mac, mode, link, vlan, network, netinfo)."""
    params = filled_nicparams(cluster, nic.nicparams)
    return [
        nic.name,
        nic.uuid,
        nic.ip,
        nic.mac,
        params["mode"],
        params["link"],
        params.get("vlan", ""),
        nic.network,
        None,
    ]


@register
class LUInstanceQueryData(LogicalUnit):
    OPCODE = OpInstanceQueryData
    op: OpInstanceQueryData

    def declare_locks(self, level: Level) -> LockRequest | None:
        if level == Level.INSTANCE and self.op.use_locking:
            return LockRequest(sorted(set(self.op.instances)) or ALL, shared=True)
        return None

    def check_prereq(self) -> None:
        if self.op.instances:
            # unknown names fail here, with Ganeti's "Instance 'x' not known"
            self.wanted = [self.cfg.instance(name) for name in dict.fromkeys(self.op.instances)]
        else:
            self.wanted = sorted(self.cfg.instances.values(), key=lambda i: i.name)

    async def exec(self) -> dict[str, dict[str, Any]]:
        self._runtime_memory: dict[str, int | None] = {}
        return {inst.name: await self._describe(inst) for inst in self.wanted}

    async def _run_state(self, inst: Instance) -> str | None:
        node = self.cfg.nodes.get(inst.primary_node)
        if self.op.static or node is None or node.offline:
            return None
        target = self.ctx.services.target(node)
        result = await self.rpc.instance_info(target, proc.InstanceQueryArgs(inst.name, inst.hypervisor))
        if result.failed:
            raise OpExecError(f"Error checking node {node.name}: {result.error.message}")
        info = result.payload
        running = bool(info and info.get("state") in ("running", "paused", "blocked"))
        self._runtime_memory[inst.name] = int(info.get("memory", 0)) if running else None  # ballooned: modify -m
        return "up" if running else "down"

    async def _describe(self, inst: Instance) -> dict[str, Any]:
        cfg, cluster = self.cfg, self.cfg.cluster
        pnode = cfg.nodes.get(inst.primary_node)
        snodes = [cfg.nodes[u] for u in inst.secondary_nodes if u in cfg.nodes]
        group = cfg.groups.get(pnode.group) if pnode else None
        be, hv = filled_beparams(cluster, inst), filled_hvparams(cluster, inst)
        pname = cfg.node_name(inst.primary_node)
        return {
            "name": inst.name,
            "config_state": inst.admin_state,
            "run_state": await self._run_state(inst),
            "runtime_memory": self._runtime_memory.get(inst.name),
            "pnode": pname,
            "pnode_group_uuid": group.uuid if group else None,
            "pnode_group_name": group.name if group else None,
            "snodes": [n.name for n in snodes],
            "snodes_group_uuids": [n.group for n in snodes],
            "snodes_group_names": [cfg.groups[n.group].name if n.group in cfg.groups else None for n in snodes],
            "os": inst.os,
            "nics": [nic_info(cluster, nic) for nic in inst.nics],
            "disk_template": inst.disk_template,
            "disks": [disk_info(d, i, pname) for i, d in enumerate(inst.disks)],
            "hypervisor": inst.hypervisor,
            "network_port": inst.network_port,
            "hv_instance": dict(inst.hvparams),
            "hv_actual": hv,
            "be_instance": dict(inst.beparams),
            "be_actual": be,
            "os_instance": dict(inst.osparams),
            "os_actual": dict(inst.osparams),
            "serial_no": inst.serial_no,
            "mtime": inst.mtime,
            "ctime": inst.ctime,
            "uuid": inst.uuid,
            "disks_active": inst.disks_active,
            "tags": list(inst.tags),
            "admin_state_source": inst.admin_state_source,
        }
