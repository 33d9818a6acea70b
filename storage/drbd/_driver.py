"""The `drbd` template: per disk and node a data LV and a 128 MiB meta LV (made by the plain
driver) joined by a DRBD 8.4 minor to the same pair on the peer node.

Each operation reads the facts (/proc/drbd for the minor's state, `drbdsetup show` for what the
minor is attached and linked to), asks a pure plan in `storage.drbd.commands` for the missing
steps, and runs them. The node's view of the disk (its minor, addresses, secret, LVs, role) comes
in the disk spec's params and is checked by `gnt.drbd.DrbdView.parse`; both LVs are confined like
plain disks. Nothing logged or raised here quotes an argv (connect's holds the shared secret).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import replace

from gnt import confine, disktypes
from gnt.drbd import MAX_MINOR, META_SIZE, DrbdView
from gnt.errors import StorageError
from gnt.runtime import DiskSpec
from storage.base import BlockDevice, DeviceInfo
from storage.drbd import commands as cmd
from storage.drbd.run import DrbdCommandError, ProcReader, Runner, describe, read_proc_drbd, run
from storage.drbd.status import MinorStatus, ProcDrbd, ShowFacts, check_supported, parse_proc_drbd, parse_show
from storage.lvm import PlainDevice
from storage.lvm.commands import find
from storage.lvm.report import LvFacts, VgFacts
from storage.lvm.run import Runner as LvmRunner
from storage.lvm.run import run as lvm_run

log = logging.getLogger("gnt-noded")

#: how long assemble waits for a fresh link to connect before promoting
CONNECT_WAIT = 10.0
CONNECT_POLL = 0.25
NOT_LOADED = "The DRBD kernel module is not loaded on this node; load it with `modprobe drbd usermode_helper=/bin/true`"


class DrbdDevice(BlockDevice):
    """DRBD 8.4 over two LVs; `runner` runs drbdsetup/drbdmeta, `lvm_runner` the LVM tools and
    `read_proc` reads /proc/drbd (tests pass fakes of all three)."""

    kind = disktypes.kind("drbd")

    def __init__(self, runner: Runner = run, lvm_runner: LvmRunner = lvm_run, read_proc: ProcReader = read_proc_drbd):
        self.runner = runner
        self.read_proc = read_proc
        self.plain = PlainDevice(lvm_runner)

    # -- the disk's description -------------------------------------------------------------------

    @staticmethod
    def view(disk: DiskSpec, allowed_vgs: list[str] | None = None) -> DrbdView:
        """The disk's DRBD view, its LVs checked against the node's allowed volume groups (read
        once per RPC call, see `confine.one_call`), or against `allowed_vgs`."""
        what = f"drbd disk {disk.uuid}"
        found = DrbdView.parse(disk.params, what)
        allowed = confine.volume_groups() if allowed_vgs is None else allowed_vgs
        confine.logical_volume(found.data, f"{what} data volume", allowed)
        confine.logical_volume(found.meta, f"{what} meta volume", allowed)
        return found

    def node_paths(self, disk: DiskSpec) -> list[str]:
        found = self.view(disk)
        return [cmd.lv_path(found.data), cmd.lv_path(found.meta)]

    async def wipe_target(self, disk: DiskSpec, instance_name: str) -> str:
        """The DRBD device on the primary (zeros written there reach the peer too); never an LV
        below it, and never on the secondary, whose device cannot be written."""
        found = self.view(disk)
        if not found.primary:
            raise StorageError(f"drbd disk {disk.uuid} is wiped on its primary node, not here")
        path = await self.assemble(disk, instance_name)
        if path != found.device:
            raise StorageError(f"drbd disk {disk.uuid} assembled as {path}, not its own device {found.device}")
        return path

    @staticmethod
    def _lvs(disk: DiskSpec, found: DrbdView) -> tuple[DiskSpec, DiskSpec]:
        data = DiskSpec(uuid=disk.uuid, index=disk.index, size=disk.size, dev_type="plain", logical_id=found.data)
        meta = DiskSpec(uuid=disk.uuid, index=disk.index, size=META_SIZE, dev_type="plain", logical_id=found.meta)
        return data, meta

    # -- facts ------------------------------------------------------------------------------------

    async def proc(self) -> ProcDrbd:
        """/proc/drbd parsed, after checking the module is loaded and is a version gnt drives."""
        text = await self.read_proc()
        if text is None:
            raise StorageError(NOT_LOADED)
        found = parse_proc_drbd(text)
        check_supported(found)
        return found

    async def _facts(self, minor: int) -> tuple[MinorStatus | None, ShowFacts | None]:
        status = (await self.proc()).minors.get(minor)
        if status is None or status.unconfigured:
            return status, None
        return status, parse_show(await self.runner(cmd.show_argv(minor)))

    async def _has_metadata(self, found: DrbdView) -> bool:
        try:
            await self.runner(cmd.dump_md_argv(found.minor, found.meta))
        except DrbdCommandError as err:
            if "No valid meta data" in err.line:
                return False
            if "unclean" in err.line:  # metadata after a crash: there, and the kernel replays its log
                return True
            raise
        return True

    async def _apply(self, minor: int, plan: list[list[str]]) -> None:
        for argv in plan:
            log.info("drbd minor %d: %s", minor, describe(argv))
            await self.runner(argv)

    async def _up(self, minor: int, plan: list[list[str]]) -> None:
        """Run a plan_up; when it made the resource and then failed before its minor existed, take
        the resource away again. /proc/drbd lists minors, not resources, so nothing else would ever
        find it: shutdown and remove would skip it, and every later new-resource of this minor
        would fail on it."""
        try:
            await self._apply(minor, plan)
        except DrbdCommandError:
            if plan[:1] == [cmd.new_resource_argv(minor)] and (await self.proc()).minors.get(minor) is None:
                log.warning("drbd minor %d: set-up failed before the minor existed; removing its resource", minor)
                with contextlib.suppress(DrbdCommandError):
                    await self.runner(cmd.down_argv(minor))
            raise

    async def _check_fits(self, data: DiskSpec, meta: DiskSpec) -> tuple[VgFacts, list[LvFacts], bool]:
        """Both LVs or neither: a VG with room for the data LV but not the meta LV is refused first.
        Returns the data VG's facts and LVs (create plans both LVs from them: each read costs a host
        about 0.6 s, and create is on the path of every add) and whether the meta LV exists already."""
        vg = data.logical_id[0]
        facts = await self.plain.vg_facts(vg)
        if facts is None:
            raise StorageError(f"Volume group {vg} not found on this node; create it (vgcreate {vg} PV...)")
        lvs = await self.plain.lv_facts(vg)
        needed = sum(d.size for d in (data, meta) if find(lvs, d.logical_id[0], d.logical_id[1]) is None)
        if data.logical_id[0] == meta.logical_id[0] and needed > facts.free:
            raise StorageError(
                f"Not enough free space in volume group {vg} for drbd disk {data.uuid}: needed {needed} MiB"
                f" (data and {META_SIZE} MiB of metadata), free {facts.free} MiB of {facts.size} MiB"
            )
        if meta.logical_id[0] != vg:  # metadata in another VG: that VG's own read says
            return facts, lvs, (await self.plain.info(meta)).exists
        return facts, lvs, find(lvs, vg, meta.logical_id[1]) is not None

    # -- the block-device interface ---------------------------------------------------------------

    async def create(self, disk: DiskSpec, instance_name: str) -> str:
        """Both LVs, fresh metadata, the minor attached and connected; primary (forced: both
        sides are new and Inconsistent) on the node the view names primary."""
        found = self.view(disk)
        await self.proc()  # a missing or DRBD 9 module is refused before any LV is made
        data, meta = self._lvs(disk, found)
        facts, lvs, meta_existed = await self._check_fits(data, meta)
        if meta.logical_id[0] == facts.name:
            await self.plain.create_planned(facts, lvs, [data, meta])
        else:
            await self.plain.create_planned(facts, lvs, [data])
            await self.plain.create(meta, instance_name)
        status, show = await self._facts(found.minor)
        cmd.check_owner(found, status, show)
        if status is None or not status.attached:
            has_md = meta_existed and await self._has_metadata(found)
            await self._apply(found.minor, cmd.plan_meta(found, not meta_existed, has_md))
        await self._up(found.minor, cmd.plan_up(found, status, show))
        if found.primary:
            status = (await self.proc()).minors.get(found.minor)
            await self._apply(found.minor, cmd.plan_role(found, status, True, force=True))
        return found.device

    async def assemble(self, disk: DiskSpec, instance_name: str) -> str:
        """Attach and connect what is missing; promote on the primary node (never forced: a
        promotion that would need --force means this side's data is not UpToDate)."""
        found = self.view(disk)
        status, show = await self._facts(found.minor)
        if status is None or not status.attached:  # attached (to these LVs: plan_up checks) means active
            data, meta = self._lvs(disk, found)
            await self.plain.assemble(data, instance_name)
            await self.plain.assemble(meta, instance_name)
        await self._up(found.minor, cmd.plan_up(found, status, show))
        if found.primary:
            if not found.peer_down:  # a peer the master knows is down would only be waited for
                await self._wait_connected(found.minor)
            await self.set_role(disk, True)
        return found.device

    async def _wait_connected(self, minor: int) -> None:
        """A link just (re)made takes a moment to connect; promotion needs it (see plan_role)."""
        for _ in range(int(CONNECT_WAIT / CONNECT_POLL)):
            status = (await self.proc()).minors.get(minor)
            if status is None or status.connected or status.is_primary or not status.has_network:
                return
            await asyncio.sleep(CONNECT_POLL)

    async def shutdown(self, disk: DiskSpec) -> None:
        """Take the minor down (disconnect and detach); the LVs and their data stay."""
        found = self.view(disk)
        text = await self.read_proc()
        if text is None:
            return  # no module, no minor
        status = parse_proc_drbd(text).minors.get(found.minor)
        if status is not None:
            await self._check_ours(found, status)
        await self._apply(found.minor, cmd.plan_down(found.minor, status))

    async def _check_ours(self, found: DrbdView, status: MinorStatus) -> None:
        show = None if status.unconfigured else parse_show(await self.runner(cmd.show_argv(found.minor)))
        cmd.check_owner(found, status, show)

    async def remove(self, disk: DiskSpec) -> None:
        await self.shutdown(disk)
        found = self.view(disk)
        data, meta = self._lvs(disk, found)
        await self.plain.remove(data)
        await self.plain.remove(meta)

    async def grow(self, disk: DiskSpec, amount: int) -> None:
        """Grow the data LV; on the primary, then tell DRBD (the secondary's LV is grown first)."""
        found = self.view(disk)
        data, _ = self._lvs(disk, found)
        await self.plain.grow(data, amount)
        status = (await self.proc()).minors.get(found.minor)
        if found.primary and status is not None and status.attached:
            await self._apply(found.minor, [cmd.resize_argv(found.minor)])

    async def info(self, disk: DiskSpec) -> DeviceInfo:
        found = self.view(disk)
        data, _ = self._lvs(disk, found)
        lv = await self.plain.info(data)
        if not lv.exists:
            return DeviceInfo(exists=False, path=found.device)
        text = await self.read_proc()
        status = parse_proc_drbd(text).minors.get(found.minor) if text is not None else None
        in_sync = status is not None and status.in_sync
        # the resync's progress lets the master tell a resync from a mirror that is not connected
        percent = status.sync_percent if status is not None and not in_sync else None
        return DeviceInfo(True, found.device, lv.size, in_sync=in_sync, sync_percent=percent)

    # -- DRBD's own operations (failover, migration, status) -------------------------------------

    async def status(self, disk: DiskSpec) -> MinorStatus | None:
        return (await self.proc()).minors.get(self.view(disk).minor)

    async def statuses(self, disks: list[DiskSpec]) -> list[MinorStatus | None]:
        """Every disk's minor from one read of /proc/drbd (verify-disks asks for all of a node's at once).

        The allowed volume groups are read once for all the views: read per disk (twice each) they
        were most of the call's time, which then grew with the disks (1 s for 48 on a test-bed host)."""
        with confine.one_call():  # within the dispatcher's already; here for callers outside one
            minors = [self.view(d).minor for d in disks]  # every view checked before anything is read
        return await self.minor_statuses(minors)

    async def minor_statuses(self, minors: list[int]) -> list[MinorStatus | None]:
        """Each minor's state from one read of /proc/drbd (None: no such minor). Reading a state
        needs only the minor: verify-disks asks a node for all of its disks this way, so neither
        the master nor the node builds or checks a view per disk."""
        for minor in minors:
            if isinstance(minor, bool) or not isinstance(minor, int) or not 0 <= minor <= MAX_MINOR:
                raise confine.refuse(f"drbd minor must be an integer from 0 to {MAX_MINOR}, not {minor!r}")
        found = (await self.proc()).minors if minors else {}
        return [found.get(minor) for minor in minors]

    async def set_role(self, disk: DiskSpec, primary: bool, force: bool = False) -> None:
        """Promote or demote this node's side; a promotion while the peer is primary is refused
        unless the link allows two primaries (a migration's window, `set_dual_primary`)."""
        found = self.view(disk)
        status, show = await self._facts(found.minor)
        if primary and (status is None or not status.attached):
            raise StorageError(f"Cannot make DRBD minor {found.minor} primary: it is not attached on this node")
        two = show is not None and show.two_primaries
        plan = cmd.plan_role(found, status, primary, force, two_primaries=two, peer_down=found.peer_down)
        await self._apply(found.minor, plan)

    async def set_dual_primary(self, disk: DiskSpec, enabled: bool) -> None:
        """Open (or close) the window in which both sides may be primary: a live migration's."""
        found = self.view(disk)
        status, show = await self._facts(found.minor)
        await self._apply(found.minor, cmd.plan_dual_primary(found, status, show, enabled))

    async def disconnect(self, disk: DiskSpec) -> None:
        found = self.view(disk)
        status = (await self.proc()).minors.get(found.minor)
        await self._apply(found.minor, cmd.plan_disconnect(found, status))

    async def relink(self, disk: DiskSpec) -> None:
        """Connect the minor to the peer its view names (see `commands.plan_relink`)."""
        found = self.view(disk)
        status, show = await self._facts(found.minor)
        await self._apply(found.minor, cmd.plan_relink(found, status, show))

    async def replace_local(self, disk: DiskSpec, instance_name: str) -> list[list[str]]:
        """Give this node's side of a live minor new LVs (replace-disks -p/-s): new data and meta
        LVs are made beside the old ones, the minor detached, the old LVs renamed aside
        (`<name>_replaced-<time>`) and the new ones to the disk's names, fresh metadata written and
        the minor attached again, so the peer resyncs it while it keeps serving. Returns the old
        LVs kept aside (the master removes them once the sync is done). On a failure the old LVs
        are put back and attached, and the new ones removed."""
        found = self.view(disk)
        await self.proc()
        status, show = await self._facts(found.minor)
        if status is None or status.unconfigured:
            raise StorageError(f"DRBD minor {found.minor} is not set up on this node; activate the disks first")
        cmd.check_owner(found, status, show)
        data, meta = self._lvs(disk, found)
        stamp = int(time.time())
        new = [replace(d, logical_id=[d.logical_id[0], f"{d.logical_id[1]}_new"]) for d in (data, meta)]
        aside = [[d.logical_id[0], f"{d.logical_id[1]}_replaced-{stamp}"] for d in (data, meta)]
        await self._check_fits(new[0], new[1])
        for lv in new:
            await self.plain.create(lv, instance_name)
        moved: list[tuple[DiskSpec, list[str]]] = []
        try:
            if status.attached:
                await self._apply(found.minor, [cmd.detach_argv(found.minor)])
            for old, name in zip((data, meta), aside, strict=True):
                if (await self.plain.info(old)).exists:
                    await self.plain.rename(old, name)
                    moved.append((old, name))
            for lv, old in zip(new, (data, meta), strict=True):
                await self.plain.rename(lv, old.logical_id)
            await self._apply(found.minor, [cmd.create_md_argv(found.minor, found.meta)])
            await self._apply(found.minor, [cmd.apply_al_argv(found.minor, found.meta), cmd.attach_argv(found)])
        except Exception:
            await self._undo_replace(found, data, meta, new, moved)
            raise
        return [name for _, name in moved]

    async def _undo_replace(
        self,
        found: DrbdView,
        data: DiskSpec,
        meta: DiskSpec,
        new: list[DiskSpec],
        moved: list[tuple[DiskSpec, list[str]]],
    ) -> None:
        """Best effort back to the old LVs: the new ones removed, the old ones renamed back and
        attached (each step logged, none raised: the first error is the caller's to report)."""
        status = (await self.proc()).minors.get(found.minor)
        if status is not None and status.attached:
            await self._quietly("detach", self._apply(found.minor, [cmd.detach_argv(found.minor)]))
        for lv, old in zip(new, (data, meta), strict=True):
            renamed = not (await self.plain.info(lv)).exists and (await self.plain.info(old)).exists
            if renamed:
                await self._quietly("remove new", self.plain.remove(old))  # the new LV under the disk's name
            await self._quietly("remove new", self.plain.remove(lv))
        for old, name in moved:
            await self._quietly("rename old back", self.plain.rename(replace(old, logical_id=name), old.logical_id))
        if moved:
            plan = [cmd.apply_al_argv(found.minor, found.meta), cmd.attach_argv(found)]
            await self._quietly("re-attach old", self._apply(found.minor, plan))

    @staticmethod
    async def _quietly(what: str, step: object) -> None:
        try:
            await step  # type: ignore[misc]
        except Exception as err:  # the caller raises the first error; this one only goes to the log
            log.warning("drbd replace undo, %s: %s", what, err)
