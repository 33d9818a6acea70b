"""The xl configuration file of an instance: a pure function of the spec and a few node facts.

Kept free of I/O so every line is golden-tested (tests/golden/xen). hvparam names are Ganeti's
(`gnt.hvparams.XEN_PVM_DEFAULTS` / `XEN_HVM_DEFAULTS`); what a node has to look up first (the
disks' paths once assembled, where gnt's vif script lives) comes in as `XenFacts`.

The guest's own poweroff and a crash both leave the domain in place (`on_poweroff`/`on_crash` =
"preserve"), so `xl list` tells them apart ("s" against "c") even after the node daemon was down;
the driver destroys the domain once gnt has seen it.
"""

from __future__ import annotations

import json
import re
import string
from dataclasses import dataclass, field
from typing import Any

from gnt import constants
from gnt.errors import HypervisorError
from gnt.hvparams import XEN_HVM_DEFAULTS, XEN_PVM_DEFAULTS
from gnt.runtime import DiskSpec, InstanceSpec, NicSpec

__all__ = ["XenFacts", "build_config", "disk_vdev", "hvparams"]

_BOOL_PARAMS = {"use_bootloader", "acpi", "pae"}
_INT_PARAMS = {"cpu_cap", "cpu_weight", "migration_port"}
_FILE_TEMPLATES = {constants.DT_FILE, constants.DT_SHARED_FILE}
_HVM_NIC_MODELS = {"rtl8139", "e1000", "ne2k_pci", "ne2k_isa", "pcnet", "paravirtual"}
_CPU_LIST = re.compile(r"^(all|\d+(-\d+)?(,\d+(-\d+)?)*)$")
_REBOOT = {"reboot": "restart", "exit": "destroy"}


@dataclass
class XenFacts:
    """What the driver looked up on the node before writing the config."""

    disk_paths: list[str] = field(default_factory=list)
    #: gnt's own vif script on this node (used unless the vif_script hvparam names another)
    vif_script: str = "/usr/lib/gnt/vif-gnt"
    #: gnt's block script for a PV guest's `phy:` disks (block-gnt: no global lock, no vbd scan)
    block_script: str = "/usr/lib/gnt/block-gnt"


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on", "y")
    return bool(value)


def hvparams(spec: InstanceSpec) -> dict[str, Any]:
    """The instance's hvparams over its hypervisor's defaults, booleans and numbers normalised."""
    defaults = XEN_HVM_DEFAULTS if spec.hypervisor == "xen-hvm" else XEN_PVM_DEFAULTS
    params = {**defaults, **(spec.hvparams or {})}
    for key in _BOOL_PARAMS & params.keys():
        params[key] = _as_bool(params[key])
    for key in _INT_PARAMS:
        try:
            params[key] = int(params[key])
        except (TypeError, ValueError):
            raise HypervisorError(f"hvparam {key} must be a whole number, not {params[key]!r}") from None
    if params["xen_cmd"] != "xl":
        raise HypervisorError(
            f"xen_cmd {params['xen_cmd']!r} is not supported: gnt drives Xen only through xl (xm was removed"
            " in Xen 4.5); set xen_cmd=xl"
        )
    if params["reboot_behavior"] not in _REBOOT:
        raise HypervisorError(f"reboot_behavior must be one of {', '.join(_REBOOT)}, not {params['reboot_behavior']!r}")
    return params


def _q(value: str) -> str:
    """An xl config string literal (JSON's escaping is a subset xl's parser reads)."""
    return json.dumps(str(value))


def _list(items: list[str]) -> str:
    if not items:
        return "[]"
    return "[\n" + "".join(f"    {_q(i)},\n" for i in items) + "]"


def disk_vdev(prefix: str, index: int) -> str:
    """xvda, xvdb, ... xvdz, xvdaa: the guest's name of disk `index`."""
    letters = string.ascii_lowercase
    name = ""
    n = index
    while True:
        name = letters[n % 26] + name
        n = n // 26 - 1
        if n < 0:
            return prefix + name


