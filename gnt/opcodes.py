"""Opcodes: *what* to do, as typed records declared once.

Each opcode is a keyword-only dataclass whose `OP_ID` and field names follow Ganeti's, so RAPI
bodies and scripts carry over. A field's metadata holds its one-line doc and, where its type alone
does not say which values make sense, a value check from `gnt.opchecks` (ranges, host names, MACs).
`from_dict` checks types, then those checks, then the opcode's cross-field `check_fields`, so the
RAPI and the CLI reject the same malformed input with the same message, before any job exists.
"""

from __future__ import annotations

import dataclasses
import decimal
import math
import types
import typing
from dataclasses import dataclass, field
from functools import cache
from typing import Any, ClassVar

from gnt import compression, constants, ialloc_params, uidpool
from gnt import opchecks as ck
from gnt import resstate as rs
from gnt.cluster import verify_codes
from gnt.errors import ECODE_INVAL, OpPrereqError
from gnt.ipolicy import check_ipolicy
from gnt.oob.protocol import ndparams_check
from gnt.os import checks as os_checks
from gnt.os import secrets as os_secrets
from gnt.units import MAX_SIZE_MIB

_REQUIRED: Any = dataclasses.MISSING
#: a test delay longer than a day is a typo, and would hold its locks that long
MAX_DELAY = 86400.0
#: shutdown timeouts in seconds: up to a day
_TIMEOUT = ck.int_range(0, 86400)


def _optional(check: ck.Check) -> ck.Check:
    """`check`, with None (the field not set) let through."""

    def optional(value: Any) -> None:
        if value is not None:
            check(value)

    return optional


