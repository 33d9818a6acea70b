"""The ordered batch sender: order kept, backlog batched, and a failed call does not stop it."""

from __future__ import annotations

import asyncio

from gnt.batching import OrderedBatchSender


class Recorder(OrderedBatchSender[int]):
    def __init__(self, fail_on: int | None = None) -> None:
        self.calls: list[list[int]] = []
        self.fail_on = fail_on
        self.failures = 0
        self.gate = asyncio.Event()
        super().__init__()

    async def ship(self, items: list[int]) -> None:
        self.calls.append(items)
        if len(self.calls) == 1:
            await self.gate.wait()  # hold the first call so the next items queue up behind it
        if self.fail_on in items:
            raise RuntimeError("peer refused")

    def failed(self) -> None:
        self.failures += 1


def test_items_queued_during_a_call_travel_together_in_order() -> None:
    async def scenario() -> list[list[int]]:
        sender = Recorder()
        first = sender.send(1)
        await asyncio.sleep(0)
        rest = [sender.send(n) for n in (2, 3, 4)]
        sender.gate.set()
        await asyncio.gather(first, *rest)
        sender.task.cancel()
        return sender.calls

    assert asyncio.run(scenario()) == [[1], [2, 3, 4]]


def test_a_failed_call_resolves_its_futures_and_the_sender_keeps_going() -> None:
    async def scenario() -> tuple[list[list[int]], int]:
        sender = Recorder(fail_on=2)
        sender.gate.set()
        await sender.send(1)
        await sender.send(2)  # raises inside ship: the future still completes
        await sender.send(3)
        sender.task.cancel()
        return sender.calls, sender.failures

    calls, failures = asyncio.run(scenario())
    assert calls == [[1], [2], [3]]
    assert failures == 1
