"""A master candidate's replicas of the config and the job queue, and the node's side of joining and leaving.

The master ships every committed change set here (in serial order), and every job it writes; the
replicas are what a new master starts from after `gnt-cluster master-failover`, so nothing
committed and no job is lost.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from typing import Any

from agent.candidate_files import remove_all
from agent.handlers import handles
from gnt import confine, paths, ssconf
from gnt import queue_rows as jobstore
from gnt.config import store
from gnt.db import DamagedDatabaseError, SqliteWriter, move_aside
from gnt.errors import RpcArgumentError
from gnt.rpc import procedures as proc

_writer: SqliteWriter | None = None
_queue_writer: SqliteWriter | None = None


def _replica() -> SqliteWriter:
    global _writer
    if _writer is None:
        paths.ensure_dir(paths.data_dir())
        try:
            _writer = SqliteWriter(paths.config_db(), store.SCHEMA, durable=True)
        except DamagedDatabaseError as err:
            _writer = _fresh_replica(err)
    return _writer


def _fresh_replica(err: DamagedDatabaseError) -> SqliteWriter:
    """A damaged replica is set aside and restarted empty: the master sees serial 0 and resends it whole.

    Never on the master node, whose config.db is the master's own (gnt-cluster recover-config's job).
    """
    try:
        with open(paths.ssconf_file("master_node")) as handle:
            is_master = handle.read().strip() == paths.hostname()
    except OSError:
        is_master = False
    if is_master:
        raise err
    aside = move_aside(err.path)
    logging.getLogger("gnt-noded").error(
        "config replica %s is damaged (%s); kept as %s, starting again empty (the master resends it whole)",
        err.path, err.detail, aside,
    )  # fmt: skip
    return SqliteWriter(paths.config_db(), store.SCHEMA, durable=True)


def _master_here() -> bool:
    """A master daemon runs on this node: its config.db is the master's own, not a replica."""
    try:
        with open(paths.pid_file("gnt-masterd")) as handle:
            return _alive(int(handle.read().strip()))
    except (OSError, ValueError):
        return False


def _refuse_on_master(what: str, ssconf_too: bool = False) -> None:
    """The master never sends these to itself; from anyone else they would wipe or overwrite its config.

    `ssconf_too`: also refuse while this node's ssconf names it the master (the master node never
    leaves the cluster, even with its daemon stopped).
    """
    if _master_here() or (ssconf_too and ssconf.read("master_node") == paths.hostname()):
        raise confine.refuse(f"{what} refused: this node is the cluster's master (fail the master over first)")


def _queue_replica() -> SqliteWriter:
    """The job queue copy; a damaged one is set aside and restarted empty (the master resends it whole)."""
    global _queue_writer
    if _queue_writer is None:
        paths.ensure_dir(paths.data_dir())
        try:
            _queue_writer = SqliteWriter(paths.jobs_db(), jobstore.SCHEMA)
        except DamagedDatabaseError as err:
            aside = move_aside(err.path)
            logging.getLogger("gnt-noded").error("job queue replica %s is damaged; kept as %s", err.path, aside)
            _queue_writer = SqliteWriter(paths.jobs_db(), jobstore.SCHEMA)
    return _queue_writer


def close() -> None:
    global _writer, _queue_writer
    if _writer is not None:
        _writer.close()
        _writer = None
    if _queue_writer is not None:
        _queue_writer.close()
        _queue_writer = None


def _remove_replicas() -> None:
    close()
    for path in (paths.config_db(), paths.jobs_db()):
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.unlink(path + suffix)


@handles(proc.CONFIG_APPLY)
async def config_apply(args: proc.ConfigApplyArgs) -> dict[str, Any]:
    """Apply change sets in order; ask for a full copy at the first gap."""
    _refuse_on_master("config_apply")
    writer = _replica()
    for changes in args.changes:
        if not await writer.run(lambda conn, c=changes: store.apply(conn, c)):
            return {"resync": True, "serial": store.read_serial(writer.conn)}
    return {"resync": False, "serial": store.read_serial(writer.conn)}


@handles(proc.CONFIG_REPLACE)
async def config_replace(args: proc.ConfigReplaceArgs) -> int:
    _refuse_on_master("config_replace")
    writer = _replica()
    await writer.run(lambda conn: store.replace_all(conn, args.serial, args.objects))
    return args.serial


@handles(proc.CONFIG_DROP)
async def config_drop(args: proc.NoArgs) -> None:
    """No longer a master candidate: a replica nobody updates must not be mistaken for current."""
    _refuse_on_master("config_drop", ssconf_too=True)
    _remove_replicas()
    removed = remove_all()
    if removed:
        logging.getLogger("gnt-noded").info("no longer a master candidate: removed %s", ", ".join(removed))


@handles(proc.JOBQUEUE_UPDATE)
async def jobqueue_update(args: proc.JobQueueUpdateArgs) -> int:
    """Store whole jobs in this candidate's queue copy; the number stored."""
    _refuse_on_master("jobqueue_update")
    try:
        rows = [jobstore.check_row(r) for r in args.rows]
    except ValueError as err:
        raise RpcArgumentError(f"jobqueue_update: {err}") from None
    await _queue_replica().run(lambda conn: jobstore.upsert(conn, rows))
    return len(rows)


@handles(proc.CONFIG_SERIAL)
async def config_serial(args: proc.NoArgs) -> dict[str, Any]:
    """This node's view for master voting: its replica serial and whom it believes is master."""
    serial = store.read_serial(_replica().conn) if os.path.exists(paths.config_db()) else 0
    master = ""
    try:
        with open(paths.ssconf_file("master_node")) as handle:
            master = handle.read().strip()
    except OSError:
        pass
    return {"serial": serial, "master": master, "node": paths.hostname()}


@handles(proc.MASTER_STOP)
async def master_stop(args: proc.NoArgs) -> bool:
    """Stop the master daemon on this node (master failover); True if one was running."""
    try:
        with open(paths.pid_file("gnt-masterd")) as handle:
            pid = int(handle.read().strip())
    except (OSError, ValueError):
        return False
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    for _ in range(100):
        if not _alive(pid):
            return True
        await asyncio.sleep(0.05)
    return True


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


#: set by the server: called after a node leaves, to drop back to waiting for a certificate
on_leave: list[Any] = []


@handles(proc.NODE_LEAVE)
async def node_leave(args: proc.NoArgs) -> None:
    """Forget the cluster: certificate, ssconf and config replica (gnt-node remove)."""
    _refuse_on_master("node_leave", ssconf_too=True)
    _remove_replicas()
    remove_all()  # the CA key, SSH key and RAPI key too, if it was a master candidate
    if os.path.exists(paths.cluster_cert()):
        os.unlink(paths.cluster_cert())
    directory = paths.ssconf_dir()
    if os.path.isdir(directory):
        for entry in os.listdir(directory):
            if entry.startswith("ssconf_"):
                os.unlink(os.path.join(directory, entry))
    for callback in on_leave:
        # at once: the answer is already in the transport buffer, and closing flushes it; waiting would
        # leave a window in which a quick re-add talks to the old server and then loses it
        asyncio.get_running_loop().call_soon(callback)
