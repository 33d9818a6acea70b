"""The job scheduler applies filter rules to queued jobs: reject, pause (released when the rule
goes), rate limits, and a paused job that survives a master restart still queued."""

from __future__ import annotations

import asyncio
from typing import Any

import test_scheduling
from test_scheduling import (
    hold,
    release,
    run,
    settle,
    shutdown,
    wait_final,
    wait_status,
)

from gnt.filters.rules import FilterRule
from gnt.jobs.job import JobStatus, OpStatus
from gnt.jobs.queue import JobQueue

#: the in-process queue of the scheduling tests (a fixture)
queue_factory = test_scheduling.queue_factory


def delay_op(**extra: Any) -> dict[str, Any]:
    return {"OP_ID": "OP_TEST_DELAY", "duration": 0, **extra}


def by_opcode(op_id: str, action: Any, **extra: Any) -> FilterRule:
    return FilterRule(predicates=[["opcode", ["=", "OP_ID", op_id]]], action=action, **extra)


def test_reject_cancels_matching_jobs_with_the_rule_in_the_message(queue_factory: Any) -> None:
    async def main() -> None:
        queue: JobQueue = queue_factory()
        reject = by_opcode("OP_TEST_DELAY", "REJECT")
        queue.filters.set_rules([reject])
        rejected = await queue.submit([delay_op()])
        other = await queue.submit([hold("free")])
        job = await wait_final(queue, rejected)
        assert job.status == JobStatus.CANCELED
        assert job.opstatus == [OpStatus.CANCELED]
        assert reject.uuid in job.opresult[0][1][0] and "rejected" in job.opresult[0][1][0]
        release("free")
        assert (await wait_final(queue, other)).status == JobStatus.SUCCESS
        await shutdown(queue)

    run(main())


def test_paused_job_stays_queued_and_deleting_the_rule_releases_it(queue_factory: Any) -> None:
    async def main() -> None:
        queue: JobQueue = queue_factory()
        queue.filters.set_rules([FilterRule(predicates=[["jobid", [">", "id", "watermark"]]], action="PAUSE")])
        paused = await queue.submit([delay_op()])
        await settle()
        assert queue.get(paused).status == JobStatus.QUEUED
        assert queue.filters.held == [paused]
        queue.filters.set_rules([])  # the rule is deleted
        assert (await wait_final(queue, paused)).status == JobStatus.SUCCESS
        assert queue.filters.held == []
        await shutdown(queue)

    run(main())


def test_replacing_pause_by_reject_cancels_held_jobs(queue_factory: Any) -> None:
    async def main() -> None:
        queue: JobQueue = queue_factory()
        pause = FilterRule(action="PAUSE")
        queue.filters.set_rules([pause])
        held = await queue.submit([delay_op()])
        await settle()
        assert queue.get(held).status == JobStatus.QUEUED
        queue.filters.set_rules([FilterRule(uuid=pause.uuid, action="REJECT")])
        assert (await wait_final(queue, held)).status == JobStatus.CANCELED
        await shutdown(queue)

    run(main())


def test_a_paused_job_can_be_cancelled(queue_factory: Any) -> None:
    async def main() -> None:
        queue: JobQueue = queue_factory()
        queue.filters.set_rules([FilterRule(action="PAUSE")])
        held = await queue.submit([delay_op()])
        await settle()
        ok, _ = await queue.cancel(held)
        assert ok
        assert (await wait_final(queue, held)).status == JobStatus.CANCELED
        assert queue.filters.held == []
        await shutdown(queue)

    run(main())


def test_accept_before_pause_lets_the_maintenance_through(queue_factory: Any) -> None:
    async def main() -> None:
        queue: JobQueue = queue_factory()
        accept = FilterRule(priority=0, predicates=[["reason", ["=~", "reason", "pink bunny"]]], action="ACCEPT")
        pause = FilterRule(priority=1, action="PAUSE")
        queue.filters.set_rules([pause, accept])
        mine = await queue.submit([delay_op(reason=[["gnt:user", "maintenance pink bunny", 1]])])
        other = await queue.submit([delay_op()])
        assert (await wait_final(queue, mine)).status == JobStatus.SUCCESS
        await settle()
        assert queue.get(other).status == JobStatus.QUEUED
        queue.filters.set_rules([accept])
        assert (await wait_final(queue, other)).status == JobStatus.SUCCESS
        await shutdown(queue)

    run(main())


def test_rate_limit_runs_at_most_n_matching_jobs_at_once(queue_factory: Any) -> None:
    async def main() -> None:
        queue: JobQueue = queue_factory()
        queue.filters.set_rules([by_opcode("OP_TEST_UNIT_HOLD", ["RATE_LIMIT", 2])])
        ids = [await queue.submit([hold(f"h{i}")]) for i in range(4)]
        unrelated = await queue.submit([delay_op()])
        assert (await wait_final(queue, unrelated)).status == JobStatus.SUCCESS  # not matched: not limited
        await wait_status(queue, ids[0], JobStatus.RUNNING)
        await wait_status(queue, ids[1], JobStatus.RUNNING)
        await settle()
        assert [queue.get(i).status for i in ids[2:]] == [JobStatus.QUEUED, JobStatus.QUEUED]
        release("h0")
        assert (await wait_final(queue, ids[0])).status == JobStatus.SUCCESS
        await wait_status(queue, ids[2], JobStatus.RUNNING)  # one ended: the next one starts
        await settle()
        assert queue.get(ids[3]).status == JobStatus.QUEUED
        for key in ("h1", "h2", "h3"):
            release(key)
        for job_id in ids:
            assert (await wait_final(queue, job_id)).status == JobStatus.SUCCESS
        await shutdown(queue)

    run(main())


def test_rate_limit_does_not_deadlock_on_dependencies(queue_factory: Any) -> None:
    """A high-priority job that depends on a lower-priority one, both under RATE_LIMIT 1: the
    dependency must get the only place, not the job waiting for it."""

    async def main() -> None:
        queue: JobQueue = queue_factory()
        queue.filters.set_rules([FilterRule(action=["RATE_LIMIT", 1])])
        results = await queue.submit_many(
            [[delay_op(priority=10)], [delay_op(priority=-10, depends=[[-1, ["success"]]])]]
        )
        first, second = (job_id for _, job_id in results)
        assert (await wait_final(queue, first)).status == JobStatus.SUCCESS
        assert (await wait_final(queue, second)).status == JobStatus.SUCCESS
        await shutdown(queue)

    run(main())


def test_paused_job_is_still_queued_and_paused_after_a_master_restart(queue_factory: Any) -> None:
    async def main() -> None:
        pause = FilterRule(action="PAUSE")
        queue: JobQueue = queue_factory()
        queue.filters.set_rules([pause])
        held = await queue.submit([delay_op()])
        await settle()
        await shutdown(queue)  # the master stops (as a crash would)

        again: JobQueue = queue_factory()
        again.filters.set_rules([pause])  # the master loads the rules from the config before jobs start
        await settle()
        assert again.get(held).status == JobStatus.QUEUED
        assert again.filters.held == [held]
        again.filters.set_rules([])
        assert (await wait_final(again, held)).status == JobStatus.SUCCESS
        await shutdown(again)

    run(main())


def test_jobs_run_without_any_rule_as_before(queue_factory: Any) -> None:
    async def main() -> None:
        queue: JobQueue = queue_factory()
        job_id = await queue.submit([delay_op()])
        assert (await wait_final(queue, job_id)).status == JobStatus.SUCCESS
        await asyncio.sleep(0)
        assert queue.filters.held == []
        await shutdown(queue)

    run(main())
