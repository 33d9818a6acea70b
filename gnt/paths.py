"""Every filesystem location gnt uses, aware of virtual-cluster mode.

In virtual-cluster mode `GNT_ROOTDIR` (absolute; its last component is the node name) roots every
path under a per-node directory, so many nodes share one machine without root. A path that already
lies inside the virtual cluster's base directory (the parent of `GNT_ROOTDIR`) is left alone: that
is how all virtual nodes share one `sharedfile` directory.
"""

from __future__ import annotations

import os
import socket

ENV_ROOTDIR = "GNT_ROOTDIR"
ENV_HOSTNAME = "GNT_HOSTNAME"


def root_dir() -> str:
    """The virtual node's root directory, or "" on a real node."""
    root = os.environ.get(ENV_ROOTDIR, "")
    if root and not os.path.isabs(root):
        raise ValueError(f"{ENV_ROOTDIR} must be an absolute path, not {root!r}")
    return root.rstrip("/")


def is_virtual() -> bool:
    return bool(root_dir())


def vcluster_base() -> str:
    """The directory holding all virtual nodes ("" on a real node)."""
    root = root_dir()
    return os.path.dirname(root) if root else ""


def hostname() -> str:
    """This node's name: GNT_HOSTNAME in a virtual cluster, else the host's FQDN."""
    return os.environ.get(ENV_HOSTNAME) or socket.getfqdn()


def localize(path: str) -> str:
    """Map a cluster-wide absolute path to where it lives on this (virtual) node."""
    root = root_dir()
    if not root or not os.path.isabs(path):
        return path
    base = vcluster_base()
    if path == base or path.startswith(base + "/"):
        return path
    return root + path


def node_root(node_name: str) -> str:
    """Root directory of another virtual node of this virtual cluster ("" on a real cluster)."""
    base = vcluster_base()
    return os.path.join(base, node_name) if base else ""


# Cluster-wide (unlocalized) defaults. Functions below return the localized location.
DEFAULT_FILE_STORAGE_DIR = "/srv/gnt/file-storage"
DEFAULT_SHARED_FILE_STORAGE_DIR = "/srv/gnt/shared-file-storage"
#: where OS definitions are looked for, in order (the first directory holding a name wins): gnt's own
#: directories, so the definitions gnt ships behave the same whether or not Debian's Ganeti OS packages
#: are installed, then Ganeti's default os_search_path in Ganeti's order, so those packages
#: (`ganeti-os-noop`, `ganeti-instance-debootstrap` in /usr/share/ganeti/os) work as installed.
OS_SEARCH_PATH = (
    "/srv/gnt/os",
    "/usr/local/lib/gnt/os",
    "/usr/share/gnt/os",
    "/srv/ganeti/os",
    "/usr/local/lib/ganeti/os",
    "/usr/lib/ganeti/os",
    "/usr/share/ganeti/os",
)

#: where ExtStorage providers (the `ext` disk template's drivers, ganeti-extstorage-interface(7)) are
#: looked for, in order: gnt's own directories, then Ganeti's default es_search_path, so providers
#: packaged for Ganeti work as installed.
ES_SEARCH_PATH = (
    "/srv/gnt/extstorage",
    "/usr/local/lib/gnt/extstorage",
    "/usr/share/gnt/extstorage",
    "/srv/ganeti/extstorage",
    "/usr/local/lib/ganeti/extstorage",
    "/usr/lib/ganeti/extstorage",
    "/usr/share/ganeti/extstorage",
)


def master_ip_script() -> str:
    """The admin's master IP script (`--use-external-mip-script`; Ganeti's master-ip-setup interface)."""
    return localize("/etc/gnt/master-ip-setup")


def data_dir() -> str:
    return localize("/var/lib/gnt")


def run_dir() -> str:
    return localize("/var/run/gnt")


def log_dir() -> str:
    return localize("/var/log/gnt")


def config_db() -> str:
    return os.path.join(data_dir(), "config.db")


def jobs_db() -> str:
    return os.path.join(data_dir(), "queue.db")


def cluster_cert() -> str:
    """This node's TLS identity for mutual TLS: its own key and certificate, then the cluster CA's certificate.

    (A cluster made before per-node certificates holds the shared self-signed cluster certificate here.)
    """
    return os.path.join(data_dir(), "server.pem")


