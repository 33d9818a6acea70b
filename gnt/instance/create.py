"""OP_INSTANCE_CREATE: disks, config entry, OS install, start; undone step by step on failure."""

from __future__ import annotations

import asyncio
import copy
import os
import re
from typing import Any

from gnt import constants, disktypes
from gnt.backup import importing
from gnt.backup.copy import check_compression
from gnt.cluster import pending
from gnt.drbd import META_SIZE
from gnt.errors import ECODE_EXISTS, ECODE_INVAL, ECODE_NOENT, ECODE_STATE, GntError, OpExecError, OpPrereqError
from gnt.hooks import env as hook_env
from gnt.instance import adoption, drbd, wipe
from gnt.instance.common import (
    FILE_TEMPLATES,
    build_spec,
    check_free_memory,
    check_free_vg,
    check_hvparams,
    check_node_usable,
    check_uid_pool,
    disk_path,
    file_disk_dir,
    filled_beparams,
)
from gnt.instance.policy_check import check_new_instance
from gnt.jobs.locking import ALL, Level, LockRequest
from gnt.jobs.lu import LogicalUnit, register
from gnt.network import nics as netnics
from gnt.objects import Disk, Instance, Nic, new_uuid
from gnt.opcodes import OpInstanceCreate
from gnt.os import params as os_params
from gnt.rpc import procedures as proc
from gnt.runtime import DiskSpec, InstanceSpec
from gnt.units import parse_size

#: how often the initial sync is looked at, and for how many looks it may make no progress
SYNC_POLL_INTERVAL = 2.0
SYNC_STALL_POLLS = 30

NAME_RE = re.compile(r"^[a-zA-Z0-9]([a-zA-Z0-9.-]{0,253}[a-zA-Z0-9])?\Z")


def normalize_beparams(params: dict[str, Any]) -> dict[str, Any]:
    """Validate backend parameters; sizes become MiB, 'memory' sets both minmem and maxmem."""
    result: dict[str, Any] = {}
    for key, value in params.items():
        if key in constants.BE_SIZE_PARAMS:
            size = parse_size(value, key)
            if size <= 0:
                raise OpPrereqError(f"'{key}' must be positive, not {value}", ECODE_INVAL)
            if key == "memory":
                result["maxmem"] = result["minmem"] = size
            else:
                result[key] = size
        elif key in constants.BE_INT_PARAMS:
            if isinstance(value, bool) or not str(value).isdigit() or int(value) < (1 if key == "vcpus" else 0):
                raise OpPrereqError(f"Invalid value {value!r} for backend parameter '{key}'", ECODE_INVAL)
            result[key] = int(value)
        elif key in constants.BE_BOOL_PARAMS:
            if str(value).lower() not in ("true", "false", "yes", "no", "1", "0"):
                raise OpPrereqError(f"Invalid boolean {value!r} for backend parameter '{key}'", ECODE_INVAL)
            result[key] = str(value).lower() in ("true", "yes", "1")
        else:
            raise OpPrereqError(f"Unknown backend parameter '{key}'", ECODE_INVAL)
    if result.get("minmem", 0) > result.get("maxmem", result.get("minmem", 0)):
        raise OpPrereqError("minmem cannot be larger than maxmem", ECODE_INVAL)
    return result


