"""The cluster config's objects: what the master holds in memory and persists per object.

Each object is a dataclass with a `uuid`, a `serial_no` bumped on every change, and creation and
modification times. Disks and NICs live inside their instance: one instance change is one row.
"""

from __future__ import annotations

import time
import uuid as uuidlib
from dataclasses import dataclass, field
from typing import Any, ClassVar

from gnt import constants


def new_uuid() -> str:
    return str(uuidlib.uuid4())


@dataclass
class ConfigObject:
    """Fields every persisted object has."""

    KIND: ClassVar[str] = ""

    uuid: str = field(default_factory=new_uuid)
    serial_no: int = 1
    ctime: float = field(default_factory=time.time)
    mtime: float = field(default_factory=time.time)
    tags: list[str] = field(default_factory=list)

    def touch(self) -> None:
        self.serial_no += 1
        self.mtime = time.time()


@dataclass
class Disk:
    uuid: str
    size: int  # MiB
    dev_type: str
    logical_id: list[str] = field(default_factory=list)
    mode: str = "rw"
    name: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    #: reserved only (a forthcoming instance's disk): in the config, counted, not made on any node
    forthcoming: bool = False


@dataclass
class DetachedDisk:
    """A disk taken out of an instance (`modify --disk N:detach`), storage kept, until `--disk
    attach:name=NAME` gives it to an instance again. Ganeti keeps such disks in its config without
    an instance; here the cluster object lists them (a rare change: one row)."""

    disk: Disk
    #: node uuids holding its storage (the instance's primary when it was detached)
    nodes: list[str] = field(default_factory=list)


@dataclass
class Nic:
    uuid: str
    mac: str
    ip: str | None = None
    name: str | None = None
    network: str | None = None
    nicparams: dict[str, Any] = field(default_factory=dict)


@dataclass
class Cluster(ConfigObject):
    KIND: ClassVar[str] = "cluster"

    cluster_name: str = ""
    master_node: str = ""  # node uuid
    #: the config format its objects are written in (gnt.CONFIG_VERSION; `gnt-cluster upgrade` converts);
    #: configs written before the field existed are format 100
    config_version: int = 100
    master_netdev: str = constants.DEFAULT_MASTER_NETDEV
    master_netmask: int = 32
    #: the floating master IP (what the cluster name resolves to); "" when the cluster has none
    master_ip: str = ""
    #: run the admin's master IP script (gnt.paths.master_ip_script) instead of `ip address add/del`
    use_external_mip_script: bool = False
    #: the phase a cluster certificate roll stopped at ("" when none is under way); its key stays on the master
    cert_roll_phase: str = ""
    mac_prefix: str = constants.DEFAULT_MAC_PREFIX
    enabled_hypervisors: list[str] = field(default_factory=lambda: ["fake"])
    enabled_disk_templates: list[str] = field(default_factory=lambda: list(constants.DEFAULT_ENABLED_DISK_TEMPLATES))
    file_storage_dir: str = ""
    shared_file_storage_dir: str = ""
    #: the LVM volume group of plain (and drbd) disks (Ganeti's volume_group_name, `--vg-name`)
    volume_group_name: str = constants.DEFAULT_VG_NAME
    #: regular expressions of LVs (`vg/lv`) that are not gnt's: verify does not call them unknown
    reserved_lvs: list[str] = field(default_factory=list)
    #: the DRBD module's usermode_helper every drbd node must have (`--drbd-usermode-helper`); "" checks none
    drbd_usermode_helper: str = constants.DEFAULT_DRBD_HELPER
    #: disk parameters per template (`-D drbd:resync-rate=N`): gnt.drbd.DISK_PARAMS says which exist
    diskparams: dict[str, dict[str, Any]] = field(default_factory=dict)
    beparams: dict[str, dict[str, Any]] = field(default_factory=dict)
    hvparams: dict[str, dict[str, Any]] = field(default_factory=dict)
    nicparams: dict[str, dict[str, Any]] = field(default_factory=dict)
    ndparams: dict[str, Any] = field(default_factory=dict)
    #: static hypervisor state {hypervisor: {mem_total: MiB, ...}} (gnt.resstate), over the live values
    hv_state_static: dict[str, dict[str, int]] = field(default_factory=dict)
    #: static disk state {plain: {vg: {disk_total: MiB, ...}}} (gnt.resstate)
    disk_state_static: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    ipolicy: dict[str, Any] = field(default_factory=dict)
    #: per-OS settings of `gnt-os modify` (see gnt.os.params): parameters (-O) and hypervisor
    #: parameters (-H) keyed by OS name or name+variant, hidden and blacklisted OS names
    osparams: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: per-OS private parameters (`gnt-os modify --os-parameters-private`): stored, shown as <redacted>
    osparams_private_cluster: dict[str, dict[str, Any]] = field(default_factory=dict)
    os_hvp: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    hidden_os: list[str] = field(default_factory=list)
    blacklisted_os: list[str] = field(default_factory=list)
    candidate_pool_size: int = constants.DEFAULT_CANDIDATE_POOL_SIZE
    max_running_jobs: int = constants.DEFAULT_MAX_RUNNING_JOBS
    default_iallocator: str = "hail"
    #: options every allocator run gets (`--default-iallocator-params`; gnt.ialloc_params)
    default_iallocator_params: dict[str, Any] = field(default_factory=dict)
    #: the IP family of the nodes' primary addresses (`--primary-ip-version`), the master's at init
    primary_ip_version: int = 4
    #: report a guest's own poweroff as USER_down, which the watcher leaves alone (Ganeti's
    #: enabled_user_shutdown); off, it is ERROR_down like a crash and the watcher starts it again
    enabled_user_shutdown: bool = False
    #: zero every new disk (and grown space) before an instance may use it (`--prealloc-wipe-disks`)
    prealloc_wipe_disks: bool = False
    #: the watcher on a node the config marks offline stops the instances still running there
    #: (Ganeti's maintain_node_health, `--maintain-node-health`)
    maintain_node_health: bool = False
    #: the user-id pool of kvm's security_model=pool: sorted inclusive [low, high] ranges (gnt.uidpool)
    uid_pool: list[list[int]] = field(default_factory=list)
    #: the type and size of the cluster's SSH key (`gnt-cluster init --ssh-key-type/--ssh-key-bits`,
    #: Ganeti's rsa/2048 by default): what the first `gnt-node add` makes and `renew-crypto
    #: --new-ssh-keys` keeps unless told otherwise (gnt.ssh_key_spec)
    #: the transport compressions moves, exports and imports may ask for besides none
    #: (`--compression-tools`, Ganeti's compression_tools; gnt.compression)
    compression_tools: list[str] = field(default_factory=lambda: ["gzip", "gzip-fast", "gzip-slow"])
    ssh_key_type: str = "rsa"
    ssh_key_bits: int = 2048
    noded_port: int = constants.DEFAULT_NODED_PORT
    rapi_port: int = constants.DEFAULT_RAPI_PORT
    drain_flag: bool = False
    used_macs: int = 0  # counter for MAC generation
    #: disks detached from their instance, kept for a later attach (gnt.instance.disk_modify)
    detached_disks: list[DetachedDisk] = field(default_factory=list)

    @property
    def default_hypervisor(self) -> str:
        return self.enabled_hypervisors[0]


