"""The master's state, assembled: config, queue, locks, RPC, services; started and stopped as one.

`daemons/masterd.py` wires this to sockets and hands it the logical units to run (a `Registry`,
built in `daemons/registry.py`); tests can run it in-process with the registry they need.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

from gnt import paths
from gnt.config import store
from gnt.config.manager import ConfigManager
from gnt.db import SqliteWriter
from gnt.errors import ECODE_NOENT, OpPrereqError
from gnt.filters import manage as filter_rules
from gnt.instance.common import primary_spec
from gnt.jobs import queue as jobqueue
from gnt.jobs.locking import LockManager
from gnt.jobs.lu import Context, Registry
from gnt.jobs.replication import QueueReplicator
from gnt.jobs.services import MasterServices
from gnt.objects import Instance, Node
from gnt.rpc import procedures as proc
from gnt.rpc.client import RpcClient

log = logging.getLogger("gnt-masterd")


class Master:
    def __init__(self, registry: Registry) -> None:
        paths.ensure_dir(paths.data_dir())
        self.config_writer = SqliteWriter(paths.config_db(), store.SCHEMA, durable=True)
        self.cfg = ConfigManager(self.config_writer)
        self.cfg.load()
        self.rpc = RpcClient.https(paths.cluster_cert(), self.cfg.cluster.noded_port)
        self.services = MasterServices(self.cfg, self.rpc)
        self.services.request_shutdown = self.request_shutdown  # type: ignore[attr-defined]
        self.cfg.replicator = self.services.replicate
        self.locks = LockManager()
        ctx = Context(cfg=self.cfg, rpc=self.rpc, locks=self.locks, services=self.services)
        self.queue_writer = SqliteWriter(paths.jobs_db(), jobqueue.SCHEMA)
        self.queue = jobqueue.JobQueue(
            self.queue_writer,
            ctx,
            os.path.join(paths.data_dir(), "queue.drain"),
            self.cfg.cluster.max_running_jobs,
            registry=registry,
        )
        self.queue.replicator = QueueReplicator(self.services, self.queue_writer)
        self.services.queue = self.queue
        self.stopping = asyncio.Event()
        self.destroy = False

    async def start(self) -> None:
        self.queue.load()
        filter_rules.load_rules(self)  # before any job starts: a paused job stays paused across restarts
        self.queue.start()
        asyncio.create_task(self._announce())

    async def _announce(self) -> None:
        """After a (re)start, bring ssconf and candidate replicas up to date."""
        await self.services.push_ssconf()
        await self._activate_master_ip()
        master = self.cfg.cluster.master_node
        for node in self.cfg.master_candidates():
            if node.uuid != master and not node.offline:
                result = await self.services.full_resync(node)
                if result.failed:
                    log.warning("could not resync candidate %s: %s", node.name, result.error)

    async def _activate_master_ip(self) -> None:
        """Put the floating master IP up on this node (init, restart, failover); a failure is only logged."""
        if not self.cfg.cluster.master_ip:
            return
        result = await self.rpc.call(self.services.target(self.cfg.master()), proc.MASTER_IP_ACTIVATE, proc.NoArgs())
        if result.failed:
            log.warning("could not activate the master IP %s: %s", self.cfg.cluster.master_ip, result.error)

    def request_shutdown(self, destroy: bool = False) -> None:
        self.destroy = self.destroy or destroy
        asyncio.get_running_loop().call_later(0.3, self.stopping.set)

    async def stop(self) -> None:
        await self.queue.stop()
        await self.rpc.close()
        self.queue_writer.close()
        self.config_writer.close()
        if self.destroy:
            self._wipe()

    def _wipe(self) -> None:
        """After gnt-cluster destroy: forget the cluster on the master node."""
        for path in (paths.config_db(), paths.jobs_db(), paths.cluster_cert(), paths.cluster_ca(), paths.rapi_cert()):
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(path + suffix):
                    os.unlink(path + suffix)
        for entry in os.listdir(paths.ssconf_dir()):
            if entry.startswith("ssconf_"):
                os.unlink(os.path.join(paths.ssconf_dir(), entry))

    # -- live data for queries ---------------------------------------------------------------
    async def node_live(self, nodes: list[Node]) -> dict[str, dict[str, Any] | None]:
        online = [n for n in nodes if not n.offline]
        results = await self.services.live(online, proc.NODE_INFO, self.services.node_info_args())
        return {name: (None if r.failed else r.payload) for name, r in results.items()}

    async def instance_live(self, instances: list[Instance]) -> dict[str, dict[str, Any] | None]:
        # every online node: an instance may run where it should not (ERROR_wrongnode)
        nodes = [n for n in self.cfg.nodes.values() if not n.offline] if instances else []
        args = proc.HypervisorsArgs(list(self.cfg.cluster.enabled_hypervisors))
        results = await self.services.live(nodes, proc.ALL_INSTANCES_INFO, args)
        return {name: (None if r.failed else r.payload) for name, r in results.items()}

    async def os_diagnose(self) -> list[dict[str, Any]]:
        """Every OS on the vm_capable nodes, merged per OS (gnt.os.query)."""
        from gnt.os import query as os_query

        return await os_query.collect(self.cfg, self.rpc, self.services)

    async def instance_console(self, name: str) -> dict[str, Any]:
        inst = self.cfg.find_instance(name)
        if inst is None:
            raise OpPrereqError(f"Instance '{name}' not known", ECODE_NOENT)
        node = self.cfg.nodes[inst.primary_node]
        args = proc.InstanceArgs(primary_spec(self.cfg, inst))
        result = await self.rpc.instance_console(self.services.target(node), args)
        info = result.get("Cannot get console information")
        info["node"] = node.name
        info["node_ip"] = node.primary_ip
        return info
