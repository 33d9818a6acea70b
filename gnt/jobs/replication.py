"""The job queue's copies on the master candidates, kept as the config's are.

Every row the master's queue writes (a submission, a status change, log lines, a result, an
archive flag) goes to each online master candidate through one ordered sender per candidate
(`jobqueue_update`); the queue awaits it before it answers the client. A candidate that could not
be reached is marked stale, no longer waited for, and gets a full copy (every row, in chunks)
before anything newer once it answers again; the
master also sends a full copy when it starts and when a node becomes a candidate
(`MasterServices.full_resync`). A candidate's copy is the file the queue itself uses
(`paths.jobs_db()`), so a candidate made master by `gnt-cluster master-failover` starts with the
whole history. See doc/design/008-queue-replication.md.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from gnt import candidate_files
from gnt.batching import OrderedBatchSender
from gnt.db import SqliteWriter
from gnt.objects import Node
from gnt.queue_rows import Row, all_rows
from gnt.rpc import procedures as proc

log = logging.getLogger("gnt-masterd")

#: what a change to the cluster's SSH access touches (gnt-node add/remove, renew-crypto --new-ssh-keys)
SSH_FILES = ["ssh_key", "ssh_key_pub", "known_hosts"]


async def push_candidate_files(services: Any, names: list[str] | None = None, nodes: list[Node] | None = None) -> None:
    """Send the master's SSH key, known_hosts, drain flag and RAPI key pair (or `names` of them) to candidates.

    `nodes` defaults to every online master candidate but the master. Without these a master made by
    `gnt-cluster master-failover` could not SSH to the nodes, and would forget that the queue was
    drained (gnt.candidate_files). A candidate that cannot be reached is logged; it gets every file
    again with its next full resync (master start, redist-conf, becoming a candidate again).
    """
    cfg = services.cfg
    master = cfg.cluster.master_node
    pool = cfg.master_candidates() if nodes is None else nodes
    targets = [services.target(n) for n in pool if n.uuid != master and not n.offline and n.master_candidate]
    if not targets:
        return
    files = await asyncio.to_thread(candidate_files.read_all, names)
    results = await services.rpc.call_many(targets, proc.CANDIDATE_FILES_WRITE, proc.CandidateFilesArgs(files))
    for name, result in sorted(results.items()):
        if result.failed:
            log.warning("could not copy the master's files (%s) to %s: %s", ", ".join(files), name, result.error)


class _Sender(OrderedBatchSender["list[Row] | None"]):
    """Ships rows to one candidate in order; what queued up while a call was out travels in the next one."""

    def __init__(self, owner: QueueReplicator, node_uuid: str) -> None:
        self.owner = owner
        self.node_uuid = node_uuid
        self.stale = False
        super().__init__()

    def send(self, rows: list[Row] | None) -> asyncio.Future[None]:
        """Queue rows (None: a full copy, so the candidate is stale until it got one)."""
        if rows is None:
            self.stale = True
        return super().send(rows)

    def failed(self) -> None:
        self.stale = True

    async def ship(self, batches: list[list[Row] | None]) -> None:
        latest: dict[int, Row] = {}
        for rows in batches:
            for row in rows or []:
                latest[row[0]] = row  # a job written twice in the batch: its last row is enough
        await self._ship(list(latest.values()))

    async def _ship(self, rows: list[Row]) -> None:
        services = self.owner.services
        node = services.cfg.nodes.get(self.node_uuid)
        if node is None or node.offline or not node.master_candidate:
            return
        if self.stale:
            if not await self.owner.copy_all(node):
                return  # still stale; these rows are in the next full copy
            self.stale = False
            return  # the full copy read the rows from the database after they were written
        if rows and not await self.owner.call(node, rows):
            self.stale = True


class QueueReplicator:
    """The queue's `replicator`: one sender per master candidate other than the master."""

    def __init__(self, services: Any, writer: SqliteWriter) -> None:
        self.services = services
        self.writer = writer
        self._senders: dict[str, _Sender] = {}

    def _sender(self, node_uuid: str) -> _Sender:
        sender = self._senders.get(node_uuid)
        if sender is None:
            sender = self._senders[node_uuid] = _Sender(self, node_uuid)
        return sender

    def _candidates(self) -> list[Node]:
        cfg = self.services.cfg
        master = cfg.cluster.master_node
        return [n for n in cfg.master_candidates() if n.uuid != master and not n.offline]

    async def __call__(self, rows: list[Row]) -> None:
        """Ship `rows` to every candidate; wait for those that answered last time.

        A candidate that failed its last call (a host powered off) is not waited for: each job
        write would otherwise cost a connection timeout until the node is marked offline. Its
        sender keeps trying in the background, and it gets everything in a full copy once it answers.
        """
        waits = []
        for node in self._candidates():
            sender = self._sender(node.uuid)
            was_stale = sender.stale
            fut = sender.send(rows)
            if not was_stale:
                waits.append(fut)
        if waits:
            await asyncio.gather(*waits)

    async def full_copy(self, node: Node) -> None:
        """Send `node` every job, in order with what is already on its way to it."""
        await self._sender(node.uuid).send(None)

    async def call(self, node: Node, rows: list[Row]) -> bool:
        args = proc.JobQueueUpdateArgs([list(r) for r in rows])
        result = await self.services.rpc.jobqueue_update(self.services.target(node), args)
        if result.failed:
            log.warning("job queue replication to %s failed: %s", node.name, result.error)
        return not result.failed

    async def copy_all(self, node: Node) -> bool:
        """Every stored job to `node`, chunk by chunk (read on a worker thread, off the event loop)."""
        chunks = await asyncio.to_thread(lambda: list(all_rows(self.writer.conn)))
        for chunk in chunks:
            if not await self.call(node, chunk):
                return False
        return True
