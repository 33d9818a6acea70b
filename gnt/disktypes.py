"""What each kind of disk is, and what each hypervisor can do with it: declared once, asked by all.

The master decides whether an instance may fail over or migrate; the node daemon decides which
disks an incoming migration must bring along; the kvm driver decides which disks to mirror over
NBD. All three ask this table. It lives in `gnt/` core because the master may not import
`storage/` and the hypervisor drivers may not either (ARCHITECTURE.md, layout); the storage
drivers point at their entry (`BlockDevice.kind`), and a unit test holds each driver to it.

Locality, not a list of template names, is the fact: a *local* disk lives on one node (it moves
only if the hypervisor copies it during a live migration), a *shared* one is reachable from every
node, a *mirrored* one is replicated to a secondary node, and a diskless instance has no data.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from gnt import constants
from gnt.errors import ECODE_INVAL, OpPrereqError


class Locality(enum.StrEnum):
    NONE = "none"
    """No data at all (diskless)."""
    LOCAL = "local"
    """On one node only (file, plain): failover cannot take it; a migration must copy it."""
    SHARED = "shared"
    """The same data is reachable from every node (sharedfile, blockdev)."""
    MIRRORED = "mirrored"
    """Replicated to a secondary node (drbd)."""


@dataclass(frozen=True)
class DiskKind:
    dev_type: str
    locality: Locality
    #: the last element of its logical_id is a file path (confined to the node's storage roots)
    file_backed: bool = False
    #: a hypervisor that mirrors local disks may create and fill it on the target during a live
    #: migration (an image file); an LVM volume must first be created there, which no migration does
    copied_live: bool = True
    #: an existing device can become an instance's disk (`--disk N:adopt=NAME`): an LV, a block device path
    adoptable: bool = False
    #: disks of this kind are only ever adopted, never created nor deleted by gnt (blockdev)
    must_adopt: bool = False

    @property
    def is_local(self) -> bool:
        return self.locality is Locality.LOCAL

    @property
    def needs_secondary(self) -> bool:
        """Replicated over the network to a secondary node the instance names (drbd): creating
        it needs two nodes, and the config holds the link (port, minors, shared secret)."""
        return self.locality is Locality.MIRRORED

    @property
    def is_redundant(self) -> bool:
        """Survives the loss of its node (counted as "non-redundant" by verify otherwise)."""
        return self.locality is not Locality.LOCAL

    @property
    def fails_over(self) -> bool:
        """The instance can be restarted on another node without copying data."""
        return self.locality is not Locality.LOCAL


@dataclass(frozen=True)
class HypervisorCaps:
    name: str
    live_migration: bool
    #: copies local disks to the target during a live migration (kvm: blockdev-mirror over NBD)
    mirrors_local_disks: bool = False
    #: a running guest can be told that a disk grew (kvm: QMP block_resize); otherwise grow-disk
    #: needs the instance stopped
    resizes_disks_online: bool = False
    #: NICs and disks can be plugged into / taken out of a running guest (gnt-instance modify --hotplug)
    hotplug: bool = False
    #: a running guest's memory can be changed (gnt-instance modify -m)
    balloons: bool = False
    #: node_info reports the hypervisor's version, compared before a live migration (--ignore-hvversions)
    reports_version: bool = False


DISK_KINDS: dict[str, DiskKind] = {
    k.dev_type: k
    for k in (
        DiskKind(constants.DT_DISKLESS, Locality.NONE),
        DiskKind(constants.DT_FILE, Locality.LOCAL, file_backed=True),
        DiskKind(constants.DT_SHARED_FILE, Locality.SHARED, file_backed=True),
        DiskKind(constants.DT_PLAIN, Locality.LOCAL, copied_live=False, adoptable=True),
        DiskKind(constants.DT_DRBD, Locality.MIRRORED),
        # a path every node that sees the LUN resolves the same way (/dev/disk/by-id/...)
        DiskKind(constants.DT_BLOCK, Locality.SHARED, adoptable=True, must_adopt=True),
    )
}

HYPERVISOR_CAPS: dict[str, HypervisorCaps] = {
    c.name: c
    for c in (
        HypervisorCaps(
            "kvm", live_migration=True, mirrors_local_disks=True, resizes_disks_online=True, hotplug=True, balloons=True
        ),
        # the fake hypervisor's guests do not open their disks: a grow under them changes nothing they see
        HypervisorCaps("fake", live_migration=True, resizes_disks_online=True, hotplug=True, balloons=True),
        HypervisorCaps("xen-pvm", live_migration=True, reports_version=True),
        HypervisorCaps("xen-hvm", live_migration=True, reports_version=True),
    )
}


def kind(dev_type: str) -> DiskKind:
    found = DISK_KINDS.get(dev_type)
    if found is None:
        raise OpPrereqError(f"Unknown disk type '{dev_type}'", ECODE_INVAL)
    return found


def hypervisor(name: str) -> HypervisorCaps:
    found = HYPERVISOR_CAPS.get(name)
    if found is None:
        raise OpPrereqError(f"Unknown hypervisor '{name}'", ECODE_INVAL)
    return found


def can_fail_over(dev_type: str) -> bool:
    return kind(dev_type).fails_over


def can_migrate(dev_type: str, hv: str) -> bool:
    """A live migration of an instance with these disks under this hypervisor is possible."""
    caps = hypervisor(hv)
    disks = kind(dev_type)
    copied = disks.is_local and disks.copied_live and caps.mirrors_local_disks
    return caps.live_migration and (disks.fails_over or copied)
