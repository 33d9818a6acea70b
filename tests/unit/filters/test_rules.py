"""Filter rules: parameter checks, predicate matching and the order rules are evaluated in."""

from __future__ import annotations

from typing import Any

import pytest

from gnt.errors import OpPrereqError
from gnt.filters.rules import (
    ACCEPT,
    PAUSE,
    RATE_LIMIT,
    REJECT,
    FilterRule,
    check_params,
    check_uuid,
    compile_rules,
    first_match,
    parse_action,
)


def job(job_id: int, *ops: dict[str, Any]) -> dict[str, Any]:
    return {"id": job_id, "ops": list(ops) or [{"OP_ID": "OP_TEST_DELAY", "duration": 0, "reason": []}]}


def rule(action: Any, *predicates: list[Any], priority: int = 0, watermark: int = 0, uuid: str = "") -> FilterRule:
    extra = {"uuid": uuid} if uuid else {}
    return FilterRule(priority=priority, predicates=list(predicates), action=action, watermark=watermark, **extra)


def decide(rules: list[FilterRule], view: dict[str, Any]) -> str | None:
    found = first_match(compile_rules(rules), view)
    return None if found is None else found.uuid


# -- actions ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("ACCEPT", "ACCEPT"),
        ("pause", "PAUSE"),
        ("REJECT", "REJECT"),
        ("CONTINUE", "CONTINUE"),
        ("RATE_LIMIT 10", ["RATE_LIMIT", 10]),
        (["RATE_LIMIT", 3], ["RATE_LIMIT", 3]),
    ],
)
def test_actions_are_stored_in_ganetis_form(given: Any, stored: Any) -> None:
    assert parse_action(given) == stored


@pytest.mark.parametrize(
    "bad", ["DROP", "RATE_LIMIT", "RATE_LIMIT 0", "RATE_LIMIT -1", "RATE_LIMIT x", ["RATE_LIMIT", True], 5, None, []]
)
def test_unknown_or_malformed_actions_are_refused(bad: Any) -> None:
    with pytest.raises(OpPrereqError) as info:
        parse_action(bad)
    assert "\n" not in info.value.message


# -- parameters ------------------------------------------------------------------------------------
def test_defaults_are_ganetis() -> None:
    assert check_params({}) == (0, [], "CONTINUE", [])


@pytest.mark.parametrize(
    "body",
    [
        {"priority": -1},
        {"priority": True},
        {"priority": "1"},
        {"predicates": {"jobid": 1}},
        {"predicates": [["jobid"]]},
        {"predicates": [["nodename", ["=", "x", 1]]]},
        {"predicates": [["jobid", ["=", "name", 1]]]},
        {"predicates": [["reason", ["=", "who", "x"]]]},
        {"predicates": [["opcode", ["~~", "OP_ID", "x"]]]},
        {"predicates": [["opcode", ["=~", "OP_ID", "(a+)+$"]]]},
        {"reason": [["src", "why"]]},
        {"reason": "because"},
        {"colour": "red"},
        [],
    ],
)
def test_malformed_parameters_are_one_line_errors(body: Any) -> None:
    with pytest.raises(OpPrereqError) as info:
        check_params(body)
    assert info.value.code == "wrong_input"
    assert "\n" not in info.value.message


def test_bad_uuids_are_refused_and_good_ones_canonical() -> None:
    assert check_uuid("3B3F0B4E-5B3E-4A35-9F5E-0C1B2E6F3A11") == "3b3f0b4e-5b3e-4a35-9f5e-0c1b2e6f3a11"
    for bad in ("xyz", "", "../etc", "3b3f0b4e-5b3e-4a35-9f5e"):
        with pytest.raises(OpPrereqError):
            check_uuid(bad)


# -- predicates ------------------------------------------------------------------------------------
def test_jobid_predicate_reads_the_rules_watermark() -> None:
    after = rule(PAUSE, ["jobid", [">", "id", "watermark"]], watermark=10)
    assert decide([after], job(11)) == after.uuid
    assert decide([after], job(10)) is None


def test_opcode_predicate_matches_any_opcode_and_any_field() -> None:
    create = rule(REJECT, ["opcode", ["=", "OP_ID", "OP_INSTANCE_CREATE"]])
    named = rule(REJECT, ["opcode", ["&", ["=", "OP_ID", "OP_INSTANCE_STARTUP"], ["=", "instance_name", "web1"]]])
    two = job(5, {"OP_ID": "OP_TEST_DELAY"}, {"OP_ID": "OP_INSTANCE_CREATE", "instance_name": "x"})
    assert decide([create], two) == create.uuid
    assert decide([create], job(6)) is None
    assert decide([named], job(7, {"OP_ID": "OP_INSTANCE_STARTUP", "instance_name": "web1"})) == named.uuid
    assert decide([named], job(8, {"OP_ID": "OP_INSTANCE_STARTUP", "instance_name": "web2"})) is None
    # a field the opcode does not have never matches (not even with !=)
    absent = rule(REJECT, ["opcode", ["!=", "no_such_field", 1]])
    assert decide([absent], job(9)) is None


def test_reason_predicate_matches_any_trail_entry() -> None:
    pink = rule(ACCEPT, ["reason", ["=~", "reason", "pink bunny"]])
    op = {"OP_ID": "OP_TEST_DELAY", "reason": [["gnt:client", "", 1], ["gnt:user", "maintenance pink bunny", 2]]}
    assert decide([pink], job(1, op)) == pink.uuid
    assert decide([pink], job(2, {"OP_ID": "OP_TEST_DELAY", "reason": [["gnt:user", "other", 1]]})) is None
    assert decide([pink], job(3, {"OP_ID": "OP_TEST_DELAY"})) is None


def test_all_predicates_of_a_rule_must_hold() -> None:
    both = rule(REJECT, ["jobid", [">", "id", 5]], ["opcode", ["=", "OP_ID", "OP_TEST_DELAY"]])
    assert decide([both], job(6)) == both.uuid
    assert decide([both], job(5)) is None
    assert decide([rule(REJECT)], job(1)) is not None  # no predicates: every job


# -- order -----------------------------------------------------------------------------------------
def test_lower_priority_value_wins_and_continue_is_skipped() -> None:
    accept = rule(ACCEPT, priority=1)
    reject = rule(REJECT, priority=2)
    skipped = rule("CONTINUE", priority=0)
    assert decide([reject, accept, skipped], job(1)) == accept.uuid
    assert decide([reject, skipped], job(1)) == reject.uuid
    assert decide([skipped], job(1)) is None


def test_ties_break_by_watermark_then_uuid() -> None:
    later = rule(REJECT, watermark=9, uuid="00000000-0000-4000-8000-000000000001")
    earlier = rule(PAUSE, watermark=3, uuid="ffffffff-0000-4000-8000-000000000000")
    assert decide([later, earlier], job(1)) == earlier.uuid
    low = rule(ACCEPT, watermark=3, uuid="00000000-0000-4000-8000-000000000000")
    assert decide([later, earlier, low], job(1)) == low.uuid


def test_rate_limit_rule_carries_its_limit() -> None:
    (compiled,) = compile_rules([rule([RATE_LIMIT, 4])])
    assert (compiled.kind, compiled.limit) == (RATE_LIMIT, 4)
