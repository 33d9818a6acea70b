"""`gnt-backup export`, `list`, `remove` and RAPI's prepare-export: OP_BACKUP_* logical units.

An export is a directory named after the instance in the target node's export directory, holding
Ganeti's `config.ini` and one raw dump per disk (`diskN.dump`), streamed from the primary node
(agent.transfer). It is written under `NAME.new/` and renamed only once complete, and removed on
any failure, so a half-written export never lists. The instance is shut down for the copy unless
`--noshutdown` (none of gnt's storage can snapshot yet, so the copy is consistent only while it
is down) and started again afterwards if it was running, unless `--remove-instance`.
Only Ganeti's local mode exists: remote (inter-cluster) exports are refused clearly.
"""

from __future__ import annotations

from typing import Any

from gnt import constants, disktypes
from gnt.backup import exportcfg
from gnt.backup.copy import End, check_compression, copy_disk
from gnt.backup.opcodes import EXPORT_MODES, OpBackupExport, OpBackupPrepare, OpBackupQuery, OpBackupRemove
from gnt.backup.target_lu import TargetNodeLU
from gnt.errors import ECODE_INVAL, ECODE_NOENT, OpExecError, OpPrereqError
from gnt.hooks import env as hook_env
from gnt.instance.common import build_spec, check_node_online
from gnt.instance.lifecycle import InstanceLU
from gnt.jobs.lu import LogicalUnit, register
from gnt.objects import Node
from gnt.os.params import script_osparams
from gnt.rpc import procedures as proc

__all__ = ["LUBackupExport", "LUBackupPrepare", "LUBackupQuery", "LUBackupRemove"]

REMOTE_REFUSED = "Remote (inter-cluster) exports are not supported; export to a node of this cluster (mode local)"


def check_mode(mode: str) -> None:
    """Ganeti's export modes: local is served, remote refused clearly, anything else is a typo."""
    if mode not in EXPORT_MODES:
        raise OpPrereqError(f"Unknown export mode '{mode[:40]}'; use one of {', '.join(EXPORT_MODES)}", ECODE_INVAL)
    if mode != "local":
        raise OpPrereqError(REMOTE_REFUSED, ECODE_INVAL)


def check_exportable(template: str) -> None:
    """Disks read whole from the primary node: not mirrored ones (their device needs the peer)."""
    if disktypes.kind(template).needs_secondary:
        raise OpPrereqError(f"Exporting instances with disk template {template} is not supported", ECODE_INVAL)


@register
class LUBackupPrepare(InstanceLU):
    """Local mode needs no preparation (Ganeti answers None); remote mode is refused."""

    OPCODE = OpBackupPrepare
    op: OpBackupPrepare

    @classmethod
    def check_opcode(cls, op: Any) -> None:
        check_mode(op.mode)

    def check_prereq(self) -> None:
        super().check_prereq()

    async def exec(self) -> None:
        return None


