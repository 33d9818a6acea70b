"""Node procedures that let the cluster recover from crashes, read from this node's config copy.

A master candidate holds a replica of the config (`agent.replica`); the master node holds the live
config at the same path. Two things need it when the master cannot help:

- `config_export`: the whole replica, so `gnt-cluster recover-config` can rebuild a damaged
  config on the master from the newest candidate;
- `config_placement`: where the config places some instances, so a node daemon coming back after
  its instances were failed over can stop the guests that now run elsewhere (`agent.startup`);
- `config_node_role`: whether the config marks a node offline (and the cluster wants its health
  maintained), so the watcher on that node stops the guests it still runs (`agent.node_health`).

Both read through a fresh read-only connection: the replica's writer thread owns its own.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from agent.handlers import handles
from gnt import paths, ssconf
from gnt.config import store
from gnt.db import check_integrity
from gnt.rpc import procedures as proc


def _read(path: str) -> tuple[int, dict[str, dict[str, dict[str, Any]]]] | None:
    """(serial, objects) of the local config copy, or None when this node holds none."""
    if not os.path.exists(path):
        return None
    conn = store.open_readonly(path)
    try:
        check_integrity(conn, path)
        return store.load(conn)
    finally:
        conn.close()


@handles(proc.CONFIG_EXPORT)
async def rpc_config_export(args: proc.NoArgs) -> dict[str, Any] | None:
    """This node's whole config copy with its serial; None when it holds no copy."""
    found = await asyncio.to_thread(_read, paths.config_db())
    if found is None:
        return None
    serial, objects = found
    return {"serial": serial, "objects": objects, "node": paths.hostname(), "master": ssconf.read("master_node")}


@handles(proc.CONFIG_PLACEMENT)
async def rpc_config_placement(args: proc.ConfigPlacementArgs) -> dict[str, Any] | None:
    """For the instances named in `names`: their primary node's name and admin state, by this copy.

    Instances the copy does not know are left out. None when this node holds no copy.
    """
    found = await asyncio.to_thread(_read, paths.config_db())
    if found is None:
        return None
    serial, objects = found
    wanted = set(args.names)
    node_names = {uuid: data.get("name", uuid) for uuid, data in objects.get("node", {}).items()}
    placement = {}
    for data in objects.get("instance", {}).values():
        if data.get("name") in wanted:
            placement[data["name"]] = {
                "primary_node": node_names.get(data.get("primary_node", ""), data.get("primary_node", "")),
                "admin_state": data.get("admin_state", ""),
            }
    return {"serial": serial, "node": paths.hostname(), "instances": placement}


@handles(proc.CONFIG_NODE_ROLE)
async def rpc_config_node_role(args: proc.ConfigNodeRoleArgs) -> dict[str, Any] | None:
    """Whether this copy knows node `name` and marks it offline, and the cluster's
    maintain_node_health; None when this node holds no copy."""
    found = await asyncio.to_thread(_read, paths.config_db())
    if found is None:
        return None
    serial, objects = found
    node = next((data for data in objects.get("node", {}).values() if data.get("name") == args.name), None)
    cluster = next(iter(objects.get("cluster", {}).values()), {})
    return {
        "serial": serial,
        "node": paths.hostname(),
        "known": node is not None,
        "offline": bool(node and node.get("offline")),
        "maintain_node_health": bool(cluster.get("maintain_node_health")),
    }
