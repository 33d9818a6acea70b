"""Instance remove, startup, shutdown, reboot and modify."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

from gnt import constants
from gnt.errors import ECODE_INVAL, ECODE_STATE, GntError, OpExecError, OpPrereqError
from gnt.hooks import env as hook_env
from gnt.instance import disk_modify, hotplug, modify_runtime, nic_modify
from gnt.instance.common import (
    build_spec,
    check_hvparams,
    check_node_online,
    check_uid_pool,
    filled_beparams,
    instance_memory,
    node_free_memory,
    not_enough_memory,
    spec_of,
)
from gnt.instance.create import normalize_beparams
from gnt.jobs.locking import Level, LockRequest
from gnt.jobs.lu import LogicalUnit, register
from gnt.network import nics as netnics
from gnt.objects import Instance, Node
from gnt.opcodes import (
    OpInstanceReboot,
    OpInstanceRemove,
    OpInstanceSetParams,
    OpInstanceShutdown,
    OpInstanceStartup,
)
from gnt.os.secrets import REDACTED
from gnt.rpc import procedures as proc


class InstanceLU(LogicalUnit):
    """An LU acting on one existing instance: locks it and its nodes."""

    NODE_LOCKS_SHARED = True
    #: whether the LU acts on a forthcoming instance too (only its config entry exists: no disk, no OS)
    FORTHCOMING_OK = False

    def declare_locks(self, level: Level) -> LockRequest | None:
        name = self.op.instance_name  # type: ignore[attr-defined]
        if level == Level.INSTANCE:
            return LockRequest([name])
        if level == Level.NODE:
            # read under the instance lock: nothing can move the instance now (re-checked once held)
            inst = self.cfg.find_instance(name)
            nodes = [self.cfg.node_name(u) for u in ([inst.primary_node, *inst.secondary_nodes] if inst else [])]
            return LockRequest(nodes, shared=self.NODE_LOCKS_SHARED)
        return None

    def check_prereq(self) -> Any:
        self.instance: Instance = self.cfg.instance(self.op.instance_name)  # type: ignore[attr-defined]
        self.pnode: Node = self.cfg.nodes[self.instance.primary_node]
        if self.instance.forthcoming and not self.FORTHCOMING_OK:
            raise forthcoming_error(self.instance)

    def target(self, node: Node | None = None) -> Any:
        return self.ctx.services.target(node or self.pnode)

    HTYPE = "INSTANCE"

    def hooks_env(self) -> dict[str, Any]:
        return {**hook_env.instance_env(self.cfg, self.instance), **hook_env.opcode_env(self.op)}

    def hooks_nodes(self) -> tuple[list[Node], list[Node]]:
        nodes = hook_env.instance_nodes(self.cfg, self.instance)
        return nodes, nodes


def forthcoming_error(inst: Instance) -> OpPrereqError:
    """The refusal of an operation that needs a real instance (disks, an OS) on a forthcoming one."""
    return OpPrereqError(
        f"Instance '{inst.name}' is forthcoming (only reserved, no disks yet); make it real with"
        " `gnt-instance add --commit` first",
        ECODE_STATE,
    )


@register
class LUInstanceRemove(InstanceLU):
    OPCODE = OpInstanceRemove
    HPATH = "instance-remove"
    op: OpInstanceRemove
    NODE_LOCKS_SHARED = False
    FORTHCOMING_OK = True

    async def exec(self) -> None:
        inst = self.instance
        if inst.forthcoming:  # a reservation: nothing on any node, only its config entry goes
            self.feedback(f"* removing forthcoming instance {inst.name} from the cluster config")
            from gnt.network.nics import release

            await self.cfg.commit(release(self.cfg, inst), delete=[inst])
            return
        self.feedback(f"* shutting down instance {inst.name} on node {self.pnode.name}")
        result = await self.rpc.instance_shutdown(
            self.target(), proc.InstanceShutdownArgs(spec_of(self, inst), timeout=self.op.shutdown_timeout)
        )
        self._check(result, f"Could not shut down instance {inst.name}")
        self.feedback("* removing instance disks...")
        if inst.disk_template == constants.DT_DRBD:  # on the secondary too, each node with its view
            from gnt.instance.drbd import disks_for_node

            for node_uuid in (*inst.secondary_nodes, inst.primary_node):
                node = self.cfg.nodes[node_uuid]
                for disk in disks_for_node(self.cfg, inst, node_uuid):
                    result = await self.rpc.blockdev_remove(self.target(node), proc.BlockdevArgs(disk, inst.name))
                    self._check(result, f"Could not remove disk {disk.index} of instance {inst.name} on {node.name}")
        else:
            for disk in build_spec(self.cfg, inst).disks:
                result = await self.rpc.blockdev_remove(self.target(), proc.BlockdevArgs(disk, inst.name))
                self._check(result, f"Could not remove disk {disk.index} of instance {inst.name}")
        self.feedback(f"* removing instance {inst.name} from the cluster config")
        from gnt.network.nics import release

        await self.cfg.commit(release(self.cfg, inst), delete=[inst])

    def _check(self, result: Any, message: str) -> None:
        if not result.failed:
            return
        if self.op.ignore_failures:
            self.warning(f"{message}: {result.error} (ignored)")
            return
        raise OpExecError(f"{message}: {result.error}")


@register
class LUInstanceStartup(InstanceLU):
    OPCODE = OpInstanceStartup
    HPATH = "instance-start"
    op: OpInstanceStartup

    async def check_prereq(self) -> None:
        super().check_prereq()
        if self.instance.admin_state == constants.ADMINST_OFFLINE:
            raise OpPrereqError(f"Instance {self.instance.name} is marked offline", ECODE_STATE)
        check_node_online(self.pnode, "primary node")
        check_hvparams(self.instance.hypervisor, self.op.hvparams)  # a typo would be ignored by the start
        check_uid_pool(self.cfg.cluster, self.instance, self.op.hvparams)
        self.beparams = normalize_beparams(self.op.beparams)
        # both questions at once (a round trip each, and the node's hypervisor answers them in
        # parallel); the free memory only counts if the instance is not running already
        info, free = await asyncio.gather(
            self.rpc.instance_info(self.target(), proc.InstanceQueryArgs(self.instance.name, self.instance.hypervisor)),
            node_free_memory(self, self.pnode, self.instance.hypervisor),
            return_exceptions=True,
        )
        if isinstance(info, BaseException):
            raise info
        running = info.get("Cannot get instance information")
        self.already_running = bool(running and running["state"] in ("running", "paused"))
        if not self.already_running:
            if isinstance(free, BaseException):
                raise free
            memory = int(self.beparams.get("maxmem", instance_memory(self.cfg.cluster, self.instance)))
            if memory > free:
                raise not_enough_memory(self.pnode, f"starting instance {self.instance.name}", memory, free)

    async def exec(self) -> None:
        inst = self.instance
        if not self.op.no_remember and inst.admin_state != constants.ADMINST_UP:
            inst.admin_state = constants.ADMINST_UP
            await self.cfg.commit([inst])
        if self.already_running:
            self.info(f"Instance {inst.name} is already running")
            return
        spec = spec_of(self, inst)
        spec.beparams.update(self.beparams)
        spec.hvparams.update(self.op.hvparams)
        if "maxmem" in self.beparams:
            spec.memory = int(self.beparams["maxmem"])
        if inst.secondary_nodes:  # mirrored disks: their secondaries first (--force: past dead ones)
            from gnt.instance.disks import start_secondaries
            from gnt.instance.drbd import without_peer

            if not await start_secondaries(self, inst, self.op.force):
                spec.disks = without_peer(spec.disks)
        result = await self.rpc.instance_start(self.target(), proc.InstanceStartArgs(spec, self.op.startup_paused))
        if result.failed:
            raise OpExecError(f"Could not start instance {inst.name}: {result.error}")


@register
class LUInstanceShutdown(InstanceLU):
    OPCODE = OpInstanceShutdown
    HPATH = "instance-stop"
    op: OpInstanceShutdown

    def check_prereq(self) -> None:
        super().check_prereq()
        if not self.op.ignore_offline_nodes:
            check_node_online(self.pnode, "primary node")

    async def exec(self) -> None:
        inst = self.instance
        if not self.op.no_remember and inst.admin_state != constants.ADMINST_DOWN:
            inst.admin_state = constants.ADMINST_DOWN
            await self.cfg.commit([inst])
        if self.pnode.offline:
            self.warning(f"Primary node {self.pnode.name} is offline; only the config was changed")
            return
        result = await self.rpc.instance_shutdown(
            self.target(), proc.InstanceShutdownArgs(spec_of(self, inst), timeout=self.op.timeout)
        )
        if result.failed:
            raise OpExecError(f"Could not shutdown instance {inst.name}: {result.error}")


@register
class LUInstanceReboot(InstanceLU):
    OPCODE = OpInstanceReboot
    HPATH = "instance-reboot"
    op: OpInstanceReboot

    def check_arguments(self) -> None:
        if self.op.reboot_type not in ("soft", "hard", "full"):
            raise OpPrereqError(f"Invalid reboot type '{self.op.reboot_type}'", ECODE_INVAL)

    async def check_prereq(self) -> None:
        super().check_prereq()
        check_node_online(self.pnode, "primary node")
        info = await self.rpc.instance_info(
            self.target(), proc.InstanceQueryArgs(self.instance.name, self.instance.hypervisor)
        )
        running = info.get("Cannot get instance information")
        self.running = bool(running and running["state"] in ("running", "paused"))

    async def exec(self) -> None:
        inst = self.instance
        if self.running:
            args = proc.InstanceRebootArgs(spec_of(self, inst), self.op.reboot_type, self.op.shutdown_timeout)
            result = await self.rpc.instance_reboot(self.target(), args)
        else:
            self.info(f"Instance {inst.name} was not running; starting it")
            result = await self.rpc.instance_start(self.target(), proc.InstanceStartArgs(spec_of(self, inst)))
        if result.failed:
            raise OpExecError(f"Could not reboot instance {inst.name}: {result.error}")
        if inst.admin_state != constants.ADMINST_UP:
            inst.admin_state = constants.ADMINST_UP
            await self.cfg.commit([inst])


@register
class LUInstanceSetParams(InstanceLU):
    OPCODE = OpInstanceSetParams
    HPATH = "instance-modify"
    op: OpInstanceSetParams

    @classmethod
    def check_opcode(cls, op: Any) -> None:
        disk_modify.parse(op.disks)  # a malformed disk or NIC change never becomes a job
        nic_modify.parse(op.nics)

    def declare_locks(self, level: Level) -> LockRequest | None:
        request = super().declare_locks(level)
        if level == Level.NODE and request is not None:
            # a conversion changes the instance's nodes' storage (and, to drbd, takes a new secondary);
            # a new primary node is the instance's from now on
            extra = [n for n in (self.op.remote_node if self.op.disk_template else None, self.op.pnode) if n]
            extra += self._allocator_candidates()
            if extra or self.op.disk_template:
                return LockRequest(sorted({*request.names, *extra}))
        return request

    def _allocator_candidates(self) -> list[str]:
        """To drbd with no secondary named, the allocator may pick any node of the primary's group:
        all of them are locked (as Ganeti does), so its choice cannot change under it."""
        if self.op.disk_template != constants.DT_DRBD or self.op.remote_node:
            return []
        inst = self.cfg.find_instance(self.op.instance_name)
        pnode = self.cfg.nodes.get(inst.primary_node) if inst else None
        return [n.name for n in self.cfg.nodes.values() if pnode is not None and n.group == pnode.group]

    def check_arguments(self) -> None:
        op = self.op
        if not (
            op.beparams
            or op.hvparams
            or op.osparams
            or op.osparams_private
            or op.os_name
            or op.offline is not None
            or op.disks
            or op.disk_template
            or op.nics
            or op.runtime_mem
            or op.pnode
        ):
            raise OpPrereqError("No changes submitted", ECODE_INVAL)
        self.beparams = normalize_beparams(self.op.beparams)
        self.disk_changes = disk_modify.parse(self.op.disks)
        self.nic_changes = nic_modify.parse(self.op.nics)

    async def check_prereq(self) -> None:
        super().check_prereq()
        self.hotplug = await hotplug.decide(
            self, self.instance, self.pnode, self.op.hotplug, self.op.hotplug_if_possible
        )
        self.conversion = None
        if self.op.disk_template:
            from gnt.instance import convert

            self.conversion = await convert.check(
                self,
                self.instance,
                self.op.disk_template,
                self.op.remote_node,
                bool(self.disk_changes),
                self.op.iallocator,
            )
        elif self.op.remote_node:
            raise OpPrereqError("A secondary node (-n) is only given with a disk template conversion (-t)", ECODE_INVAL)
        self.disk_plan = await disk_modify.check(self, self.disk_changes) if self.disk_changes else None
        self.nic_plan = None
        if self.nic_changes:
            self.nic_plan = nic_modify.check(
                self.cfg, self.instance, self.pnode, self.nic_changes, self.op.conflicts_check
            )
        if self.op.offline and self.instance.admin_state == constants.ADMINST_UP:
            raise OpPrereqError(
                f"Instance {self.instance.name} is up; shut it down before marking it offline", ECODE_STATE
            )
        check_hvparams(self.instance.hypervisor, self.op.hvparams)
        check_uid_pool(self.cfg.cluster, self.instance, self.op.hvparams, starting=False)
        await self._check_os()
        merged = {**filled_beparams(self.cfg.cluster, self.instance), **self.beparams}
        if merged["minmem"] > merged["maxmem"]:
            raise OpPrereqError("minmem cannot be larger than maxmem", ECODE_INVAL)
        if self.beparams or self.disk_plan:  # the instance's new shape must fit its group's policy
            from gnt.instance.policy_check import check_reshaped_instance

            sizes = [int(d.size) for d in self.disk_plan.disks] if self.disk_plan else None
            check_reshaped_instance(self, self.instance, self.beparams, sizes, self.op.ignore_ipolicy)
        if self.op.runtime_mem:
            await modify_runtime.check_runtime_memory(
                self, self.instance, self.pnode, self.op.runtime_mem, merged, self.op.force
            )
        self.new_primary = None
        if self.op.pnode:
            new = self.cfg.node(self.op.pnode)
            if await modify_runtime.check_new_primary(self, self.instance, self.pnode, new, self.op.force):
                self.new_primary = new

    async def _check_os(self) -> None:
        """-o (Ganeti's semantics): the new OS name is recorded without a reinstall; unless --force it
        must exist on the primary node, with a variant it lists unless --force-variant. New OS
        parameters must be accepted by the OS the instance will have."""
        from gnt.os import params as os_params

        new_os = self.op.os_name if self.op.os_name and not self.op.force else None
        if new_os:
            await os_params.check_node_has_os(self, self.pnode, new_os, self.op.force_variant)
        instance_os = new_os or self.instance.os
        if not (self.op.osparams or self.op.osparams_private) or not instance_os:
            return
        from gnt.os.secrets import check_categories

        try:
            check_categories(self.op.osparams, self.op.osparams_private, None)
        except ValueError as err:
            raise OpPrereqError(str(err), ECODE_INVAL) from None
        public = {**self.instance.osparams, **self.op.osparams}
        private = {**self.instance.osparams_private, **self.op.osparams_private}
        wanted = os_params.script_osparams(self.cfg.cluster, instance_os, public, private)
        # the instance's own OS was checked when it got it; a new one was just checked above
        await os_params.validate_on_nodes(self, [self.pnode], instance_os, wanted, force_variant=True)

    async def exec(self) -> list[list[str]]:
        """Node-side steps first (hotplug, disks, ballooning), each undone if a later one fails;
        only then the instance's config changes, in one commit."""
        plan = self.nic_plan
        claims = list(plan.claims.items()) if plan else []
        undo = hotplug.Undo()
        self._saved = copy.deepcopy(self.instance)  # the steps change it in memory; put back if the job fails
        with netnics.claim(self.cfg, [c for _, c in claims]) as addresses:  # pool addresses held until committed
            try:
                return await self._exec(undo, {uuid: ip for (uuid, _), ip in zip(claims, addresses, strict=True)})
            except GntError:
                await undo.run(self)
                self.instance.__dict__.update(self._saved.__dict__)
                raise

    async def _exec(self, undo: hotplug.Undo, addresses: dict[str, str | None]) -> list[list[str]]:
        inst = self.instance
        changes: list[list[str]] = []
        if self.nic_plan:
            changes.extend(nic_modify.pick(self.cfg, self.nic_plan, addresses))
            if self.hotplug:
                await hotplug.apply_nics(self, inst, self.pnode, self.nic_plan, undo)
        if self.disk_plan:
            changes.extend(await disk_modify.apply(self, self.disk_plan, undo, self.hotplug))
        if self.conversion is not None:
            from gnt.instance import convert

            changes.extend(await convert.apply(self, inst, self.conversion, self.op.wait_for_sync))
            self._saved = copy.deepcopy(inst)  # the conversion commits the instance itself
        if self.op.runtime_mem:
            changes.append(await modify_runtime.balloon(self, inst, self.pnode, self.op.runtime_mem))
        for key, value in self.beparams.items():
            inst.beparams[key] = value
            changes.append([f"be/{key}", str(value)])
        for key, value in self.op.hvparams.items():
            inst.hvparams[key] = value
            changes.append([f"hv/{key}", str(value)])
        if self.op.os_name and self.op.os_name != inst.os:
            inst.os = self.op.os_name  # takes effect at the next reinstall
            changes.append(["os_name", self.op.os_name])
        for key, value in self.op.osparams.items():
            inst.osparams[key] = value
            inst.osparams_private.pop(key, None)  # a parameter is in one category
            changes.append([f"os/{key}", str(value)])
        for key, value in self.op.osparams_private.items():
            inst.osparams_private[key] = value
            inst.osparams.pop(key, None)
            changes.append([f"os_private/{key}", REDACTED])  # the job result is shown: never the value
        if self.op.offline is not None:
            inst.admin_state = constants.ADMINST_OFFLINE if self.op.offline else constants.ADMINST_DOWN
            changes.append(["admin_state", inst.admin_state])
        if self.new_primary is not None:
            from gnt.network.nics import regroup

            if regroup(self.cfg, inst, self.new_primary):  # another group: its network connections
                changes.append(["nics", "mode and link from node group of " + self.new_primary.name])
            inst.primary_node = self.new_primary.uuid
            changes.append(["pnode", self.new_primary.name])
        extra: list[Any] = []
        revert_pools = None
        if self.nic_plan:
            networks, revert_pools = nic_modify.apply(self.cfg, inst, self.nic_plan)
            extra = [self.cfg.cluster, *networks]  # the cluster: its MAC counter
        revert_detached = None
        if self.disk_plan and self.disk_plan.changes_cluster:  # the cluster: its detached disks
            revert_detached = disk_modify.stage_cluster(self.cfg, self.disk_plan)
            extra = [self.cfg.cluster, *(o for o in extra if o is not self.cfg.cluster)]
        try:
            await self.cfg.commit([inst, *extra])
        except GntError:
            for revert in (revert_pools, revert_detached):
                if revert is not None:
                    revert()
            raise
        undo.steps.clear()  # committed: the running guest and the config agree
        if self.disk_plan:
            await disk_modify.finish(self, self.disk_plan)
        return changes
