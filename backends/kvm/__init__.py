"""The kvm hypervisor: real QEMU guests driven over QMP, with live migration of shared and local disks.

`create()` is what `backends.get("kvm")` calls. `DEFAULT_HVPARAMS` are the kvm hvparams and their
defaults (Ganeti's names where Ganeti has them), for `gnt-cluster info`.
"""

from __future__ import annotations

from typing import Any

from backends.kvm.argv import DEFAULT_HVPARAMS, Facts, RunPaths, build_argv
from backends.kvm.migration import KvmMigration

__all__ = ["DEFAULT_HVPARAMS", "Facts", "KvmHypervisor", "RunPaths", "build_argv", "create"]


class KvmHypervisor(KvmMigration):
    """The kvm driver: lifecycle (driver.py) + migration steps (migration.py)."""


def create(**kwargs: Any) -> KvmHypervisor:
    """The node's kvm driver; keyword arguments (run_dir, data_dir, netns, accel) are for tests."""
    return KvmHypervisor(**kwargs)
