"""Actions: the exact argv of every LVM command the plain driver runs, and the plans that pick
them from the facts (pure functions: golden-tested in tests/golden/lvm/).

A plan reads the node's current state (`storage.lvm.report` records) and returns the commands that
reach the wanted state, possibly none: creating an LV that exists with the right size, removing
one that is gone, or growing one that already has the target size does nothing, so a retried job
step never acts twice. What cannot be reached (a full volume group, a shrink, a name taken) is a
`StorageError` raised before any command runs, so nothing is left half done.
"""

from __future__ import annotations

from gnt.errors import StorageError
from storage.lvm.report import (
    LV_FIELDS,
    PV_FIELDS,
    REPORT_OPTIONS,
    VG_FIELDS,
    VOLUME_FIELDS,
    LvFacts,
    PvFacts,
    VgFacts,
)

Argv = list[str]


def device_path(vg: str, lv: str) -> str:
    """The device node LVM (udev, or LVM itself without udev) makes for an active LV."""
    return f"/dev/{vg}/{lv}"


def snapshot_name(lv: str) -> str:
    """The snapshot of `lv` (Ganeti's `<lv>.snap`, used by instance export)."""
    return f"{lv}.snap"


# -- reports ----------------------------------------------------------------------------------


def vgs_argv(vgs: list[str]) -> Argv:
    return ["vgs", *REPORT_OPTIONS, "-o", ",".join(VG_FIELDS), *vgs]


def lvs_argv(vgs: list[str]) -> Argv:
    """Every LV of the given VGs: one call answers for all of a node's disks."""
    return ["lvs", *REPORT_OPTIONS, "-o", ",".join(LV_FIELDS), *vgs]


def volumes_argv(vgs: list[str]) -> Argv:
    return ["lvs", *REPORT_OPTIONS, "-o", ",".join(VOLUME_FIELDS), *vgs]


def pvs_argv() -> Argv:
    return ["pvs", *REPORT_OPTIONS, "-o", ",".join(PV_FIELDS)]


# -- changes ----------------------------------------------------------------------------------


def lvcreate_argv(vg: str, lv: str, size: int) -> Argv:
    """`-y` answers LVM's "wipe the old signature?" question (stdin is not a terminal): a new
    disk must not show a filesystem left in reused extents."""
    return ["lvcreate", "-y", "-L", f"{size}m", "-n", lv, vg]


def lvremove_argv(vg: str, lv: str) -> Argv:
    return ["lvremove", "-f", f"{vg}/{lv}"]


def lvrename_argv(vg: str, old: str, new: str) -> Argv:
    return ["lvrename", vg, old, new]


def lvextend_argv(vg: str, lv: str, amount: int) -> Argv:
    return ["lvextend", "-L", f"+{amount}m", f"{vg}/{lv}"]


def lvchange_argv(vg: str, lv: str, active: bool) -> Argv:
    return ["lvchange", "-ay" if active else "-an", f"{vg}/{lv}"]


def pvchange_argv(pv: str, allocatable: bool) -> Argv:
    return ["pvchange", "-x", "y" if allocatable else "n", pv]


def vgreduce_missing_argv(vg: str) -> Argv:
    """Drop the PVs LVM can no longer find from `vg` (gnt-node repair-storage)."""
    return ["vgreduce", "--removemissing", vg]


def snapshot_argv(vg: str, lv: str, size: int) -> Argv:
    return ["lvcreate", "-y", "-s", "-L", f"{size}m", "-n", snapshot_name(lv), f"{vg}/{lv}"]


# -- plans: facts in, commands out ---------------------------------------------------------------


def find(lvs: list[LvFacts], vg: str, lv: str) -> LvFacts | None:
    return next((x for x in lvs if x.vg == vg and x.name == lv), None)


def _check_fits(vg: VgFacts, needed: int, what: str) -> None:
    if needed > vg.free:
        raise StorageError(
            f"Not enough free space in volume group {vg.name} for {what}: needed {needed} MiB,"
            f" free {vg.free} MiB of {vg.size} MiB"
        )


def _same_size(actual: int, wanted: int, vg: VgFacts) -> bool:
    """LVM rounds sizes up to whole extents: 63 MiB asked is 64 MiB made with 4 MiB extents."""
    return wanted <= actual < wanted + max(vg.extent_size, 1)


