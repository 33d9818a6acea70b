"""`gnt-node list` fields."""

from __future__ import annotations

from typing import Any

from gnt import constants, resstate
from gnt.objects import Node
from gnt.query import Field, NoData, Offline, Unavailable


def _powered(node: Node, c: Any) -> bool:
    """Ganeti's `powered`: only nodes with an out-of-band program know their power state."""
    from gnt.oob.protocol import oob_program

    if not oob_program(c.cfg, node):
        raise Unavailable()
    return node.powered


class NodeQueryContext:
    def __init__(self, cfg: Any, live: dict[str, dict[str, Any] | None]) -> None:
        self.cfg = cfg
        self.live = live

    def info(self, node: Node) -> dict[str, Any]:
        if node.offline:
            raise Offline()
        data = self.live.get(node.name)
        if data is None:
            raise NoData()
        return data

    def hv(self, node: Node) -> dict[str, Any]:
        data = self.info(node)
        hv_info = data.get("hv", {}).get(self.cfg.cluster.default_hypervisor)
        if not hv_info:
            raise NoData()
        return hv_info

    def storage(self, node: Node, key: str) -> int:
        """dtotal/dfree: the cluster's volume group when an LVM template is enabled (the allocator
        counts disk space for plain and drbd disks only), else the file storage directory."""
        entries = self.info(node).get("storage", [])
        cluster = self.cfg.cluster
        lvm = any(t in constants.LVM_DISK_TEMPLATES for t in cluster.enabled_disk_templates)
        for entry in entries:
            if lvm and entry.get("type") == "lvm-vg" and entry.get("name") == cluster.volume_group_name:
                if key not in entry:
                    raise NoData()  # the node has no such volume group: its error is in the entry
                return int(entry[key])
        files = [e for e in entries if e.get("type", "file") == "file"]
        if lvm or not files:
            raise NoData()
        return int(files[0][key])


def _role(node: Node, ctx: NodeQueryContext) -> str:
    if node.uuid == ctx.cfg.cluster.master_node:
        return constants.ROLE_MASTER
    if node.offline:
        return constants.ROLE_OFFLINE
    if node.drained:
        return constants.ROLE_DRAINED
    return constants.ROLE_CANDIDATE if node.master_candidate else constants.ROLE_REGULAR


def _pinst(node: Node, ctx: NodeQueryContext) -> list[str]:
    return sorted(i.name for i in ctx.cfg.primary_instances(node.uuid))


def _sinst(node: Node, ctx: NodeQueryContext) -> list[str]:
    return sorted(i.name for i in ctx.cfg.secondary_instances(node.uuid))


def _drbd_minors(node: Node, ctx: NodeQueryContext) -> list[list[Any]]:
    """The drbd minors the config places on the node: [minor, instance, disk index, role, peer]."""
    from gnt.instance.drbd import drbd_map

    instances = [*ctx.cfg.primary_instances(node.uuid), *ctx.cfg.secondary_instances(node.uuid)]
    entries = drbd_map(instances).get(node.uuid, [])
    return [[e["minor"], e["instance"], e["disk"], e["role"], ctx.cfg.node_name(e["peer"])] for e in entries]