@dataclass
class NodeGroup(ConfigObject):
    KIND: ClassVar[str] = "nodegroup"

    name: str = "default"
    alloc_policy: str = "preferred"
    ndparams: dict[str, Any] = field(default_factory=dict)
    ipolicy: dict[str, Any] = field(default_factory=dict)
    #: the group's own disk parameters per template (`gnt-group modify -D`), over the cluster's (gnt.diskparams)
    diskparams: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: static hypervisor state {hypervisor: {mem_total: MiB, ...}} (gnt.resstate), over the live values
    hv_state_static: dict[str, dict[str, int]] = field(default_factory=dict)
    #: static disk state {plain: {vg: {disk_total: MiB, ...}}} (gnt.resstate)
    disk_state_static: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    #: connected networks: network uuid -> {mode, link, vlan} its NICs in this group take
    networks: dict[str, dict[str, str]] = field(default_factory=dict)


@dataclass
class Node(ConfigObject):
    KIND: ClassVar[str] = "node"

    name: str = ""
    primary_ip: str = ""
    secondary_ip: str = ""
    group: str = ""  # group uuid
    master_candidate: bool = False
    drained: bool = False
    offline: bool = False
    master_capable: bool = True
    vm_capable: bool = True
    ndparams: dict[str, Any] = field(default_factory=dict)
    #: static hypervisor state {hypervisor: {mem_total: MiB, ...}} (gnt.resstate), over the live values
    hv_state_static: dict[str, dict[str, int]] = field(default_factory=dict)
    #: static disk state {plain: {vg: {disk_total: MiB, ...}}} (gnt.resstate)
    disk_state_static: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    #: what the cluster believes of the node's power (kept by the out-of-band commands)
    powered: bool = True
    #: SHA-256 digests of the node's own certificates the cluster accepts (gnt.node_certs): one, two while
    #: one is being renewed; empty for a node of a cluster made before per-node certificates
    cert_digests: list[str] = field(default_factory=list)


@dataclass
class Instance(ConfigObject):
    KIND: ClassVar[str] = "instance"

    name: str = ""
    primary_node: str = ""  # node uuid
    secondary_nodes: list[str] = field(default_factory=list)  # node uuids
    os: str = ""
    hypervisor: str = ""
    admin_state: str = constants.ADMINST_DOWN
    admin_state_source: str = "admin"
    disk_template: str = constants.DT_DISKLESS
    beparams: dict[str, Any] = field(default_factory=dict)
    hvparams: dict[str, Any] = field(default_factory=dict)
    osparams: dict[str, Any] = field(default_factory=dict)
    #: private OS parameters (`--os-parameters-private`): stored for reinstalls, shown as <redacted>
    osparams_private: dict[str, Any] = field(default_factory=dict)
    disks: list[Disk] = field(default_factory=list)
    nics: list[Nic] = field(default_factory=list)
    network_port: int | None = None
    disks_active: bool = False
    #: a reservation (`gnt-instance add --forthcoming`): its nodes, memory, disks and addresses are counted
    #: as used, but no disk exists and no OS is installed until `add --commit` makes it real
    forthcoming: bool = False


@dataclass
class Network(ConfigObject):
    """An IP network with its address pool (Ganeti's): `reservations` marks addresses held by
    instance NICs, `ext_reservations` those reserved by hand, the gateway and the network and
    broadcast addresses; both are strings of '0'/'1', one character per address (gnt.network.pool)."""

    KIND: ClassVar[str] = "network"

    name: str = ""
    network: str = ""
    gateway: str | None = None
    network6: str | None = None
    gateway6: str | None = None
    mac_prefix: str | None = None
    reservations: str = ""
    ext_reservations: str = ""


KINDS: dict[str, type[ConfigObject]] = {cls.KIND: cls for cls in (Cluster, NodeGroup, Node, Instance, Network)}
