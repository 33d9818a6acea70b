"""`gnt-instance list` fields."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gnt import constants
from gnt.instance.common import filled_beparams, filled_hvparams, filled_nicparams
from gnt.objects import Disk, Instance
from gnt.opchecks import MAX_DISKS, MAX_NICS
from gnt.query import Field, NoData, Offline, Unavailable


class InstanceQueryContext:
    """Config plus live data (`live[node_name]` is that node's instance map, or None if it failed)."""

    def __init__(self, cfg: Any, live: dict[str, dict[str, Any] | None]) -> None:
        self.cfg = cfg
        self.live = live
        # instance name -> nodes where it actually runs, computed once instead of per instance
        self.running_on: dict[str, set[str]] = {}
        for node_name, data in live.items():
            for inst_name, info in (data or {}).items():
                if info["state"] in ("running", "paused"):
                    self.running_on.setdefault(inst_name, set()).add(node_name)

    def runtime(self, inst: Instance) -> dict[str, Any] | None:
        node = self.cfg.nodes.get(inst.primary_node)
        if node is not None and node.offline:
            raise Offline()
        data = self.live.get(self.cfg.node_name(inst.primary_node))
        if data is None:
            raise NoData()
        return data.get(inst.name)

    def status(self, inst: Instance) -> str:
        node = self.cfg.nodes.get(inst.primary_node)
        if inst.admin_state == constants.ADMINST_OFFLINE:
            return constants.OperState.ADMIN_OFFLINE
        if node is not None and node.offline:
            return constants.OperState.ERROR_NODEOFFLINE
        data = self.live.get(self.cfg.node_name(inst.primary_node))
        if data is None:
            return constants.OperState.ERROR_NODEDOWN
        info = data.get(inst.name)
        running = info is not None and info["state"] in ("running", "paused")
        if inst.admin_state == constants.ADMINST_UP:
            if running:
                return constants.OperState.RUNNING
            if info is not None and info["state"] == "shutdown" and self.cfg.cluster.enabled_user_shutdown:
                return constants.OperState.USER_DOWN  # off, the guest's poweroff counts as a crash (Ganeti)
            elsewhere = bool(self.running_on.get(inst.name, set()) - {self.cfg.node_name(inst.primary_node)})
            return constants.OperState.ERROR_WRONGNODE if elsewhere else constants.OperState.ERROR_DOWN
        return constants.OperState.ERROR_UP if running else constants.OperState.ADMIN_DOWN


def _oper_state(inst: Instance, ctx: InstanceQueryContext) -> bool:
    info = ctx.runtime(inst)
    return info is not None and info["state"] in ("running", "paused")


def _oper_ram(inst: Instance, ctx: InstanceQueryContext) -> int:
    info = ctx.runtime(inst)
    if info is None or info["state"] not in ("running", "paused"):
        raise Unavailable()
    return int(info["memory"])


def _oper_vcpus(inst: Instance, ctx: InstanceQueryContext) -> int:
    info = ctx.runtime(inst)
    if info is None or info["state"] not in ("running", "paused"):
        raise Unavailable()
    return int(info["vcpus"])


def _be(key: str) -> Any:
    return lambda i, c: filled_beparams(c.cfg.cluster, i)[key]


def _nic(attr: str) -> Any:
    """Getter of one attribute of every NIC (`nic.macs`, `nic.links`, ...), as the per-index fields read it."""
    value = _nic_value(attr)
    return lambda inst, ctx: [value(nic, ctx) for nic in inst.nics]


def _bridge(params: dict[str, Any]) -> str | None:
    """A NIC's bridge: its link when it is bridged; a routed or openvswitch NIC has none."""
    return params["link"] if params["mode"] == "bridged" else None


def _nth(items: Callable[[Instance], list[Any]], index: int, value: Callable[[Any, InstanceQueryContext], Any]) -> Any:
    """Getter of item `index` (a disk or a NIC): a value not available when the instance has fewer."""

    def getter(inst: Instance, ctx: InstanceQueryContext) -> Any:
        found = items(inst)
        if index >= len(found):
            raise Unavailable
        return value(found[index], ctx)

    return getter


def _nic_value(attr: str) -> Callable[[Any, InstanceQueryContext], Any]:
    def value(nic: Any, ctx: InstanceQueryContext) -> Any:
        params = filled_nicparams(ctx.cfg.cluster, nic.nicparams)
        if attr == "bridge":
            return _bridge(params)
        if attr in ("mode", "link", "vlan"):
            return params[attr]
        if attr == "network.name":
            return ctx.cfg.networks[nic.network].name if nic.network in ctx.cfg.networks else nic.network
        return getattr(nic, attr)

    return value


def _indexed_fields() -> list[Field]:
    """Ganeti's per-index fields (`disk.size/0`, `nic.ip/1`, ...), for each disk and NIC an instance can have."""
    made = []
    for i in range(MAX_DISKS):
        for name, title, kind, what, value in _DISK_INDEXED:
            doc = f"{what} of {_ordinal(i)} disk"
            made.append(Field(f"disk.{name}/{i}", f"{title}/{i}", kind, doc, _nth(_disks, i, value)))
    for i in range(MAX_NICS):
        for attr, title, what in _NIC_INDEXED:
            doc = f"{what} of {_ordinal(i)} network interface"
            made.append(Field(f"nic.{attr}/{i}", f"{title}/{i}", "text", doc, _nth(_nics, i, _nic_value(attr))))
    return made


def _disks(inst: Instance) -> list[Any]:
    return inst.disks


def _nics(inst: Instance) -> list[Any]:
    return inst.nics


#: (name, title, kind, what, value) of Ganeti's per-disk fields
_DISK_INDEXED: list[tuple[str, str, str, str, Callable[[Any, Any], Any]]] = [
    ("size", "Disk", "unit", "Disk size", lambda disk, ctx: disk.size),
    ("spindles", "DiskSpindles", "number", "Spindles", lambda disk, ctx: None),
    ("name", "DiskName", "text", "Name", lambda disk, ctx: disk.name),
    ("uuid", "DiskUUID", "text", "UUID", lambda disk, ctx: disk.uuid),
]

#: (attribute, title, what) of Ganeti's per-NIC fields
_NIC_INDEXED = [
    ("ip", "NicIP", "IP address"),
    ("mac", "NicMAC", "MAC address"),
    ("name", "NicName", "Name"),
    ("uuid", "NicUUID", "UUID"),
    ("mode", "NicMode", "Mode"),
    ("link", "NicLink", "Link"),
    ("bridge", "NicBridge", "Bridge"),
    ("vlan", "NicVLAN", "VLAN"),
    ("network", "NicNetwork", "Network"),
    ("network.name", "NicNetworkName", "Network name"),
]


def _ordinal(index: int) -> str:
    """Ganeti's wording in field docs: 1st, 2nd, 3rd, 4th ... (indexes count from 0)."""
    number = index + 1
    suffix = "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


def _disk_path(disk: Disk) -> str | None:
    """Where the disk is on its primary node: an LV's device node, a file's path."""
    if disk.dev_type == constants.DT_PLAIN and len(disk.logical_id) == 2:
        return f"/dev/{disk.logical_id[0]}/{disk.logical_id[1]}"
    if disk.dev_type == constants.DT_DRBD and len(disk.logical_id) == 5:
        return f"/dev/drbd{disk.logical_id[3]}"  # the primary node's minor
    return disk.logical_id[1] if len(disk.logical_id) > 1 else None


_FIELDS = [
    Field("name", "Instance", "text", "Instance name", lambda i, c: i.name),
    Field("uuid", "UUID", "text", "Instance UUID", lambda i, c: i.uuid),
    Field("os", "OS", "text", "Operating system", lambda i, c: i.os),
    Field("hypervisor", "Hypervisor", "text", "Hypervisor", lambda i, c: i.hypervisor),
    Field("pnode", "Primary_node", "text", "Primary node", lambda i, c: c.cfg.node_name(i.primary_node)),
    Field(
        "snodes",
        "Secondary_Nodes",
        "other",
        "Secondary nodes",
        lambda i, c: [c.cfg.node_name(u) for u in i.secondary_nodes],
    ),
    Field(
        "pnode.group",
        "PrimaryNodeGroup",
        "text",
        "Primary node's group",
        lambda i, c: c.cfg.groups[c.cfg.nodes[i.primary_node].group].name,
    ),
    Field("admin_state", "InstanceState", "text", "Desired state", lambda i, c: i.admin_state),
    Field("admin_up", "Autostart", "bool", "Desired state is up", lambda i, c: i.admin_state == "up"),
    Field("disk_template", "Disk_template", "text", "Disk template", lambda i, c: i.disk_template),
    Field("status", "Status", "text", "Status (live)", lambda i, c: str(c.status(i)), live=True),
    Field("oper_state", "Running", "bool", "Actually running (live)", _oper_state, live=True),
    Field("oper_ram", "Memory", "unit", "Actual memory (live)", _oper_ram, live=True),
    Field("oper_vcpus", "VCPUs", "number", "Actual vCPUs (live)", _oper_vcpus, live=True),
    Field("be/memory", "ConfigMaxMem", "unit", "Configured maximum memory", _be("maxmem")),
    Field("be/maxmem", "ConfigMaxMem", "unit", "Configured maximum memory", _be("maxmem")),
    Field("be/minmem", "ConfigMinMem", "unit", "Configured minimum memory", _be("minmem")),
    Field("be/vcpus", "ConfigVCPUs", "number", "Configured vCPUs", _be("vcpus")),
    Field("be/auto_balance", "Auto_balance", "bool", "Balanced automatically", _be("auto_balance")),
    Field(
        "beparams", "BackendParameters", "other", "Backend parameters", lambda i, c: filled_beparams(c.cfg.cluster, i)
    ),
    Field(
        "custom_beparams", "CustomBackendParameters", "other", "Instance-set backend params", lambda i, c: i.beparams
    ),
    Field(
        "hvparams",
        "HypervisorParameters",
        "other",
        "Hypervisor parameters",
        lambda i, c: filled_hvparams(c.cfg.cluster, i),
    ),
    Field("custom_hvparams", "CustomHypervisorParameters", "other", "Instance-set hv params", lambda i, c: i.hvparams),
    Field(
        "custom_nicparams",
        "CustomNicParameters",
        "other",
        "Instance-set NIC params",
        lambda i, c: [n.nicparams for n in i.nics],
    ),
    Field("osparams", "OpSysParameters", "other", "OS parameters", lambda i, c: i.osparams),
    Field(
        "forthcoming",
        "Forthcoming",
        "bool",
        "Whether the instance is forthcoming (reserved: counted, its disks not made)",
        lambda i, c: i.forthcoming,
    ),
    Field("disks_active", "DisksActive", "bool", "Whether the disks should be active", lambda i, c: i.disks_active),
    Field("disk.count", "Disks", "number", "Number of disks", lambda i, c: len(i.disks)),
    Field("disk.sizes", "Disk_sizes", "other", "Disk sizes (MiB)", lambda i, c: [d.size for d in i.disks]),
    Field("disk.uuids", "Disk_UUIDs", "other", "Disk UUIDs", lambda i, c: [d.uuid for d in i.disks]),
    Field("disk.names", "Disk_names", "other", "Disk names", lambda i, c: [d.name for d in i.disks]),
    Field("disk.modes", "Disk_modes", "other", "Disk access modes", lambda i, c: [d.mode for d in i.disks]),
    Field(
        "disk.logical_ids",
        "Disk_logical_IDs",
        "other",
        "Disk logical IDs",
        lambda i, c: [d.logical_id for d in i.disks],
    ),
    Field(
        "disk.paths",
        "Disk_paths",
        "other",
        "Disk paths on the primary node",
        lambda i, c: [_disk_path(d) for d in i.disks],
    ),
    Field("disk.spindles", "Disk_spindles", "other", "Disk spindles", lambda i, c: [None for _ in i.disks]),
    Field("disk_usage", "DiskUsage", "unit", "Total disk space used", lambda i, c: sum(d.size for d in i.disks)),
    Field("nic.count", "NICs", "number", "Number of NICs", lambda i, c: len(i.nics)),
    Field("nic.macs", "NIC_MACs", "other", "NIC MAC addresses", _nic("mac")),
    Field("nic.ips", "NIC_IPs", "other", "NIC IP addresses", _nic("ip")),
    Field("nic.modes", "NIC_modes", "other", "NIC modes", _nic("mode")),
    Field("nic.links", "NIC_links", "other", "NIC links", _nic("link")),
    Field("nic.bridges", "NIC_bridges", "other", "NIC bridges", _nic("bridge")),
    Field("nic.names", "NIC_Names", "other", "NIC names", _nic("name")),
    Field("nic.uuids", "NIC_UUIDs", "other", "NIC UUIDs", _nic("uuid")),
    Field("nic.networks", "NIC_Networks", "other", "NIC networks", _nic("network")),
    Field(
        "nic.networks.names",
        "NIC_Network_names",
        "other",
        "NIC network names",
        _nic("network.name"),
    ),
    Field("network_port", "Network_port", "number", "Console port", lambda i, c: i.network_port),
    Field("tags", "Tags", "other", "Tags", lambda i, c: i.tags),
    Field("serial_no", "SerialNo", "number", "Serial number", lambda i, c: i.serial_no),
    Field("ctime", "CTime", "timestamp", "Creation time", lambda i, c: i.ctime),
    Field("mtime", "MTime", "timestamp", "Modification time", lambda i, c: i.mtime),
    *_indexed_fields(),
]
FIELDS = {f.name: f for f in _FIELDS}
DEFAULT_FIELDS = ["name", "hypervisor", "os", "pnode", "status", "oper_ram"]
#: the fields RAPI's /2/instances?bulk=1 returns (Ganeti's set)
BULK_FIELDS = [
    "admin_state",
    "beparams",
    "ctime",
    "custom_beparams",
    "custom_hvparams",
    "custom_nicparams",
    "disk.names",
    "disk.sizes",
    "disk.spindles",
    "disk.uuids",
    "disk_template",
    "disk_usage",
    "hvparams",
    "mtime",
    "name",
    "network_port",
    "nic.bridges",
    "nic.ips",
    "nic.links",
    "nic.macs",
    "nic.modes",
    "nic.names",
    "nic.networks",
    "nic.networks.names",
    "nic.uuids",
    "oper_ram",
    "oper_state",
    "oper_vcpus",
    "os",
    "pnode",
    "serial_no",
    "snodes",
    "status",
    "tags",
    "uuid",
]