@register
class LUBackupExport(TargetNodeLU):
    OPCODE = OpBackupExport
    HPATH = "instance-export"
    op: OpBackupExport

    @classmethod
    def check_opcode(cls, op: Any) -> None:
        check_mode(op.mode)

    def hooks_env(self) -> dict[str, Any]:
        env = {
            "EXPORT_MODE": self.op.mode,
            "EXPORT_NODE": self.op.target_node,
            "EXPORT_DO_SHUTDOWN": self.op.shutdown,
            "SHUTDOWN_TIMEOUT": self.op.shutdown_timeout,
            "REMOVE_INSTANCE": int(self.op.remove_instance),
        }
        return {**super().hooks_env(), **env}

    def hooks_nodes(self) -> tuple[list[Node], list[Node]]:
        nodes = hook_env.instance_nodes(self.cfg, self.instance, self.dst)
        return nodes, nodes

    def check_prereq(self) -> None:
        super().check_prereq()
        check_exportable(self.instance.disk_template)
        check_compression(self, self.op.compress)
        self.dst: Node = self.cfg.node(self.op.target_node)
        check_node_online(self.pnode, "primary node")
        check_node_online(self.dst, "target node")

    def dry_run_result(self) -> Any:
        return self.dst.name

    async def exec(self) -> list[Any]:
        inst, src, dst = self.instance, self.pnode, self.dst
        spec = build_spec(self.cfg, inst)
        running = inst.admin_state == constants.ADMINST_UP
        if self.op.shutdown:
            self.feedback(f"Shutting down instance {inst.name}")
            result = await self.rpc.instance_shutdown(
                self.target(), proc.InstanceShutdownArgs(spec, timeout=self.op.shutdown_timeout)
            )
            if result.failed:
                raise OpExecError(f"Could not shutdown instance {inst.name} on node {src.name}: {result.error}")
        elif running:
            self.warning(f"Instance {inst.name} keeps running: its disks are copied as they change (not consistent)")
        try:
            await self._write_export(spec.disks)
        except BaseException:
            await self.rpc.export_remove(self.target(dst), proc.ExportNameArgs(inst.name))
            if running and self.op.shutdown:
                await self._start()
            raise
        if running and self.op.shutdown and not self.op.remove_instance:
            await self._start()
        await self._remove_older_exports()
        if self.op.remove_instance:
            await self._remove_instance(spec)
        return [True, [True] * len(spec.disks)]

    async def _write_export(self, disks: list[Any]) -> None:
        inst, src, dst = self.instance, self.pnode, self.dst
        (await self.rpc.export_remove(self.target(dst), proc.ExportNameArgs(inst.name))).get(
            "Could not clean the export directory"
        )
        script_spec = self._script_spec()
        for disk in disks:
            self.feedback(f"Exporting disk/{disk.index} from {src.name} to {dst.name}")
            await copy_disk(
                self,
                f"disk/{disk.index}",
                End(src, disk=disk, instance_name=inst.name, os_instance=script_spec),
                End(dst, export_name=inst.name, export_file=exportcfg.dump_name(disk.index)),
                self.op.compress,
            )
        self.feedback("Finalizing export on " + dst.name)
        config = exportcfg.export_config(inst, src.name, self.op.compress)
        (await self.rpc.export_finalize(self.target(dst), proc.ExportFinalizeArgs(inst.name, config))).get(
            "Could not finalize export"
        )

    def _script_spec(self) -> Any:
        """What the OS export script runs with (Ganeti exports a disk as its OS's export script
        writes it), private parameters included; None for an instance without an OS (raw dumps)."""
        inst = self.instance
        if not inst.os:
            return None
        spec = build_spec(self.cfg, inst)
        spec.osparams = script_osparams(self.cfg.cluster, inst.os, inst.osparams, inst.osparams_private)
        return spec

    async def _start(self) -> None:
        inst = self.instance
        self.feedback(f"Starting instance {inst.name}")
        spec = build_spec(self.cfg, inst)
        result = await self.rpc.instance_start(self.target(), proc.InstanceStartArgs(spec))
        if result.failed:
            self.warning(f"Could not start instance {inst.name} on node {self.pnode.name}: {result.error}")

    async def _remove_older_exports(self) -> None:
        """An instance has one export: those on other nodes are older (as Ganeti removes them)."""
        others = [n for n in self.cfg.nodes.values() if n.uuid != self.dst.uuid and not n.offline]
        if not others:
            return
        self.feedback(f"Removing old exports for instance {self.instance.name}")
        results = await self.rpc.call_many(
            self.ctx.services.targets(others), proc.EXPORT_REMOVE, proc.ExportNameArgs(self.instance.name)
        )
        for node, result in results.items():
            if result.failed:
                self.warning(f"Could not remove older export for instance {self.instance.name} on node {node}")

    async def _remove_instance(self, spec: Any) -> None:
        inst = self.instance
        self.feedback(f"Removing instance {inst.name}")
        failed = []
        for disk in spec.disks:
            result = await self.rpc.blockdev_remove(self.target(), proc.BlockdevArgs(disk, inst.name))
            if result.failed:
                failed.append(f"disk {disk.index}: {result.error}")
        if failed and not self.op.ignore_remove_failures:
            raise OpExecError(
                f"Could not remove instance {inst.name} after the export ({'; '.join(failed)}); the export is"
                " complete; use --ignore-remove-failures to remove it from the configuration anyway"
            )
        for problem in failed:
            self.warning(f"Could not remove {problem} (ignored)")
        await self.cfg.commit(delete=[inst])


@register
class LUBackupQuery(LogicalUnit):
    """{node: [export, ...]} for the nodes asked (all by default); False for a node that did not answer."""

    OPCODE = OpBackupQuery
    op: OpBackupQuery

    def check_prereq(self) -> None:
        names = self.op.nodes or sorted(n.name for n in self.cfg.nodes.values())
        self.query_nodes = [self.cfg.node(name) for name in names]

    async def exec(self) -> dict[str, Any]:
        answer: dict[str, Any] = {n.name: False for n in self.query_nodes}
        online = [n for n in self.query_nodes if not n.offline]
        results = await self.rpc.call_many(self.ctx.services.targets(online), proc.EXPORT_LIST, proc.NoArgs())
        for node, result in results.items():
            answer[node] = False if result.failed else list(result.payload or [])
        return answer


@register
class LUBackupRemove(LogicalUnit):
    """Remove every export of one instance (which may no longer exist) from every node holding one."""

    OPCODE = OpBackupRemove
    op: OpBackupRemove

    def check_prereq(self) -> None:
        pass

    async def exec(self) -> None:
        name = self.op.instance_name
        online = [n for n in self.cfg.nodes.values() if not n.offline]
        targets = self.ctx.services.targets(online)
        listed = await self.rpc.call_many(targets, proc.EXPORT_LIST, proc.NoArgs())
        holders = [t for t in targets if not listed[t.name].failed and name in (listed[t.name].payload or [])]
        if not holders:
            raise OpPrereqError(f"No export of instance {name} found on any node", ECODE_NOENT)
        for target in holders:
            result = await self.rpc.export_remove(target, proc.ExportNameArgs(name))
            if result.failed:
                raise OpExecError(f"Could not remove export of {name} on node {target.name}: {result.error}")
            self.feedback(f"Removed the export of {name} on node {target.name}")