def cluster_ca() -> str:
    """The cluster CA's key pair, which signs every node's certificate: on the master and its candidates only."""
    return os.path.join(data_dir(), "cluster-ca.pem")


def rapi_cert() -> str:
    """The RAPI's own HTTPS certificate and key (Ganeti's rapi.pem); node daemons do not trust it."""
    return os.path.join(data_dir(), "rapi.pem")


def rapi_users() -> str:
    return os.path.join(data_dir(), "rapi", "users")


def ssh_key() -> str:
    """The cluster's SSH private key (the master's way in to real nodes; `.pub` beside it)."""
    return os.path.join(data_dir(), "ssh", "id_ed25519")


def ssh_known_hosts() -> str:
    """The host keys of the cluster's nodes, as confirmed on `gnt-node add` (OpenSSH's format)."""
    return os.path.join(data_dir(), "known_hosts")


def file_storage_paths() -> str:
    """This node's list of directories file disks may live in (see gnt.confine); never set over RPC."""
    return os.path.join(data_dir(), "file-storage-paths")


def lvm_volume_groups() -> str:
    """This node's list of LVM volume groups plain disks may live in (see gnt.confine); never set over RPC."""
    return os.path.join(data_dir(), "lvm-volume-groups")


def adoptable_blockdev_roots() -> str:
    """This node's list of directories whose block devices `blockdev` disks may adopt (see
    gnt.confine); never set over RPC."""
    return os.path.join(data_dir(), "adoptable-blockdev-roots")


def ssconf_dir() -> str:
    return data_dir()


def ssconf_file(key: str) -> str:
    return os.path.join(ssconf_dir(), f"ssconf_{key}")


def master_socket() -> str:
    return os.path.join(run_dir(), "master.sock")


def pid_file(daemon: str) -> str:
    return os.path.join(run_dir(), f"{daemon}.pid")


def log_file(daemon: str) -> str:
    return os.path.join(log_dir(), f"{daemon}.log")


def instance_run_dir(hypervisor: str) -> str:
    """Per-hypervisor runtime state of instances on this node (survives noded restarts)."""
    return os.path.join(run_dir(), "instances", hypervisor)


def uid_pool_dir() -> str:
    """Lock files of the user-id pool's uids in use on this node (kvm security_model=pool)."""
    return os.path.join(run_dir(), "uid-pool")


def host_state_dir() -> str:
    """Facts about the physical host (e.g. whether KVM really works): shared by all virtual nodes on it."""
    base = vcluster_base()
    return os.path.join(base, ".host") if base else data_dir()


def os_search_path() -> list[str]:
    """The OS search path on this node. Directories under /usr belong to installed packages, which
    every virtual node of a machine shares, so only the site directories (/srv) are per node."""
    return [p if p.startswith("/usr/") else localize(p) for p in OS_SEARCH_PATH]


def es_search_path() -> list[str]:
    """The ExtStorage search path on this node (as the OS search path: /usr is shared by every virtual
    node of a machine, the site directories are per node). Never taken from an RPC argument."""
    return [p if p.startswith("/usr/") else localize(p) for p in ES_SEARCH_PATH]


def export_dir() -> str:
    """This node's export directory (Ganeti's /srv/ganeti/export): one directory per instance export."""
    return localize("/srv/gnt/export")


def hooks_dir() -> str:
    """This node's hooks directory (Ganeti's /etc/ganeti/hooks): `<hook path>-{pre,post}.d/` scripts."""
    return localize("/etc/gnt/hooks")


def restricted_commands_dir() -> str:
    """This node's restricted commands (Ganeti's /etc/ganeti/restricted-commands): the only programs
    `gnt-node restricted-command` may run here, by name; never set over RPC."""
    return localize("/etc/gnt/restricted-commands")


def restricted_commands_lock() -> str:
    """The lock file one restricted command at a time holds on this node (the error delay too)."""
    return os.path.join(run_dir(), "restricted-commands.lock")


def ensure_dir(path: str, mode: int = 0o755) -> str:
    os.makedirs(path, mode=mode, exist_ok=True)
    return path
