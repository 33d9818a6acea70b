"""The `plain` template: one LVM logical volume per disk, `logical_id = [vg, lv]` as in Ganeti.

Each operation reads the facts (`vgs`, `lvs` of the disk's volume group), asks a pure plan in
`storage.lvm.commands` for the commands that reach the wanted state, and runs them. The volume
group and the LV name are confined first (`gnt.confine.logical_volume`): a caller can only reach
LVs in the volume groups this node's own file allows.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any

from gnt import confine, disktypes
from gnt.errors import StorageError
from gnt.runtime import DiskSpec
from storage.base import BlockDevice, DeviceInfo
from storage.lvm import commands as cmd
from storage.lvm.report import LvFacts, VgFacts, parse_lvs, parse_pvs, parse_vgs, parse_volumes
from storage.lvm.run import LvmCommandError, Runner, run

log = logging.getLogger("gnt-noded")


def _missing(err: LvmCommandError) -> bool:
    """LVM's way of saying the VG (or LV) is not there ("Volume group "x" not found")."""
    return "not found" in err.line or "Cannot process volume group" in err.line


class PlainDevice(BlockDevice):
    """LVM logical volumes; `runner` runs one argv (tests pass a fake LVM)."""

    kind = disktypes.kind("plain")

    def __init__(self, runner: Runner = run) -> None:
        self.runner = runner

    def node_paths(self, disk: DiskSpec) -> list[str]:
        return [cmd.device_path(*self._names(disk))]

    @staticmethod
    def _names(disk: DiskSpec) -> tuple[str, str]:
        return confine.logical_volume(disk.logical_id, f"plain disk {disk.uuid}")

    # -- facts ------------------------------------------------------------------------------

    async def vg_facts(self, vg: str) -> VgFacts | None:
        """The volume group, or None when this node has no such VG."""
        try:
            found = parse_vgs(await self.runner(cmd.vgs_argv([vg])))
        except LvmCommandError as err:
            if _missing(err):
                return None
            raise
        return next((f for f in found if f.name == vg), None)

    async def _vg(self, vg: str) -> VgFacts:
        facts = await self.vg_facts(vg)
        if facts is None:
            raise StorageError(f"Volume group {vg} not found on this node; create it (vgcreate {vg} PV...)")
        return facts

    async def lv_facts(self, vg: str) -> list[LvFacts]:
        return parse_lvs(await self.runner(cmd.lvs_argv([vg])))

    async def _apply(self, plan: list[list[str]]) -> None:
        for argv in plan:
            await self.runner(argv)

    # -- the block-device interface ---------------------------------------------------------

    async def create(self, disk: DiskSpec, instance_name: str) -> str:
        vg, lv = self._names(disk)
        facts = await self._vg(vg)
        await self._apply(cmd.plan_create(facts, await self.lv_facts(vg), lv, disk.size))
        return cmd.device_path(vg, lv)

    async def create_planned(self, facts: VgFacts, lvs: list[LvFacts], disks: list[DiskSpec]) -> None:
        """Several LVs of the volume group `facts` describes, planned from that one read (`vgs` and
        `lvs`, which cost a TCG host about 0.6 s each and a drbd side needs two LVs), every plan
        made before any command runs: a VG with room for the first LV only makes neither."""
        plan: list[list[str]] = []
        for disk in disks:
            vg, lv = self._names(disk)
            if vg != facts.name:
                raise StorageError(f"{vg}/{lv} is not in volume group {facts.name}")
            steps = cmd.plan_create(facts, lvs, lv, disk.size)
            if any(argv[0] == "lvcreate" for argv in steps):
                facts = dataclasses.replace(facts, free=facts.free - disk.size)
            plan += steps
        await self._apply(plan)

    async def remove(self, disk: DiskSpec) -> None:
        vg, lv = self._names(disk)
        if await self.vg_facts(vg) is None:
            log.warning("removing %s/%s: volume group %s is not on this node, nothing to remove", vg, lv, vg)
            return
        await self._apply(cmd.plan_remove(await self.lv_facts(vg), vg, lv))

    async def assemble(self, disk: DiskSpec, instance_name: str) -> str:
        vg, lv = self._names(disk)
        # vgs and lvs at once (read-only; each costs a TCG host about 0.3 s and every start and
        # migration assembles): a missing VG still fails with vgs's clear message, not lvs's
        vg_checked, lvs = await asyncio.gather(self._vg(vg), self.lv_facts(vg), return_exceptions=True)
        for outcome in (vg_checked, lvs):
            if isinstance(outcome, BaseException):
                raise outcome
        assert not isinstance(lvs, BaseException)
        await self._apply(cmd.plan_activate(lvs, vg, lv, True))
        return cmd.device_path(vg, lv)

    async def shutdown(self, disk: DiskSpec) -> None:
        vg, lv = self._names(disk)
        if await self.vg_facts(vg) is None:
            return
        await self._apply(cmd.plan_activate(await self.lv_facts(vg), vg, lv, False))

    async def grow(self, disk: DiskSpec, amount: int) -> None:
        """Grow to disk.size + amount MiB; idempotent, so a retried grow does not grow twice."""
        if amount < 0:
            raise StorageError(f"Cannot shrink disk {disk.uuid} (grow by {amount} MiB)")
        vg, lv = self._names(disk)
        facts = await self._vg(vg)
        await self._apply(cmd.plan_grow(facts, await self.lv_facts(vg), lv, disk.size + amount))

    async def grow_check(self, disk: DiskSpec, amount: int) -> None:
        """The grow's plan without running it: a missing LV or a full VG raises here."""
        if amount < 0:
            raise StorageError(f"Cannot shrink disk {disk.uuid} (grow by {amount} MiB)")
        vg, lv = self._names(disk)
        facts = await self._vg(vg)
        cmd.plan_grow(facts, await self.lv_facts(vg), lv, disk.size + amount)

    async def lv_states(self, vgs: list[str]) -> list[dict[str, Any]]:
        """Every LV of the named VGs this node allows and has, with size and activation: one `lvs`
        whatever the number of disks (gnt-cluster verify-disks)."""
        allowed = confine.volume_groups()
        present = [vg for vg in vgs if vg in allowed and await self.vg_facts(vg) is not None]
        if not present:
            return []
        return [
            {"vg": lv.vg, "name": lv.name, "size": lv.size, "active": lv.active}
            for lv in parse_lvs(await self.runner(cmd.lvs_argv(present)))
        ]

    async def info(self, disk: DiskSpec) -> DeviceInfo:
        vg, lv = self._names(disk)
        path = cmd.device_path(vg, lv)
        if await self.vg_facts(vg) is None:
            return DeviceInfo(exists=False, path=path)
        found = cmd.find(await self.lv_facts(vg), vg, lv)
        return DeviceInfo(exists=False, path=path) if found is None else DeviceInfo(True, path, found.size)

    async def adoptable(self, disk: DiskSpec) -> DeviceInfo:
        vg, lv = self._names(disk)
        await self._vg(vg)
        found = cmd.check_adoptable(await self.lv_facts(vg), vg, lv)
        return DeviceInfo(exists=True, path=cmd.device_path(vg, lv), size=found.size)

    async def rename(self, disk: DiskSpec, new_logical_id: list[str]) -> None:
        vg, lv = self._names(disk)
        new_vg, new_lv = confine.logical_volume(new_logical_id, f"new name of plain disk {disk.uuid}")
        if new_vg != vg:
            raise StorageError(f"Cannot rename {vg}/{lv} to {new_vg}/{new_lv}: LVM renames within one volume group")
        await self._vg(vg)
        await self._apply(cmd.plan_rename(await self.lv_facts(vg), vg, lv, new_lv))

    async def snapshot(self, disk: DiskSpec, size: int) -> list[str]:
        """Snapshot the disk (copy-on-write room for `size` MiB of changes); its logical_id."""
        vg, lv = self._names(disk)
        facts = await self._vg(vg)
        await self._apply(cmd.plan_snapshot(facts, await self.lv_facts(vg), lv, size))
        return [vg, cmd.snapshot_name(lv)]

    # -- node-wide facts --------------------------------------------------------------------

    async def vg_usage(self, vgs: list[str]) -> list[dict[str, Any]]:
        """Size and free MiB of each named VG (node info, the allocator); a VG this node does not
        have, or does not allow, says so instead of failing the whole report."""
        allowed = confine.volume_groups()
        entries: list[dict[str, Any]] = []
        for vg in vgs:
            entry: dict[str, Any] = {"type": "lvm-vg", "name": vg, "allowed": vg in allowed}
            problem = confine.lvm_name_problem(vg, "volume group")
            facts = None
            if not problem:
                try:
                    facts = await self.vg_facts(vg)
                except StorageError as err:  # no lvm2 here, a hung PV: this VG's entry says so
                    problem = str(err)
            if facts is None:
                entry["error"] = problem or f"volume group {vg} not found"
            else:
                entry.update(total=facts.size, free=facts.free)
            entries.append(entry)
        return entries

    async def volumes(self, vgs: list[str]) -> list[dict[str, Any]]:
        """Every LV of the named VGs this node allows, with the physical volumes it lies on."""
        allowed = confine.volume_groups()
        rows: list[dict[str, Any]] = []
        for vg in vgs:
            if vg not in allowed or await self.vg_facts(vg) is None:
                continue
            for lv in parse_volumes(await self.runner(cmd.volumes_argv([vg]))):
                rows.append({"vg": lv.vg, "name": lv.name, "size": lv.size, "phys": ",".join(lv.devices)})
        return rows

    async def physical_volumes(self, vgs: list[str]) -> list[dict[str, Any]]:
        """The physical volumes of the named VGs this node allows (size, free, allocatable)."""
        wanted = set(vgs) & set(confine.volume_groups())
        return [
            {"vg": pv.vg, "name": pv.name, "size": pv.size, "free": pv.free, "allocatable": pv.allocatable}
            for pv in parse_pvs(await self.runner(cmd.pvs_argv()))
            if pv.vg in wanted
        ]

    async def set_allocatable(self, pv: str, allocatable: bool) -> None:
        """`gnt-node modify-storage --allocatable`: facts first, so only this node's own PVs of an
        allowed VG can be named, and a PV already in that state is left alone."""
        pvs = parse_pvs(await self.runner(cmd.pvs_argv()))
        await self._apply(cmd.plan_allocatable(pvs, confine.volume_groups(), pv, allocatable))

    async def repair(self, vg: str) -> None:
        """`gnt-node repair-storage`: drop PVs that are gone from an allowed VG."""
        confine.volume_group(vg, f"repair of volume group {vg}")
        await self._vg(vg)
        await self.runner(cmd.vgreduce_missing_argv(vg))