def _f(default: Any = _REQUIRED, doc: str = "", check: ck.Check | None = None) -> Any:
    """A field with a doc and an optional value check; mutable defaults are copied per instance."""
    meta: dict[str, Any] = {"doc": doc, "check": check}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda d=default: type(d)(d), metadata=meta)
    if default is _REQUIRED:
        return field(metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(kw_only=True)
class OpCode:
    """Fields common to all opcodes."""

    OP_ID: ClassVar[str] = ""
    #: field whose value names the opcode's object in job summaries
    SUMMARY_FIELD: ClassVar[str | None] = None

    dry_run: bool = _f(False, "Check prerequisites only, change nothing")
    debug_level: int = _f(0, "Debug level", ck.int_range(0, 100))
    priority: int = _f(0, "Job priority, -20 (high) to 19 (low)")
    depends: list[Any] | None = _f(None, "Jobs this one waits for: [[job_id, [statuses]], ...]")
    comment: str | None = _f(None, "Free-form comment")
    reason: list[Any] = _f([], "Trail of [source, reason, timestamp] entries")

    def check_fields(self) -> None:
        """Checks across fields (e.g. primary and secondary node differ); raise ValueError."""

    def summary(self) -> str:
        short = self.OP_ID.removeprefix("OP_")
        if self.SUMMARY_FIELD:
            value = getattr(self, self.SUMMARY_FIELD)
            numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
            if numeric and (isinstance(value, float) or _hints(type(self)).get(self.SUMMARY_FIELD) is float):
                value = _show_double(float(value))  # JSON may carry 2 for 2.0; Ganeti shows "2.0"
            return f"{short}({value})"
        return short

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["OP_ID"] = self.OP_ID
        return data


# --- test / debug -----------------------------------------------------------------------------


@dataclass(kw_only=True)
class OpTestDelay(OpCode):
    OP_ID: ClassVar[str] = "OP_TEST_DELAY"
    SUMMARY_FIELD: ClassVar[str | None] = "duration"
    # negative durations are the LU's to refuse (a job error, as Ganeti); here: finite and at most a day
    duration: float = _f(doc="Seconds to sleep", check=ck.float_range(-math.inf, MAX_DELAY))
    on_master: bool = _f(True, "Sleep on the master")
    on_nodes: list[str] = _f([], "Nodes to sleep on too (through RPC)", ck.hostname_list)
    repeat: int = _f(0, "Repeat the sleep this many more times", ck.int_range(0, 2**31 - 1))
    no_locks: bool = _f(True, "Take no locks")


# --- cluster ------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class OpClusterPostInit(OpCode):
    OP_ID: ClassVar[str] = "OP_CLUSTER_POST_INIT"


@dataclass(kw_only=True)
class OpClusterVerify(OpCode):
    OP_ID: ClassVar[str] = "OP_CLUSTER_VERIFY"
    verbose: bool = _f(False, "Print more details")
    error_codes: bool = _f(False, "Print error codes in a parseable form")
    skip_checks: list[str] = _f([], "Checks to skip (e.g. nplusone_mem)", verify_codes.check_optional_checks)
    ignore_errors: list[str] = _f([], "Error codes to turn into warnings", verify_codes.check_error_codes)
    group_name: str | None = _f(None, "Verify only the nodes and instances of this node group")


@dataclass(kw_only=True)
class OpClusterVerifyDisks(OpCode):
    OP_ID: ClassVar[str] = "OP_CLUSTER_VERIFY_DISKS"
    group_name: str | None = _f(None, "Check only the instances with a node in this node group")


def _compression_tools(value: Any) -> None:
    if value is not None:
        compression.check_tools(value)


def _transport_compression(value: Any) -> None:
    if value not in compression.TRANSPORTS:
        raise ValueError(f"unknown compression tool '{value}'; use one of {', '.join(compression.TRANSPORTS)}")


def _uid_pool(value: Any) -> None:
    """Ganeti's CheckUidPool: [low, high] pairs of uids, low <= high, within the uid range."""
    if value is not None:
        uidpool.check(value)


@dataclass(kw_only=True)
class OpClusterSetParams(OpCode):
    OP_ID: ClassVar[str] = "OP_CLUSTER_SET_PARAMS"
    beparams: dict[str, Any] | None = _f(None, "Default backend parameters", ck.beparams)
    hvparams: dict[str, dict[str, Any]] | None = _f(None, "Hypervisor parameters per hypervisor")
    nicparams: dict[str, Any] | None = _f(None, "Default NIC parameters", ck.nicparams)
    ndparams: dict[str, Any] | None = _f(None, "Default node parameters", ndparams_check)
    enabled_hypervisors: list[str] | None = _f(None, "Hypervisors instances may use")
    enabled_disk_templates: list[str] | None = _f(None, "Disk templates instances may use")
    candidate_pool_size: int | None = _f(None, "How many master candidates to keep", ck.int_range(1, 2**31 - 1))
    max_running_jobs: int | None = _f(None, "Jobs that may run at once", ck.int_range(1, 10_000))
    mac_prefix: str | None = _f(None, "Prefix of generated MAC addresses", ck.mac_prefix)
    master_netdev: str | None = _f(None, "Interface of the master IP")
    master_netmask: int | None = _f(None, "Prefix length of the master IP", ck.int_range(1, 128))
    use_external_mip_script: bool | None = _f(None, "Run the admin's master IP script instead of ip(8)")
    file_storage_dir: str | None = _f(None, "Directory of file-based disks")
    shared_file_storage_dir: str | None = _f(None, "Directory of sharedfile disks (shared by nodes)")
    default_iallocator: str | None = _f(None, "Allocator used when none is given")
    default_iallocator_params: dict[str, Any] | None = _f(
        None, "Options every allocator run gets, --KEY=VALUE each (replaces the current ones)", ialloc_params.check
    )
    enabled_user_shutdown: bool | None = _f(None, "Tell a guest's own poweroff (USER_down) from a crash")
    prealloc_wipe_disks: bool | None = _f(None, "Zero new disks (and grown space) before instances use them")
    maintain_node_health: bool | None = _f(None, "The watcher stops instances still running on offline nodes")
    uid_pool: list[list[int]] | None = _f(None, "The user-id pool: [[low, high], ...] (inclusive)", _uid_pool)
    add_uids: list[list[int]] | None = _f(None, "User-id ranges to add to the pool: [[low, high], ...]", _uid_pool)
    remove_uids: list[list[int]] | None = _f(
        None, "User-id ranges to remove from the pool, each as it was added: [[low, high], ...]", _uid_pool
    )
    vg_name: str | None = _f(None, "LVM volume group of plain disks (every vm_capable node must have it)", ck.vg_name)
    reserved_lvs: list[str] | None = _f(None, "Regular expressions of LVs (vg/lv) that are not gnt's", ck.regexes)
    drbd_helper: str | None = _f(None, "The DRBD module's usermode_helper every drbd node must have", ck.drbd_helper)
    diskparams: dict[str, dict[str, Any]] | None = _f(None, "Disk parameters per template", ck.diskparams)
    hv_state: dict[str, Any] | None = _f(
        None, "Static hypervisor state keys to change {hypervisor: {mem_total: MiB, ...}}", rs.check_hv_state_changes
    )
    disk_state: dict[str, Any] | None = _f(
        None, "Static disk state keys to change {plain: {vg: {disk_total: MiB, ...}}}", rs.check_disk_state_changes
    )
    ipolicy: dict[str, Any] | None = _f(None, "Instance policy keys to change", check_ipolicy)
    os_hvp: dict[str, dict[str, dict[str, Any]]] | None = _f(
        None, "Per-OS hypervisor parameters: {os: {hypervisor: {param: value}}}", os_checks.per_os_hvparams
    )
    osparams: dict[str, dict[str, Any]] | None = _f(
        None, "Per-OS parameters: {os: {param: value}} ('default' removes one)", os_checks.per_os_params
    )
    osparams_private_cluster: dict[str, dict[str, Any]] | None = _f(
        None, "Per-OS private parameters: {os: {param: value}} (shown as <redacted>)", os_secrets.check_hidden_per_os
    )
    hidden_os: list[list[str]] | None = _f(
        None, "[[add|remove, os], ...]: OSes gnt-os list hides", os_checks.os_list_changes
    )
    blacklisted_os: list[list[str]] | None = _f(
        None, "[[add|remove, os], ...]: OSes new instances may not use", os_checks.os_list_changes
    )
    compression_tools: list[str] | None = _f(
        None, "Compression tools moves, exports and imports may use (gzip, gzip-fast, gzip-slow)", _compression_tools
    )


@dataclass(kw_only=True)
class OpClusterDestroy(OpCode):
    OP_ID: ClassVar[str] = "OP_CLUSTER_DESTROY"


@dataclass(kw_only=True)
class OpClusterRedistConf(OpCode):
    OP_ID: ClassVar[str] = "OP_CLUSTER_REDIST_CONF"


@dataclass(kw_only=True)
class OpClusterRenewCrypto(OpCode):
    """gnt-cluster renew-crypto (gnt.cluster.renew_crypto); no secret is ever a field here."""

    OP_ID: ClassVar[str] = "OP_CLUSTER_RENEW_CRYPTO"
    new_cluster_certificate: bool = _f(False, "Roll a new cluster certificate over every online node")
    node_certificates: bool = _f(False, "Give nodes new certificates of their own, signed by the cluster CA")
    node_names: list[str] = _f([], "With node_certificates: only these nodes (default: all online)", ck.hostname_list)
    new_rapi_certificate: bool = _f(False, "Make a new self-signed RAPI certificate")
    rapi_certificate: str = _f("", "Absolute path, on the master, of a RAPI key pair (PEM) to install")
    new_ssh_keys: bool = _f(False, "Make a new cluster SSH key pair and install it on every online node")
    ssh_key_type: str | None = _f(None, "Type of the new SSH key (ed25519, rsa, ecdsa; default: the cluster's)")
    ssh_key_bits: int = _f(
        0,
        "Size of the new SSH key (0: the cluster's if the type stays, else the type's default)",
        ck.int_range(0, 16384),
    )
    verify: bool = _f(True, "Check the nodes' SSH host keys against the cluster's known_hosts")


# --- nodes --------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class OpNodeAdd(OpCode):
    OP_ID: ClassVar[str] = "OP_NODE_ADD"
    SUMMARY_FIELD: ClassVar[str | None] = "node_name"
    node_name: str = _f(doc="Name of the node to add", check=ck.hostname)
    primary_ip: str | None = _f(None, "Primary IP (resolved from the name when empty)", ck.ip_address)
    secondary_ip: str | None = _f(None, "Secondary (replication) IP", ck.ip_address)
    readd: bool = _f(False, "Re-add a node that is already in the cluster")
    group: str | None = _f(None, "Node group (default: the default group)")
    master_capable: bool | None = _f(None, "May become master candidate")
    vm_capable: bool | None = _f(None, "May run instances")
    ndparams: dict[str, Any] = _f({}, "Node parameters", ndparams_check)
    hv_state: dict[str, Any] | None = _f(
        None, "Static hypervisor state {hypervisor: {mem_total: MiB, ...}}", rs.check_hv_state
    )
    disk_state: dict[str, Any] | None = _f(
        None, "Static disk state {plain: {vg: {disk_total: MiB, ...}}}", rs.check_disk_state
    )
    ssh_host_key: str | None = _f(None, "The node's SSH host key ('TYPE BASE64') as confirmed, if not yet known")
    node_setup: bool = _f(True, "Set the node up over SSH (false: it already holds the cluster's certificate)")


@dataclass(kw_only=True)
class OpNodeRemove(OpCode):
    OP_ID: ClassVar[str] = "OP_NODE_REMOVE"
    SUMMARY_FIELD: ClassVar[str | None] = "node_name"
    node_name: str = _f(doc="Node to remove", check=ck.hostname)


@dataclass(kw_only=True)
class OpNodeSetParams(OpCode):
    OP_ID: ClassVar[str] = "OP_NODE_SET_PARAMS"
    SUMMARY_FIELD: ClassVar[str | None] = "node_name"
    node_name: str = _f(doc="Node to modify", check=ck.hostname)
    force: bool = _f(False, "Skip safety checks")
    master_candidate: bool | None = _f(None, "Master candidate flag")
    offline: bool | None = _f(None, "Offline flag")
    drained: bool | None = _f(None, "Drained flag")
    auto_promote: bool = _f(False, "Promote another node to candidate if needed")
    master_capable: bool | None = _f(None, "May become master candidate")
    vm_capable: bool | None = _f(None, "May run instances")
    ndparams: dict[str, Any] | None = _f(None, "Node parameters", ndparams_check)
    hv_state: dict[str, Any] | None = _f(
        None, "Hypervisor state keys to change (default or null resets to the group's)", rs.check_hv_state_changes
    )
    disk_state: dict[str, Any] | None = _f(
        None, "Static disk state keys to change (default or null resets to the group's)", rs.check_disk_state_changes
    )
    powered: bool | None = _f(None, "Whether the node is powered (nodes with an oob_program only)")
    secondary_ip: str | None = _f(None, "New secondary (replication) IP", ck.ip_address)


@dataclass(kw_only=True)
class OpNodeMigrate(OpCode):
    OP_ID: ClassVar[str] = "OP_NODE_MIGRATE"
    SUMMARY_FIELD: ClassVar[str | None] = "node_name"
    node_name: str = _f(doc="Node whose primary instances to migrate", check=ck.hostname)
    mode: str | None = _f(None, "live or non-live")
    live: bool | None = _f(None, "Deprecated: use mode")
    target_node: str | None = _f(None, "Target node (mirrored templates)", ck.hostname)
    iallocator: str | None = _f(None, "Allocator choosing target nodes")
    ignore_ipolicy: bool = _f(False, "Ignore the instance policy")
    allow_runtime_changes: bool = _f(True, "Passed to each instance's migration (OP_INSTANCE_MIGRATE)")


@dataclass(kw_only=True)
class OpNodeEvacuate(OpCode):
    OP_ID: ClassVar[str] = "OP_NODE_EVACUATE"
    SUMMARY_FIELD: ClassVar[str | None] = "node_name"
    node_name: str = _f(doc="Node to evacuate", check=ck.hostname)
    mode: str = _f("all", "primary-only, secondary-only or all")
    remote_node: str | None = _f(None, "Move everything to this node", ck.hostname)
    iallocator: str | None = _f(None, "Allocator choosing new nodes")
    early_release: bool = _f(False, "Release locks early")
    ignore_soft_errors: bool = _f(
        False, "Let the allocator break soft constraints (N+1, VCPU ratio, spindles, exclusion tags) if it must"
    )


@dataclass(kw_only=True)
class OpNodeQueryvols(OpCode):
    OP_ID: ClassVar[str] = "OP_NODE_QUERYVOLS"
    output_fields: list[str] = _f(["node", "phys", "vg", "name", "size", "instance"], "Fields to return")
    nodes: list[str] = _f([], "Nodes to list (all when empty)", ck.hostname_list)


@dataclass(kw_only=True)
class OpNodeQueryStorage(OpCode):
    OP_ID: ClassVar[str] = "OP_NODE_QUERY_STORAGE"
    storage_type: str = _f("lvm-vg", "Storage type (lvm-vg or lvm-pv)")
    output_fields: list[str] = _f(["node", "type", "name", "size", "used", "free", "allocatable"], "Fields")
    nodes: list[str] = _f([], "Nodes to list (all when empty)", ck.hostname_list)
    name: str | None = _f(None, "Only this storage unit")


@dataclass(kw_only=True)
class OpNodeModifyStorage(OpCode):
    OP_ID: ClassVar[str] = "OP_NODE_MODIFY_STORAGE"
    SUMMARY_FIELD: ClassVar[str | None] = "node_name"
    node_name: str = _f(doc="Node holding the storage unit", check=ck.hostname)
    storage_type: str = _f("lvm-pv", "Storage type (lvm-pv)")
    name: str = _f("", "Storage unit (a physical volume's device path)")
    changes: dict[str, Any] = _f({}, "What to change: {allocatable: true|false}")


@dataclass(kw_only=True)
class OpRepairNodeStorage(OpCode):
    OP_ID: ClassVar[str] = "OP_REPAIR_NODE_STORAGE"
    SUMMARY_FIELD: ClassVar[str | None] = "node_name"
    node_name: str = _f(doc="Node holding the storage unit", check=ck.hostname)
    storage_type: str = _f("lvm-vg", "Storage type (lvm-vg)")
    name: str = _f("", "Storage unit (a volume group)")
    ignore_consistency: bool = _f(False, "Repair even if instance disks on the node are degraded")


# --- instances ----------------------------------------------------------------------------------


@dataclass(kw_only=True)
class OpInstanceCreate(OpCode):
    OP_ID: ClassVar[str] = "OP_INSTANCE_CREATE"
    SUMMARY_FIELD: ClassVar[str | None] = "instance_name"
    instance_name: str = _f(doc="Instance name", check=ck.hostname)
    mode: str = _f("create", "create or import")
    disk_template: str | None = _f(None, "Disk template (an import takes the export's when not given)")
    src_node: str | None = _f(None, "Import: the node holding the export (searched for when not given)", ck.hostname)
    src_path: str | None = _f(None, "Import: the export's name, or its directory in the export dir")
    compress: str = _f(
        "none", "Import: transport compression (none or one of the cluster's compression tools)", _transport_compression
    )
    disks: list[dict[str, Any]] = _f([], "Disks: [{size: MiB, mode: rw}, ...]", ck.disks)
    nics: list[dict[str, Any]] = _f([], "NICs: [{mac, ip, mode, link}, ...]", ck.nics)
    os_type: str | None = _f(None, "Operating system definition")
    osparams: dict[str, Any] = _f({}, "OS parameters", ck.osparams)
    osparams_private: dict[str, Any] = _f(
        {}, "Private OS parameters: stored, never shown (<redacted>)", os_secrets.check_hidden_params
    )
    osparams_secret: dict[str, Any] = _f(
        {}, "Secret OS parameters: for this job's OS scripts only, never stored", os_secrets.check_hidden_params
    )
    force_variant: bool = _f(False, "Allow an OS variant the OS does not list")
    pnode: str | None = _f(None, "Primary node", ck.hostname)
    snode: str | None = _f(None, "Secondary node (mirrored templates)", ck.hostname)
    iallocator: str | None = _f(None, "Allocator choosing the nodes")
    group_name: str | None = _f(None, "Node group to place the instance in (its nodes must be in it)")
    hypervisor: str | None = _f(None, "Hypervisor (cluster default when empty)")
    beparams: dict[str, Any] = _f({}, "Backend parameters (memory, vcpus, ...)", ck.beparams)
    hvparams: dict[str, Any] = _f({}, "Hypervisor parameters")
    start: bool = _f(True, "Start the instance once created")
    name_check: bool = _f(True, "Resolve the name")
    ip_check: bool = _f(True, "Check the IP is not in use")
    conflicts_check: bool = _f(True, "Check for IP conflicts")
    no_install: bool = _f(False, "Do not run the OS create script")
    wait_for_sync: bool = _f(True, "Wait for disks to sync")
    file_storage_dir: str | None = _f(
        None,
        "Directory of file disks, relative to the cluster's (shared) file storage directory",
        ck.relative_storage_dir,
    )
    file_driver: str | None = _f(
        None, "Driver of file disks: loop (Ganeti's blktap drivers are not supported)", _optional(ck.one_of(("loop",)))
    )
    forthcoming: bool = _f(False, "Only reserve the instance: add it to the config with its resources, create nothing")
    commit: bool = _f(False, "Make the forthcoming instance of this name real, on its reserved nodes and disks")
    identify_defaults: bool = _f(False, "Import: parameters equal to the cluster's defaults follow the defaults")
    ignore_ipolicy: bool = _f(False, "Ignore the instance policy")
    opportunistic_locking: bool = _f(
        False, "With an allocator: choose only among nodes whose locks are free now (else a temporary error)"
    )
    tags: list[str] = _f([], "Tags", ck.tag_list)

    def check_fields(self) -> None:
        if self.pnode and self.snode and self.pnode == self.snode:
            raise ValueError(f"the primary and secondary node must differ (both are {self.pnode})")
        if self.opportunistic_locking and self.pnode:
            raise OpPrereqError(
                "Opportunistic locking is only available in combination with an instance allocator (not with -n)",
                ECODE_INVAL,
            )
        if self.disk_template is None and self.mode != "import":
            raise OpPrereqError(f"Required parameter '{self.OP_ID}.disk_template' missing", ECODE_INVAL)
        os_secrets.check_categories(self.osparams, self.osparams_private, self.osparams_secret)
        if self.forthcoming and self.commit:
            raise OpPrereqError("Forthcoming generation and committing are mutually exclusive", ECODE_INVAL)


@dataclass(kw_only=True)
class OpInstanceRemove(OpCode):
    OP_ID: ClassVar[str] = "OP_INSTANCE_REMOVE"
    SUMMARY_FIELD: ClassVar[str | None] = "instance_name"
    instance_name: str = _f(doc="Instance to remove", check=ck.hostname)
    ignore_failures: bool = _f(False, "Remove from the config even if node cleanup fails")
    shutdown_timeout: int = _f(constants.DEFAULT_SHUTDOWN_TIMEOUT, "Seconds to wait for shutdown", _TIMEOUT)


@dataclass(kw_only=True)
class OpInstanceStartup(OpCode):
    OP_ID: ClassVar[str] = "OP_INSTANCE_STARTUP"
    SUMMARY_FIELD: ClassVar[str | None] = "instance_name"
    instance_name: str = _f(doc="Instance to start", check=ck.hostname)
    force: bool = _f(False, "Start even if the secondary nodes' disks cannot be activated")
    ignore_offline_nodes: bool = _f(False, "Ignore offline nodes")
    hvparams: dict[str, Any] = _f({}, "Temporary hypervisor parameters")
    beparams: dict[str, Any] = _f({}, "Temporary backend parameters", ck.beparams)
    no_remember: bool = _f(False, "Do not record the new state in the config")
    startup_paused: bool = _f(False, "Start with the CPUs paused")


@dataclass(kw_only=True)
class OpInstanceShutdown(OpCode):
    OP_ID: ClassVar[str] = "OP_INSTANCE_SHUTDOWN"
    SUMMARY_FIELD: ClassVar[str | None] = "instance_name"
    instance_name: str = _f(doc="Instance to stop", check=ck.hostname)
    force: bool = _f(False, "Stop even if not running")
    ignore_offline_nodes: bool = _f(False, "Ignore an offline primary node: only record the instance as stopped")
    timeout: int = _f(constants.DEFAULT_SHUTDOWN_TIMEOUT, "Seconds for a clean shutdown", _TIMEOUT)
    no_remember: bool = _f(False, "Do not record the new state in the config")


@dataclass(kw_only=True)
class OpInstanceReboot(OpCode):
    OP_ID: ClassVar[str] = "OP_INSTANCE_REBOOT"
    SUMMARY_FIELD: ClassVar[str | None] = "instance_name"
    instance_name: str = _f(doc="Instance to reboot", check=ck.hostname)
    ignore_secondaries: bool = _f(False, "Ignore secondary node errors")
    reboot_type: str = _f("hard", "soft, hard or full", ck.one_of(("soft", "hard", "full")))
    shutdown_timeout: int = _f(constants.DEFAULT_SHUTDOWN_TIMEOUT, "Seconds for a clean shutdown", _TIMEOUT)


@dataclass(kw_only=True)
class OpInstanceMigrate(OpCode):
    OP_ID: ClassVar[str] = "OP_INSTANCE_MIGRATE"
    SUMMARY_FIELD: ClassVar[str | None] = "instance_name"
    instance_name: str = _f(doc="Instance to migrate", check=ck.hostname)
    mode: str | None = _f(None, "live or non-live")
    live: bool | None = _f(None, "Deprecated: use mode")
    target_node: str | None = _f(None, "Target node", ck.hostname)
    cleanup: bool = _f(False, "Recover from an interrupted migration")
    allow_failover: bool = _f(False, "Fail over if the instance cannot be migrated")
    iallocator: str | None = _f(None, "Allocator choosing the target")
    ignore_ipolicy: bool = _f(False, "Ignore the instance policy")
    allow_runtime_changes: bool = _f(
        True, "Balloon the guest down to the target's free memory when it has less than the guest uses"
    )
    ignore_hvversions: bool = _f(False, "Migrate even between different hypervisor versions (major.minor)")


@dataclass(kw_only=True)
class OpInstanceFailover(OpCode):
    OP_ID: ClassVar[str] = "OP_INSTANCE_FAILOVER"
    SUMMARY_FIELD: ClassVar[str | None] = "instance_name"
    instance_name: str = _f(doc="Instance to fail over", check=ck.hostname)
    ignore_consistency: bool = _f(False, "Ignore disk consistency")
    target_node: str | None = _f(None, "Target node", ck.hostname)
    shutdown_timeout: int = _f(constants.DEFAULT_SHUTDOWN_TIMEOUT, "Seconds for a clean shutdown", _TIMEOUT)
    iallocator: str | None = _f(None, "Allocator choosing the target")
    ignore_ipolicy: bool = _f(False, "Ignore the instance policy")
    cleanup: bool = _f(False, "Accepted as in Ganeti, whose failover has no interrupted state to clean up either")


@dataclass(kw_only=True)
class OpInstanceSetParams(OpCode):
    OP_ID: ClassVar[str] = "OP_INSTANCE_SET_PARAMS"
    SUMMARY_FIELD: ClassVar[str | None] = "instance_name"
    instance_name: str = _f(doc="Instance to modify", check=ck.hostname)
    beparams: dict[str, Any] = _f({}, "Backend parameters to change", ck.beparams)
    hvparams: dict[str, Any] = _f({}, "Hypervisor parameters to change")
    osparams: dict[str, Any] = _f({}, "OS parameters to change", ck.osparams)
    osparams_private: dict[str, Any] = _f(
        {}, "Private OS parameters to change (stored, shown as <redacted>)", os_secrets.check_hidden_params
    )
    os_name: str | None = _f(
        None, "New OS name (no reinstall; checked on the primary node unless force)", os_checks.optional_os_name
    )
    force_variant: bool = _f(False, "Allow an OS variant the OS does not list")
    force: bool = _f(False, "Skip safety checks")
    offline: bool | None = _f(None, "Mark offline / online")
    disks: list[Any] = _f(
        [],
        "Disk changes: [[add, -1 or N, {size, mode, name}] | [attach, -1 or N, {name or uuid}]"
        " | [modify, ID, {mode, name}] | [remove or detach, ID, {}], ...] (ID: index, name or uuid)",
    )
    nics: list[Any] = _f([], "NIC changes: [[add|remove|modify, index|name|uuid, {mac, ip, mode, link, network}], ...]")
    runtime_mem: int | None = _f(None, "Balloon the running instance to this much memory (MiB)", ck.int_range(1, 2**31))
    pnode: str | None = _f(None, "New primary node (disks not mirrored, instance stopped)", ck.hostname)
    hotplug: bool = _f(False, "Apply disk and NIC changes to the running instance at once (kvm)")
    hotplug_if_possible: bool = _f(False, "Hotplug when the instance runs and its hypervisor can; else at next start")
    conflicts_check: bool = _f(True, "Refuse a NIC address already taken in its network")
    disk_template: str | None = _f(None, "Convert the disks to this template (plain or drbd; the instance stopped)")
    remote_node: str | None = _f(None, "Secondary node when converting to drbd", ck.hostname)
    iallocator: str | None = _f(None, "Allocator choosing the secondary when converting to drbd (not with remote_node)")
    wait_for_sync: bool = _f(True, "Wait for a new drbd mirror to sync (converting to drbd, adding a drbd disk)")
    ignore_ipolicy: bool = _f(False, "Ignore the instance policy")

    def check_fields(self) -> None:
        if self.remote_node and self.iallocator:
            raise OpPrereqError(
                "Do not specify both, iallocator and node: the secondary is either named (-n) or chosen by the"
                " allocator (-I)",
                ECODE_INVAL,
            )
        if self.iallocator and self.disk_template != constants.DT_DRBD:
            raise OpPrereqError(
                "An iallocator (-I) only chooses the secondary node of a conversion to drbd (-t drbd)", ECODE_INVAL
            )


# --- instance disks (gnt.instance.disks) -----------------------------------------------------------


@dataclass(kw_only=True)
class OpInstanceActivateDisks(OpCode):
    OP_ID: ClassVar[str] = "OP_INSTANCE_ACTIVATE_DISKS"
    SUMMARY_FIELD: ClassVar[str | None] = "instance_name"
    instance_name: str = _f(doc="Instance whose disks to activate", check=ck.hostname)
    ignore_size: bool = _f(False, "Use the disk sizes found on the nodes, not the recorded ones")
    wait_for_sync: bool = _f(False, "Wait for the disks to be in sync")


@dataclass(kw_only=True)
class OpInstanceDeactivateDisks(OpCode):
    OP_ID: ClassVar[str] = "OP_INSTANCE_DEACTIVATE_DISKS"
    SUMMARY_FIELD: ClassVar[str | None] = "instance_name"
    instance_name: str = _f(doc="Instance whose disks to deactivate", check=ck.hostname)
    force: bool = _f(False, "Deactivate even if the instance runs")


@dataclass(kw_only=True)
class OpInstanceGrowDisk(OpCode):
    OP_ID: ClassVar[str] = "OP_INSTANCE_GROW_DISK"
    SUMMARY_FIELD: ClassVar[str | None] = "instance_name"
    instance_name: str = _f(doc="Instance whose disk to grow", check=ck.hostname)
    disk: int = _f(doc="Disk index", check=ck.int_range(-(2**31), 2**31 - 1))
    amount: int = _f(doc="MiB to add (or, with absolute, the new size)", check=ck.int_range(0, MAX_SIZE_MIB))
    wait_for_sync: bool = _f(True, "Wait for the disk to sync after growing")
    absolute: bool = _f(False, "amount is the new size, not an increment")
    ignore_ipolicy: bool = _f(False, "Ignore the instance policy")


@dataclass(kw_only=True)
class OpInstanceRecreateDisks(OpCode):
    OP_ID: ClassVar[str] = "OP_INSTANCE_RECREATE_DISKS"
    SUMMARY_FIELD: ClassVar[str | None] = "instance_name"
    instance_name: str = _f(doc="Instance whose missing disks to recreate", check=ck.hostname)
    disks: list[Any] = _f([], "Disks to recreate: [index, ...] or [[index, {size: MiB}], ...]; all when empty")
    nodes: list[str] = _f([], "New nodes for the disks (primary[, secondary])", ck.hostname_list)
    iallocator: str | None = _f(None, "Allocator choosing new nodes")


#: OP_INSTANCE_REPLACE_DISKS' modes, as Ganeti names them
REPLACE_MODES = ("replace_on_primary", "replace_on_secondary", "replace_new_secondary", "replace_auto")


def _replace_mode(value: Any) -> None:
    if value not in REPLACE_MODES:
        raise ValueError(f"Replace disks mode must be one of {', '.join(REPLACE_MODES)}, not {value!r}")


def _disk_indices(value: Any) -> None:
    if not isinstance(value, list) or not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in value):
        raise ValueError(f"disks must be a list of disk indices (0, 1, ...), not {value!r}")


