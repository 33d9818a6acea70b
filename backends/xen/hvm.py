"""`backends.get("xen-hvm")`: fully virtualised Xen guests (need VT-x/AMD-V in the node)."""

from __future__ import annotations

from typing import Any

from backends.xen.driver import XenHvmHypervisor


def create(**kwargs: Any) -> XenHvmHypervisor:
    """The node's xen-hvm driver; keyword arguments (run_dir, runner, vif_script) are for tests."""
    return XenHvmHypervisor(**kwargs)
