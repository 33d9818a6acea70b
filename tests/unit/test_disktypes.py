"""What disks are is declared once (gnt.disktypes), and the storage and kvm drivers agree with it."""

from __future__ import annotations

import pytest

import storage
from backends.kvm.supervisor import local_disks
from gnt import disktypes
from gnt.disktypes import Locality
from gnt.runtime import DiskSpec, InstanceSpec


def test_every_storage_driver_declares_the_kind_of_its_table_entry() -> None:
    for dev_type in storage.known():
        assert storage.get(dev_type).kind is disktypes.kind(dev_type)


@pytest.mark.parametrize(
    ("template", "hypervisor", "migrates", "fails_over"),
    [
        ("diskless", "fake", True, True),
        ("sharedfile", "fake", True, True),
        ("sharedfile", "kvm", True, True),
        ("file", "kvm", True, False),  # kvm mirrors local disks to the target over NBD
        ("file", "fake", False, False),
        ("plain", "kvm", False, False),  # an LV is not copied live: the target has no LV to mirror into
        ("plain", "fake", False, False),
        ("drbd", "xen-pvm", True, True),
    ],
)
def test_what_can_move_comes_from_disk_locality_and_hypervisor_capability(
    template: str, hypervisor: str, migrates: bool, fails_over: bool
) -> None:
    assert disktypes.can_migrate(template, hypervisor) is migrates
    assert disktypes.can_fail_over(template) is fails_over


def test_kvm_mirrors_exactly_the_disks_the_table_calls_local() -> None:
    disks = [DiskSpec(uuid=t, index=i, size=1, dev_type=t) for i, t in enumerate(disktypes.DISK_KINDS)]
    spec = InstanceSpec(name="i", uuid="u", hypervisor="kvm", memory=1, vcpus=1, disks=disks)
    assert {d.dev_type for d in local_disks(spec)} == {
        t for t, k in disktypes.DISK_KINDS.items() if k.locality is Locality.LOCAL
    }


def test_only_mirrored_disks_need_a_secondary_node() -> None:
    from gnt import disktypes as dt

    assert [k for k, v in dt.DISK_KINDS.items() if v.needs_secondary] == ["drbd"]
    assert dt.kind("drbd").is_redundant and dt.kind("drbd").fails_over
    assert dt.can_migrate("drbd", "kvm") and dt.can_migrate("drbd", "fake")