_FIELDS = [
    Field("name", "Node", "text", "Node name", lambda n, c: n.name),
    Field("uuid", "UUID", "text", "Node UUID", lambda n, c: n.uuid),
    Field("pip", "PrimaryIP", "text", "Primary IP address", lambda n, c: n.primary_ip),
    Field("sip", "SecondaryIP", "text", "Secondary IP address", lambda n, c: n.secondary_ip),
    Field("master_candidate", "MasterC", "bool", "Master candidate", lambda n, c: n.master_candidate),
    Field("master", "IsMaster", "bool", "Is the master", lambda n, c: n.uuid == c.cfg.cluster.master_node),
    Field("drained", "Drained", "bool", "Drained", lambda n, c: n.drained),
    Field("offline", "Offline", "bool", "Offline", lambda n, c: n.offline),
    Field("master_capable", "MasterCapable", "bool", "May become master", lambda n, c: n.master_capable),
    Field("vm_capable", "VMCapable", "bool", "May run instances", lambda n, c: n.vm_capable),
    Field("role", "Role", "text", "Role (M, C, R, D, O)", _role),
    Field("group", "Group", "text", "Node group", lambda n, c: c.cfg.groups[n.group].name),
    Field("group.uuid", "GroupUUID", "text", "Node group UUID", lambda n, c: n.group),
    Field("pinst_cnt", "Pinst", "number", "Primary instances", lambda n, c: len(_pinst(n, c))),
    Field("sinst_cnt", "Sinst", "number", "Secondary instances", lambda n, c: len(_sinst(n, c))),
    Field("pinst_list", "PriInstances", "other", "Primary instance names", _pinst),
    Field("sinst_list", "SecInstances", "other", "Secondary instance names", _sinst),
    Field("drbd_minors", "DrbdMinors", "other", "DRBD minors: [minor, instance, disk, role, peer]", _drbd_minors),
    Field("mtotal", "MTotal", "unit", "Total memory (live)", lambda n, c: int(c.hv(n)["memory_total"]), True),
    Field("mnode", "MNode", "unit", "Memory used by the node (live)", lambda n, c: int(c.hv(n)["memory_dom0"]), True),
    Field("mfree", "MFree", "unit", "Free memory (live)", lambda n, c: int(c.hv(n)["memory_free"]), True),
    Field("dtotal", "DTotal", "unit", "Total disk space (live)", lambda n, c: c.storage(n, "total"), True),
    Field("dfree", "DFree", "unit", "Free disk space (live)", lambda n, c: c.storage(n, "free"), True),
    Field("ctotal", "CTotal", "number", "CPUs (live)", lambda n, c: int(c.info(n)["cpu_total"]), True),
    Field("cnodes", "CNodes", "number", "NUMA nodes (live)", lambda n, c: int(c.hv(n).get("cpu_nodes", 1)), True),
    Field(
        "csockets", "CSockets", "number", "CPU sockets (live)", lambda n, c: int(c.hv(n).get("cpu_sockets", 1)), True
    ),
    Field("cnos", "CNOs", "number", "CPUs used by the node (live)", lambda n, c: int(c.info(n)["cpu_total"]), True),
    Field(
        "accel",
        "Accel",
        "text",
        "Acceleration the default hypervisor uses here (live)",
        lambda n, c: c.hv(n).get("accel", "n/a"),
        True,
    ),
    Field("bootid", "BootID", "text", "Boot ID (live)", lambda n, c: c.info(n).get("bootid", ""), True),
    Field("sptotal", "SpTotal", "number", "Total spindles", lambda n, c: None),
    Field("spfree", "SpFree", "number", "Free spindles", lambda n, c: None),
    Field(
        "ndparams",
        "NodeParameters",
        "other",
        "Node parameters",
        lambda n, c: {**constants.ND_DEFAULTS, **c.cfg.cluster.ndparams, **n.ndparams},
    ),
    Field("powered", "Powered", "bool", "Whether node is thought to be powered on", _powered),
    Field(
        "hv_state",
        "HypervisorState",
        "other",
        "Static hypervisor state (the cluster's, the group's and the node's own over each other)",
        lambda n, c: resstate.of_node(c.cfg, n)[0],
    ),
    Field(
        "disk_state",
        "DiskState",
        "other",
        "Static disk state (the cluster's, the group's and the node's own over each other)",
        lambda n, c: resstate.of_node(c.cfg, n)[1],
    ),
    Field(
        "custom_hv_state",
        "CustomHypervisorState",
        "other",
        "The node's own hypervisor state",
        lambda n, c: n.hv_state_static,
    ),
    Field(
        "custom_disk_state", "CustomDiskState", "other", "The node's own disk state", lambda n, c: n.disk_state_static
    ),
    Field("tags", "Tags", "other", "Tags", lambda n, c: n.tags),
    Field("serial_no", "SerialNo", "number", "Serial number", lambda n, c: n.serial_no),
    Field("ctime", "CTime", "timestamp", "Creation time", lambda n, c: n.ctime),
    Field("mtime", "MTime", "timestamp", "Modification time", lambda n, c: n.mtime),
]
FIELDS = {f.name: f for f in _FIELDS}
DEFAULT_FIELDS = ["name", "dtotal", "dfree", "mtotal", "mnode", "mfree", "pinst_cnt", "sinst_cnt"]
BULK_FIELDS = [
    "name",
    "offline",
    "master_candidate",
    "drained",
    "dtotal",
    "dfree",
    "sptotal",
    "spfree",
    "mtotal",
    "mnode",
    "mfree",
    "pinst_cnt",
    "sinst_cnt",
    "ctotal",
    "cnos",
    "cnodes",
    "csockets",
    "pip",
    "sip",
    "role",
    "pinst_list",
    "sinst_list",
    "master_capable",
    "vm_capable",
    "ndparams",
    "hv_state",
    "disk_state",
    "group.uuid",
    "ctime",
    "mtime",
    "uuid",
    "serial_no",
    "tags",
]
