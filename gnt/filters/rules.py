"""Filter rules: their config object, the checks their parameters pass, and how one matches a job.

A rule is Ganeti's: a priority (lower first; watermark, then uuid break ties), predicates that must
all hold, an action and the reason trail of whoever added it. Predicates are Ganeti's query
filter language (`gnt.qlang`) applied to one view of the job:

- `["jobid", expr]`: the field `id`; the string "watermark" in a value position means the rule's
  watermark (the highest job id when the rule was added or replaced).
- `["opcode", expr]`: `OP_ID` and every field of an opcode; true when one opcode of the job matches.
- `["reason", expr]`: `source`, `reason`, `timestamp` of a reason trail entry; true when one entry
  of one opcode matches.

Everything is checked when the rule is added (`check_params`), so the scheduler never meets a rule
it cannot evaluate.
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from gnt import qlang
from gnt.errors import ECODE_INVAL, ECODE_NOENT, OpPrereqError
from gnt.objects import ConfigObject

__all__ = [
    "ACCEPT",
    "ACTIONS",
    "CONTINUE",
    "PAUSE",
    "RATE_LIMIT",
    "REJECT",
    "CompiledRule",
    "FilterRule",
    "check_params",
    "check_uuid",
    "compile_rules",
    "first_match",
    "parse_action",
]

ACCEPT, CONTINUE, PAUSE, REJECT, RATE_LIMIT = "ACCEPT", "CONTINUE", "PAUSE", "REJECT", "RATE_LIMIT"
ACTIONS = (ACCEPT, CONTINUE, PAUSE, REJECT, RATE_LIMIT)
PREDICATES = ("jobid", "opcode", "reason")
#: body keys of RAPI's POST /2/filters and PUT /2/filters/UUID (Ganeti refuses any other)
BODY_KEYS = ("priority", "predicates", "action", "reason")
MAX_PRIORITY = 2**31 - 1
MAX_RATE = 2**31 - 1
MAX_PREDICATES = 64
MAX_REASON_ENTRIES = 64
MAX_TEXT = 1024
#: rules a cluster may hold: each queued job is checked against all of them
MAX_RULES = 1000
_REASON_FIELDS = ("source", "reason", "timestamp")


@dataclass
class FilterRule(ConfigObject):
    """One rule, persisted in the cluster config beside nodes and instances."""

    KIND: ClassVar[str] = "filter"

    watermark: int = 0
    priority: int = 0
    predicates: list[list[Any]] = field(default_factory=list)
    #: "ACCEPT", "CONTINUE", "PAUSE", "REJECT" or ["RATE_LIMIT", n]
    action: Any = CONTINUE
    reason_trail: list[list[Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Ganeti's fields of a filter (RAPI GET /2/filters/UUID)."""
        return {
            "uuid": self.uuid,
            "watermark": self.watermark,
            "priority": self.priority,
            "predicates": self.predicates,
            "action": self.action,
            "reason_trail": self.reason_trail,
        }


def _bad(message: str) -> OpPrereqError:
    return OpPrereqError(message, ECODE_INVAL)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_uuid(text: str) -> str:
    """The canonical form of a rule's UUID; anything else is a one-line error, not a lookup."""
    try:
        return str(uuidlib.UUID(text))
    except (ValueError, TypeError, AttributeError):
        raise OpPrereqError(f"Invalid filter UUID {_short(text)}", ECODE_INVAL) from None


def not_found(uuid: str) -> OpPrereqError:
    return OpPrereqError(f"Filter rule '{uuid}' not known", ECODE_NOENT)


def parse_action(value: Any) -> Any:
    """The action in its stored form: a name, or ["RATE_LIMIT", n] (also from the text "RATE_LIMIT n")."""
    if isinstance(value, str):
        words = value.split()
        if len(words) == 2 and words[0].upper() == RATE_LIMIT:
            value = [RATE_LIMIT, words[1]]
        elif len(words) == 1 and words[0].upper() in ACTIONS and words[0].upper() != RATE_LIMIT:
            return words[0].upper()
        else:
            raise _bad(
                f"Invalid filter action {_short(value)}; expected ACCEPT, CONTINUE, PAUSE, REJECT or 'RATE_LIMIT n'"
            )
    if isinstance(value, (list, tuple)) and len(value) == 2 and value[0] == RATE_LIMIT:
        limit = value[1]
        if isinstance(limit, str) and limit.isascii() and limit.isdigit() and len(limit) < 12:
            limit = int(limit)
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_RATE:
            raise _bad(f"Invalid RATE_LIMIT {_short(value[1])}: expected a positive integer")
        return [RATE_LIMIT, limit]
    raise _bad(f"Invalid filter action {_short(value)}; expected ACCEPT, CONTINUE, PAUSE, REJECT or 'RATE_LIMIT n'")


class _AnyField(Collection[str]):
    """The field names of an opcode predicate: any opcode field may be named, so any name is known."""

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def _with_watermark(expr: Any, watermark: int) -> Any:
    """`expr` with every value "watermark" replaced by the rule's watermark (jobid predicates)."""
    if not isinstance(expr, list) or not expr:
        return expr
    op = expr[0]
    if op in ("&", "|", "!"):
        return [op, *(_with_watermark(sub, watermark) for sub in expr[1:])]
    if len(expr) == 3 and expr[2] == "watermark":
        return [op, expr[1], watermark]
    return expr