def _disk_line(disk: DiskSpec, path: str, vdev: str, block_script: str | None) -> str:
    """One disk: a file through xl's own `block` script (it sets up the loop device); a block
    device of a PV guest through gnt's `block_script` (xl's key=value form, the target last)."""
    kind = "file" if disk.dev_type in _FILE_TEMPLATES else "phy"
    access = "r" if disk.mode == "ro" else "w"
    if "," in path:
        raise HypervisorError(f"disk {disk.index} path {path!r} has a comma, which xl cannot read")
    if kind == "phy" and block_script:
        return f"format=raw, vdev={vdev}, access={access}, script={block_script}, target={path}"
    return f"{kind}:{path},{vdev},{access}"


def _disks(spec: InstanceSpec, facts: XenFacts, params: dict[str, Any], hvm: bool) -> list[str]:
    if len(facts.disk_paths) != len(spec.disks):
        raise HypervisorError(f"{spec.name}: {len(spec.disks)} disks but {len(facts.disk_paths)} paths")
    prefix = params["blockdev_prefix"]
    if hvm and params["disk_type"] == "paravirtual":
        prefix = "xvd"
    elif hvm and params["disk_type"] != "ioemu":
        raise HypervisorError(f"disk_type must be paravirtual or ioemu, not {params['disk_type']!r}")
    if not re.fullmatch(r"[a-z]{1,4}", prefix):
        raise HypervisorError(f"blockdev_prefix must be 1-4 lower-case letters, not {prefix!r}")
    lines = [
        # HVM: qemu opens the disks itself and takes none with a hotplug script of its own
        _disk_line(d, p, disk_vdev(prefix, i), None if hvm else facts.block_script)
        for i, (d, p) in enumerate(zip(spec.disks, facts.disk_paths, strict=True))
    ]
    if hvm and params["cdrom_image_path"]:
        lines.append(f"format=raw, vdev=hdc, access=ro, devtype=cdrom, target={params['cdrom_image_path']}")
    return lines


def _vif(nic: NicSpec, script: str, params: dict[str, Any], hvm: bool) -> str:
    parts = [f"mac={nic.mac}"]
    if hvm:
        if params["vif_type"] not in ("ioemu", "vif"):
            raise HypervisorError(f"vif_type must be ioemu or vif, not {params['vif_type']!r}")
        if params["nic_type"] not in _HVM_NIC_MODELS:
            raise HypervisorError(f"nic_type must be one of {', '.join(sorted(_HVM_NIC_MODELS))}")
        parts.append(f"type={params['vif_type']}")
        if params["nic_type"] != "paravirtual":
            parts.append(f"model={params['nic_type']}")
    if nic.mode == "bridged":
        if nic.link:
            parts.append(f"bridge={nic.link}")
    elif nic.mode == "routed":
        if not nic.ip:
            raise HypervisorError(f"a routed NIC ({nic.mac}) needs an IP address")
        parts.append(f"ip={nic.ip}")
        if nic.link:
            parts.append(f"gatewaydev={nic.link}")  # the routing table; vif-gnt reads it from xenstore
    else:
        raise HypervisorError(f"NIC mode {nic.mode!r} is not supported by the xen hypervisors (bridged, routed)")
    parts.append(f"script={script}")
    return ",".join(parts)


def _cpus(mask: str, vcpus: int) -> str | None:
    """xl's `cpus`: None for "all", one list for every vCPU, or per-vCPU lists ("0-1:2:3")."""
    mask = str(mask).strip()
    if mask == "all":
        return None
    pieces = mask.split(":")
    if any(not _CPU_LIST.match(p) for p in pieces):
        raise HypervisorError(f"cpu_mask {mask!r}: use 'all', a CPU list like '0-3,6' or one per vCPU '0:1-2'")
    if len(pieces) == 1:
        return _q(mask)
    if len(pieces) != vcpus:
        raise HypervisorError(f"cpu_mask {mask!r} has {len(pieces)} entries for {vcpus} vCPUs")
    return "[" + ", ".join(_q(p) for p in pieces) + "]"


