"""Adding, replacing and deleting filter rules on the master.

As in Ganeti, these are not jobs: they change the config directly (one commit, replicated to the
master candidates like any other) and the scheduler applies the new rules at once. Being outside
the queue is what keeps them always available: no rule, drain or full queue can stop the admin
from changing or deleting the rule that holds jobs back.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from gnt.errors import ECODE_NORES, OpPrereqError
from gnt.filters.rules import MAX_RULES, FilterRule, check_params, check_uuid, not_found

__all__ = ["delete_rule", "replace_rule"]


def _apply(master: Any) -> None:
    master.queue.filters.set_rules(master.cfg.filters.values())


async def replace_rule(master: Any, uuid: str | None, body: Any, dry_run: bool = False) -> str:
    """Add a rule (`uuid` None) or replace the rule `uuid` (created when unknown); returns its uuid.

    The watermark is the highest job id given out so far, so `["jobid", [">", "id", "watermark"]]`
    means "jobs submitted after this rule was added or replaced".
    """
    priority, predicates, action, reason = check_params(body)
    cfg = master.cfg
    values: dict[str, Any] = {
        "watermark": master.queue.last_job_id,
        "priority": priority,
        "predicates": predicates,
        "action": action,
        "reason_trail": reason,
    }
    existing = None
    if uuid is not None:
        uuid = check_uuid(uuid)
        existing = cfg.filters.get(uuid)
    if existing is None and len(cfg.filters) >= MAX_RULES:
        raise OpPrereqError(f"The cluster already has {MAX_RULES} filter rules; delete some first", ECODE_NORES)
    if existing is not None:
        rule = dataclasses.replace(existing, **values)
    elif uuid is not None:
        rule = FilterRule(uuid=uuid, **values)
    else:
        rule = FilterRule(**values)
    if dry_run:  # checked, not stored: the uuid the rule would have
        return rule.uuid
    await cfg.commit(put=[rule])
    _apply(master)
    return rule.uuid


async def delete_rule(master: Any, uuid: str, dry_run: bool = False) -> None:
    """Delete a rule; the jobs it paused or rate-limited are reconsidered at once."""
    rule = master.cfg.filters.get(check_uuid(uuid))
    if rule is None:
        raise not_found(uuid[:80])
    if dry_run:
        return
    await master.cfg.commit(delete=[rule])
    _apply(master)


def load_rules(master: Any) -> None:
    """At master start-up: the scheduler gets the rules the config holds before any job starts."""
    _apply(master)
