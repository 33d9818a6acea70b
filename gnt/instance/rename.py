"""`gnt-instance rename`: a stopped instance gets a new name, with its file disks and OS told.

Order, so that a failure leaves the instance whole under its old name: check everything (the
instance is down and not running, the new name is free, resolves and is not in use), move each
file disk to the new name's directory (moved ones are put back if one fails), commit the config
(disks put back if that fails), and only then run the OS `rename` script. As in Ganeti, the script
failing is a warning: the instance is renamed by then, and the script only adapts the guest.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from gnt import constants, netutil
from gnt.errors import ECODE_ENVIRON, ECODE_EXISTS, ECODE_INVAL, ECODE_STATE, OpExecError, OpPrereqError
from gnt.instance.admin_opcodes import OpInstanceRename
from gnt.instance.common import build_spec, check_node_online
from gnt.instance.create import NAME_RE
from gnt.instance.lifecycle import InstanceLU
from gnt.jobs.locking import Level, LockRequest
from gnt.jobs.lu import register
from gnt.objects import Instance
from gnt.os.params import script_osparams
from gnt.rpc import procedures as proc
from gnt.runtime import DiskSpec

#: seconds the IP check waits for an answer from the new name's address
IP_CHECK_TIMEOUT = 1.0
_FILE_TEMPLATES = (constants.DT_FILE, constants.DT_SHARED_FILE)


async def check_stopped(lu: InstanceLU, inst: Instance, action: str, allowed: tuple[str, ...]) -> None:
    """Ganeti's instance state check: the admin state must be one of `allowed`, and the instance
    must not actually run on its primary node (asked, unless that node is offline)."""
    if inst.admin_state not in allowed:
        raise OpPrereqError(f"Instance '{inst.name}' is marked to be {inst.admin_state}, {action}", ECODE_STATE)
    if lu.pnode.offline:
        return
    result = await lu.rpc.instance_info(lu.target(), proc.InstanceQueryArgs(inst.name, inst.hypervisor))
    running = result.get("Cannot get instance information")
    if running and running["state"] in ("running", "paused", "blocked"):
        raise OpPrereqError(f"Instance '{inst.name}' is running, {action}", ECODE_STATE)


def renamed_logical_id(disk: DiskSpec, old_name: str, new_name: str) -> list[str] | None:
    """A file disk's logical_id under the new name (its directory is named after the instance),
    or None when the disk's location does not carry the instance's name."""
    if disk.dev_type not in _FILE_TEMPLATES or len(disk.logical_id) != 2:
        return None
    driver, path = disk.logical_id
    directory = os.path.dirname(path)
    if os.path.basename(directory) != old_name:
        return None
    return [driver, os.path.join(os.path.dirname(directory), new_name, os.path.basename(path))]


@register
class LUInstanceRename(InstanceLU):
    OPCODE = OpInstanceRename
    HPATH = "instance-rename"
    op: OpInstanceRename
    NODE_LOCKS_SHARED = False

    def check_arguments(self) -> None:
        # the rule of instance creation: nodes refuse every other name, so it could never start
        if not NAME_RE.match(self.op.new_name):
            raise OpPrereqError(f"Invalid instance name '{self.op.new_name}'", ECODE_INVAL)

    def declare_locks(self, level: Level) -> LockRequest | None:
        if level == Level.INSTANCE:
            # the new name too: no create or second rename can take it meanwhile
            return LockRequest(sorted({self.op.instance_name, self.op.new_name}))
        return super().declare_locks(level)

    async def check_prereq(self) -> None:
        super().check_prereq()
        inst, new_name = self.instance, self.op.new_name
        await check_stopped(self, inst, "cannot rename", (constants.ADMINST_DOWN, constants.ADMINST_OFFLINE))
        if self.cfg.find_instance(new_name) is not None:
            raise OpPrereqError(f"Instance '{new_name}' is already in the cluster", ECODE_EXISTS)
        if self.op.name_check:
            address = await self._resolve(new_name)
            if self.op.ip_check and await _answers(address, self.cfg.cluster.noded_port):
                raise OpPrereqError(f"IP {address} of instance {new_name} already in use", ECODE_EXISTS)
        self.moves = [
            (disk, new_lid)
            for disk in build_spec(self.cfg, inst).disks
            if (new_lid := renamed_logical_id(disk, inst.name, new_name)) is not None
        ]
        if self.moves:
            check_node_online(self.pnode, "primary node")

    @staticmethod
    async def _resolve(name: str) -> str:
        try:
            return await asyncio.to_thread(netutil.resolve, name)
        except OpPrereqError as err:
            raise OpPrereqError(
                f"Cannot resolve the new name '{name}' ({err.message}); use --no-name-check to skip the check",
                ECODE_ENVIRON,
            ) from None

    def dry_run_result(self) -> Any:
        return self.op.new_name

    async def exec(self) -> str:
        inst, old_name, new_name = self.instance, self.instance.name, self.op.new_name
        moved = await self._move_disks()
        old_ids = {d.uuid: list(d.logical_id) for d in inst.disks}
        new_ids = {disk.uuid: new_lid for disk, new_lid in self.moves}
        inst.name = new_name
        for disk in inst.disks:
            if disk.uuid in new_ids:
                disk.logical_id = list(new_ids[disk.uuid])
        try:
            await self.cfg.commit([inst])
        except BaseException:
            inst.name = old_name
            for disk in inst.disks:
                disk.logical_id = old_ids[disk.uuid]
            await self._move_back(moved)
            raise
        self.feedback(f"* instance {old_name} renamed to {new_name}")
        if not inst.os:
            return new_name  # created with --no-install and no OS: no script to tell
        self.feedback("* running the instance OS rename script...")
        spec = build_spec(self.cfg, inst)
        # OS scripts get the private parameters too (never a spec an instance start keeps)
        spec.osparams = script_osparams(self.cfg.cluster, inst.os, inst.osparams, inst.osparams_private)
        result = await self.rpc.instance_run_rename(self.target(), proc.InstanceRunRenameArgs(spec, old_name))
        if result.failed:
            self.warning(
                f"Could not run OS rename script for instance {new_name} on node {self.pnode.name}"
                f" (but the instance has been renamed in the cluster): {result.error}"
            )
        return new_name

    async def _move_disks(self) -> list[tuple[DiskSpec, list[str]]]:
        """Rename the file disks on the primary node; on a failure put the moved ones back."""
        moved: list[tuple[DiskSpec, list[str]]] = []
        for disk, new_lid in self.moves:
            result = await self.rpc.blockdev_rename(self.target(), proc.BlockdevRenameArgs(disk, new_lid))
            if result.failed:
                await self._move_back(moved)
                raise OpExecError(
                    f"Could not rename disk {disk.index} of instance {self.instance.name} on node"
                    f" {self.pnode.name}: {result.error}"
                )
            moved.append((disk, new_lid))
        return moved

    async def _move_back(self, moved: list[tuple[DiskSpec, list[str]]]) -> None:
        for disk, new_lid in reversed(moved):
            renamed = DiskSpec(disk.uuid, disk.index, disk.size, disk.dev_type, list(new_lid))
            result = await self.rpc.blockdev_rename(self.target(), proc.BlockdevRenameArgs(renamed, disk.logical_id))
            if result.failed:
                self.warning(f"Could not move disk {disk.index} back to {disk.logical_id[-1]}: {result.error}")


async def _answers(address: str, port: int) -> bool:
    """Whether something answers a TCP connection at `address` (Ganeti's IP-in-use check)."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(address, port), IP_CHECK_TIMEOUT)
    except (OSError, TimeoutError):
        return False
    writer.close()
    return True


__all__ = ["LUInstanceRename", "check_stopped", "renamed_logical_id"]