@dataclass(kw_only=True)
class OpInstanceReplaceDisks(OpCode):
    OP_ID: ClassVar[str] = "OP_INSTANCE_REPLACE_DISKS"
    SUMMARY_FIELD: ClassVar[str | None] = "instance_name"
    instance_name: str = _f(doc="Instance whose disks to replace", check=ck.hostname)
    mode: str = _f(
        doc="replace_on_primary, replace_on_secondary, replace_new_secondary or replace_auto", check=_replace_mode
    )
    disks: list[int] = _f([], "Disk indices to replace (all when empty)", _disk_indices)
    remote_node: str | None = _f(None, "New secondary node (replace_new_secondary)", ck.hostname)
    iallocator: str | None = _f(None, "Allocator choosing the new secondary node")
    early_release: bool = _f(False, "Remove the old storage before the new one is in sync")
    ignore_ipolicy: bool = _f(False, "Ignore the instance policy")


@dataclass(kw_only=True)
class OpClusterRepairDiskSizes(OpCode):
    OP_ID: ClassVar[str] = "OP_CLUSTER_REPAIR_DISK_SIZES"
    instances: list[str] = _f([], "Instances to check (all when empty)", ck.hostname_list)


OPCODES: dict[str, type[OpCode]] = {
    cls.OP_ID: cls
    for cls in (
        OpTestDelay,
        OpClusterPostInit,
        OpClusterVerify,
        OpClusterVerifyDisks,
        OpClusterSetParams,
        OpClusterDestroy,
        OpClusterRedistConf,
        OpClusterRenewCrypto,
        OpNodeAdd,
        OpNodeRemove,
        OpNodeSetParams,
        OpNodeMigrate,
        OpNodeEvacuate,
        OpNodeQueryvols,
        OpNodeQueryStorage,
        OpNodeModifyStorage,
        OpRepairNodeStorage,
        OpInstanceCreate,
        OpInstanceRemove,
        OpInstanceStartup,
        OpInstanceShutdown,
        OpInstanceReboot,
        OpInstanceMigrate,
        OpInstanceFailover,
        OpInstanceSetParams,
        OpInstanceActivateDisks,
        OpInstanceDeactivateDisks,
        OpInstanceGrowDisk,
        OpInstanceRecreateDisks,
        OpInstanceReplaceDisks,
        OpClusterRepairDiskSizes,
    )
}


