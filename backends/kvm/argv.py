"""The QEMU command line for an instance: a pure function of the spec and a few node facts.

Kept free of I/O so every option is golden-tested (tests/golden/kvm). The facts a node has to look
up first (acceleration, disk image formats, tap names, the runtime dir) come in as `Facts`.
hvparam names follow Ganeti's kvm hypervisor where Ganeti has one.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import dataclass, field
from typing import Any

from gnt.errors import HypervisorError
from gnt.hvparams import KVM_DEFAULTS, security_problem
from gnt.runtime import InstanceSpec

__all__ = [
    "DEFAULT_HVPARAMS",
    "Facts",
    "RunPaths",
    "boot_ids",
    "build_argv",
    "hvparams",
    "kernel_cmdline",
    "pinned_layout",
    "runas",
]

DEFAULT_HVPARAMS: dict[str, Any] = KVM_DEFAULTS

_BOOL_PARAMS = {"serial_console", "vhost_net", "migration_postcopy"}
_BOOT_DEVICES = {"disk": "c", "cdrom": "d", "network": "n", "floppy": "a"}
_NIC_MODELS = {"paravirtual": "virtio-net-pci"}
_DISK_DEVICES = {"paravirtual": "virtio-blk-pci", "ide": "ide-hd", "scsi": "scsi-hd"}
# disk_cache -> (cache.direct, cache.no-flush, device write-cache)
_CACHE_MODES = {
    "default": (False, False, True),
    "writeback": (False, False, True),
    "none": (True, False, True),
    "writethrough": (False, False, False),
    "unsafe": (False, True, True),
}


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on", "y")
    return bool(value)


def hvparams(spec: InstanceSpec) -> dict[str, Any]:
    """The instance's hvparams filled with the defaults, booleans normalised."""
    params = {**DEFAULT_HVPARAMS, **(spec.hvparams or {})}
    for key in _BOOL_PARAMS:
        params[key] = _as_bool(params[key])
    return params


SOCKET_PATH_MAX = 100
SHORT_SOCKET_ROOT = "/tmp/gnt-kvm-sockets"


def is_block_device(path: str) -> bool:
    """Whether `path` (after symlinks) is a block device, which QEMU opens with `host_device`; a
    path that cannot be read counts as a file."""
    try:
        return stat.S_ISBLK(os.stat(path).st_mode)
    except OSError:
        return False


@dataclass
class RunPaths:
    """Where one instance's runtime files live on a node (its runtime dir)."""

    root: str

    @property
    def sock_dir(self) -> str:
        """Where the unix sockets go: the runtime dir, unless that makes a path too long for a socket.

        A socket path must fit in 108 bytes; a virtual cluster in a deep directory exceeds that, so
        its sockets then live in a short directory named after the runtime dir (same on every
        restart, so a restarted node daemon finds them again).
        """
        if len(os.path.join(self.root, "qmp-mig.sock")) < SOCKET_PATH_MAX:
            return self.root
        digest = hashlib.sha1(self.root.encode()).hexdigest()[:16]
        short = os.path.join(SHORT_SOCKET_ROOT, digest)
        os.makedirs(short, mode=0o700, exist_ok=True)
        return short

    @property
    def qmp(self) -> str:
        """Control monitor: short per-operation connections."""
        return os.path.join(self.sock_dir, "qmp.sock")

    @property
    def qmp_mig(self) -> str:
        """Second monitor, held by the migration supervisor while a migration runs."""
        return os.path.join(self.sock_dir, "qmp-mig.sock")

    @property
    def serial(self) -> str:
        return os.path.join(self.sock_dir, "serial.sock")

    @property
    def serial_log(self) -> str:
        return os.path.join(self.root, "serial.log")

    @property
    def pidfile(self) -> str:
        return os.path.join(self.root, "qemu.pid")

    @property
    def log(self) -> str:
        return os.path.join(self.root, "qemu.log")

    @property
    def state(self) -> str:
        return os.path.join(self.root, "runtime.json")


@dataclass
class Facts:
    """What the node found out before building the command line."""

    paths: RunPaths
    accel: str = "tcg"  # kvm | tcg
    disk_paths: list[str] = field(default_factory=list)
    disk_formats: list[str] = field(default_factory=list)  # raw | qcow2, per disk
    #: per disk: a block device (an LV, /dev/drbdN, a LUN), which QEMU opens with its `host_device`
    #: driver: its `file` driver refuses anything but a regular file. Missing entries are files.
    disk_block: list[bool] = field(default_factory=list)
    taps: list[str] = field(default_factory=list)  # per NIC
    incoming: bool = False  # wait for an incoming migration (-incoming defer)
    paused: bool = False  # start with stopped CPUs (-S); not for incoming guests
    #: security_model=pool: the uid (and gid) of the user-id pool QEMU runs as (backends.kvm.uids)
    pool_uid: int | None = None
    pool_gid: int | None = None
    #: an incoming migration's device layout as the source runs it (see `pinned_layout`): device ids
    #: and PCI slots; None for a guest whose devices are all where its command line puts them
    layout: dict[str, Any] | None = None


