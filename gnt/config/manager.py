"""The master's in-memory config: lookups for logical units and the one way to commit changes.

Logical units read objects from here and, holding the right locks, change them in place; then
`commit` persists exactly the changed objects (one change set, one serial) and waits until every
master candidate has applied it. Nothing rewrites the whole config for a one-object change.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from gnt import serial as ser
from gnt.config import store
from gnt.db import SqliteWriter
from gnt.errors import ECODE_NOENT, ConfigurationError, OpPrereqError
from gnt.filters.rules import FilterRule
from gnt.objects import Cluster, ConfigObject, Instance, Network, Node, NodeGroup

Replicator = Callable[[store.ChangeSet], Awaitable[None]]


class ConfigManager:
    """Holds cluster, groups, nodes and instances; indexes them by name."""

    def __init__(self, writer: SqliteWriter) -> None:
        self._writer = writer
        self.serial = 0
        self.cluster = Cluster()
        self.groups: dict[str, NodeGroup] = {}
        self.nodes: dict[str, Node] = {}
        self.instances: dict[str, Instance] = {}
        self.networks: dict[str, Network] = {}
        self.filters: dict[str, FilterRule] = {}  # job filter rules (gnt-filter), by uuid
        self._node_names: dict[str, str] = {}
        self._instance_names: dict[str, str] = {}
        self.replicator: Replicator | None = None
        self.on_commit: list[Callable[[store.ChangeSet], None]] = []

    # -- loading -----------------------------------------------------------------------------
    def load(self) -> None:
        serial, objects = store.load(self._writer.conn)
        clusters = list(objects.get("cluster", {}).values())
        if len(clusters) != 1:
            raise ConfigurationError("The config holds no cluster; run gnt-cluster init first")
        self.serial = serial
        self.cluster = ser.from_dict(Cluster, clusters[0])
        self.groups = {u: ser.from_dict(NodeGroup, d) for u, d in objects.get("nodegroup", {}).items()}
        self.nodes = {u: ser.from_dict(Node, d) for u, d in objects.get("node", {}).items()}
        self.instances = {u: ser.from_dict(Instance, d) for u, d in objects.get("instance", {}).items()}
        self.networks = {u: ser.from_dict(Network, d) for u, d in objects.get("network", {}).items()}
        self.filters = {u: ser.from_dict(FilterRule, d) for u, d in objects.get("filter", {}).items()}
        self._node_names = {n.name: u for u, n in self.nodes.items()}
        self._instance_names = {i.name: u for u, i in self.instances.items()}

    # -- lookups -----------------------------------------------------------------------------
    def find_node(self, name_or_uuid: str | None) -> Node | None:
        if not name_or_uuid:
            return None
        uuid = self._node_names.get(name_or_uuid, name_or_uuid)
        return self.nodes.get(uuid)

    def node(self, name: str) -> Node:
        found = self.find_node(name)
        if found is None:
            raise OpPrereqError(f"Node '{name}' not known", ECODE_NOENT)
        return found

    def find_instance(self, name: str | None) -> Instance | None:
        if not name:
            return None
        uuid = self._instance_names.get(name, name)
        return self.instances.get(uuid)

    def instance(self, name: str) -> Instance:
        found = self.find_instance(name)
        if found is None:
            raise OpPrereqError(f"Instance '{name}' not known", ECODE_NOENT)
        return found

    def node_name(self, uuid: str) -> str:
        node = self.nodes.get(uuid)
        return node.name if node else uuid

    def master(self) -> Node:
        return self.nodes[self.cluster.master_node]

    def default_group(self) -> NodeGroup:
        """Where a node added without -g goes: the group named "default", else the oldest group."""
        named = [g for g in self.groups.values() if g.name == "default"]
        return named[0] if named else min(self.groups.values(), key=lambda g: (g.ctime, g.name))

    def group(self, name_or_uuid: str) -> NodeGroup:
        for group in self.groups.values():
            if name_or_uuid in (group.name, group.uuid):
                return group
        raise OpPrereqError(f"Node group '{name_or_uuid}' not known", ECODE_NOENT)

    def find_network(self, name_or_uuid: str | None) -> Network | None:
        if not name_or_uuid:
            return None
        found = self.networks.get(name_or_uuid)
        return found or next((n for n in self.networks.values() if n.name == name_or_uuid), None)

    def network(self, name_or_uuid: str) -> Network:
        found = self.find_network(name_or_uuid)
        if found is None:
            raise OpPrereqError(f"Network '{name_or_uuid}' not found", ECODE_NOENT)
        return found

    def master_candidates(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.master_candidate]

    def online_nodes(self) -> list[Node]:
        return [n for n in self.nodes.values() if not n.offline]

    def primary_instances(self, node_uuid: str) -> list[Instance]:
        return [i for i in self.instances.values() if i.primary_node == node_uuid]

    def secondary_instances(self, node_uuid: str) -> list[Instance]:
        return [i for i in self.instances.values() if node_uuid in i.secondary_nodes]

    def generate_mac(self) -> str:
        """A MAC under the cluster prefix not used by any NIC (not committed by itself)."""
        used = {nic.mac for inst in self.instances.values() for nic in inst.nics}
        while True:
            self.cluster.used_macs += 1
            n = self.cluster.used_macs
            mac = f"{self.cluster.mac_prefix}:{(n >> 16) & 255:02x}:{(n >> 8) & 255:02x}:{n & 255:02x}"
            if mac not in used:
                return mac

    # -- changing ----------------------------------------------------------------------------
    async def commit(self, put: Iterable[ConfigObject] = (), delete: Iterable[ConfigObject] = ()) -> int:
        """Persist changed/added objects and deletions as one change set; replicate; return serial."""
        changes = self._stage(list(put), list(delete))
        await self._writer.run(lambda conn: store.write(conn, changes))
        if self.replicator is not None:
            await self.replicator(changes)
        for hook in self.on_commit:
            hook(changes)
        return int(changes["serial"])

    def commit_sync(self, put: Iterable[ConfigObject] = (), delete: Iterable[ConfigObject] = ()) -> int:
        """Initial writes (cluster init), before any event loop or candidate exists."""
        changes = self._stage(list(put), list(delete))
        self._writer.run_sync(lambda conn: store.write(conn, changes))
        return int(changes["serial"])

    def _stage(self, put: list[ConfigObject], delete: list[ConfigObject]) -> store.ChangeSet:
        """Apply to memory and build the change set; runs without awaiting, so serials stay ordered."""
        self.serial += 1
        now = time.time()
        rows = []
        for obj in put:
            table = self._table(obj)
            if obj.uuid in table:
                obj.touch()
            obj.mtime = now
            table[obj.uuid] = obj
            self._index(obj)
            rows.append([obj.KIND, obj.uuid, ser.to_dict(obj)])
        gone = []
        for obj in delete:
            self._table(obj).pop(obj.uuid, None)
            if isinstance(obj, Node):
                self._node_names.pop(obj.name, None)
            elif isinstance(obj, Instance):
                self._instance_names.pop(obj.name, None)
            gone.append([obj.KIND, obj.uuid])
        return {"serial": self.serial, "put": rows, "delete": gone}

    def _table(self, obj: ConfigObject) -> dict[str, Any]:
        if isinstance(obj, Cluster):
            return {self.cluster.uuid: self.cluster}  # a new cluster (init) is not "already there"
        if isinstance(obj, NodeGroup):
            return self.groups
        if isinstance(obj, Node):
            return self.nodes
        if isinstance(obj, Instance):
            return self.instances
        if isinstance(obj, Network):
            return self.networks
        if isinstance(obj, FilterRule):
            return self.filters
        raise ConfigurationError(f"Unknown config object {obj!r}")

    def _index(self, obj: ConfigObject) -> None:
        if isinstance(obj, Cluster):
            self.cluster = obj
        elif isinstance(obj, Node):
            self._reindex(self._node_names, obj.uuid, obj.name)
        elif isinstance(obj, Instance):
            self._reindex(self._instance_names, obj.uuid, obj.name)

    @staticmethod
    def _reindex(index: dict[str, str], uuid: str, name: str) -> None:
        stale = [n for n, u in index.items() if u == uuid and n != name] if index.get(name) != uuid else []
        for n in stale:
            del index[n]
        index[name] = uuid

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Every object as JSON-ready dicts, by kind and uuid (for a full resync)."""
        data: dict[str, dict[str, Any]] = {"cluster": {self.cluster.uuid: ser.to_dict(self.cluster)}}
        tables = (("nodegroup", self.groups), ("node", self.nodes), ("instance", self.instances))
        for kind, table in (*tables, ("network", self.networks), ("filter", self.filters)):
            data[kind] = {u: ser.to_dict(o) for u, o in table.items()}
        return data
