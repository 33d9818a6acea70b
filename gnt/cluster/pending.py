"""Cleanups a rollback could not do, kept on the master until the node answers again.

A failed `gnt-instance add` removes the disks it created; when the node does not answer (its
daemon died mid-job), the disk would stay behind unnoticed. Instead, the rollback says so in the
job log and records the disk here (`<data dir>/pending-cleanup.json`, beside config.db on the
master). `gnt-cluster verify` reports every entry; `gnt-cluster verify-disks`, which the watcher
runs whenever entries are waiting, removes the disks from nodes that answer and drops the entries.

An entry never removes a disk the config uses on that node (its uuid is checked against the disks of
every instance on the node first), so a disk that was adopted back into the config in the meantime is safe.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from dataclasses import replace
from typing import Any

from gnt import paths
from gnt import serial as ser
from gnt.drbd import without_secret
from gnt.rpc import procedures as proc
from gnt.runtime import DiskSpec

__all__ = ["add", "entries", "file_path", "remove_disks", "retry"]

_lock: asyncio.Lock | None = None


def file_path() -> str:
    return os.path.join(paths.data_dir(), "pending-cleanup.json")


def entries() -> list[dict[str, Any]]:
    """The pending cleanups: [{"node", "node_uuid", "instance", "disk", "reason", "since"}, ...]."""
    try:
        with open(file_path()) as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return []
    except (OSError, ValueError):
        return []  # unreadable: verify's orphan-volume check still finds the disks
    return [e for e in data if isinstance(e, dict) and isinstance(e.get("disk"), dict)]


def _save(items: list[dict[str, Any]]) -> None:
    path = file_path()
    if not items:
        if os.path.exists(path):
            os.unlink(path)
        return
    paths.ensure_dir(os.path.dirname(path))
    tmp = f"{path}.tmp"
    with open(tmp, "w") as handle:
        json.dump(items, handle, indent=1)
    os.replace(tmp, path)


def _guard() -> asyncio.Lock:
    global _lock
    if _lock is None:
        _lock = asyncio.Lock()
    return _lock


async def _update(change: Any) -> list[dict[str, Any]]:
    """Read, change (a function of the list) and write the entries, one job at a time."""
    async with _guard():
        items = await asyncio.to_thread(entries)
        items = change(items)
        await asyncio.to_thread(_save, items)
        return items


async def add(node_name: str, node_uuid: str, instance: str, disk: DiskSpec, reason: str) -> None:
    entry = {
        "node": node_name,
        "node_uuid": node_uuid,
        "instance": instance,
        "disk": ser.to_dict(replace(disk, params=without_secret(disk.params))),  # a file: no drbd secret in it
        "reason": reason,
        "since": time.time(),
    }
    # one entry per disk and node (a drbd disk has the same uuid on both of its nodes)
    await _update(lambda items: [e for e in items if _key(e) != (disk.uuid, node_uuid)] + [entry])


def _key(entry: dict[str, Any]) -> tuple[Any, Any]:
    return entry["disk"].get("uuid"), entry.get("node_uuid")


def describe(entry: dict[str, Any]) -> str:
    disk = entry["disk"]
    where = disk.get("logical_id", [None, None])[-1] if disk.get("logical_id") else disk.get("uuid")
    return f"disk {disk.get('index', '?')} ({where}) of instance {entry.get('instance', '?')}"


async def remove_disks(lu: Any, node: Any, disks: list[DiskSpec], instance: str) -> list[DiskSpec]:
    """Remove `disks` from `node` for a rollback; record and report (job log) those that could not be."""
    target = lu.ctx.services.target(node)
    left: list[DiskSpec] = []
    for disk in disks:
        result = await lu.rpc.blockdev_remove(target, proc.BlockdevArgs(disk, instance))
        if not result.failed:
            continue
        left.append(disk)
        reason = str(result.error)
        later = "it will be removed when the node answers again (gnt-cluster verify-disks, run by the watcher)"
        try:
            await add(node.name, node.uuid, instance, disk, reason)
        except OSError as err:  # the rollback goes on; the admin learns what to remove by hand
            later = f"remove it by hand (could not record it for later: {err})"
        lu.warning(f"Could not remove disk {disk.index} of instance {instance} on node {node.name}: {reason}; {later}")
    return left


async def retry(lu: Any) -> dict[str, list[str]]:
    """Remove the recorded disks from nodes that answer; keep the rest. Returns what happened."""
    cfg = lu.cfg
    # a disk is in use on the nodes of its instance only: a drbd disk keeps its uuid when replace-disks -n
    # moves it, so the half-made copy on a new secondary that died has the uuid of a disk in use elsewhere
    used = {
        (d.uuid, node_uuid)
        for inst in cfg.instances.values()
        for node_uuid in (inst.primary_node, *inst.secondary_nodes)
        for d in inst.disks
    }
    done: dict[str, list[str]] = {"removed": [], "pending": [], "dropped": []}
    finished: set[tuple[Any, Any]] = set()
    for entry in await asyncio.to_thread(entries):
        what = f"{describe(entry)} on node {entry['node']}"
        node = cfg.nodes.get(entry.get("node_uuid", "")) or cfg.find_node(entry.get("node"))
        if node is None or (entry["disk"].get("uuid"), node.uuid) in used:
            done["dropped"].append(what)  # in use again, or its node left the cluster: nothing to do
            finished.add(_key(entry))
            continue
        spec = ser.from_dict(DiskSpec, entry["disk"])
        result = await lu.rpc.blockdev_remove(
            lu.ctx.services.target(node), proc.BlockdevArgs(spec, entry.get("instance", ""))
        )
        if result.failed:
            done["pending"].append(f"{what}: {result.error}")
        else:
            done["removed"].append(what)
            finished.add(_key(entry))
    # entries recorded meanwhile by another job's rollback stay
    await _update(lambda items: [e for e in items if _key(e) not in finished])
    return done