#: the hvparam an incoming migration's spec carries the source's device layout in (instance_info's
#: `extra["device_layout"]`, passed on by the master)
LAYOUT_HVPARAM = "device_layout"

#: PCI slots on bus 0 that gnt places devices in (0 is the host bridge, 1 the chipset's ISA bridge,
#: 2 a VGA card; q35 keeps 0x1f for its LPC bridge)
FIRST_SLOT = 3
LAST_SLOT = 0x1E


def boot_ids(kind: str, index: int) -> dict[str, str]:
    """The QMP ids of the `index`th NIC or disk of a command line without a layout."""
    if kind == "nics":
        return {"netdev": f"nic{index}", "device": f"nic{index}-dev"}
    return {"node": f"disk{index}", "device": f"disk{index}-dev"}


def pinned_layout(spec: InstanceSpec, layout: dict[str, Any]) -> dict[str, Any]:
    """Every NIC and disk of `spec` with its ids and PCI slot: the source's where the layout has the
    device, else boot ids and the lowest slot nobody uses (a device QEMU placed by itself could take
    the slot a later one is pinned to)."""
    used = {s for s in (layout.get("balloon"), layout.get("scsi")) if s is not None}
    for kind in ("nics", "disks"):
        used |= {e["slot"] for e in (layout.get(kind) or {}).values() if e.get("slot") is not None}
    free = (slot for slot in range(FIRST_SLOT, LAST_SLOT + 1) if slot not in used)
    pinned: dict[str, Any] = {"nics": {}, "disks": {}}
    for kind, devices in (("nics", spec.nics), ("disks", spec.disks)):
        for index, device in enumerate(devices):
            entry = dict((layout.get(kind) or {}).get(device.uuid) or boot_ids(kind, index))
            entry["slot"] = entry.get("slot") if entry.get("slot") is not None else next(free, None)
            pinned[kind][device.uuid] = entry
    for extra in ("balloon", "scsi"):
        pinned[extra] = layout.get(extra) if layout.get(extra) is not None else next(free, None)
    return pinned


def running_devices(spec: InstanceSpec, layout: dict[str, Any], taps: list[str]) -> dict[str, Any]:
    """The device map (backends.kvm.hotplug) of a guest started with `layout`, with this node's taps."""
    devices = pinned_layout(spec, layout)
    for nic, tap in zip(spec.nics, taps, strict=False):
        devices["nics"][nic.uuid]["tap"] = tap
    return devices


def _addr(slot: int | None) -> str:
    return f",addr={slot:#x}" if slot is not None else ""


def _esc(value: str) -> str:
    """QEMU's option syntax doubles commas inside a value."""
    return value.replace(",", ",,")


def kernel_cmdline(params: dict[str, Any]) -> str:
    args = str(params["kernel_args"] or "").strip()
    if params["serial_console"] and "console=" not in args:
        args = f"{args} console=ttyS0,{params['serial_speed']}".strip()
    return args


def _accel(params: dict[str, Any], probed: str) -> str:
    flag = str(params["kvm_flag"] or "")
    if flag == "enabled":
        return "kvm"
    if flag == "disabled":
        return "tcg"
    if flag:
        raise HypervisorError(f"kvm_flag must be 'enabled', 'disabled' or empty, not {flag!r}")
    return probed


def _base(spec: InstanceSpec, params: dict[str, Any], facts: Facts) -> list[str]:
    paths = facts.paths
    machine = params["machine_version"] or "pc"
    argv = [params["kvm_path"], "-name", f"{_esc(spec.name)},debug-threads=on", "-uuid", spec.uuid]
    argv += ["-machine", f"{machine},accel={_accel(params, facts.accel)}"]
    if params["cpu_type"]:
        argv += ["-cpu", params["cpu_type"]]
    argv += ["-m", str(spec.memory), "-smp", str(spec.vcpus)]
    argv += ["-nodefaults", "-no-user-config", "-no-shutdown", "-msg", "timestamp=on"]
    argv += ["-pidfile", paths.pidfile]
    for ident, sock in (("qmp", paths.qmp), ("qmp-mig", paths.qmp_mig)):
        argv += ["-chardev", f"socket,id={ident},path={_esc(sock)},server=on,wait=off"]
        argv += ["-mon", f"chardev={ident},mode=control"]
    if params["serial_console"]:
        argv += [
            "-chardev",
            f"socket,id=serial0,path={_esc(paths.serial)},server=on,wait=off,"
            f"logfile={_esc(paths.serial_log)},logappend=on",
            "-serial",
            "chardev:serial0",
        ]
    if params["vnc_bind_address"]:
        display = (spec.network_port or 5900) - 5900
        argv += ["-vga", "std", "-vnc", f"{params['vnc_bind_address']}:{display}"]
    else:
        argv += ["-display", "none"]
    return argv