def register(cls: type[OpCode]) -> type[OpCode]:
    """Add an opcode declared outside this module (e.g. by the allocator)."""
    OPCODES[cls.OP_ID] = cls
    return cls


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _type_ok(tp: Any, value: Any) -> bool:
    if tp is Any:
        return True
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(arg, value) for arg in typing.get_args(tp))
    if tp is type(None):
        return value is None
    if origin is list:
        (item_tp,) = typing.get_args(tp) or (Any,)
        return isinstance(value, list) and all(_type_ok(item_tp, item) for item in value)
    if origin is dict:
        key_tp, item_tp = typing.get_args(tp) or (Any, Any)
        return isinstance(value, dict) and all(_type_ok(key_tp, k) and _type_ok(item_tp, v) for k, v in value.items())
    if origin is not None:
        return isinstance(value, origin)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, tp)


def from_dict(data: dict[str, Any]) -> OpCode:
    """Build and validate an opcode from its JSON form; raises OpPrereqError(wrong_input)."""
    if not isinstance(data, dict):
        raise OpPrereqError("Opcode must be a JSON object", ECODE_INVAL)
    op_id = data.get("OP_ID")
    cls = OPCODES.get(op_id) if isinstance(op_id, str) else None
    if cls is None:
        shown = op_id[:80] if isinstance(op_id, str) else _short(op_id)
        raise OpPrereqError(f"Unknown opcode '{shown}'", ECODE_INVAL)
    hints = _hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key == "OP_ID":
            continue
        if key not in fields:
            raise OpPrereqError(f"Parameter '{key[:80]}' is not valid for {op_id}", ECODE_INVAL)
        if not _type_ok(hints[key], value):
            raise OpPrereqError(
                f"Parameter '{op_id}.{key}' fails validation: expected {_type_name(hints[key])}, got {_short(value)}",
                ECODE_INVAL,
            )
        _check_value(op_id, key, fields[key].metadata.get("check"), value)
        kwargs[key] = value
    missing = [
        name
        for name, f in fields.items()
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING and name not in kwargs
    ]
    if missing:
        raise OpPrereqError(f"Required parameter '{op_id}.{missing[0]}' missing", ECODE_INVAL)
    op = cls(**kwargs)
    if not -20 <= op.priority <= 19:
        raise OpPrereqError(f"Priority {op.priority} out of range (-20..19)", ECODE_INVAL)
    try:
        op.check_fields()
    except ValueError as err:
        raise OpPrereqError(f"Invalid {op_id}: {err}", ECODE_INVAL) from None
    return op


