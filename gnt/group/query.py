"""Node group query fields: what `gnt-group list -o`, `/2/groups?bulk=1` and `/2/query/group` answer.

The instance policy a group answers is the *filled* one (Ganeti's defaults, then the cluster's,
then the group's own), as Ganeti's RAPI serves it: htools (`hbal -m`, `hspace -m`) read `minmax`
and `std` from it and refuse a group without them. `custom_ipolicy` is what the group itself sets.
"""

from __future__ import annotations

from typing import Any

from gnt import constants, diskparams, resstate
from gnt.ipolicy import fill_ipolicy
from gnt.query import Field

__all__ = ["BULK_FIELDS", "DEFAULT_FIELDS", "FIELDS", "GroupQueryContext", "fill_ipolicy"]


class GroupQueryContext:
    """The config the getters read, with each group's members counted once per query."""

    def __init__(self, cfg: Any) -> None:
        self.cfg = cfg
        self.nodes: dict[str, list[str]] = {uuid: [] for uuid in cfg.groups}
        node_group: dict[str, str] = {}
        for node in cfg.nodes.values():
            self.nodes.setdefault(node.group, []).append(node.name)
            node_group[node.uuid] = node.group
        self.instances: dict[str, list[str]] = {uuid: [] for uuid in cfg.groups}
        for inst in cfg.instances.values():
            group = node_group.get(inst.primary_node)
            if group is not None:
                self.instances.setdefault(group, []).append(inst.name)

    def node_list(self, group: Any) -> list[str]:
        return sorted(self.nodes.get(group.uuid, []))

    def instance_list(self, group: Any) -> list[str]:
        return sorted(self.instances.get(group.uuid, []))


def _ndparams(g: Any, c: GroupQueryContext) -> dict[str, Any]:
    return {**constants.ND_DEFAULTS, **c.cfg.cluster.ndparams, **g.ndparams}


def _diskparams(g: Any, c: GroupQueryContext) -> dict[str, Any]:
    """What the group's disks take: the group's own over the cluster's (gnt.diskparams)."""
    return diskparams.filled(c.cfg.cluster.diskparams, g.diskparams)


_FIELDS = [
    Field("name", "Group", "text", "Group name", lambda g, c: g.name),
    Field("uuid", "UUID", "text", "Group UUID", lambda g, c: g.uuid),
    Field("alloc_policy", "AllocPolicy", "text", "Allocation policy for group", lambda g, c: g.alloc_policy),
    Field("node_cnt", "Nodes", "number", "Number of nodes", lambda g, c: len(c.node_list(g))),
    Field("node_list", "NodeList", "other", "List of nodes", lambda g, c: c.node_list(g)),
    Field("pinst_cnt", "Instances", "number", "Number of primary instances", lambda g, c: len(c.instance_list(g))),
    Field("pinst_list", "InstanceList", "other", "List of primary instances", lambda g, c: c.instance_list(g)),
    Field("ndparams", "NDParams", "other", "Node parameters", _ndparams),
    Field("custom_ndparams", "CustomNDParams", "other", "Custom node parameters", lambda g, c: g.ndparams),
    Field(
        "ipolicy",
        "InstancePolicy",
        "other",
        "Instance policy limitations",
        lambda g, c: fill_ipolicy(c.cfg.cluster.ipolicy, g.ipolicy),
    ),
    Field("custom_ipolicy", "CustomInstancePolicy", "other", "Custom instance policy", lambda g, c: g.ipolicy),
    Field("diskparams", "DiskParameters", "other", "Disk parameters (merged)", _diskparams),
    Field(
        "custom_diskparams",
        "CustomDiskParameters",
        "other",
        "Custom disk parameters",
        lambda g, c: g.diskparams,
    ),
    Field(
        "hv_state",
        "HypervisorState",
        "other",
        "Static hypervisor state of the group's nodes (the group's own over the cluster's)",
        lambda g, c: resstate.filled_hv_state(c.cfg.cluster.hv_state_static, g.hv_state_static),
    ),
    Field(
        "disk_state",
        "DiskState",
        "other",
        "Static disk state of the group's nodes (the group's own over the cluster's)",
        lambda g, c: resstate.filled_disk_state(c.cfg.cluster.disk_state_static, g.disk_state_static),
    ),
    Field(
        "custom_hv_state",
        "CustomHypervisorState",
        "other",
        "The group's own hypervisor state",
        lambda g, c: g.hv_state_static,
    ),
    Field(
        "custom_disk_state", "CustomDiskState", "other", "The group's own disk state", lambda g, c: g.disk_state_static
    ),
    Field(
        "networks",
        "Networks",
        "other",
        "Networks connected to the group",
        lambda g, c: sorted(c.cfg.networks[u].name for u in g.networks if u in c.cfg.networks),
    ),
    Field("tags", "Tags", "other", "Tags", lambda g, c: list(g.tags)),
    Field("serial_no", "SerialNo", "number", "Serial number", lambda g, c: g.serial_no),
    Field("ctime", "CTime", "timestamp", "Creation time", lambda g, c: g.ctime),
    Field("mtime", "MTime", "timestamp", "Modification time", lambda g, c: g.mtime),
]
FIELDS = {f.name: f for f in _FIELDS}
#: `gnt-group list` without -o, as Ganeti's
DEFAULT_FIELDS = ["name", "node_cnt", "pinst_cnt", "alloc_policy", "ndparams"]
#: `/2/groups?bulk=1` without fields=, Ganeti's rlib2 G_FIELDS and common fields
BULK_FIELDS = [
    "alloc_policy",
    "name",
    "node_cnt",
    "node_list",
    "ipolicy",
    "custom_ipolicy",
    "diskparams",
    "custom_diskparams",
    "ndparams",
    "custom_ndparams",
    "hv_state",
    "custom_hv_state",
    "disk_state",
    "custom_disk_state",
    "ctime",
    "mtime",
    "uuid",
    "serial_no",
    "tags",
]
