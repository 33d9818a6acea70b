"""The fake hypervisor: every running instance is a small real process on the node."""

from __future__ import annotations

from backends.fake.hypervisor import FakeHypervisor

__all__ = ["FakeHypervisor", "create"]


def create() -> FakeHypervisor:
    """The driver for this node, configured from the environment (GNT_ROOTDIR, GNT_FAKE_*)."""
    return FakeHypervisor()