def _check_value(op_id: str, key: str, check: ck.Check | None, value: Any) -> None:
    """The field's declared check, after the checks every value gets (int64, finite, shallow)."""
    try:
        ck.check_scalars(value)
        if key == "depends":
            _check_depends(value)
        if check is not None:
            check(value)
    except ValueError as err:
        raise OpPrereqError(f"Parameter '{op_id}.{key}' fails validation: {err}", ECODE_INVAL) from None


def _check_depends(value: Any) -> None:
    """Ganeti's dependency shape: [[job_id, [final status, ...]], ...]."""
    for entry in value or []:
        ok = (
            isinstance(entry, list)
            and len(entry) == 2
            and isinstance(entry[0], int)
            and not isinstance(entry[0], bool)
            and isinstance(entry[1], list)
            and all(isinstance(s, str) for s in entry[1])
        )
        if not ok:
            raise ValueError(f"Invalid dependency {_short(entry)}: expected [job_id, [statuses]]")


def _short(value: Any, limit: int = 80) -> str:
    """A value for an error message: a 1 MB string must not come back as a 1 MB message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _show_double(value: float) -> str:
    """A float as Ganeti's (Haskell) job summaries show it: "10.0", "0.1", "1.0e-3", "1.0e7"."""
    if not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("-Infinity" if value < 0 else "Infinity")
    sign = "-" if math.copysign(1.0, value) < 0 else ""
    if value == 0:
        return sign + "0.0"
    _, digit_tuple, exponent = decimal.Decimal(repr(abs(value))).normalize().as_tuple()
    digits = "".join(map(str, digit_tuple))
    exp10 = len(digits) + int(exponent)  # value == 0.<digits> * 10**exp10
    if exp10 < 0 or exp10 > 7:
        return f"{sign}{digits[0]}.{digits[1:] or '0'}e{exp10 - 1}"
    if exp10 == 0:
        return f"{sign}0.{digits}"
    digits = digits.ljust(exp10, "0")
    return f"{sign}{digits[:exp10]}.{digits[exp10:] or '0'}"


