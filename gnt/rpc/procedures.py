"""The one table of node procedures: what the master may ask a node daemon to do.

Each `Procedure` names its argument record (a dataclass, decoded strictly on the node by
`gnt.rpc.records`), its result type, its timeout class and which argument fields are filesystem
paths (confined on the node to its storage roots, see `gnt.confine`) or names (checked against a
strict pattern). The master's typed client (`gnt.rpc.client.RpcClient`) and the node's dispatcher
(`agent.dispatcher`) are both derived from this table, so the two sides cannot disagree: an
unknown procedure, a missing or unknown key and a wrongly typed value are refused before any
handler runs.

Results travel as JSON; `result` documents their shape (the records in `gnt.runtime` where one
exists) and is what handlers return.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from gnt.runtime import DiskSpec, InstanceRuntime, InstanceSpec, MigrationStatus, NicSpec


class Timeout(enum.Enum):
    """How long the master waits for a procedure, by class (Ganeti's rpc timeout classes).

    A class, not a number per call site: the value is chosen once, next to the declaration, and a
    procedure whose duration depends on an argument names it in `Procedure.extend_by`.
    """

    URGENT = 10.0
    """Answers from memory or a tiny file write: version, ssconf, config replication, live data."""
    FAST = 30.0
    """Reads a little state from the hypervisor or the disk: instance info, verify, OS list."""
    NORMAL = 120.0
    """Starts or stops something: an instance, a disk, one step of a migration."""
    SLOW = 600.0
    """Bulk data: creating disks, running OS install scripts."""
    MIGRATION = 3600.0
    """A whole migration, polled step by step (the master's overall limit)."""


class NameKind(enum.StrEnum):
    """What a name argument names; each kind has one strict pattern (see gnt.confine)."""

    INSTANCE = "instance"
    OS = "os"
    HYPERVISOR = "hypervisor"


A = TypeVar("A")


@dataclass(frozen=True)
class Procedure(Generic[A]):
    """One node procedure's declaration."""

    name: str
    args: type[A]
    result: Any
    timeout: Timeout
    #: argument fields holding cluster-wide paths (str or list of str), confined to the node's storage roots
    paths: tuple[str, ...] = ()
    #: argument fields holding names (str or list of str), and the kind of name each is
    names: tuple[tuple[str, NameKind], ...] = ()
    #: argument field (seconds) added to the class's timeout, for calls that wait that long on purpose
    extend_by: str | None = None
    doc: str = ""
    #: callable by any node of the cluster; otherwise only by the master or a master candidate (gnt.node_certs)
    any_node: bool = False

    def timeout_for(self, args: Any) -> float:
        extra = getattr(args, self.extend_by, 0) if self.extend_by else 0
        if isinstance(extra, bool) or not isinstance(extra, (int, float)) or not extra > 0:
            extra = 0  # a malformed value is the node's to refuse; it must not break the call here
        return self.timeout.value + min(float(extra), Timeout.MIGRATION.value * 24)


# -- argument records ---------------------------------------------------------------------------


@dataclass
class NoArgs:
    """A procedure that takes no arguments."""


@dataclass
class NodePowercycleArgs:
    #: the cluster's default hypervisor: its driver knows how this node reboots
    hypervisor: str


@dataclass
class RestrictedCommandArgs:
    #: a plain name (checked on the node) of an executable in the node's restricted-commands dir
    command: str


@dataclass
class HypervisorsArgs:
    hypervisors: list[str] = field(default_factory=list)


@dataclass
class NodeInfoArgs:
    hypervisors: list[str] = field(default_factory=list)
    #: file storage directories whose usage to report (cluster-wide paths)
    storage_dirs: list[str] = field(default_factory=list)
    #: LVM volume groups whose size and free space to report
    vg_names: list[str] = field(default_factory=list)
    #: report the DRBD module's usermode helper too (node_verify, when drbd is enabled)
    drbd: bool = False


@dataclass
class StorageModifyArgs:
    storage_type: str
    name: str
    #: lvm-pv: whether new extents may be allocated on it
    allocatable: bool | None = None


@dataclass
class StorageRepairArgs:
    storage_type: str
    name: str


@dataclass
class VolumeGroupsArgs:
    #: the volume groups to look in (the node lists only those its own file allows)
    vg_names: list[str]


@dataclass
class SsconfWriteArgs:
    values: dict[str, str]


@dataclass
class TestDelayArgs:
    duration: float


@dataclass
class InstanceQueryArgs:
    name: str
    hypervisor: str


@dataclass
class InstanceArgs:
    instance: InstanceSpec


@dataclass
class InstanceStartArgs:
    instance: InstanceSpec
    paused: bool = False


@dataclass
class InstanceShutdownArgs:
    instance: InstanceSpec
    timeout: float = 120.0
    force: bool = False


@dataclass
class InstanceRebootArgs:
    instance: InstanceSpec
    reboot_type: str = "hard"
    shutdown_timeout: float = 120.0


@dataclass
class InstanceOsAddArgs:
    instance: InstanceSpec
    reinstall: bool = False


@dataclass
class AcceptInstanceArgs:
    instance: InstanceSpec
    target_address: str


@dataclass
class MigrateInstanceArgs:
    instance: InstanceSpec
    target_address: str
    #: what accept_instance answered on the target (ports, exports)
    info: dict[str, Any] = field(default_factory=dict)
    live: bool = True


@dataclass
class MigrationStatusArgs:
    instance: InstanceSpec
    #: answer as soon as the migration ends, or after this many seconds (capped on the node)
    wait: float = 0.0


@dataclass
class FinalizeDstArgs:
    instance: InstanceSpec
    success: bool
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class FinalizeSrcArgs:
    instance: InstanceSpec
    success: bool


@dataclass
class BlockdevArgs:
    disk: DiskSpec
    instance_name: str = ""


@dataclass
class BlockdevRenameArgs:
    disk: DiskSpec
    #: the disk's logical_id after the rename (for file disks, [driver, new cluster-wide path])
    new_logical_id: list[str]


@dataclass
class InstanceRunRenameArgs:
    #: the instance under its new name
    instance: InstanceSpec
    old_name: str


@dataclass
class BlockdevGrowArgs:
    disk: DiskSpec
    amount: int


@dataclass
class BlockdevWipeArgs:
    disk: DiskSpec
    #: where the zeros start and how many MiB to write (the whole disk, or a grown disk's new space)
    offset: int
    size: int
    instance_name: str = ""


@dataclass
class BlockdevInfoArgs:
    disks: list[DiskSpec]


@dataclass
class DrbdMinorsArgs:
    minors: list[int]


@dataclass
class BlockdevRoleArgs:
    disks: list[DiskSpec]
    primary: bool
    force: bool = False


@dataclass
class BlockdevDualArgs:
    disks: list[DiskSpec]
    enabled: bool


@dataclass
class OsValidateArgs:
    #: NAME or NAME+VARIANT
    name: str
    #: the instance's OS parameters (cluster defaults for the OS filled in), checked against
    #: parameters.list and by the OS's `verify parameters` script
    osparams: dict[str, Any] = field(default_factory=dict)
    #: --force-variant: a variant the OS does not list is accepted
    force_variant: bool = False
    #: False: a node without a valid definition of the OS passes (gnt-os modify -O, as Ganeti)
    required: bool = True


@dataclass
class ConfigApplyArgs:
    #: change sets in serial order (gnt.config.store.ChangeSet)
    changes: list[dict[str, Any]]


@dataclass
class ConfigReplaceArgs:
    serial: int
    objects: dict[str, dict[str, Any]]


@dataclass
class JobQueueUpdateArgs:
    #: whole jobs as the queue stores them: [id, status, archived, end_time, data] (gnt.queue_rows.Row)
    rows: list[list[Any]]


@dataclass
class ConfigPlacementArgs:
    #: instances whose primary node the caller wants to know
    names: list[str]


@dataclass
class ConfigNodeRoleArgs:
    #: the node whose offline flag the caller wants to know (the watcher's node: gnt.node_health)
    name: str


# -- the table --------------------------------------------------------------------------------

_INSTANCE_NAME = (("name", NameKind.INSTANCE), ("hypervisor", NameKind.HYPERVISOR))
_INSTANCE_NAME_ARG = (("instance_name", NameKind.INSTANCE),)
_HVS = (("hypervisors", NameKind.HYPERVISOR),)

VERSION = Procedure(
    "version", NoArgs, dict[str, Any], Timeout.URGENT, doc="protocol, version, node name", any_node=True
)
NODE_INFO = Procedure(
    "node_info", NodeInfoArgs, dict[str, Any], Timeout.FAST, paths=("storage_dirs",), names=_HVS,
    doc="free memory per hypervisor, storage usage, boot id",
)  # fmt: skip
# FAST, not URGENT: the node runs its hypervisor's tools (`xl info`, `xl list`) and LVM's to answer,
# which on a loaded Xen dom0 passed URGENT's 10 s; a node that is down still fails at connect time.
NODE_VERIFY = Procedure(
    "node_verify", NodeInfoArgs, dict[str, Any], Timeout.FAST, paths=("storage_dirs",), names=_HVS,
    doc="facts gnt-cluster verify compares with the config",
)  # fmt: skip
SSCONF_WRITE = Procedure("ssconf_write", SsconfWriteArgs, None, Timeout.URGENT)
NODE_POWERCYCLE = Procedure(
    "node_powercycle", NodePowercycleArgs, str, Timeout.URGENT, names=(("hypervisor", NameKind.HYPERVISOR),),
    doc="schedule a hard reboot of the node a few seconds after answering",
)  # fmt: skip
RESTRICTED_COMMAND = Procedure(
    "restricted_command", RestrictedCommandArgs, str, Timeout.SLOW,
    doc="run one of the node's own restricted commands by name, without arguments; its output",
)  # fmt: skip
TEST_DELAY = Procedure("test_delay", TestDelayArgs, None, Timeout.URGENT, extend_by="duration")
INSTANCE_LIST = Procedure("instance_list", HypervisorsArgs, list[str], Timeout.URGENT, names=_HVS)
ALL_INSTANCES_INFO = Procedure(
    "all_instances_info", HypervisorsArgs, dict[str, InstanceRuntime], Timeout.URGENT, names=_HVS
)
INSTANCE_INFO = Procedure(
    "instance_info", InstanceQueryArgs, InstanceRuntime | None, Timeout.FAST, names=_INSTANCE_NAME
)
INSTANCE_START = Procedure("instance_start", InstanceStartArgs, None, Timeout.NORMAL)
INSTANCE_SHUTDOWN = Procedure("instance_shutdown", InstanceShutdownArgs, None, Timeout.FAST, extend_by="timeout")
INSTANCE_REBOOT = Procedure("instance_reboot", InstanceRebootArgs, None, Timeout.NORMAL, extend_by="shutdown_timeout")
INSTANCE_CLEANUP = Procedure("instance_cleanup", InstanceQueryArgs, None, Timeout.NORMAL, names=_INSTANCE_NAME)
INSTANCE_CONSOLE = Procedure("instance_console", InstanceArgs, dict[str, Any], Timeout.FAST)
ACCEPT_INSTANCE = Procedure("accept_instance", AcceptInstanceArgs, dict[str, Any], Timeout.NORMAL)
MIGRATE_INSTANCE = Procedure("migrate_instance", MigrateInstanceArgs, None, Timeout.NORMAL)
MIGRATION_STATUS = Procedure("migration_status", MigrationStatusArgs, MigrationStatus, Timeout.FAST)
ABORT_MIGRATION = Procedure("abort_migration", InstanceArgs, None, Timeout.NORMAL)
FINALIZE_MIGRATION_DST = Procedure("finalize_migration_dst", FinalizeDstArgs, None, Timeout.NORMAL)
FINALIZE_MIGRATION_SRC = Procedure("finalize_migration_src", FinalizeSrcArgs, None, Timeout.NORMAL)
BLOCKDEV_CREATE = Procedure("blockdev_create", BlockdevArgs, str, Timeout.SLOW, names=_INSTANCE_NAME_ARG)
BLOCKDEV_REMOVE = Procedure("blockdev_remove", BlockdevArgs, None, Timeout.NORMAL, names=_INSTANCE_NAME_ARG)
BLOCKDEV_ASSEMBLE = Procedure("blockdev_assemble", BlockdevArgs, str | None, Timeout.NORMAL, names=_INSTANCE_NAME_ARG)
BLOCKDEV_SHUTDOWN = Procedure("blockdev_shutdown", BlockdevArgs, None, Timeout.NORMAL, names=_INSTANCE_NAME_ARG)
BLOCKDEV_RENAME = Procedure(
    "blockdev_rename", BlockdevRenameArgs, None, Timeout.NORMAL,
    doc="move a disk to a new logical_id (file disks: a new path, confined like the old one; an adopted LV"
    " to the instance's naming, and back on failure)",
)  # fmt: skip
BLOCKDEV_GROW = Procedure("blockdev_grow", BlockdevGrowArgs, None, Timeout.SLOW)
BLOCKDEV_WIPE = Procedure(
    "blockdev_wipe", BlockdevWipeArgs, None, Timeout.SLOW, names=_INSTANCE_NAME_ARG,
    doc="write zeros over [offset, offset+size) MiB of one of this node's disks (--prealloc-wipe-disks)",
)  # fmt: skip
BLOCKDEV_INFO = Procedure("blockdev_info", BlockdevInfoArgs, list[dict[str, Any]], Timeout.FAST)
STORAGE_MODIFY = Procedure("storage_modify", StorageModifyArgs, None, Timeout.FAST, doc="pvchange -x")
STORAGE_REPAIR = Procedure("storage_repair", StorageRepairArgs, None, Timeout.NORMAL, doc="vgreduce --removemissing")
PV_LIST = Procedure(
    "pv_list", VolumeGroupsArgs, list[dict[str, Any]], Timeout.FAST,
    doc="the physical volumes of the named volume groups (gnt-node list-storage -t lvm-pv)",
)  # fmt: skip
LV_LIST = Procedure(
    "lv_list", VolumeGroupsArgs, list[dict[str, Any]], Timeout.FAST,
    doc="the logical volumes of the named volume groups, with their physical volumes (gnt-node volumes)",
)  # fmt: skip
OS_DIAGNOSE = Procedure("os_diagnose", NoArgs, list[dict[str, Any]], Timeout.FAST)
INSTANCE_OS_ADD = Procedure("instance_os_add", InstanceOsAddArgs, None, Timeout.SLOW)
INSTANCE_RUN_RENAME = Procedure(
    "instance_run_rename", InstanceRunRenameArgs, None, Timeout.SLOW, names=(("old_name", NameKind.INSTANCE),),
    doc="the OS rename script of a renamed instance (its disks assembled)",
)  # fmt: skip
EXTSTORAGE_DIAGNOSE = Procedure(
    "extstorage_diagnose", NoArgs, list[dict[str, Any]], Timeout.FAST,
    doc="every ExtStorage provider in the node's own es search path: name, path, valid, message, parameters",
)  # fmt: skip
OS_VALIDATE = Procedure("os_validate", OsValidateArgs, None, Timeout.FAST, names=(("name", NameKind.OS),))
CONFIG_APPLY = Procedure("config_apply", ConfigApplyArgs, dict[str, Any], Timeout.URGENT)
CONFIG_REPLACE = Procedure("config_replace", ConfigReplaceArgs, int, Timeout.URGENT)
CONFIG_DROP = Procedure("config_drop", NoArgs, None, Timeout.FAST)
CONFIG_SERIAL = Procedure("config_serial", NoArgs, dict[str, Any], Timeout.URGENT)
MASTER_STOP = Procedure("master_stop", NoArgs, bool, Timeout.FAST)


@dataclass
class AddressArgs:
    address: str


NODE_HAS_IP_ADDRESS = Procedure(
    "node_has_ip_address", AddressArgs, bool, Timeout.URGENT,
    doc="whether this node owns the address (a secondary IP it is given must be configured on it)",
)  # fmt: skip
MASTER_IP_ACTIVATE = Procedure(
    "master_ip_activate", NoArgs, dict[str, Any], Timeout.FAST,
    doc="put the cluster's master IP up on this node (address and netdev from the node's own ssconf)",
)  # fmt: skip
MASTER_IP_DEACTIVATE = Procedure(
    "master_ip_deactivate", NoArgs, dict[str, Any], Timeout.FAST,
    doc="take the cluster's master IP down on this node (failover, deactivate-master-ip)",
)  # fmt: skip
JOBQUEUE_UPDATE = Procedure(
    "jobqueue_update", JobQueueUpdateArgs, int, Timeout.URGENT,
    doc="store whole jobs in this master candidate's copy of the job queue (what a failover starts from)",
)  # fmt: skip
NODE_LEAVE = Procedure("node_leave", NoArgs, None, Timeout.FAST)
CONFIG_EXPORT = Procedure(
    "config_export", NoArgs, dict[str, Any] | None, Timeout.FAST,
    doc="this node's whole config copy and serial, for gnt-cluster recover-config",
)  # fmt: skip
CONFIG_PLACEMENT = Procedure(
    "config_placement", ConfigPlacementArgs, dict[str, Any] | None, Timeout.URGENT,
    names=(("names", NameKind.INSTANCE),),
    doc="primary node and admin state of the named instances, for a node daemon's start-up check",
    any_node=True,
)  # fmt: skip
CONFIG_NODE_ROLE = Procedure(
    "config_node_role", ConfigNodeRoleArgs, dict[str, Any] | None, Timeout.URGENT,
    names=(("name", NameKind.INSTANCE),),
    doc="a node's offline flag and the cluster's maintain_node_health by this config copy (the watcher's"
    " node-health pass on that node)",
    any_node=True,
)  # fmt: skip
DRBD_STATUS = Procedure(
    "drbd_status", BlockdevInfoArgs, list[dict[str, Any] | None], Timeout.FAST,
    doc="the DRBD state of each drbd disk (connection, roles, disk states, resync progress); None: no minor",
)  # fmt: skip
DRBD_MINOR_STATUS = Procedure(
    "drbd_minor_status", DrbdMinorsArgs, list[dict[str, Any] | None], Timeout.FAST,
    doc="the DRBD state of each named minor from one /proc/drbd read; None: no such minor (verify-disks:"
    " a node's every disk in one call, without their views)",
)  # fmt: skip
DRBD_SET_ROLE = Procedure(
    "drbd_set_role", BlockdevRoleArgs, None, Timeout.NORMAL,
    doc="promote or demote this node's side of drbd disks (failover; --force only when the peer is gone)",
)  # fmt: skip
DRBD_REPLACE_LOCAL = Procedure(
    "drbd_replace_local", BlockdevArgs, list[list[str]], Timeout.SLOW, names=_INSTANCE_NAME_ARG,
    doc="give this node's side of a drbd disk new LVs under its live link (replace-disks -p/-s); returns the old"
    " LVs, renamed aside, for removal after the resync",
)  # fmt: skip
DRBD_DISCONNECT = Procedure(
    "drbd_disconnect", BlockdevInfoArgs, None, Timeout.NORMAL,
    doc="drop the network half of drbd disks (both sides first, before a link is re-made with other"
    " options: DRBD 8.4 refuses a peer whose two-primaries setting differs)",
)  # fmt: skip
DRBD_RELINK = Procedure(
    "drbd_relink", BlockdevInfoArgs, None, Timeout.NORMAL,
    doc="connect drbd disks to the peer their view names (replace-disks -n, verify-disks' reconnect)",
)  # fmt: skip
DRBD_DUAL_PRIMARY = Procedure(
    "drbd_dual_primary", BlockdevDualArgs, None, Timeout.NORMAL,
    doc="reconnect drbd disks with (or without) --allow-two-primaries: a live migration's window",
)  # fmt: skip


# -- instance disk operations (gnt.instance.disks) --------------------------------------------------


@dataclass
class InstanceDiskResizeArgs:
    instance: InstanceSpec
    #: the disk's index in the instance (the hypervisor's device for it)
    index: int
    #: the disk's new size, MiB
    size: int


@dataclass
class InstanceHotplugArgs:
    #: the instance as it runs now (before the change)
    instance: InstanceSpec
    #: add or remove
    action: str
    #: the NIC to plug in or take out (exactly one of nic and disk)
    nic: NicSpec | None = None
    #: the disk to plug in (its storage already made) or take out
    disk: DiskSpec | None = None


@dataclass
class InstanceBalloonArgs:
    instance: InstanceSpec
    #: the guest's new runtime memory, MiB
    memory: int


INSTANCE_HOTPLUG = Procedure(
    "instance_hotplug", InstanceHotplugArgs, None, Timeout.NORMAL,
    doc="plug a NIC or disk into a running guest, or take one out (kvm: QMP netdev_add/blockdev-add, device_add/del)",
)  # fmt: skip
INSTANCE_BALLOON_MEMORY = Procedure(
    "instance_balloon_memory", InstanceBalloonArgs, None, Timeout.FAST,
    doc="set a running guest's memory by ballooning (kvm: QMP balloon); gnt-instance modify -m",
)  # fmt: skip
BLOCKDEV_GROW_CHECK = Procedure(
    "blockdev_grow_check", BlockdevGrowArgs, None, Timeout.FAST,
    doc="whether growing the disk by amount MiB would succeed here; changes nothing (grow-disk's dry run)",
)  # fmt: skip
INSTANCE_DISK_RESIZE = Procedure(
    "instance_disk_resize", InstanceDiskResizeArgs, None, Timeout.NORMAL,
    doc="tell a running guest's hypervisor that one of its disks grew (kvm: QMP block_resize)",
)  # fmt: skip
LV_STATUS = Procedure(
    "lv_status", VolumeGroupsArgs, list[dict[str, Any]], Timeout.FAST,
    doc="every LV of the named volume groups with its size and whether it is active (one lvs call)",
)  # fmt: skip
BLOCKDEV_ADOPTABLE = Procedure(
    "blockdev_adoptable", BlockdevInfoArgs, list[dict[str, Any]], Timeout.FAST,
    doc="each disk's existing device (an LV, a block device path) if it may be adopted: path and size",
)  # fmt: skip
DRBD_HELPER = Procedure(
    "drbd_helper", NoArgs, str, Timeout.FAST,
    doc="the usermode_helper the node's DRBD module was loaded with (gnt-cluster modify --drbd-usermode-helper)",
)  # fmt: skip


# -- hooks (gnt.hooks) ------------------------------------------------------------------------------


@dataclass
class HooksRunnerArgs:
    #: the opcode's hook path (`instance-start`): the node runs its own `<hooks dir>/<hpath>-<phase>.d/`
    hpath: str
    #: pre or post
    phase: str
    #: the GANETI_* environment of the scripts
    env: dict[str, str]


HOOKS_RUNNER = Procedure(
    "hooks_runner", HooksRunnerArgs, list[list[Any]], Timeout.SLOW,
    doc="run this node's hook scripts of one hook path and phase; [[script, HKR_SKIP/FAIL/SUCCESS, output], ...]",
)  # fmt: skip


@dataclass
class CryptoTrustArgs:
    #: certificates (PEM, public halves only) the node trusts besides its own; empty: its own only
    certs: list[str]


@dataclass
class CryptoInstallArgs:
    #: the key pair the node presents from now on (PEM): a secret, never logged or put in a job
    pem: str
    #: certificates trusted besides it (during a roll: the one it replaces)
    trust: list[str]


@dataclass
class CandidateFilesArgs:
    #: by name in gnt.candidate_files.FILES: the file's text, or None to remove it
    files: dict[str, str | None]


CANDIDATE_FILES_WRITE = Procedure(
    "candidate_files_write", CandidateFilesArgs, None, Timeout.URGENT,
    doc="write the master's SSH key, known_hosts, drain flag, RAPI key pair on a candidate (failover)",
)  # fmt: skip
CRYPTO_TRUST = Procedure(
    "crypto_trust", CryptoTrustArgs, str, Timeout.URGENT,
    doc="replace the node's extra trusted certificates (renew-crypto); the fingerprint of its own",
)  # fmt: skip
CRYPTO_INSTALL = Procedure(
    "crypto_install", CryptoInstallArgs, str, Timeout.URGENT,
    doc="replace the node's key pair and extra trusted certificates (renew-crypto); the new fingerprint",
)  # fmt: skip
# -- node-to-node disk transfers (agent.transfer: gnt-instance move, gnt-backup) -----------------------


@dataclass
class DiskReceiveArgs:
    """One end that receives a disk's data: into `disk` (created here beforehand) or into a file of
    an export being written in this node's export directory (`export_name`, `export_file`)."""

    #: this node's own address to listen on (its primary IP); the sender connects there over mutual TLS
    listen_address: str
    disk: DiskSpec | None = None
    instance_name: str = ""
    export_name: str = ""
    export_file: str = ""
    #: transport compression of the stream: none or a gzip tool (gnt.compression)
    compress: str = "none"
    #: with `disk`: the stream goes through this instance's OS `import` script (its stdin) into the
    #: disk, as Ganeti imports; the spec's osparams are what the script gets (private and secret too)
    os_instance: InstanceSpec | None = None


@dataclass
class DiskSendArgs:
    """The sending end: `disk` (here), or a file of an existing export in this node's export directory."""

    address: str
    port: int
    #: the receiver's one-time token (disk_receive's answer): only the stream that shows it is accepted
    transfer_id: str
    disk: DiskSpec | None = None
    instance_name: str = ""
    export_name: str = ""
    export_file: str = ""
    compress: str = "none"
    #: seconds the whole copy may take (added to the call's timeout class)
    timeout: float = 3600.0
    #: with `disk`: what is sent is the output of this instance's OS `export` script for the disk
    os_instance: InstanceSpec | None = None


@dataclass
class TransferArgs:
    transfer_id: str


@dataclass
class ExportNameArgs:
    #: an export's name (the instance it was made of); confined to this node's export directory
    name: str


@dataclass
class ExportFinalizeArgs:
    name: str
    #: the export's config.ini, written as the last step before the staging directory takes the final name
    config: str


_EXPORT_NAME = (("export_name", NameKind.INSTANCE), ("instance_name", NameKind.INSTANCE))

DISK_RECEIVE = Procedure(
    "disk_receive", DiskReceiveArgs, dict[str, Any], Timeout.NORMAL, names=_EXPORT_NAME,
    doc="listen (mutual TLS) for one disk stream into a disk or export file; {transfer_id, port}",
)  # fmt: skip
DISK_SEND = Procedure(
    "disk_send", DiskSendArgs, dict[str, Any], Timeout.SLOW, names=_EXPORT_NAME, extend_by="timeout",
    doc="stream a disk or export file to a receiver; {bytes, sha256} as both ends agreed",
)  # fmt: skip
TRANSFER_STATUS = Procedure(
    "transfer_status", TransferArgs, dict[str, Any], Timeout.URGENT,
    doc="a receiving transfer's progress: {bytes, done, error}",
)  # fmt: skip
TRANSFER_ABORT = Procedure(
    "transfer_abort", TransferArgs, None, Timeout.FAST,
    doc="stop a receiving transfer (a partial export file is removed)",
)  # fmt: skip
EXPORT_LIST = Procedure("export_list", NoArgs, list[str], Timeout.FAST, doc="the finished exports on this node")
EXPORT_INFO = Procedure(
    "export_info", ExportNameArgs, str, Timeout.FAST, names=(("name", NameKind.INSTANCE),),
    doc="an export's config.ini",
)  # fmt: skip
EXPORT_FINALIZE = Procedure(
    "export_finalize", ExportFinalizeArgs, None, Timeout.FAST, names=(("name", NameKind.INSTANCE),),
    doc="write config.ini into the staged export and give it its final name (replacing an older export)",
)  # fmt: skip
EXPORT_REMOVE = Procedure(
    "export_remove", ExportNameArgs, None, Timeout.FAST, names=(("name", NameKind.INSTANCE),),
    doc="remove an export (finished or staged); a missing one is not an error",
)  # fmt: skip

#: every procedure, by name
TABLE: dict[str, Procedure[Any]] = {
    p.name: p for p in list(globals().values()) if isinstance(p, Procedure)
}  # fmt: skip


def get(name: str) -> Procedure[Any] | None:
    return TABLE.get(name)
