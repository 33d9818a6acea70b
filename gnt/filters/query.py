"""Filter rule query fields: what `gnt-filter list -o`, `/2/filters?bulk=1` and `/2/query/filter` answer."""

from __future__ import annotations

from typing import Any

from gnt.errors import OpPrereqError
from gnt.filters.rules import FilterRule, check_uuid, not_found
from gnt.query import Field

__all__ = ["BULK_FIELDS", "DEFAULT_FIELDS", "FIELDS", "pick"]

_FIELDS = [
    Field("uuid", "UUID", "text", "Filter rule UUID", lambda r, c: r.uuid),
    Field("watermark", "Watermark", "number", "Highest job id when the rule was added", lambda r, c: r.watermark),
    Field("priority", "Priority", "number", "Priority (lower first)", lambda r, c: r.priority),
    Field("predicates", "Predicates", "other", "Predicates", lambda r, c: r.predicates),
    Field("action", "Action", "other", "Action", lambda r, c: r.action),
    Field("reason_trail", "ReasonTrail", "other", "Reason trail", lambda r, c: r.reason_trail),
]
FIELDS = {f.name: f for f in _FIELDS}
#: Ganeti's `gnt-filter list` columns without -o
DEFAULT_FIELDS = ["uuid", "watermark", "priority", "predicates", "action", "reason_trail"]
#: Ganeti's FILTER_RULE_FIELDS (RAPI bulk and single-rule bodies)
BULK_FIELDS = ["watermark", "priority", "predicates", "action", "reason_trail", "uuid"]


def ordered(rules: Any) -> list[FilterRule]:
    """Rules in the order they are evaluated (priority, watermark, uuid)."""
    return sorted(rules, key=lambda r: (r.priority, r.watermark, r.uuid))


def pick(rules: dict[str, FilterRule], uuids: list[str] | None) -> list[FilterRule]:
    """The named rules in the order given (all, in evaluation order, when None); unknown is a 404."""
    if uuids is None:
        return ordered(rules.values())
    found = []
    for text in uuids:
        try:
            uuid = check_uuid(text)
        except OpPrereqError:
            raise not_found(text[:80]) from None
        if uuid not in rules:
            raise not_found(uuid)
        found.append(rules[uuid])
    return found
