"""`backends.get("xen-pvm")`: paravirtualised Xen guests."""

from __future__ import annotations

from typing import Any

from backends.xen.driver import XenPvmHypervisor


def create(**kwargs: Any) -> XenPvmHypervisor:
    """The node's xen-pvm driver; keyword arguments (run_dir, runner, vif_script) are for tests."""
    return XenPvmHypervisor(**kwargs)
