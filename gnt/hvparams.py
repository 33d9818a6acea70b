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
}

DEFAULTS: dict[str, dict[str, Any]] = {"fake": FAKE_DEFAULTS, "kvm": KVM_DEFAULTS, "xen": {}}
