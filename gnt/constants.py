"""Names and defaults shared across gnt; values follow Ganeti's where Ganeti has them."""

from __future__ import annotations

import enum

# Disk templates.
DT_DISKLESS = "diskless"
DT_FILE = "file"
DT_SHARED_FILE = "sharedfile"
DT_PLAIN = "plain"
DT_DRBD = "drbd"
DT_BLOCK = "blockdev"
DISK_TEMPLATES = (DT_DISKLESS, DT_FILE, DT_SHARED_FILE, DT_PLAIN, DT_DRBD, DT_BLOCK)
#: templates gnt can run today (blockdev needs its driver); plain and drbd need LVM (and drbd DRBD 8.4) on the nodes
DISK_TEMPLATES_AVAILABLE = (DT_DISKLESS, DT_FILE, DT_SHARED_FILE, DT_PLAIN, DT_DRBD, DT_BLOCK)
#: templates a new cluster enables unless told otherwise (plain needs a volume group on every node)
DEFAULT_ENABLED_DISK_TEMPLATES = (DT_DISKLESS, DT_FILE, DT_SHARED_FILE)
#: templates whose disks are LVM logical volumes in the cluster's volume group
LVM_DISK_TEMPLATES = (DT_PLAIN, DT_DRBD)
#: the cluster's volume group unless `--vg-name` says otherwise (Ganeti's default)
DEFAULT_VG_NAME = "xenvg"
#: the DRBD kernel module's usermode_helper nodes must load it with (Ganeti's default): DRBD runs it on
#: state changes, and a real helper script that is missing turns a first sync into StandAlone
DEFAULT_DRBD_HELPER = "/bin/true"
# What each template's disks are (local, shared, mirrored) and which can move: gnt.disktypes.

HYPERVISORS = ("fake", "kvm", "xen-pvm", "xen-hvm")

# Instance admin states (what the admin asked for).
ADMINST_UP = "up"
ADMINST_DOWN = "down"
ADMINST_OFFLINE = "offline"

# Node roles as shown in `gnt-node list -o role`.
ROLE_MASTER = "M"
ROLE_CANDIDATE = "C"
ROLE_REGULAR = "R"
ROLE_DRAINED = "D"
ROLE_OFFLINE = "O"

NIC_MODES = ("bridged", "routed", "openvswitch")

DEFAULT_MAC_PREFIX = "aa:00:00"
DEFAULT_NODED_PORT = 1811
DEFAULT_RAPI_PORT = 5080
DEFAULT_CANDIDATE_POOL_SIZE = 10
DEFAULT_MAX_RUNNING_JOBS = 20
DEFAULT_SHUTDOWN_TIMEOUT = 120
DEFAULT_MASTER_NETDEV = "lo"

BE_DEFAULTS: dict[str, object] = {
    "always_failover": False,
    "auto_balance": True,
    "maxmem": 128,
    "minmem": 128,
    "spindle_use": 1,
    "vcpus": 1,
}
#: beparams whose values are sizes in MiB (accept "128M", "1G")
BE_SIZE_PARAMS = ("maxmem", "minmem", "memory")
BE_INT_PARAMS = ("vcpus", "spindle_use")
BE_BOOL_PARAMS = ("always_failover", "auto_balance")

# hypervisor parameter defaults live in gnt/hvparams.py (shared with the node-side drivers)

NIC_DEFAULTS: dict[str, object] = {"mode": "bridged", "link": "gnt-br0", "vlan": ""}

ND_DEFAULTS: dict[str, object] = {
    "cpu_speed": 1,
    "exclusive_storage": False,
    "oob_program": "",
    "ovs": False,
    "ovs_link": "",
    "ovs_name": "switch1",
    "spindle_count": 1,
    "ssh_port": 22,
}

IPOLICY_DEFAULTS: dict[str, object] = {
    "minmax": [
        {
            "min": {
                "cpu-count": 1,
                "disk-count": 0,
                "disk-size": 0,
                "memory-size": 4,
                "nic-count": 0,
                "spindle-use": 0,
            },
            "max": {
                "cpu-count": 8,
                "disk-count": 16,
                "disk-size": 1048576,
                "memory-size": 32768,
                "nic-count": 8,
                "spindle-use": 12,
            },
        }
    ],
    "std": {
        "cpu-count": 1,
        "disk-count": 1,
        "disk-size": 1024,
        "memory-size": 128,
        "nic-count": 1,
        "spindle-use": 1,
    },
    "disk-templates": list(DISK_TEMPLATES_AVAILABLE),
    "spindle-ratio": 32.0,
    "vcpu-ratio": 4.0,
}


class OperState(enum.StrEnum):
    """An instance's status as `gnt-instance list` shows it (Ganeti's status field)."""

    RUNNING = "running"
    """Configured up and running."""
    ADMIN_DOWN = "ADMIN_down"
    """Configured down and not running."""
    ADMIN_OFFLINE = "ADMIN_offline"
    """Marked offline by the admin."""
    ERROR_UP = "ERROR_up"
    """Running although configured down."""
    ERROR_DOWN = "ERROR_down"
    """Configured up but not running (crashed or stopped behind gnt's back)."""
    ERROR_NODEDOWN = "ERROR_nodedown"
    """Its primary node does not answer."""
    ERROR_NODEOFFLINE = "ERROR_nodeoffline"
    """Its primary node is marked offline."""
    USER_DOWN = "USER_down"
    """Configured up but the user shut it down from inside."""
    ERROR_WRONGNODE = "ERROR_wrongnode"
    """Running on a node that is not its primary."""
