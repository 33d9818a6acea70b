"""The filter gate: where a queued job meets the filter rules before it may start.

Every job passes the gate once, while it is still `queued` (before its dependencies, locks and
running slot). The gate asks the rules, in order, what to do with it:

- no rule applies, or ACCEPT: the job starts now;
- REJECT: the job is cancelled by the queue, with the rule in its message;
- PAUSE: the job stays queued (and stored as queued: after a master restart it meets the gate
  again) until a rule change lets it go;
- RATE_LIMIT n: the job starts only while fewer than n started, unfinished jobs are decided by
  the same rule; otherwise it stays queued until one of them ends or the rules change.

Held jobs are reconsidered together, once per event-loop pass, by priority then job id, whenever
the rules change, a job ends or a held job is cancelled; so deleting or replacing a rule releases
(or rejects) what it held at once, and nothing but the rules can keep a job in the gate.
A rate-limited job is let through only once its dependencies have ended, so a started job that
counts against a limit never waits for a job the same limit holds back.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from gnt.filters.rules import ACCEPT, PAUSE, RATE_LIMIT, REJECT, CompiledRule, FilterRule, compile_rules, first_match

__all__ = ["FilterGate"]


def _view(job: Any) -> dict[str, Any]:
    return {"id": job.id, "ops": job.ops}


class FilterGate:
    """Holds queued jobs the rules do not let start yet; `admit` is awaited by each job's task."""

    def __init__(self, deps_done: Callable[[Any], bool] | None = None) -> None:
        self._rules: list[CompiledRule] = []
        #: job id -> (job, the future its task waits on: None to start, or the REJECT rule)
        self._held: dict[int, tuple[Any, asyncio.Future[CompiledRule | None]]] = {}
        #: jobs let through and not finished (what RATE_LIMIT counts)
        self._admitted: dict[int, Any] = {}
        self._deps_done = deps_done or (lambda job: True)
        self._dispatch_pending = False

    # -- what the queue calls ----------------------------------------------------------------
    def set_rules(self, rules: Iterable[FilterRule]) -> None:
        """Use these rules from now on; held jobs are reconsidered at once."""
        self._rules = compile_rules(rules)
        self._schedule()

    @property
    def held(self) -> list[int]:
        return sorted(self._held)

    def decide(self, job: Any) -> CompiledRule | None:
        """The rule that decides `job` now (None: no rule applies)."""
        return first_match(self._rules, _view(job))

    async def admit(self, job: Any) -> CompiledRule | None:
        """Wait until `job` may start (None) or is rejected (the REJECT rule), or is dropped (None)."""
        if not self._rules and not self._held:
            self._admitted[job.id] = job  # no rules: no waiting, not even a loop pass
            return None
        fut: asyncio.Future[CompiledRule | None] = asyncio.get_running_loop().create_future()
        self._held[job.id] = (job, fut)
        self._schedule()
        try:
            return await fut
        finally:
            entry = self._held.get(job.id)
            if entry is not None and entry[1] is fut:
                del self._held[job.id]

    def finished(self, job: Any) -> None:
        """`job`'s task ended: it no longer counts against a rate limit, and may unblock dependants."""
        self._admitted.pop(job.id, None)
        if self._held:
            self._schedule()

    def drop(self, job_id: int) -> None:
        """A held job was cancelled: let its task go (it sees the job's final status and ends)."""
        entry = self._held.pop(job_id, None)
        if entry is not None and not entry[1].done():
            entry[1].set_result(None)

    def poke(self) -> None:
        """Something a held job's decision may depend on changed (a priority, a dependency)."""
        if self._held:
            self._schedule()

    # -- deciding ----------------------------------------------------------------------------
    def _schedule(self) -> None:
        if not self._dispatch_pending:
            self._dispatch_pending = True
            asyncio.get_running_loop().call_soon(self._dispatch)

    def _running_counts(self) -> Counter[str]:
        counts: Counter[str] = Counter()
        for job in self._admitted.values():
            rule = self.decide(job)
            if rule is not None and rule.kind == RATE_LIMIT:
                counts[rule.uuid] += 1
        return counts

    def _dispatch(self) -> None:
        self._dispatch_pending = False
        if not self._held:
            return
        counts = self._running_counts()
        for job_id, (job, fut) in sorted(self._held.items(), key=lambda kv: (kv[1][0].priority, kv[0])):
            if fut.done():
                del self._held[job_id]
                continue
            rule = self.decide(job)
            if rule is None or rule.kind == ACCEPT:
                self._let_through(job, fut)
            elif rule.kind == REJECT:
                del self._held[job_id]
                fut.set_result(rule)
            elif rule.kind == PAUSE:
                continue
            elif counts[rule.uuid] < rule.limit and self._deps_done(job):
                counts[rule.uuid] += 1
                self._let_through(job, fut)

    def _let_through(self, job: Any, fut: asyncio.Future[CompiledRule | None]) -> None:
        del self._held[job.id]
        self._admitted[job.id] = job
        fut.set_result(None)