def runas(params: dict[str, Any], facts: Facts) -> list[str]:
    """`-runas` for the security model: QEMU drops root for that user once its devices are open.

    The checks are Ganeti's: `user` needs a security_domain, `none` and `pool` must not have one,
    and `pool` needs the uid the node locked for this guest.
    """
    problem = security_problem(params)
    if problem:
        raise HypervisorError(problem)
    model = str(params["security_model"] or "none")
    if model == "user":
        return ["-runas", str(params["security_domain"])]
    if model == "none":
        return []
    if facts.pool_uid is None:
        raise HypervisorError("security_model is 'pool' but no uid of the pool was locked for this guest")
    gid = facts.pool_uid if facts.pool_gid is None else facts.pool_gid
    return ["-runas", f"{facts.pool_uid}:{gid}"]


def _boot(params: dict[str, Any]) -> list[str]:
    if params["kernel_path"]:
        argv = ["-kernel", params["kernel_path"]]
        if params["initrd_path"]:
            argv += ["-initrd", params["initrd_path"]]
        return argv + ["-append", kernel_cmdline(params)]
    order = _BOOT_DEVICES.get(str(params["boot_order"]))
    if order is None:
        raise HypervisorError(f"unknown boot_order {params['boot_order']!r}; use one of {sorted(_BOOT_DEVICES)}")
    return ["-boot", f"order={order}"]


def _disks(spec: InstanceSpec, params: dict[str, Any], facts: Facts, layout: dict[str, Any] | None) -> list[str]:
    if len(facts.disk_paths) != len(spec.disks) or len(facts.disk_formats) != len(spec.disks):
        raise HypervisorError(f"{spec.name}: disk paths/formats missing for some disks")
    cache = _CACHE_MODES.get(str(params["disk_cache"]))
    model = _DISK_DEVICES.get(str(params["disk_type"]))
    if cache is None or model is None:
        raise HypervisorError(f"unsupported disk_cache {params['disk_cache']!r} or disk_type {params['disk_type']!r}")
    direct, no_flush, write_cache = cache
    argv: list[str] = []
    if spec.disks and model == "scsi-hd":
        argv += ["-device", "virtio-scsi-pci,id=scsi0" + _addr(layout["scsi"] if layout else None)]
    for i, disk in enumerate(spec.disks):
        ids = layout["disks"][disk.uuid] if layout else boot_ids("disks", i)
        node = {
            "driver": facts.disk_formats[i],
            "node-name": ids["node"],
            "read-only": disk.mode == "ro",
            "cache": {"direct": direct, "no-flush": no_flush},
            "file": {
                "driver": "host_device" if i < len(facts.disk_block) and facts.disk_block[i] else "file",
                "filename": facts.disk_paths[i],
                "read-only": disk.mode == "ro",
                "cache": {"direct": direct, "no-flush": no_flush},
            },
        }
        argv += ["-blockdev", json.dumps(node, separators=(",", ":"))]
        device = f"{model},id={ids['device']},drive={ids['node']}"
        if model != "ide-hd":
            device += f",write-cache={'on' if write_cache else 'off'}"
        if model == "scsi-hd":
            device += ",bus=scsi0.0"
        elif layout:
            device += _addr(ids.get("slot"))
        argv += ["-device", device]
    return argv


def _nics(spec: InstanceSpec, params: dict[str, Any], facts: Facts, layout: dict[str, Any] | None) -> list[str]:
    if len(facts.taps) != len(spec.nics):
        raise HypervisorError(f"{spec.name}: tap devices missing for some NICs")
    nic_type = str(params["nic_type"])
    model = _NIC_MODELS.get(nic_type, nic_type)
    argv: list[str] = []
    for i, nic in enumerate(spec.nics):
        ids = layout["nics"][nic.uuid] if layout else boot_ids("nics", i)
        netdev = f"tap,id={ids['netdev']},ifname={facts.taps[i]},script=no,downscript=no"
        if params["vhost_net"]:
            netdev += ",vhost=on"
        device = f"{model},id={ids['device']},netdev={ids['netdev']},mac={nic.mac}"
        if params["kernel_path"]:
            device += ",romfile="  # no PXE option ROM when the kernel is given: faster boot
        if layout:
            device += _addr(ids.get("slot"))
        argv += ["-netdev", netdev, "-device", device]
    return argv


def build_argv(spec: InstanceSpec, facts: Facts) -> list[str]:
    """The full QEMU argv for `spec` on a node with `facts`."""
    params = hvparams(spec)
    layout = pinned_layout(spec, facts.layout) if facts.layout else None
    argv = _base(spec, params, facts) + _boot(params)
    argv += _disks(spec, params, facts, layout) + _nics(spec, params, facts, layout)
    # gnt-instance modify -m balloons through it
    argv += ["-device", "virtio-balloon-pci,id=balloon0" + _addr(layout["balloon"] if layout else None)]
    argv += runas(params, facts)
    if facts.paused:
        argv.append("-S")
    if facts.incoming:
        # No -S: the target resumes by itself the moment the state is in (shortest downtime);
        # it stays paused when the source was paused (non-live), until finalize resumes it.
        argv += ["-incoming", "defer"]
    return argv