@register
class LUInstanceCreate(LogicalUnit):
    OPCODE = OpInstanceCreate
    op: OpInstanceCreate
    HPATH = "instance-add"
    HTYPE = "INSTANCE"

    def hooks_env(self) -> dict[str, Any]:
        return {**hook_env.instance_env(self.cfg, hook_env.planned_instance(self)), **hook_env.opcode_env(self.op)}

    def hooks_nodes(self) -> tuple[list[Any], list[Any]]:
        nodes = hook_env.with_master(self.cfg, self._nodes())
        return nodes, nodes

    def check_arguments(self) -> None:
        op = self.op
        if not NAME_RE.match(op.instance_name):
            raise OpPrereqError(f"Invalid instance name '{op.instance_name}'", ECODE_INVAL)
        self.source: importing.ImportSource | None = None
        #: the forthcoming instance a --commit makes real (set in check_prereq)
        self.reserved: Instance | None = None
        if op.mode == importing.MODE_IMPORT:
            if op.forthcoming or op.commit:
                message = "Forthcoming instances are reserved and committed by creation, not by import"
                raise OpPrereqError(message, ECODE_INVAL)
            importing.export_name(op.src_path, op.instance_name)  # the rest once the export is read
            return
        self._check_arguments()

    def _check_arguments(self) -> None:
        op = self.op
        if op.mode not in ("create", importing.MODE_IMPORT):
            raise OpPrereqError(f"Instance creation mode '{op.mode}' is not supported", ECODE_INVAL)
        if op.disk_template not in constants.DISK_TEMPLATES:
            raise OpPrereqError(f"Invalid disk template '{op.disk_template}'", ECODE_INVAL)
        if op.disk_template == constants.DT_DISKLESS and op.disks:
            raise OpPrereqError("Diskless instances cannot have disks", ECODE_INVAL)
        if op.disk_template != constants.DT_DISKLESS and not op.disks:
            raise OpPrereqError(f"Disk template '{op.disk_template}' needs at least one disk", ECODE_INVAL)
        self.adopting = adoption.check_arguments(op.disk_template, op.disks, op.iallocator, op.pnode)
        if self.adopting:  # each size is the device's, asked of the node in check_prereq
            self.disk_sizes = [self._disk_mode(i, d) for i, d in enumerate(op.disks)]
        else:
            self.disk_sizes = [self._disk_size(i, d) for i, d in enumerate(op.disks)]
        if self.adopting and (op.forthcoming or op.commit):
            raise OpPrereqError("Disks cannot be adopted by a forthcoming instance (or its commit)", ECODE_INVAL)
        if op.file_storage_dir is not None and op.disk_template not in FILE_TEMPLATES:
            raise OpPrereqError(
                f"--file-storage-dir applies to file-based disk templates, not to '{op.disk_template}'", ECODE_INVAL
            )
        self.beparams = normalize_beparams(op.beparams)
        #: adopted disks hold their data already: the OS is never installed on them (as in Ganeti)
        self.install = not op.no_install and not self.adopting and op.mode != importing.MODE_IMPORT
        if not op.os_type and self.install:
            raise OpPrereqError("No OS given; use -o OS (or --no-install)", ECODE_INVAL)
        if op.disk_template == constants.DT_DRBD and not op.snode and not op.iallocator and op.pnode and not op.commit:
            raise OpPrereqError("The drbd template needs a secondary node (-n pnode:snode)", ECODE_INVAL)

    @staticmethod
    def _disk_size(index: int, disk: dict[str, Any]) -> int:
        if not isinstance(disk, dict) or "size" not in disk:
            raise OpPrereqError(f"Disk {index}: missing size", ECODE_INVAL)
        size = parse_size(disk["size"], f"disk/{index} size")
        if size <= 0:
            raise OpPrereqError(f"Disk {index}: size must be positive", ECODE_INVAL)
        LUInstanceCreate._disk_mode(index, disk)
        return size

    @staticmethod
    def _disk_mode(index: int, disk: dict[str, Any]) -> int:
        if disk.get("mode", "rw") not in ("rw", "ro"):
            raise OpPrereqError(f"Disk {index}: invalid access mode {disk.get('mode')!r}", ECODE_INVAL)
        return 0

    def declare_locks(self, level: Level) -> LockRequest | None:
        if self.op.opportunistic_locking and level in (Level.NODE, Level.NODE_RES):
            return self._opportunistic_locks(level)
        nodes: list[str] | str = [n for n in (self.op.pnode, self.op.snode) if n] or ALL
        if self.op.commit and level in (Level.NODE, Level.NODE_RES):
            nodes = self._reserved_node_names() or nodes
        return {
            Level.INSTANCE: LockRequest([self.op.instance_name]),
            Level.NODE: LockRequest(nodes, shared=True),
            Level.NODE_RES: LockRequest(nodes),
        }.get(level)

    def _reserved_node_names(self) -> list[str]:
        """The nodes of the forthcoming instance a --commit makes real (read under its instance lock,
        which keeps it in place; check_prereq checks the rest)."""
        inst = self.cfg.find_instance(self.op.instance_name)
        if inst is None or not inst.forthcoming:
            return []
        return [self.cfg.node_name(u) for u in (inst.primary_node, *inst.secondary_nodes)]

    def _opportunistic_locks(self, level: Level) -> LockRequest:
        """Ganeti's opportunistic locking: of every node, those free right now (shared at the node
        level, then exclusive at node-res among those), so a create never queues behind others'
        long jobs; the allocator only sees what was got (`_whitelist`)."""
        if level == Level.NODE:
            return LockRequest(sorted(n.name for n in self.cfg.nodes.values()), shared=True, opportunistic=True)
        got = self.held.names(Level.NODE) if self.held is not None else []
        return LockRequest(sorted(got), opportunistic=True)

    def _whitelist(self) -> set[str] | None:
        """The nodes the allocator may choose: with opportunistic locking, those locked at both levels."""
        if not self.op.opportunistic_locking or self.held is None:
            return None
        return set(self.held.names(Level.NODE)) & set(self.held.names(Level.NODE_RES))

    async def check_prereq(self) -> None:
        op, cfg = self.op, self.cfg
        if op.mode == importing.MODE_IMPORT:  # the export fills in what the opcode left out
            check_compression(self, op.compress)
            self.source = await importing.read_source(self, op)
            self._check_arguments()
        self._check_name_taken()
        if op.disk_template not in cfg.cluster.enabled_disk_templates:
            raise OpPrereqError(
                f"Disk template '{op.disk_template}' is not enabled in cluster. Enabled disk templates are:"
                f" {','.join(cfg.cluster.enabled_disk_templates)}",
                ECODE_STATE,
            )
        self.hypervisor = op.hypervisor or cfg.cluster.default_hypervisor
        if self.hypervisor not in cfg.cluster.enabled_hypervisors:
            raise OpPrereqError(
                f"Selected hypervisor ({self.hypervisor}) not enabled in the cluster"
                f" ({','.join(cfg.cluster.enabled_hypervisors)})",
                ECODE_STATE,
            )
        check_hvparams(self.hypervisor, op.hvparams)
        shape = Instance(name=op.instance_name, os=op.os_type or "", hypervisor=self.hypervisor, hvparams=op.hvparams)
        check_uid_pool(cfg.cluster, shape, starting=op.start)
        self.chosen_snode: Any = None
        self.node_group = cfg.group(op.group_name) if op.group_name else None
        if self.reserved is not None:  # --commit: where the reservation is
            self.pnode = cfg.nodes[self.reserved.primary_node]
            self.chosen_snode = cfg.nodes[self.reserved.secondary_nodes[0]] if self.reserved.secondary_nodes else None
        else:
            self.pnode = cfg.node(op.pnode) if op.pnode else await self._choose_node()
        check_node_usable(self.pnode)
        self.nic_plans = netnics.plan(cfg, self._nics(), self.pnode, op.conflicts_check, self._own_addresses())
        self.snode = self._secondary() if disktypes.kind(op.disk_template).needs_secondary else None
        self._check_group()
        be = {**filled_beparams(cfg.cluster, Instance(hypervisor=self.hypervisor)), **self.beparams}
        self.memory = int(be["maxmem"])
        if self.adopting:
            self.disk_sizes = await adoption.check_prereq(self, self.pnode)
        nics = len(op.nics)
        check_new_instance(self, self.pnode, be, self.disk_sizes, nics, op.disk_template, op.ignore_ipolicy)
        # the two node checks are independent: ask both at once
        checks = [self._check_os()]
        if not self.adopting and op.disk_template in (constants.DT_PLAIN, constants.DT_DRBD):
            vg = cfg.cluster.volume_group_name
            reason = f"the disks of instance {op.instance_name}"
            needed = sum(self.disk_sizes)
            if self.snode is not None:  # and a meta volume per disk, on both nodes
                needed += META_SIZE * len(self.disk_sizes)
                checks.append(check_free_vg(self, self.snode, vg, needed, reason))
            checks.append(check_free_vg(self, self.pnode, vg, needed, reason))
        if op.start and not op.forthcoming:  # a reservation does not run
            checks.append(
                check_free_memory(
                    self, self.pnode, self.hypervisor, self.memory, f"starting instance {op.instance_name}"
                )
            )
        results = await asyncio.gather(*checks, return_exceptions=True)
        for outcome in results:
            if isinstance(outcome, BaseException):
                raise outcome

    def _check_name_taken(self) -> None:
        """A new instance needs a free name; a --commit needs the forthcoming instance of that name,
        asked for as reserved (Ganeti: the commit replaces the reservation by the real instance)."""
        op = self.op
        existing = self.cfg.find_instance(op.instance_name)
        if not op.commit:
            if existing is not None:
                hint = " (a forthcoming one: make it real with --commit)" if existing.forthcoming else ""
                raise OpPrereqError(f"Instance '{op.instance_name}' is already in the cluster{hint}", ECODE_EXISTS)
            return
        if existing is None:
            raise OpPrereqError(
                f"Instance '{op.instance_name}' is not in the cluster; --commit needs a forthcoming instance"
                " (gnt-instance add --forthcoming)",
                ECODE_NOENT,
            )
        if not existing.forthcoming:
            raise OpPrereqError(
                f"Instance '{op.instance_name}' is not forthcoming but --commit was passed", ECODE_STATE
            )
        self.reserved = existing
        self._check_matches_reservation(existing)

    def _check_matches_reservation(self, reserved: Instance) -> None:
        """A --commit asks for what was reserved: its nodes (if given), template and disk sizes."""
        op, cfg = self.op, self.cfg
        nodes = [cfg.node_name(u) for u in (reserved.primary_node, *reserved.secondary_nodes)]
        asked = [n for n in (op.pnode, op.snode) if n]
        if asked and asked != nodes[: len(asked)]:
            raise OpPrereqError(
                f"Instance '{op.instance_name}' is reserved on node(s) {', '.join(nodes)}; --commit cannot"
                f" place it on {', '.join(asked)}",
                ECODE_INVAL,
            )
        if op.iallocator:
            raise OpPrereqError("--commit uses the reserved nodes; do not give an iallocator (-I)", ECODE_INVAL)
        sizes = [d.size for d in reserved.disks]
        if op.disk_template != reserved.disk_template or self.disk_sizes != sizes:
            have = f"{reserved.disk_template}, disks {', '.join(f'{s}M' for s in sizes) or 'none'}"
            want = f"{op.disk_template}, disks {', '.join(f'{s}M' for s in self.disk_sizes) or 'none'}"
            raise OpPrereqError(
                f"Instance '{op.instance_name}' is reserved as {have}; --commit asks for {want}", ECODE_INVAL
            )
        if op.file_storage_dir is not None and reserved.disks:
            self._check_same_directory(reserved)

    def _check_same_directory(self, reserved: Instance) -> None:
        """A commit's --file-storage-dir, if given, is where the reservation's file disks are."""
        wanted = file_disk_dir(self.cfg.cluster, self.op.disk_template, self.op.instance_name, self.op.file_storage_dir)
        have = os.path.dirname(reserved.disks[0].logical_id[1]) if len(reserved.disks[0].logical_id) == 2 else None
        if wanted != have:
            raise OpPrereqError(
                f"Instance '{self.op.instance_name}' is reserved with its disks in {have}, not {wanted}", ECODE_INVAL
            )

    def _nics(self) -> list[dict[str, Any]]:
        """The NICs asked for; on a --commit, `ip=pool` on a reserved NIC's network takes its reserved address."""
        nics = list(self.op.nics)
        if self.reserved is None:
            return nics
        for index, (data, held) in enumerate(zip(nics, self.reserved.nics, strict=False)):
            net = self.cfg.networks.get(held.network) if held.network else None
            ip = data.get("ip")
            pool = isinstance(ip, str) and ip.lower() == "pool"
            if net is not None and held.ip and pool and data.get("network") in (net.name, net.uuid):
                nics[index] = {**data, "ip": held.ip}
        return nics

    def _own_addresses(self) -> frozenset[tuple[str, str]]:
        """The (network, address) pairs the reservation holds: no conflict for its own commit."""
        if self.reserved is None:
            return frozenset()
        return frozenset((n.network, n.ip) for n in self.reserved.nics if n.network and n.ip)

    def _check_group(self) -> None:
        """With -g/--node-group the instance's nodes (given with -n or chosen) must be in that group."""
        if self.node_group is None:
            return
        for node in self._nodes():
            if node.group != self.node_group.uuid:
                raise OpPrereqError(
                    f"Node {node.name} is not in node group {self.node_group.name} (-g/--node-group)", ECODE_INVAL
                )

    async def _check_os(self) -> None:
        """The OS, its variant and its parameters, on every node of the instance (Ganeti's CheckOSParams)."""
        if not self.op.os_type:
            return
        os_params.check_installable(self.cfg.cluster, self.op.os_type)  # as Ganeti: even with --no-install
        osparams = os_params.script_osparams(
            self.cfg.cluster, self.op.os_type, self.op.osparams, self.op.osparams_private, self.op.osparams_secret
        )
        await os_params.validate_on_nodes(self, self._nodes(), self.op.os_type, osparams, self.op.force_variant)

    async def _choose_node(self) -> Any:
        """Ask the allocator (-I, or the cluster default) where the instance should go."""
        from gnt.instance.placement import allocator_name, nodes_for_new_instance

        op = self.op
        be = {**filled_beparams(self.cfg.cluster, Instance(hypervisor=self.hypervisor)), **self.beparams}
        nodes = await nodes_for_new_instance(
            self,
            op.instance_name,
            op.iallocator,
            op.disk_template,
            int(be["maxmem"]),
            int(be["vcpus"]),
            self.disk_sizes,
            list(op.tags),
            op.nics,
            group_name=self.node_group.name if self.node_group is not None else None,
            node_whitelist=self._whitelist(),
        )
        self.info(
            f"Selected nodes for instance {op.instance_name} via iallocator"
            f" {allocator_name(op.iallocator, self.cfg.cluster.default_iallocator)}:"
            f" {', '.join(n.name for n in nodes)}"
        )
        self.chosen_snode = nodes[1] if len(nodes) > 1 else None
        return nodes[0]

    def _secondary(self) -> Any:
        """The drbd template's secondary node: given with -n pnode:snode, or the allocator's."""
        snode = self.cfg.node(self.op.snode) if self.op.snode else self.chosen_snode
        if snode is None:
            raise OpPrereqError("The drbd template needs a secondary node (-n pnode:snode)", ECODE_INVAL)
        if snode.uuid == self.pnode.uuid:
            raise OpPrereqError(f"The secondary node cannot be the primary node ({snode.name})", ECODE_INVAL)
        check_node_usable(snode)
        return snode

    def dry_run_result(self) -> Any:
        return [n.name for n in self._nodes()]

    def _nodes(self) -> list[Any]:
        """The nodes the disks live on, secondary first (the order of removals and messages)."""
        return [self.snode, self.pnode] if self.snode is not None else [self.pnode]

    async def exec(self) -> list[str]:
        with netnics.claim(self.cfg, self.nic_plans) as addresses:  # pool addresses held until committed
            self.nic_addresses = addresses
            return await self._exec()

    async def _exec(self) -> list[str]:
        op, cfg = self.op, self.cfg
        inst = Instance(
            name=op.instance_name,
            primary_node=self.pnode.uuid,
            os=op.os_type or "",
            hypervisor=self.hypervisor,
            disk_template=op.disk_template,
            beparams=self.beparams,
            hvparams=dict(op.hvparams),
            osparams=dict(op.osparams),
            osparams_private=dict(op.osparams_private),
            tags=list(op.tags),
            admin_state=constants.ADMINST_DOWN,
            forthcoming=op.forthcoming,
        )
        if self.reserved is not None:  # the real instance takes the reservation's place (and identity)
            inst.uuid, inst.ctime, inst.serial_no = self.reserved.uuid, self.reserved.ctime, self.reserved.serial_no
        inst.nics = [self._make_nic(i, n) for i, n in enumerate(op.nics)]
        reserved: list[drbd.Allocation] = []
        if self.snode is not None:
            inst.secondary_nodes = [self.snode.uuid]
        if self.snode is not None and self.reserved is None:  # a commit has the reservation's minors and ports
            reserved = drbd.allocate(
                list(cfg.instances.values()), self.pnode.uuid, self.snode.uuid, len(self.disk_sizes)
            )
        try:
            await self._add_disks(inst, reserved)
        finally:
            if reserved:
                drbd.release(reserved, self.pnode.uuid, self.snode.uuid)
        if op.forthcoming:  # reserved: nothing is made on the nodes
            return [n.name for n in reversed(self._nodes())]
        target = self.ctx.services.target(self.pnode)
        try:
            if self.source is not None:
                disks = self._disks_on(inst, self.pnode)
                script_spec = None
                if inst.os:  # the OS import script gets the private and secret parameters too
                    script_spec = self._spec(inst)
                    script_spec.osparams = os_params.script_osparams(
                        cfg.cluster, inst.os, inst.osparams, inst.osparams_private, op.osparams_secret
                    )
                await importing.copy_in(
                    self, self.source, self.pnode, disks, inst.name, op.compress, os_instance=script_spec
                )
            elif self.install:
                self.feedback("* running the instance OS create scripts...")
                spec = self._spec(inst)  # the OS scripts alone get the private and secret parameters too
                spec.osparams = os_params.script_osparams(
                    cfg.cluster, inst.os, inst.osparams, inst.osparams_private, op.osparams_secret
                )
                result = await self.rpc.instance_os_add(target, proc.InstanceOsAddArgs(spec))
                if result.failed:
                    raise OpExecError(
                        f"Could not add os for instance {inst.name} on node {self.pnode.name}: {result.error}"
                    )
            if op.start:
                self.feedback("* starting instance...")
                result = await self.rpc.instance_start(target, proc.InstanceStartArgs(self._spec(inst)))
                if result.failed:
                    await self._stop_quietly(inst, target)
                    raise OpExecError(f"Could not start instance {inst.name}: {result.error}")
        except GntError:
            await self._undo(inst, target)
            raise
        return [self.pnode.name, *([self.snode.name] if self.snode is not None else [])]

    async def _stop_quietly(self, inst: Instance, target: Any) -> None:
        """Whatever a failed start left running goes before its disks do (best effort)."""
        await self.rpc.instance_shutdown(target, proc.InstanceShutdownArgs(self._spec(inst), timeout=0, force=True))

    def _make_nic(self, index: int, data: dict[str, Any]) -> Nic:
        plan = self.nic_plans[index]
        known = {"mac", "ip", "mode", "link", "name", "network", "vlan"}
        unknown = set(data) - known
        if unknown:
            raise OpPrereqError(f"Unknown NIC parameter(s): {', '.join(sorted(unknown))}", ECODE_INVAL)
        mac = data.get("mac") or "auto"
        if mac in ("auto", "generate"):
            mac = netnics.generate_mac(self.cfg, plan.network)
        mode = data.get("mode")
        if mode is not None and mode not in constants.NIC_MODES:
            raise OpPrereqError(f"Invalid NIC mode '{mode}'", ECODE_INVAL)
        params = {k: data[k] for k in ("mode", "link", "vlan") if data.get(k) is not None}
        return Nic(
            uuid=new_uuid(),
            mac=mac,
            ip=self.nic_addresses[index],
            name=data.get("name"),
            network=plan.network,
            nicparams={**params, **plan.nicparams},
        )

    async def _add_disks(self, inst: Instance, reserved: list[drbd.Allocation]) -> None:
        """Make the disks on their nodes and commit the instance (while its drbd ports and
        minors are still reserved, so no other job can pick them in between)."""
        op, cfg = self.op, self.cfg
        for index, size in enumerate(self.disk_sizes):
            disk_uuid = new_uuid()
            if self.reserved is not None:  # --commit: the reserved disk (its id, minors and ports, path)
                held = self.reserved.disks[index]
                disk_uuid, fields = held.uuid, {"logical_id": list(held.logical_id), "params": dict(held.params)}
            elif self.snode is not None:
                fields = drbd.disk_fields(
                    cfg.cluster.volume_group_name, self.pnode.uuid, self.snode.uuid, disk_uuid, index, reserved[index]
                )
            elif self.adopting:  # the device's own name until adoption.adopt renames it (an LV)
                fields = {"logical_id": adoption.adopted_id(cfg.cluster, op.disk_template, op.disks[index])}
            else:
                fields = {
                    "logical_id": disk_path(
                        cfg.cluster, op.disk_template, inst.name, disk_uuid, index, op.file_storage_dir
                    )
                }
            inst.disks.append(
                Disk(
                    uuid=disk_uuid,
                    size=size,
                    dev_type=op.disk_template,
                    mode=op.disks[index].get("mode", "rw"),
                    name=op.disks[index].get("name"),
                    forthcoming=op.forthcoming,
                    **fields,
                )
            )
            self.feedback(f"* disk {index}, size {size}M")
        if op.forthcoming:
            self.feedback(f"* instance {inst.name} is forthcoming: reserving its resources, creating no disks")
            await cfg.commit([inst, cfg.cluster, *netnics.reserve(cfg, inst)])
            return
        if self.adopting:
            self.feedback("* adopting instance disks...")
            await adoption.adopt(self, inst, self.pnode)
        else:
            self.feedback("* creating instance disks...")
            await self._create_disks(inst)
            await self._wipe_disks(inst)
        if self.snode is not None and op.wait_for_sync:
            try:
                await self._wait_for_sync(inst)
            except GntError:
                await self._remove_disks(inst, inst.disks)
                raise
        self.feedback(f"adding instance {inst.name} to cluster config")
        if op.start:
            inst.admin_state = constants.ADMINST_UP
        networks = []
        if self.reserved is not None:  # the reservation's addresses go, the real instance's are marked
            networks = netnics.release(cfg, self.reserved)
        networks = {n.uuid: n for n in [*networks, *netnics.reserve(cfg, inst)]}
        await cfg.commit([inst, cfg.cluster, *networks.values()])

    def _spec(self, inst: Instance) -> InstanceSpec:
        spec = build_spec(self.cfg, inst)
        if self.snode is not None:
            spec.disks = drbd.node_specs(spec.disks, inst, self.pnode, {n.uuid: n for n in self._nodes()})
        return spec

    def _disks_on(self, inst: Instance, node: Any) -> list[DiskSpec]:
        specs = build_spec(self.cfg, inst).disks
        if self.snode is None:
            return specs
        return drbd.node_specs(specs, inst, node, {n.uuid: n for n in self._nodes()})

    async def _create_disks(self, inst: Instance) -> None:
        """Each disk made on its nodes at once: a drbd disk's two sides are independent until they
        connect (DRBD keeps trying until its peer listens), and one side costs a test-bed host
        about 5 s of LVM and DRBD commands, so in turn the two took twice that (bench_drbd_steps)."""
        created: list[Disk] = []
        nodes = self._nodes()
        specs = {node.uuid: self._disks_on(inst, node) for node in nodes}
        for index, disk in enumerate(inst.disks):
            results = await asyncio.gather(
                *(
                    self.rpc.blockdev_create(
                        self.ctx.services.target(node), proc.BlockdevArgs(specs[node.uuid][index], inst.name)
                    )
                    for node in nodes
                )
            )
            failed = [(node, result) for node, result in zip(nodes, results, strict=True) if result.failed]
            if failed:
                # the failed one too, on every node: a node may have made part of it before failing
                await self._remove_disks(inst, [*created, disk])
                node, result = failed[0]
                raise OpExecError(
                    f"Can't create disk {index} of instance {inst.name} on node {node.name}: {result.error}"
                )
            created.append(disk)

    async def _wipe_disks(self, inst: Instance) -> None:
        """`--prealloc-wipe-disks`: zeros over the new disks before the OS or the guest sees them;
        if that fails the disks go again (adopted disks hold data: they are never wiped)."""
        if not wipe.enabled(self):
            return
        self.feedback("* wiping instance disks...")
        try:
            await wipe.wipe(self, self.pnode, inst.name, [(spec, 0) for spec in self._disks_on(inst, self.pnode)])
        except OpExecError as err:
            self.warning(f"Wiping instance disks failed ({err}); removing them")
            await self._remove_disks(inst, inst.disks)
            raise OpExecError(f"Could not wipe the new disks of instance {inst.name}: {err}") from None

    async def _remove_disks(self, inst: Instance, disks: list[Disk]) -> None:
        wanted = {d.uuid for d in disks}
        for node in self._nodes():
            specs = [s for s in self._disks_on(inst, node) if s.uuid in wanted]
            await pending.remove_disks(self, node, specs, inst.name)

    async def _wait_for_sync(self, inst: Instance) -> None:
        """Follow the initial sync on the primary, its progress in the job log (Ganeti's
        WaitForSync); a pair that stops syncing (a peer gone, a refused secret) fails the job."""
        target = self.ctx.services.target(self.pnode)
        specs = self._disks_on(inst, self.pnode)
        self.feedback("* waiting for the disks to sync...")
        stalled = 0
        while True:
            result = await self.rpc.drbd_status(target, proc.BlockdevInfoArgs(specs))
            statuses = result.get(f"Cannot get the DRBD status of instance {inst.name}'s disks on {self.pnode.name}")
            if all(s is not None and s["in_sync"] for s in statuses):
                self.feedback(f"- instance {inst.name}'s disks are in sync")
                return
            syncing = False
            for spec, status in zip(specs, statuses, strict=True):
                if status is not None and status.get("sync_percent") is not None:
                    syncing = True
                    eta = status.get("sync_eta")
                    remaining = f", {eta}s remaining (estimated)" if eta is not None else ""
                    self.feedback(f"- device disk/{spec.index}: {status['sync_percent']:5.1f}% done{remaining}")
            stalled = 0 if syncing else stalled + 1
            if stalled > SYNC_STALL_POLLS:
                states = ", ".join(
                    f"disk/{sp.index} {st['cstate'] if st else 'missing'}"
                    for sp, st in zip(specs, statuses, strict=True)
                )
                raise OpExecError(f"The disks of instance {inst.name} do not sync ({states})")
            await asyncio.sleep(SYNC_POLL_INTERVAL)

    async def _undo(self, inst: Instance, target: Any) -> None:
        """Remove what this job created, so a failed create leaves nothing behind."""
        if self.adopting:  # adopted devices are never deleted: given back under their old names
            self.warning(f"Releasing the adopted disks and removing the config entry of instance {inst.name}")
            await adoption.release(self, inst, self.pnode)
        else:
            self.warning(f"Removing disks and config entry of instance {inst.name}")
            await self._remove_disks(inst, inst.disks)
        if self.reserved is not None:  # a failed --commit leaves the reservation as it was
            await self._restore_reservation(inst)
            return
        await self.cfg.commit(netnics.release(self.cfg, inst), delete=[inst])

    async def _restore_reservation(self, inst: Instance) -> None:
        """Put the forthcoming instance back in place of the half-made real one (same uuid)."""
        cfg, reserved = self.cfg, self.reserved
        assert reserved is not None
        if cfg.instances.get(inst.uuid) is not inst:  # the real one was never committed
            return
        self.warning(f"Keeping instance {inst.name} as forthcoming (reserved)")
        restored = copy.deepcopy(reserved)
        restored.serial_no = inst.serial_no
        networks = {n.uuid: n for n in [*netnics.release(cfg, inst), *netnics.reserve(cfg, restored)]}
        await cfg.commit([restored, *networks.values()])
