"""Master-side services the logical units share: node addressing, replication, ssconf, live data.

Replication keeps one ordered sender per master candidate: change sets go out in serial order,
several pending ones travel in one RPC, and a candidate that reports a gap gets a full copy.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, TypeVar

from gnt import constants, node_certs, uidpool
from gnt.batching import OrderedBatchSender
from gnt.cluster.master_ip_config import ssconf_values as master_ip_ssconf
from gnt.config.manager import ConfigManager
from gnt.config.store import ChangeSet
from gnt.objects import Node
from gnt.rpc import procedures as proc
from gnt.rpc.client import RpcClient, RpcResult, Target

log = logging.getLogger("gnt-masterd")
LIVE_CACHE_TTL = 2.0
A = TypeVar("A")


class CandidateSender(OrderedBatchSender[ChangeSet]):
    """Ships change sets to one master candidate, in order, batching what queued up."""

    def __init__(self, services: MasterServices, node_uuid: str) -> None:
        self.services = services
        self.node_uuid = node_uuid
        super().__init__()

    async def ship(self, changes: list[ChangeSet]) -> None:
        cfg = self.services.cfg
        node = cfg.nodes.get(self.node_uuid)
        if node is None or node.offline:
            return
        target = self.services.target(node)
        result = await self.services.rpc.config_apply(target, proc.ConfigApplyArgs(changes))
        if result.failed:
            log.warning("replication to %s failed: %s", node.name, result.error)
            return
        if result.payload.get("resync"):
            await self.services.full_resync(node)


class MasterServices:
    def __init__(self, cfg: ConfigManager, rpc: RpcClient) -> None:
        self.cfg = cfg
        self.rpc = rpc
        self.queue: Any = None
        self._senders: dict[str, CandidateSender] = {}
        self._live: dict[tuple[str, str], tuple[float, RpcResult]] = {}

    # -- addressing --------------------------------------------------------------------------
    def target(self, node: Node) -> Target:
        return Target(node.name, node.primary_ip, node.offline, tuple(node.cert_digests))

    def targets(self, nodes: list[Node]) -> list[Target]:
        return [self.target(n) for n in nodes]

    # -- replication ---------------------------------------------------------------------------
    async def replicate(self, changes: ChangeSet) -> None:
        master = self.cfg.cluster.master_node
        waits = []
        for node in self.cfg.master_candidates():
            if node.uuid == master or node.offline:
                continue
            sender = self._senders.get(node.uuid)
            if sender is None:
                sender = self._senders[node.uuid] = CandidateSender(self, node.uuid)
            waits.append(sender.send(changes))
        if waits:
            await asyncio.gather(*waits)

    async def full_resync(self, node: Node) -> RpcResult:
        """The whole config to `node`, then (once it took the config) the whole job queue."""
        args = proc.ConfigReplaceArgs(self.cfg.serial, self.cfg.snapshot())
        result = await self.rpc.config_replace(self.target(node), args)
        replicator = getattr(self.queue, "replicator", None)
        if not result.failed and replicator is not None and node.uuid != self.cfg.cluster.master_node:
            await replicator.full_copy(node)
        if not result.failed:
            await self.push_candidate_files(nodes=[node])
        return result

    async def push_candidate_files(self, names: list[str] | None = None, nodes: list[Node] | None = None) -> None:
        """The master's SSH key, known_hosts, drain flag, RAPI key pair to candidates (gnt.candidate_files)."""
        from gnt.jobs.replication import push_candidate_files

        await push_candidate_files(self, names, nodes)

    # -- ssconf ----------------------------------------------------------------------------------
    def ssconf_values(self) -> dict[str, str]:
        cfg = self.cfg
        nodes = sorted(cfg.nodes.values(), key=lambda n: n.name)
        return {
            "cluster_name": cfg.cluster.cluster_name,
            "master_node": cfg.master().name,
            "master_ip": cfg.master().primary_ip,
            "node_list": "\n".join(n.name for n in nodes),
            "node_primary_ips": "\n".join(f"{n.name} {n.primary_ip}" for n in nodes),
            "master_candidates": "\n".join(n.name for n in nodes if n.master_candidate),
            "online_nodes": "\n".join(n.name for n in nodes if not n.offline),
            "noded_port": str(cfg.cluster.noded_port),
            "hypervisor_list": "\n".join(cfg.cluster.enabled_hypervisors),
            "rapi_port": str(cfg.cluster.rapi_port),
            "file_storage_dir": cfg.cluster.file_storage_dir,
            "shared_file_storage_dir": cfg.cluster.shared_file_storage_dir,
            "uid_pool": uidpool.to_ssconf(cfg.cluster.uid_pool),
            "maintain_node_health": str(cfg.cluster.maintain_node_health),
            **master_ip_ssconf(cfg.cluster),
            node_certs.SSCONF_KEY: self.node_cert_list(),
        }

    def node_cert_list(self) -> str:
        """The certificates node daemons accept callers by (gnt.node_certs): candidates may act as master."""
        master = self.cfg.cluster.master_node
        entries = []
        for node in self.cfg.nodes.values():
            role = node_certs.ROLE_CANDIDATE if node.master_candidate or node.uuid == master else node_certs.ROLE_NODE
            entries.extend((d, role) for d in node.cert_digests)
        return node_certs.format_list(entries)

    async def push_ssconf(self, extra_nodes: list[Node] | None = None) -> dict[str, RpcResult]:
        nodes = [n for n in self.cfg.nodes.values() if not n.offline] + (extra_nodes or [])
        return await self.rpc.call_many(
            self.targets(nodes), proc.SSCONF_WRITE, proc.SsconfWriteArgs(self.ssconf_values())
        )

    # -- live data -------------------------------------------------------------------------------
    async def live(
        self, nodes: list[Node], procedure: proc.Procedure[A], args: A, fresh: bool = False
    ) -> dict[str, RpcResult]:
        """One batched RPC per node, in parallel, cached for a short while (list/info queries)."""
        now = time.monotonic()
        results: dict[str, RpcResult] = {}
        missing = []
        for node in nodes:
            hit = self._live.get((node.name, procedure.name))
            if hit and not fresh and now - hit[0] < LIVE_CACHE_TTL:
                results[node.name] = hit[1]
            else:
                missing.append(node)
        if missing:
            fetched = await self.rpc.call_many(self.targets(missing), procedure, args)
            for name, result in fetched.items():
                self._live[(name, procedure.name)] = (now, result)
            results.update(fetched)
        return results

    def invalidate_live(self) -> None:
        self._live.clear()

    def node_info_args(self) -> proc.NodeInfoArgs:
        """Arguments of the node_info RPC that list and allocation queries send."""
        return proc.NodeInfoArgs([self.cfg.cluster.default_hypervisor], self.storage_dirs(), self.vg_names())

    def vg_names(self) -> list[str]:
        """The cluster's volume group, when an LVM template (plain) is enabled: its free space is
        what node lists report as dfree and what the allocator places plain disks by."""
        cluster = self.cfg.cluster
        lvm = any(t in constants.LVM_DISK_TEMPLATES for t in cluster.enabled_disk_templates)
        return [cluster.volume_group_name] if lvm and cluster.volume_group_name else []

    def storage_dirs(self) -> list[str]:
        cluster = self.cfg.cluster
        return [d for d in (cluster.file_storage_dir, cluster.shared_file_storage_dir) if d]
