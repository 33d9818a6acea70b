"""Node add, remove and modify."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from gnt import PROTOCOL_VERSION, constants, netutil, node_certs, paths, resstate
from gnt.confine import format_storage_paths, format_volume_groups
from gnt.errors import ECODE_EXISTS, ECODE_INVAL, ECODE_STATE, GntError, OpExecError, OpPrereqError
from gnt.hooks import env as hook_env
from gnt.jobs.locking import ALL, Level, LockRequest
from gnt.jobs.lu import LogicalUnit, register
from gnt.jobs.replication import SSH_FILES
from gnt.node import secondary_ip as sip
from gnt.node import sshkeys
from gnt.node.join import NoSetupTransport, default_transport, forget_host_key, remember_host_key
from gnt.objects import Node
from gnt.opcodes import OpNodeAdd, OpNodeRemove, OpNodeSetParams
from gnt.rpc.client import Target

JOIN_TIMEOUT = 10.0
#: one version probe while a new node daemon comes up (it answers at once or is not there yet)
JOIN_POLL_TIMEOUT = 5.0


def _node_pem(node_name: str) -> bytes:
    """A key pair of the node's own signed by the cluster CA (gnt.node_certs); the shared certificate on a
    cluster made before per-node certificates (it has no CA file)."""
    if os.path.exists(paths.cluster_ca()):
        with open(paths.cluster_ca(), "rb") as handle:
            return node_certs.issue(handle.read(), node_name)
    with open(paths.cluster_cert(), "rb") as handle:
        return handle.read()


def _ssh_port(cfg: Any, ndparams: dict[str, Any]) -> int:
    return int({**constants.ND_DEFAULTS, **cfg.cluster.ndparams, **ndparams}.get("ssh_port", 22))


@register
class LUNodeAdd(LogicalUnit):
    OPCODE = OpNodeAdd
    op: OpNodeAdd
    HPATH = "node-add"
    HTYPE = "NODE"

    def hooks_env(self) -> dict[str, Any]:
        return hook_env.node_env(self.op, self.cfg.find_node(self.op.node_name))

    def hooks_nodes(self) -> tuple[list[Any], list[Any]]:
        return hook_env.node_hook_nodes(self.cfg, self.op.node_name, removing=False)

    BGL_EXCLUSIVE = True

    def declare_locks(self, level: Level) -> LockRequest | None:
        return LockRequest(ALL) if level == Level.NODE else None

    def check_prereq(self) -> None:
        op = self.op
        existing = self.cfg.find_node(op.node_name)
        if existing is not None and not op.readd:
            raise OpPrereqError(f"Node {op.node_name} is already in the configuration", ECODE_EXISTS)
        if existing is None and op.readd:
            raise OpPrereqError(f"Node {op.node_name} is not in the configuration", ECODE_INVAL)
        self.primary_ip = op.primary_ip or netutil.resolve(op.node_name)
        for node in self.cfg.nodes.values():
            if node.name != op.node_name and self.primary_ip in (node.primary_ip, node.secondary_ip):
                raise OpPrereqError(f"New node ip address(es) conflict with existing node {node.name}", ECODE_EXISTS)
        sip.check_add(self.cfg, op.node_name, self.primary_ip, op.secondary_ip)
        self.group = self.cfg.group(op.group) if op.group else self.cfg.default_group()
        self.existing = existing
        self.ssh_port = _ssh_port(self.cfg, op.ndparams)
        if op.ssh_host_key:
            from gnt.node.ssh import parse_host_key

            try:
                parse_host_key(op.ssh_host_key)
            except ValueError as err:
                raise OpPrereqError(f"Invalid ssh_host_key: {err}", ECODE_INVAL) from None

    async def exec(self) -> None:
        op, cfg, services = self.op, self.cfg, self.ctx.services
        pem = await asyncio.to_thread(_node_pem, op.node_name)
        transport = default_transport(self.ssh_port, op.ssh_host_key) if op.node_setup else NoSetupTransport()
        try:
            await transport.check_version(op.node_name, self.primary_ip)
            self.feedback(f"* installing the node's own certificate (signed by the cluster CA) on {op.node_name}")
            await transport.install_cert(op.node_name, self.primary_ip, pem)
            await transport.install_cert_list(op.node_name, self.primary_ip, services.node_cert_list())
            roots = format_storage_paths(services.storage_dirs())
            await transport.install_storage_paths(op.node_name, self.primary_ip, roots)
            vgs = format_volume_groups([self.cfg.cluster.volume_group_name])
            await transport.install_volume_groups(op.node_name, self.primary_ip, vgs)
            if not paths.is_virtual() and op.node_setup:
                self.feedback(f"* installing the cluster's SSH key on {op.node_name}")
                c = self.cfg.cluster
                public_key = await asyncio.to_thread(sshkeys.ensure_cluster_key, c.ssh_key_type, c.ssh_key_bits)
                await transport.install_ssh_key(op.node_name, self.primary_ip, public_key)
            if op.node_setup:
                said = await transport.start_node_daemon(op.node_name, self.primary_ip)
                if said:
                    self.feedback(f"* {said}")
            host_key = transport.host_key(self.primary_ip)
        finally:
            transport.close()
        target = Target(op.node_name, self.primary_ip)
        self.feedback(f"* waiting for the node daemon on {op.node_name}")
        info = await self._wait_for_node(target)
        if info.get("protocol") != PROTOCOL_VERSION:
            raise OpExecError(f"Node {op.node_name} speaks protocol {info.get('protocol')}, master {PROTOCOL_VERSION}")
        if info.get("node") != op.node_name:
            raise OpExecError(
                f"The daemon at {self.primary_ip} says it is node '{info.get('node')}', not '{op.node_name}'"
            )
        if op.secondary_ip and op.secondary_ip != self.primary_ip:
            await sip.check_owned(self, target, op.secondary_ip)
        has_ca = os.path.exists(paths.cluster_ca())
        digests = [node_certs.digest(pem)] if op.node_setup and has_ca else []
        if not op.node_setup and has_ca:
            digests = [await self._learn_certificate()]
            await self._check_serves_master(target)
        node = self.existing or Node(name=op.node_name)
        node.primary_ip = self.primary_ip
        node.secondary_ip = op.secondary_ip or self.primary_ip
        node.group = self.group.uuid
        node.offline = node.drained = False
        node.master_capable = op.master_capable if op.master_capable is not None else True
        node.vm_capable = op.vm_capable if op.vm_capable is not None else True
        node.ndparams.update(op.ndparams)
        if op.hv_state is not None:
            node.hv_state_static = resstate.apply_hv_state({}, op.hv_state)
        if op.disk_state is not None:
            node.disk_state_static = resstate.apply_disk_state({}, op.disk_state)
        # a re-added node's previous certificate is refused from here on; a shared (pre-CA) one is not listed
        node.cert_digests = digests
        candidates = len(cfg.master_candidates()) - (1 if node.master_candidate else 0)
        node.master_candidate = node.master_capable and candidates < cfg.cluster.candidate_pool_size
        if node.master_candidate:
            self.feedback(f"* {op.node_name} becomes a master candidate; copying the config")
        await cfg.commit([node])
        if host_key:
            await asyncio.to_thread(remember_host_key, op.node_name, self.primary_ip, self.ssh_port, host_key)
            await services.push_candidate_files(SSH_FILES)  # so a new master can SSH to this node too
        if node.master_candidate:
            result = await services.full_resync(node)
            result.get("Could not copy the config")
        await services.push_ssconf()

    async def _learn_certificate(self) -> str:
        """The digest of the certificate a node set up by its admin (--no-node-setup) presents, pinned from now on.

        The master did not issue it into place, so it learns it on first contact: signed by the cluster CA,
        naming this node, and not another node's (a copied certificate would let two nodes pass for one).
        """
        op = self.op
        others = {d: n.name for n in self.cfg.nodes.values() if n.name != op.node_name for d in n.cert_digests}
        port = self.cfg.cluster.noded_port
        self.feedback(f"* learning the certificate {op.node_name} presents (its admin installed it)")
        try:
            found = await asyncio.to_thread(
                node_certs.learn, op.node_name, self.primary_ip, port, paths.cluster_cert(), others
            )
        except ValueError as err:
            raise OpExecError(
                f"Cannot add node {op.node_name}: {err}; install a certificate the cluster CA issued for it"
            ) from None
        self.feedback(f"  - {op.node_name} presents certificate SHA-256 {found[:16]}..., signed by the cluster CA")
        return found

    async def _check_serves_master(self, target: Target) -> None:
        """A node set up by hand must hold the master's list of node certificates, or it refuses every master
        procedure (agent.callers): found out here, before the config names it, by a read-only one."""
        result = await self.rpc.config_serial(target)
        if result.failed:
            raise OpExecError(
                f"Node {self.op.node_name} does not serve this master ({result.error}); copy the master's"
                f" {paths.ssconf_file(node_certs.SSCONF_KEY)} to the node"
            )

    async def _wait_for_node(self, target: Target) -> dict[str, Any]:
        deadline = time.monotonic() + JOIN_TIMEOUT
        while True:
            result = await self.rpc.version(target, timeout=JOIN_POLL_TIMEOUT)
            if not result.failed:
                return result.payload
            if time.monotonic() > deadline:
                raise OpExecError(f"Node daemon on {target.name} did not come up: {result.error}")
            await asyncio.sleep(0.05)


@register
class LUNodeRemove(LogicalUnit):
    OPCODE = OpNodeRemove
    op: OpNodeRemove
    HPATH = "node-remove"
    HTYPE = "NODE"

    def hooks_env(self) -> dict[str, Any]:
        return hook_env.node_env(self.op, self.node)

    def hooks_nodes(self) -> tuple[list[Any], list[Any]]:
        return hook_env.node_hook_nodes(self.cfg, self.op.node_name, removing=True)

    BGL_EXCLUSIVE = True

    def declare_locks(self, level: Level) -> LockRequest | None:
        return LockRequest(ALL) if level == Level.NODE else None

    def check_prereq(self) -> None:
        self.node = self.cfg.node(self.op.node_name)
        if self.node.uuid == self.cfg.cluster.master_node:
            raise OpPrereqError("Node is the master node, failover to another node is required", ECODE_INVAL)
        for inst in self.cfg.instances.values():
            if self.node.uuid == inst.primary_node or self.node.uuid in inst.secondary_nodes:
                raise OpPrereqError(
                    f"Instance {inst.name} is still running on the node, please remove first", ECODE_INVAL
                )

    async def exec(self) -> None:
        node, services = self.node, self.ctx.services
        self.feedback(f"* removing node {node.name} from the cluster config")
        await self.cfg.commit(delete=[node])
        result = await self.rpc.node_leave(services.target(node))
        if result.failed:
            self.warning(f"Could not clean up node {node.name}: {result.error}")
        port = _ssh_port(self.cfg, node.ndparams)
        if paths.is_virtual() or await asyncio.to_thread(_host_key_recorded, node, port):
            transport = default_transport(port)
            try:  # a real node: its daemon stopped, the cluster's files and SSH key gone
                await transport.leave(node.name, node.primary_ip, sshkeys.cluster_public_key())
            except GntError as err:
                self.warning(f"Could not clean up node {node.name} over SSH: {err}")
            finally:
                transport.close()
        else:
            self.feedback(
                f"* {node.name} was joined without SSH set-up (--no-node-setup): its daemon was told to leave,"
                " and its sshd and keys are left as the admin set them"
            )
        await asyncio.to_thread(forget_host_key, node.name, node.primary_ip, port)
        await services.push_candidate_files(SSH_FILES)
        await services.push_ssconf()


def _host_key_recorded(node: Node, port: int) -> bool:
    """Whether gnt-node add confirmed and recorded this node's SSH host key.

    A node joined with --no-node-setup never had one recorded, and gnt never logged in to it: logging
    in at removal would only fail on the unknown key and print a warning about a set-up never made.
    """
    from gnt.node import ssh

    settings = ssh.SshSettings(port=port)
    return bool(ssh.known_keys(settings, node.primary_ip, port, names=(node.name,)))


def _check_power_change(cfg: Any, node: Node, op: OpNodeSetParams) -> None:
    """Ganeti's rules for `powered`: only nodes with an OOB program have one, and an unpowered node
    stays offline until it is powered on (`gnt-node power on`)."""
    from gnt.oob.protocol import oob_program

    supports_oob = bool(oob_program(cfg, node))
    if op.powered is not None and not supports_oob:
        raise OpPrereqError(
            f"Node {node.name} does not support out-of-band handling, it can not be marked as powered", ECODE_STATE
        )
    if op.offline is False and supports_oob and not node.powered and not op.powered:
        raise OpPrereqError(f"Please power on node {node.name} first before you can reset offline state", ECODE_STATE)


@register
class LUNodeSetParams(LogicalUnit):
    OPCODE = OpNodeSetParams
    op: OpNodeSetParams

    def check_arguments(self) -> None:
        op = self.op
        flags = [f for f in (op.master_candidate, op.offline, op.drained) if f]
        if len(flags) > 1:
            raise OpPrereqError("Only one of master candidate, offline and drained may be set", ECODE_INVAL)
        if all(
            v is None
            for v in (
                op.master_candidate,
                op.offline,
                op.drained,
                op.master_capable,
                op.vm_capable,
                op.ndparams,
                op.secondary_ip,
                op.powered,
                op.hv_state,
                op.disk_state,
            )
        ):
            raise OpPrereqError("Please pass at least one modification", ECODE_INVAL)

    def declare_locks(self, level: Level) -> LockRequest | None:
        return LockRequest([self.op.node_name]) if level == Level.NODE else None

    async def check_prereq(self) -> None:
        op = self.op
        self.node = self.cfg.node(op.node_name)
        if op.secondary_ip is not None and op.secondary_ip != self.node.secondary_ip:
            await sip.check_modify(self, self.node, op.secondary_ip, op.force)
        is_master = self.node.uuid == self.cfg.cluster.master_node
        if is_master and (op.offline or op.drained or op.master_candidate is False):
            raise OpPrereqError(
                f"The master node {self.node.name} cannot be offline, drained or demoted; fail the master over first",
                ECODE_INVAL,
            )
        _check_power_change(self.cfg, self.node, op)
        if op.master_candidate and not (self.node.master_capable or op.master_capable):
            raise OpPrereqError(f"Node {self.node.name} is not master capable", ECODE_STATE)
        if op.offline and not op.force:
            running = [i.name for i in self.cfg.primary_instances(self.node.uuid) if i.admin_state == "up"]
            if running:
                raise OpPrereqError(
                    f"Node {self.node.name} has running primary instances ({', '.join(running)});"
                    " move them away first or use --force",
                    ECODE_STATE,
                )

    async def exec(self) -> list[list[str]]:
        op, node = self.op, self.node
        changes: list[list[str]] = []
        was_candidate, was_offline = node.master_candidate, node.offline
        for attr in ("offline", "drained", "master_candidate", "master_capable", "vm_capable"):
            value = getattr(op, attr)
            if value is not None and getattr(node, attr) != value:
                setattr(node, attr, value)
                changes.append([attr, str(value)])
        if (op.offline or op.drained or node.master_capable is False) and node.master_candidate:
            node.master_candidate = False
            changes.append(["master_candidate", "auto-demotion due to offline/drained/not capable"])
        if op.offline is False and was_candidate is False and node.master_capable and op.master_candidate is None:
            pool = len(self.cfg.master_candidates())
            if pool < self.cfg.cluster.candidate_pool_size:
                node.master_candidate = True
                changes.append(["master_candidate", "auto-promotion"])
        if op.ndparams:
            node.ndparams.update(op.ndparams)
            changes.append(["ndparams", str(op.ndparams)])
        if op.hv_state is not None:
            node.hv_state_static = resstate.apply_hv_state(node.hv_state_static, op.hv_state)
            changes.append(["hv_state", str(resstate.format_hv_state(node.hv_state_static))])
        if op.disk_state is not None:
            node.disk_state_static = resstate.apply_disk_state(node.disk_state_static, op.disk_state)
            changes.append(["disk_state", str(resstate.format_disk_state(node.disk_state_static))])
        if op.powered is not None and op.powered != node.powered:
            node.powered = op.powered
            changes.append(["powered", str(op.powered)])
        if op.secondary_ip is not None and op.secondary_ip != node.secondary_ip:
            node.secondary_ip = op.secondary_ip
            changes.append(["secondary_ip", op.secondary_ip])
        await self.cfg.commit([node])
        services = self.ctx.services
        if node.master_candidate and not was_candidate:
            (await services.full_resync(node)).get("Could not copy the config")
        elif not node.master_candidate and not node.offline and (was_candidate or was_offline):
            # demoted now, or while it was offline (auto-demotion): its config copy and candidate-only keys go
            dropped = await self.rpc.config_drop(services.target(node))
            if dropped.failed:
                self.warning(f"Could not remove the config copy on {node.name}: {dropped.error}")
        await self.ctx.services.push_ssconf()
        self.ctx.services.invalidate_live()
        return changes