def _boot_lines(params: dict[str, Any], hvm: bool) -> list[str]:
    if hvm:
        order = params["boot_order"]
        if not order or any(c not in "acdn" for c in order):
            raise HypervisorError(f"boot_order {order!r}: use letters of a (floppy), c (disk), d (cdrom), n (network)")
        lines = [f"boot = {_q(order)}", f"acpi = {int(params['acpi'])}", f"pae = {int(params['pae'])}"]
        if params["kernel_path"]:
            lines.append(f"firmware_override = {_q(params['kernel_path'])}")
        if params["device_model"]:
            lines.append(f"device_model_override = {_q(params['device_model'])}")
        return lines
    if params["use_bootloader"]:
        lines = [f"bootloader = {_q(params['bootloader_path'] or 'pygrub')}"]
        if params["bootloader_args"]:
            lines.append(f"bootloader_args = {_list(params['bootloader_args'].split())}")
        return lines
    if not params["kernel_path"]:
        raise HypervisorError("xen-pvm needs kernel_path (or use_bootloader=true)")
    lines = [f"kernel = {_q(params['kernel_path'])}"]
    if params["initrd_path"]:
        lines.append(f"ramdisk = {_q(params['initrd_path'])}")
    if params["root_path"]:
        lines.append(f"root = {_q(params['root_path'])}")
    if params["kernel_args"]:
        lines.append(f"extra = {_q(params['kernel_args'])}")
    return lines


def _display_lines(spec: InstanceSpec, params: dict[str, Any]) -> list[str]:
    if not params["vnc_bind_address"]:
        return ["vnc = 0", 'serial = "pty"']
    lines = ["vnc = 1", f"vnclisten = {_q(params['vnc_bind_address'])}"]
    if spec.network_port:
        lines.append(f"vncdisplay = {spec.network_port - 5900}" if spec.network_port >= 5900 else "vncunused = 1")
    else:
        lines.append("vncunused = 1")
    lines.append('serial = "pty"')
    return lines


def build_config(spec: InstanceSpec, facts: XenFacts) -> str:
    """The exact xl config text for `spec` (xen-pvm or xen-hvm)."""
    if spec.hypervisor not in ("xen-pvm", "xen-hvm"):
        raise HypervisorError(f"{spec.name}: not a xen instance ({spec.hypervisor})")
    hvm = spec.hypervisor == "xen-hvm"
    params = hvparams(spec)
    script = params["vif_script"] or facts.vif_script
    lines = [
        f"# {spec.name}: written by gnt for xl; edits are lost at the next start",
        f"name = {_q(spec.name)}",
        f"uuid = {_q(spec.uuid)}" if _looks_like_uuid(spec.uuid) else None,
        f'type = "{"hvm" if hvm else "pv"}"',
        f"memory = {int(spec.memory)}",
        f"maxmem = {int(spec.memory)}",
        f"vcpus = {int(spec.vcpus)}",
    ]
    cpus = _cpus(params["cpu_mask"], spec.vcpus)
    if cpus:
        lines.append(f"cpus = {cpus}")
    lines.append(f"cpu_weight = {params['cpu_weight']}")
    if params["cpu_cap"]:
        lines.append(f"cap = {params['cpu_cap']}")
    lines += _boot_lines(params, hvm)
    if hvm:
        lines += _display_lines(spec, params)
    lines += [
        'on_poweroff = "preserve"',
        f"on_reboot = {_q(_REBOOT[params['reboot_behavior']])}",
        'on_crash = "preserve"',
        f"disk = {_list(_disks(spec, facts, params, hvm))}",
        f"vif = {_list([_vif(n, script, params, hvm) for n in spec.nics])}",
    ]
    return "\n".join(line for line in lines if line is not None) + "\n"


def _looks_like_uuid(value: str) -> bool:
    return bool(re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", value or ""))