def _check_predicate(pred: Any) -> None:
    if not isinstance(pred, list) or len(pred) != 2 or not isinstance(pred[0], str):
        raise _bad(f"Invalid filter predicate {_short(pred)}: expected [name, expression]")
    name, expr = pred
    if name == "jobid":
        qlang.check(_with_watermark(expr, 0), ("id",))
    elif name == "opcode":
        qlang.check(expr, _AnyField())
    elif name == "reason":
        qlang.check(expr, _REASON_FIELDS)
    else:
        raise _bad(f"Unknown filter predicate {_short(name)}; expected one of {', '.join(PREDICATES)}")


def _check_reason(reason: Any) -> list[list[Any]]:
    if not isinstance(reason, list) or len(reason) > MAX_REASON_ENTRIES:
        raise _bad(f"Invalid reason trail: expected a list of at most {MAX_REASON_ENTRIES} entries")
    trail = []
    for entry in reason:
        ok = isinstance(entry, (list, tuple)) and len(entry) == 3
        ok = ok and all(isinstance(x, str) and len(x) <= MAX_TEXT for x in entry[:2])
        ok = ok and isinstance(entry[2], int) and not isinstance(entry[2], bool)
        if not ok:
            raise _bad(f"Invalid reason trail entry {_short(entry)}: expected [source, reason, timestamp]")
        trail.append(list(entry))
    return trail


def check_params(body: Any) -> tuple[int, list[list[Any]], Any, list[list[Any]]]:
    """(priority, predicates, action, reason) from a RAPI body, with Ganeti's defaults; bad input raises."""
    if not isinstance(body, dict):
        raise _bad("Invalid body contents, not a dictionary")
    unknown = [k for k in body if k not in BODY_KEYS]
    if unknown:
        raise _bad(f"Invalid body parameters: filter rule doesn't support the parameter {_short(unknown[0])}")
    priority = body.get("priority", 0)
    if not isinstance(priority, int) or isinstance(priority, bool) or not 0 <= priority <= MAX_PRIORITY:
        raise _bad(f"Invalid filter priority {_short(priority)}: expected a non-negative integer")
    predicates = body.get("predicates", [])
    if not isinstance(predicates, list) or len(predicates) > MAX_PREDICATES:
        raise _bad(f"Invalid filter predicates: expected a list of at most {MAX_PREDICATES} predicates")
    for pred in predicates:
        _check_predicate(pred)
    action = parse_action(body.get("action", CONTINUE))
    reason = _check_reason(body.get("reason", []))
    return priority, predicates, action, reason


# -- matching ----------------------------------------------------------------------------------
JobView = dict[str, Any]  # {"id": int, "ops": [opcode dicts]}
Match = Callable[[JobView], bool]


def _row(values: dict[str, Any]) -> qlang.Row:
    return lambda name: values.get(name, qlang.MISSING)


def _compile_predicate(pred: list[Any], watermark: int) -> Match:
    name, expr = pred
    if name == "jobid":
        test = qlang.compile_filter(_with_watermark(expr, watermark))
        return lambda job: test(_row({"id": job["id"]}))
    test = qlang.compile_filter(expr)
    if name == "opcode":
        return lambda job: any(isinstance(op, dict) and test(_row(op)) for op in job["ops"])

    def reason_match(job: JobView) -> bool:
        for op in job["ops"]:
            for entry in (op.get("reason") or []) if isinstance(op, dict) else []:
                if not isinstance(entry, (list, tuple)) or len(entry) != 3:
                    continue
                if test(_row(dict(zip(_REASON_FIELDS, entry, strict=True)))):
                    return True
        return False

    return reason_match


@dataclass(frozen=True)
class CompiledRule:
    """A rule ready to test jobs with; `kind` is its action's name, `limit` the RATE_LIMIT's n."""

    uuid: str
    kind: str
    limit: int
    predicates: tuple[Match, ...]

    def matches(self, job: JobView) -> bool:
        return all(pred(job) for pred in self.predicates)


def compile_rules(rules: Iterable[FilterRule]) -> list[CompiledRule]:
    """The rules in evaluation order: priority, then watermark, then uuid (Ganeti's tie breakers)."""
    ordered = sorted(rules, key=lambda r: (r.priority, r.watermark, r.uuid))
    compiled = []
    for rule in ordered:
        action = rule.action
        kind, limit = (RATE_LIMIT, int(action[1])) if isinstance(action, list) else (str(action), 0)
        preds = tuple(_compile_predicate(p, rule.watermark) for p in rule.predicates)
        compiled.append(CompiledRule(rule.uuid, kind, limit, preds))
    return compiled


def first_match(rules: list[CompiledRule], job: JobView) -> CompiledRule | None:
    """The rule that decides `job`: the first match whose action is not CONTINUE (None: nothing applies)."""
    for rule in rules:
        if rule.kind != CONTINUE and rule.matches(job):
            return rule
    return None
