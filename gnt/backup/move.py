"""`gnt-instance move` (OP_INSTANCE_MOVE): copy a stopped instance's disks to another node.

For disks that live on one node only (file, plain), which failover cannot take along. Order, so
that a failure leaves the instance whole on its old node: shut it down, create the disks on the
target, stream each disk there (agent.transfer, mutual TLS, checksummed by both ends), and only
then point the config at the target and remove the old copies. If a copy fails, the target's new
disks are removed and the config is untouched; the instance is started again where it was if it
was running. Disks on shared or mirrored storage need no copy (failover or migrate moves them),
so they are refused, as Ganeti refuses every template outside its copyable set.
"""

from __future__ import annotations

from typing import Any

from gnt import constants, disktypes
from gnt.backup.copy import End, check_compression, copy_disk
from gnt.backup.opcodes import OpInstanceMove
from gnt.backup.target_lu import TargetNodeLU
from gnt.errors import ECODE_STATE, GntError, OpExecError, OpPrereqError
from gnt.hooks import env as hook_env
from gnt.instance.common import build_spec, check_free_memory, check_node_online, check_node_usable, instance_memory
from gnt.jobs.lu import register
from gnt.network.nics import regroup, require_connected
from gnt.objects import Node
from gnt.rpc import procedures as proc
from gnt.runtime import DiskSpec


def copyable(dev_type: str) -> bool:
    """Disks whose data lives on one node only: the move must copy them (shared/mirrored ones need not)."""
    return disktypes.kind(dev_type).is_local


@register
class LUInstanceMove(TargetNodeLU):
    OPCODE = OpInstanceMove
    HPATH = "instance-move"
    op: OpInstanceMove

    def hooks_env(self) -> dict[str, Any]:
        env = {"TARGET_NODE": self.op.target_node, "SHUTDOWN_TIMEOUT": self.op.shutdown_timeout}
        return {**super().hooks_env(), **env}

    def hooks_nodes(self) -> tuple[list[Node], list[Node]]:
        nodes = hook_env.instance_nodes(self.cfg, self.instance, self.pnode, self.dst)
        return nodes, nodes

    async def check_prereq(self) -> None:
        super().check_prereq()
        inst = self.instance
        if not copyable(inst.disk_template):
            raise OpPrereqError(f"Disk template {inst.disk_template} not suitable for copying", ECODE_STATE)
        check_compression(self, self.op.compress)
        self.dst: Node = self.cfg.node(self.op.target_node)
        if self.dst.uuid == inst.primary_node:
            raise OpPrereqError(f"Instance {inst.name} is already on the node {self.dst.name}", ECODE_STATE)
        check_node_online(self.pnode, "primary node")
        check_node_usable(self.dst)
        require_connected(self.cfg, inst, self.dst)  # NICs on networks take the target group's link
        if inst.admin_state == constants.ADMINST_UP:
            memory = instance_memory(self.cfg.cluster, inst)
            await check_free_memory(self, self.dst, inst.hypervisor, memory, f"failing over instance {inst.name}")

    def dry_run_result(self) -> Any:
        return self.dst.name

    async def exec(self) -> str:
        inst, src, dst = self.instance, self.pnode, self.dst
        spec = build_spec(self.cfg, inst)
        self.feedback(f"Shutting down instance {inst.name} on source node {src.name}")
        result = await self.rpc.instance_shutdown(
            self.target(), proc.InstanceShutdownArgs(spec, timeout=self.op.shutdown_timeout)
        )
        if result.failed:
            if not self.op.ignore_consistency:
                raise OpExecError(f"Could not shutdown instance {inst.name} on node {src.name}: {result.error}")
            self.warning(
                f"Could not shutdown instance {inst.name} on node {src.name}. Proceeding anyway. Please make sure"
                f" node {src.name} is down. Error details: {result.error}"
            )
        try:
            await self._copy_disks(spec.disks)
        except BaseException:
            await self._restart_on(src, spec)
            raise
        if regroup(self.cfg, inst, dst):  # another group: its connections give the NICs' mode and link
            self.feedback(f"* NICs on networks take their mode and link from node {dst.name}'s group")
            spec = build_spec(self.cfg, inst)
        inst.primary_node = dst.uuid
        await self.cfg.commit([inst])
        self.feedback(f"Removing the disks on the original node {src.name}")
        for disk in spec.disks:
            removed = await self.rpc.blockdev_remove(self.target(src), proc.BlockdevArgs(disk, inst.name))
            if removed.failed:
                self.warning(f"Could not remove disk {disk.index} on node {src.name}: {removed.error}")
        if inst.admin_state == constants.ADMINST_UP:
            self.feedback(f"Starting instance {inst.name} on node {dst.name}")
            started = await self.rpc.instance_start(self.target(dst), proc.InstanceStartArgs(spec))
            if started.failed:
                raise OpExecError(f"Could not start instance {inst.name} on node {dst.name}: {started.error}")
        return dst.name

    async def _copy_disks(self, disks: list[DiskSpec]) -> None:
        """Create every disk on the target and fill it; on a failure remove what was created there."""
        inst, src, dst = self.instance, self.pnode, self.dst
        created: list[DiskSpec] = []
        try:
            self.feedback(f"* creating the disks on the target node {dst.name}")
            for disk in disks:
                (await self.rpc.blockdev_create(self.target(dst), proc.BlockdevArgs(disk, inst.name))).get(
                    f"Could not create disk {disk.index}"
                )
                created.append(disk)
            for disk in disks:
                self.feedback(f"Copying data for disk {disk.index}")
                await copy_disk(
                    self,
                    f"disk {disk.index}",
                    End(src, disk=disk, instance_name=inst.name),
                    End(dst, disk=disk, instance_name=inst.name),
                    self.op.compress,
                )
        except GntError as err:
            await self._remove_created(created)
            raise OpExecError(f"Errors during disk copy: {err}") from err
        except BaseException:
            await self._remove_created(created)
            raise

    async def _remove_created(self, created: list[DiskSpec]) -> None:
        for disk in created:
            removed = await self.rpc.blockdev_remove(self.target(self.dst), proc.BlockdevArgs(disk, self.instance.name))
            if removed.failed:
                self.warning(f"Could not remove the new disk {disk.index} on node {self.dst.name}: {removed.error}")

    async def _restart_on(self, node: Node, spec: Any) -> None:
        """After a failed copy the instance stays where it was: start it again if it should run."""
        if self.instance.admin_state != constants.ADMINST_UP:
            return
        result = await self.rpc.instance_start(self.target(node), proc.InstanceStartArgs(spec))
        if result.failed:
            self.warning(f"Could not restart instance {self.instance.name} on node {node.name}: {result.error}")


__all__ = ["LUInstanceMove", "copyable"]