def _type_name(tp: Any) -> str:
    return str(tp).replace("typing.", "").replace("<class '", "").replace("'>", "")


def field_docs(cls: type[OpCode]) -> dict[str, str]:
    """Field name -> one-line doc, for --help texts and the RAPI reference."""
    return {f.name: f.metadata.get("doc", "") for f in dataclasses.fields(cls)}


# Opcodes declared beside their logical units register themselves here (import last: they build on OpCode).
from gnt.backup import opcodes as _backup_opcodes  # noqa: E402, F401
from gnt.cluster import master_ip_ops as _master_ip_opcodes  # noqa: E402, F401
from gnt.debug import opcodes as _debug_opcodes  # noqa: E402, F401
from gnt.extstorage import opcodes as _extstorage_opcodes  # noqa: E402, F401
from gnt.group import opcodes as _group_opcodes  # noqa: E402, F401
from gnt.instance import admin_opcodes as _instance_admin_opcodes  # noqa: E402, F401
from gnt.instance import multi_opcodes as _instance_multi_opcodes  # noqa: E402, F401
from gnt.network import opcodes as _network_opcodes  # noqa: E402, F401
from gnt.node import restricted_opcodes as _restricted_opcodes  # noqa: E402, F401
from gnt.oob import opcodes as _oob_opcodes  # noqa: E402, F401
from gnt.os import opcodes as _os_opcodes  # noqa: E402, F401
from gnt.tags import opcodes as _tag_opcodes  # noqa: E402, F401
