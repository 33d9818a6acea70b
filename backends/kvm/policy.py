"""Convergence policy: make every pre-copy migration finish, within the admin's limits.

A guest that dirties memory faster than the link carries it never finishes a pre-copy migration
(with Ganeti's defaults, 32 MiB/s and 30 ms, a 128 MiB guest dirtying 32 MiB/s never does). The
policy watches `query-migrate` samples; when the remaining RAM has not reached a new low (10 %
below the best so far) for `migration_stall_seconds`, it escalates one step:

1. bandwidth: at least double, and at least twice the guest's dirty rate, up to
   `migration_max_bandwidth`;
2. downtime: double the allowed pause, up to `migration_max_downtime`;
3. throttle: make auto-converge bite (cpu-throttle-initial/increment 20 %, capped by
   `migration_max_throttle`) - the capability is on from the start but set to 1 % steps;
4. post-copy: `migrate-start-postcopy`, if `migration_postcopy` allowed it (the capability must be
   on before the migration starts, on both sides);
5. nothing left: say so once; the migration goes on at the limits.

The decision is a pure function (`decide`) so it is unit-tested without QEMU; the migration
supervisor applies the QMP commands it returns and records each action for the job log.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Action", "Limits", "PolicyState", "decide", "initial_parameters", "limits_from_hvparams"]

MIB = 1024 * 1024
PROGRESS = 0.9  # a new low must beat the best by 10 % to count as progress


@dataclass
class Limits:
    bandwidth: int  # MiB/s at start
    max_bandwidth: int  # MiB/s
    downtime: int  # ms at start
    max_downtime: int  # ms
    max_throttle: int  # %
    postcopy: bool
    stall_seconds: float
    one_pass: bool = False  # switch over right after the first pass (TCG; see migration.migration_limits)


def limits_from_hvparams(params: dict[str, Any]) -> Limits:
    bandwidth = int(params["migration_bandwidth"])
    downtime = int(params["migration_downtime"])
    return Limits(
        bandwidth=bandwidth,
        max_bandwidth=max(bandwidth, int(params["migration_max_bandwidth"])),
        downtime=downtime,
        max_downtime=max(downtime, int(params["migration_max_downtime"])),
        max_throttle=min(max(int(params["migration_max_throttle"]), 0), 99),
        postcopy=bool(params["migration_postcopy"]),
        stall_seconds=float(params["migration_stall_seconds"]),
    )


def initial_parameters(limits: Limits) -> dict[str, Any]:
    """migrate-set-parameters arguments for the start of a migration."""
    args: dict[str, Any] = {"max-bandwidth": limits.bandwidth * MIB, "downtime-limit": limits.downtime}
    if limits.max_throttle:
        args.update({"cpu-throttle-initial": 1, "cpu-throttle-increment": 1, "max-cpu-throttle": limits.max_throttle})
    return args


@dataclass
class Action:
    """One escalation: a QMP command and the line the job log shows."""

    command: str
    args: dict[str, Any] | None
    description: str


@dataclass
class PolicyState:
    bandwidth: int  # MiB/s now
    downtime: int  # ms now
    throttled: bool = False
    postcopy_started: bool = False
    exhausted: bool = False
    best_remaining: int | None = None
    best_at: float = 0.0
    actions: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def start(cls, limits: Limits, now: float) -> PolicyState:
        return cls(bandwidth=limits.bandwidth, downtime=limits.downtime, best_at=now)


def _dirty_bytes_rate(sample: dict[str, Any]) -> int:
    ram = sample.get("ram") or {}
    return int(ram.get("dirty-pages-rate", 0)) * int(ram.get("page-size", 4096))


def _escalate(state: PolicyState, limits: Limits, sample: dict[str, Any], postcopy_ok: bool) -> Action | None:
    if state.bandwidth < limits.max_bandwidth:
        need = math.ceil(2 * _dirty_bytes_rate(sample) / MIB)
        new = min(limits.max_bandwidth, max(2 * state.bandwidth, need))
        old, state.bandwidth = state.bandwidth, new
        return Action("migrate-set-parameters", {"max-bandwidth": new * MIB}, f"raised bandwidth {old} -> {new} MiB/s")
    if state.downtime < limits.max_downtime:
        new = min(limits.max_downtime, 2 * state.downtime)
        old, state.downtime = state.downtime, new
        return Action("migrate-set-parameters", {"downtime-limit": new}, f"raised max downtime {old} -> {new} ms")
    if limits.max_throttle and not state.throttled:
        state.throttled = True
        step = min(20, limits.max_throttle)
        args = {"cpu-throttle-initial": step, "cpu-throttle-increment": step, "throttle-trigger-threshold": 50}
        return Action(
            "migrate-set-parameters",
            args,
            f"auto-converge: throttling vCPUs by {step} % steps up to {limits.max_throttle} %",
        )
    if limits.postcopy and postcopy_ok and not state.postcopy_started:
        state.postcopy_started = True
        return Action("migrate-start-postcopy", None, "switched to post-copy")
    if not state.exhausted:
        state.exhausted = True
        return Action("", None, "no further action: all convergence limits reached")
    return None


def decide(
    state: PolicyState, limits: Limits, sample: dict[str, Any], now: float, postcopy_ok: bool = True
) -> Action | None:
    """The next escalation for this `query-migrate` sample, or None while the migration progresses."""
    if sample.get("status") != "active":
        return None
    remaining = int((sample.get("ram") or {}).get("remaining", 0))
    if state.best_remaining is None or remaining < state.best_remaining * PROGRESS:
        state.best_remaining, state.best_at = remaining, now
        return None
    if now - state.best_at < limits.stall_seconds:
        return None
    state.best_at = now  # give the step a full window to work
    state.best_remaining = remaining
    action = _escalate(state, limits, sample, postcopy_ok)
    if action is not None:
        state.actions.append({"time": now, "action": action.description})
    return action
