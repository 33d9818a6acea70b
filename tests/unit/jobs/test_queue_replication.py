"""The job queue's writes reach the master candidates before the client hears of them (issue 9)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from gnt.config.manager import ConfigManager
from gnt.errors import RpcError
from gnt.jobs.replication import QueueReplicator
from gnt.queue_rows import Row
from gnt.rpc.client import RpcResult, Target
from tests.unit.jobs.test_queue import delay, make_queue, queue_db, run, shutdown, writers

__all__ = ["queue_db", "writers"]  # fixtures shared with test_queue


class GatedReplicator:
    """Records every replicated row; rows of a job in `hold_status` wait until `gate` opens."""

    def __init__(self, hold_status: str | None = None) -> None:
        self.rows: list[Row] = []
        self.hold_status = hold_status
        self.gate = asyncio.Event()

    async def __call__(self, rows: list[Row]) -> None:
        if self.hold_status is not None and any(r[1] == self.hold_status for r in rows):
            await self.gate.wait()
        self.rows.extend(rows)

    def statuses(self, job_id: int) -> list[str]:
        return [r[1] for r in self.rows if r[0] == job_id]


def test_submit_answers_only_once_the_candidates_have_the_job(cfg: ConfigManager, queue_db: str, writers: list) -> None:
    async def main() -> None:
        queue = make_queue(queue_db, writers, cfg)
        queue.replicator = replicator = GatedReplicator(hold_status="queued")
        submit = asyncio.ensure_future(queue.submit([delay(0)]))
        await asyncio.sleep(0.05)
        assert not submit.done()  # the candidates do not have it yet: no id for the client
        replicator.gate.set()
        job_id = await asyncio.wait_for(submit, 5)
        assert replicator.statuses(job_id) == ["queued"]
        await shutdown(queue)

    run(main())


def test_a_finished_job_is_reported_only_once_its_end_is_on_the_candidates(
    cfg: ConfigManager, queue_db: str, writers: list
) -> None:
    async def main() -> None:
        queue = make_queue(queue_db, writers, cfg)
        queue.replicator = replicator = GatedReplicator(hold_status="success")
        replicator.gate.set()  # let the submission through, then hold the end
        job_id = await queue.submit([{"OP_ID": "OP_TEST_UNIT_FEEDBACK", "messages": ["one", "two"]}])
        replicator.gate.clear()
        queue.start()
        for _ in range(200):
            if queue.get(job_id).finalized:
                break
            await asyncio.sleep(0.01)
        assert queue.get(job_id).finalized  # ended in memory ...
        assert await queue.wait_for_change(job_id, "running", 0, 0.2) is None  # ... but not reported yet
        logged = [json.loads(r[4])["oplog"][0] for r in replicator.rows if r[0] == job_id]
        assert [e[3] for e in logged[-1]] == ["one", "two"]  # the log lines travelled before the end
        replicator.gate.set()
        job = await queue.wait_for_change(job_id, "running", 0, 5)
        assert job is not None and str(job.status) == "success"
        assert replicator.statuses(job_id)[-1] == "success"
        await shutdown(queue)

    run(main())


class FlakyRpc:
    """jobqueue_update that fails while `down`; records what each call carried."""

    def __init__(self) -> None:
        self.down = True
        self.calls: list[list[int]] = []

    async def jobqueue_update(self, target: Target, args: Any) -> RpcResult:
        if self.down:
            return RpcResult(target.name, error=RpcError("connection refused"))
        self.calls.append([r[0] for r in args.rows])
        return RpcResult(target.name, payload=len(args.rows))


class FakeServices:
    def __init__(self, cfg: ConfigManager, rpc: FlakyRpc) -> None:
        self.cfg = cfg
        self.rpc = rpc

    def target(self, node: Any) -> Target:
        return Target(node.name, node.primary_ip, node.offline)


def test_a_candidate_that_missed_rows_gets_the_whole_queue_before_anything_newer(
    cfg: ConfigManager, queue_db: str, writers: list
) -> None:
    async def main() -> None:
        cfg.node("node2").master_candidate = True
        rpc = FlakyRpc()
        queue = make_queue(queue_db, writers, cfg)
        queue.replicator = QueueReplicator(FakeServices(cfg, rpc), writers[0])
        first = await queue.submit([delay(0)])  # node2 is down: it misses this row
        assert rpc.calls == []
        rpc.down = False
        second = await queue.submit([delay(0)])  # not waited for (stale): shipped in the background
        for _ in range(200):
            if rpc.calls:
                break
            await asyncio.sleep(0.01)
        assert rpc.calls == [[first, second]]  # a full copy (read from the database) instead of the new row alone
        third = await queue.submit([delay(0)])
        assert rpc.calls[-1] == [third]  # and back to single rows
        await shutdown(queue)

    run(main())


def test_a_replicated_row_of_the_wrong_shape_is_refused() -> None:
    import pytest

    from gnt.queue_rows import check_row

    assert check_row([3, "success", 1, 12.5, "{}"]) == (3, "success", 1, 12.5, "{}")
    for bad in ([0, "queued", 0, None, "{}"], [True, "queued", 0, None, "{}"], [1, "queued", 2, None, "{}"],
                [1, "queued", 0, "later", "{}"], [1, "queued", 0, None], "row"):  # fmt: skip
        with pytest.raises(ValueError):
            check_row(bad)


def test_a_candidate_that_is_down_does_not_hold_up_every_job_write(
    cfg: ConfigManager, queue_db: str, writers: list
) -> None:
    class HangingRpc(FlakyRpc):
        """The first call fails; later ones hang (a host powered off: connection timeouts)."""

        def __init__(self) -> None:
            super().__init__()
            self.hang = asyncio.Event()

        async def jobqueue_update(self, target: Target, args: Any) -> RpcResult:
            if self.calls or not self.down:
                await self.hang.wait()
            self.calls.append([])
            return RpcResult(target.name, error=RpcError("timed out"))

    async def main() -> None:
        cfg.node("node2").master_candidate = True
        rpc = HangingRpc()
        queue = make_queue(queue_db, writers, cfg)
        queue.replicator = QueueReplicator(FakeServices(cfg, rpc), writers[0])
        await queue.submit([delay(0)])  # fails at once: node2 is now stale
        await asyncio.wait_for(queue.submit([delay(0)]), 2)  # not waited for, although its call hangs
        rpc.hang.set()
        await shutdown(queue)

    run(main())


def test_a_store_that_fails_does_not_leave_the_client_waiting_for_ever(
    cfg: ConfigManager, queue_db: str, writers: list
) -> None:
    async def failing(rows: list[Row]) -> None:
        if any(r[1] == "success" for r in rows):
            raise OSError("disk full")

    async def main() -> None:
        queue = make_queue(queue_db, writers, cfg)
        queue.replicator = failing
        job_id = await queue.submit([delay(0)])
        queue.start()
        job = await queue.wait_for_change(job_id, "queued", 0, 5)
        while job is not None and not job.finalized:
            job = await queue.wait_for_change(job_id, str(job.status), job.log_serial, 5)
        assert job is not None and str(job.status) == "success"
        await shutdown(queue)

    run(main())
