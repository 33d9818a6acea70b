"""Hypervisor parameters: names and defaults, shared by the master (validation, `gnt-cluster info`) and
the node-side drivers (which apply them). Names follow Ganeti's where Ganeti has them.
"""

from __future__ import annotations

from typing import Any

FAKE_DEFAULTS: dict[str, Any] = {"migration_mode": "live"}

KVM_DEFAULTS: dict[str, Any] = {
    "migration_mode": "live",
    "kvm_path": "/usr/bin/qemu-system-x86_64",
    "kvm_flag": "",  # "enabled" | "disabled" | "" (use the node's acceleration probe)
    "machine_version": "",  # QEMU machine type; "" = "pc"
    "cpu_type": "",  # "" = QEMU's default model
    "kernel_path": "",  # "" = boot from disk through the firmware
    "initrd_path": "",
    "kernel_args": "ro",
    "serial_console": True,
    "serial_speed": 38400,
    "boot_order": "disk",  # disk | cdrom | network | floppy (only without kernel_path)
    "disk_cache": "default",  # default | none | writethrough | writeback | unsafe
    "disk_type": "paravirtual",  # paravirtual | ide | scsi
    "nic_type": "paravirtual",  # paravirtual | e1000 | rtl8139 | ... (a QEMU NIC model)
    "vhost_net": False,
    "vnc_bind_address": "",  # "" = no display
    "migration_bandwidth": 32,  # MiB/s, where a migration starts
    "migration_downtime": 30,  # ms, where a migration starts
    "migration_caps": "",  # extra QEMU capabilities, colon separated ("xbzrle:multifd")
    "migration_max_bandwidth": 4096,  # MiB/s, the most the convergence policy may use
    "migration_max_downtime": 300,  # ms, the longest pause the policy may allow
    "migration_max_throttle": 99,  # %, the most vCPU throttling (auto-converge); 0 = never
    "migration_postcopy": False,  # may the policy switch to post-copy as a last resort
    "migration_stall_seconds": 2.0,  # no progress for this long = stalled, escalate
    # Ganeti's: none = QEMU runs as the node daemon's user; user = as security_domain (-runas);
    # pool = as a uid of the cluster's user-id pool, one per running guest (backends.kvm.uids)
    "security_model": "none",
    "security_domain": "",  # the user of security_model=user; must be empty for none and pool
}

#: kvm's security models (Ganeti's HT_SM_NONE, HT_SM_USER, HT_SM_POOL)
SECURITY_MODELS = ("none", "user", "pool")

# Xen: Ganeti's parameter names; values where Ganeti's default was for xm or a 2010 kernel are
# today's (xl, xvd* disks). See doc/design/007-xen.md.
_XEN_COMMON: dict[str, Any] = {
    "xen_cmd": "xl",  # only xl: xm left Xen in 4.5
    "migration_port": 8002,  # the target listens here (socat into xl migrate-receive) during a migration
    "migration_mode": "live",
    "cpu_mask": "all",  # "all", a cpu list ("0-3,6") or one list per vCPU ("0-1:2:3")
    "cpu_cap": 0,  # % of one CPU, 0 = no cap
    "cpu_weight": 256,  # credit scheduler weight
    "vif_script": "",  # "" = gnt's own vif-gnt
    "reboot_behavior": "reboot",  # reboot | exit (a guest reboot ends the instance)
}

XEN_PVM_DEFAULTS: dict[str, Any] = {
    **_XEN_COMMON,
    "kernel_path": "/boot/vmlinuz-xenU",
    "initrd_path": "",
    "root_path": "/dev/xvda1",
    "kernel_args": "ro",
    "use_bootloader": False,
    "bootloader_path": "",  # "" = xl's pygrub
    "bootloader_args": "",
    "blockdev_prefix": "xvd",
}

XEN_HVM_DEFAULTS: dict[str, Any] = {
    **_XEN_COMMON,
    "migration_mode": "non-live",
    "boot_order": "cd",  # letters of a (floppy), c (disk), d (cdrom), n (network)
    "cdrom_image_path": "",
    "nic_type": "rtl8139",  # rtl8139 | e1000 | ne2k_pci | pcnet | paravirtual
    "vif_type": "ioemu",  # ioemu | vif
    "disk_type": "paravirtual",  # paravirtual (xvd*) | ioemu (emulated, blockdev_prefix)
    "blockdev_prefix": "hd",
    "vnc_bind_address": "0.0.0.0",  # "" = no VNC
    "acpi": True,
    "pae": True,
    "device_model": "",  # "" = xl's default qemu-xen
    "kernel_path": "",  # "" = xl's hvmloader
}

DEFAULTS: dict[str, dict[str, Any]] = {
    "fake": FAKE_DEFAULTS,
    "kvm": KVM_DEFAULTS,
    "xen-pvm": XEN_PVM_DEFAULTS,
    "xen-hvm": XEN_HVM_DEFAULTS,
}


#: parameters naming a file on the node (Ganeti's file checks): empty or an absolute path
_PATH_PARAMS = frozenset(
    {
        "kernel_path",
        "initrd_path",
        "kvm_path",
        "bootloader_path",
        "cdrom_image_path",
        "device_model",
        "vif_script",
        "root_path",
    }
)


def _path_problem(key: str, value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        return f"Hypervisor parameter {key} must be a path, not {str(value)[:80]!r}"
    if not value.startswith("/") or any(ch.isspace() or not ch.isprintable() for ch in value):
        return f"Hypervisor parameter {key} must be an absolute path, not {value[:200]!r}"
    return None


def security_problem(params: dict[str, Any]) -> str | None:
    """Why kvm's filled security_model and security_domain cannot go together (Ganeti's checks), or None."""
    model = str(params.get("security_model") or "none")
    domain = str(params.get("security_domain") or "")
    if model not in SECURITY_MODELS:
        return f"Invalid security model {model[:80]!r}: use one of {', '.join(SECURITY_MODELS)}"
    if model == "user" and not domain:
        return "A security domain (user to run kvm as) must be specified"
    if model != "user" and domain:
        return "Cannot have a security domain when the security model is 'none' or 'pool'"
    return None


def value_problem(hypervisor: str, params: dict[str, Any]) -> str | None:
    """A one-line reason why a value cannot work, checked at submission (None when it can).

    Only what no node could ever accept is refused here; the drivers check the rest when they use it.
    """
    for key in sorted(params.keys() & _PATH_PARAMS):
        problem = _path_problem(key, params[key])
        if problem:
            return problem
    model = params.get("security_model")
    if hypervisor == "kvm" and model is not None and model not in SECURITY_MODELS:
        return f"Invalid security model {str(model)[:80]!r}: use one of {', '.join(SECURITY_MODELS)}"
    if hypervisor.startswith("xen-") and params.get("xen_cmd", "xl") != "xl":
        return (
            f"xen_cmd {params['xen_cmd']!r} is not supported: gnt drives Xen only through xl"
            " (xm was removed in Xen 4.5); use xen_cmd=xl"
        )
    return None