def plan_create(vg: VgFacts, lvs: list[LvFacts], lv: str, size: int) -> list[Argv]:
    if size <= 0:
        raise StorageError(f"Invalid size {size} MiB for logical volume {vg.name}/{lv}")
    current = find(lvs, vg.name, lv)
    if current is not None:
        if _same_size(current.size, size, vg):
            return [] if current.active else [lvchange_argv(vg.name, lv, True)]
        raise StorageError(
            f"Logical volume {vg.name}/{lv} already exists with size {current.size} MiB, expected {size} MiB"
        )
    _check_fits(vg, size, f"logical volume {lv}")
    return [lvcreate_argv(vg.name, lv, size)]


def plan_remove(lvs: list[LvFacts], vg: str, lv: str) -> list[Argv]:
    return [lvremove_argv(vg, lv)] if find(lvs, vg, lv) is not None else []


def plan_grow(vg: VgFacts, lvs: list[LvFacts], lv: str, target: int) -> list[Argv]:
    """Grow to `target` MiB (the disk's size before the grow plus the amount): a retried grow
    finds the LV already at its target and does nothing."""
    current = _existing(lvs, vg.name, lv, "grow")
    if current.size >= target:
        return []
    delta = target - current.size
    _check_fits(vg, delta, f"growing {lv} by {delta} MiB")
    return [lvextend_argv(vg.name, lv, delta)]


def plan_activate(lvs: list[LvFacts], vg: str, lv: str, active: bool) -> list[Argv]:
    current = find(lvs, vg, lv)
    if current is None:
        if not active:
            return []  # nothing to deactivate
        raise StorageError(f"Logical volume {vg}/{lv} does not exist on this node")
    return [] if current.active == active else [lvchange_argv(vg, lv, active)]


def plan_rename(lvs: list[LvFacts], vg: str, old: str, new: str) -> list[Argv]:
    if old == new:
        return []
    have_old, have_new = find(lvs, vg, old) is not None, find(lvs, vg, new) is not None
    if have_old and not have_new:
        return [lvrename_argv(vg, old, new)]
    if have_new and not have_old:
        return []  # a retried rename: already done
    if have_old:
        raise StorageError(f"Cannot rename logical volume {vg}/{old} to {new}: {vg}/{new} exists")
    raise StorageError(f"Cannot rename logical volume {vg}/{old}: it does not exist on this node")


def plan_snapshot(vg: VgFacts, lvs: list[LvFacts], lv: str, size: int) -> list[Argv]:
    """A copy-on-write snapshot `<lv>.snap` with room for `size` MiB of changes."""
    _existing(lvs, vg.name, lv, "snapshot")
    snap = find(lvs, vg.name, snapshot_name(lv))
    if snap is not None:
        if snap.origin == lv:
            return []
        raise StorageError(f"Cannot snapshot {vg.name}/{lv}: {snap.name} exists and is not its snapshot")
    _check_fits(vg, size, f"a snapshot of {lv}")
    return [snapshot_argv(vg.name, lv, size)]


def check_adoptable(lvs: list[LvFacts], vg: str, lv: str) -> LvFacts:
    """The LV an adoption names, if it may become an instance's disk: it exists, no one holds it
    open (a running guest, a mount) and it is an ordinary volume, not a snapshot. Adoption runs
    no command of its own (the LV is then renamed: `plan_rename`)."""
    current = find(lvs, vg, lv)
    if current is None:
        raise StorageError(f"Cannot adopt logical volume {vg}/{lv}: it does not exist on this node")
    if current.is_open:
        raise StorageError(f"Cannot adopt logical volume {vg}/{lv}: it is in use (open) on this node")
    if current.is_snapshot or current.origin:
        raise StorageError(f"Cannot adopt logical volume {vg}/{lv}: it is a snapshot")
    return current


def _existing(lvs: list[LvFacts], vg: str, lv: str, verb: str) -> LvFacts:
    current = find(lvs, vg, lv)
    if current is None:
        raise StorageError(f"Cannot {verb} logical volume {vg}/{lv}: it does not exist on this node")
    return current


def plan_allocatable(pvs: list[PvFacts], allowed_vgs: list[str], pv: str, allocatable: bool) -> list[Argv]:
    """Allow or forbid new extents on one PV; only a PV of a VG this node allows may be changed."""
    found = next((p for p in pvs if p.name == pv), None)
    if found is None or found.vg not in allowed_vgs:
        raise StorageError(
            f"{pv} is not a physical volume of the volume groups this node allows ({', '.join(allowed_vgs)})"
        )
    return [] if found.allocatable == allocatable else [pvchange_argv(pv, allocatable)]
