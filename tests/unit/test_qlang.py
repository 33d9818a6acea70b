"""Ganeti's query filter language: the text form `-F` parses, the list form the RAPI checks, and
what a filter keeps."""

from __future__ import annotations

from typing import Any

import pytest

from gnt.errors import OpPrereqError
from gnt.qlang import MISSING, check, compile_filter, fields_of, parse_text

FIELDS = {"name", "pnode", "tags", "admin_state", "be/memory", "oper_ram", "status"}


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ('pnode == "node1"', ["=", "pnode", "node1"]),
        ("name != 'a b'", ["!=", "name", "a b"]),
        ("be/memory >= 128", [">=", "be/memory", 128]),
        ("oper_ram < -1", ["<", "oper_ram", -1]),
        ("admin_state", ["?", "admin_state"]),
        ("not admin_state", ["!", ["?", "admin_state"]]),
        ('"web" in tags', ["=[]", "tags", "web"]),
        ('"web" not in tags', ["!", ["=[]", "tags", "web"]]),
        ("name =~ m/^web/i", ["=~", "name", "(?i)^web"]),
        ("name =~ #a/b#", ["=~", "name", "a/b"]),
        ("name !~ /x/", ["!", ["=~", "name", "x"]]),
        (
            'pnode == "n1" and (admin_state or "x" in tags) or name == "y"',
            ["|", ["&", ["=", "pnode", "n1"], ["|", ["?", "admin_state"], ["=[]", "tags", "x"]]], ["=", "name", "y"]],
        ),
        ("a == 1 and b == 2 and c == 3", ["&", ["=", "a", 1], ["=", "b", 2], ["=", "c", 3]]),
    ],
)
def test_text_form_parses_to_ganetis_list_form(text: str, parsed: list[Any]) -> None:
    assert parse_text(text) == parsed


def test_globs_match_the_whole_value() -> None:
    keep = compile_filter(parse_text('name =* "web*"'))
    assert keep({"name": "web1"}.get) and not keep({"name": "aweb1"}.get)
    assert compile_filter(parse_text('name !* "web*"'))({"name": "db1"}.get)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty filter"),
        ("name ==", "expected value, found the end"),
        ('name == "x" and', "expected field"),
        ("(name", "expected ), found the end"),
        ("name =~ m/x/q", "unknown regular expression flag(s) 'q'"),
        ("name == x", "expected value, found 'x'"),
        ("name == 'x' extra", "unexpected 'extra'"),
        ("name == `x`", "cannot parse"),
        ("(" * 100 + "name" + ")" * 100, "nested deeper than 64 levels"),
        ("not " * 100 + "name", "nested deeper than 64 levels"),
    ],
)
def test_malformed_text_is_one_clear_error(text: str, message: str) -> None:
    with pytest.raises(OpPrereqError, match="^Invalid query filter: ") as err:
        parse_text(text)
    assert message in err.value.message


@pytest.mark.parametrize(
    ("qfilter", "message"),
    [
        ("name", "expected a list starting with an operator"),
        ([], "expected a list starting with an operator"),
        (["~", "name"], "unknown operator '~'"),
        (["=", "nosuch", 1], "unknown field 'nosuch'"),
        (["=", "name"], "takes 2 operand(s), not 1"),
        (["?", "name", 1], "takes 1 operand(s), not 2"),
        (["!", ["?", "name"], ["?", "name"]], "takes exactly one operand"),
        (["|"], "needs at least one operand"),
        (["=~", "name", "("], "bad regular expression"),
        (["=~", "name", 5], "needs a regular expression string"),
        (["=", "name", {"a": 1}], "compares with a string, number or boolean"),
        (["=~", "name", "(a+)+$"], "repeats a repetition (it may take exponential time)"),
        (["=~", "name", "^(x|y*)*z"], "repeats a repetition"),
        (["=~", "name", "a" * 1025], "longer than 1024 characters"),
        (["&", ["=", "name", "x"], "junk"], "expected a list starting with an operator"),
    ],
)
def test_malformed_list_filters_are_refused(qfilter: Any, message: str) -> None:
    with pytest.raises(OpPrereqError, match="^Invalid query filter: ") as err:
        check(qfilter, FIELDS)
    assert message in err.value.message


ROWS = [
    {"name": "web1", "pnode": "node1", "tags": ["web"], "admin_state": True, "oper_ram": 128},
    {"name": "web2", "pnode": "node2", "tags": ["web", "x"], "admin_state": False, "oper_ram": MISSING},
    {"name": "db1", "pnode": "node2", "tags": [], "admin_state": True, "oper_ram": 512},
]


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ('pnode == "node2"', ["web2", "db1"]),
        ('pnode == "node2" and admin_state', ["db1"]),
        ('"web" in tags and not "x" in tags', ["web1"]),
        ("name =~ m/^WEB/i", ["web1", "web2"]),
        ("oper_ram > 200", ["db1"]),
        ("not oper_ram > 200", ["web1", "web2"]),  # a missing value matches nothing, so its negation matches
        ('oper_ram > "a"', []),  # numbers and strings do not order
        ("oper_ram", ["web1", "db1"]),
    ],
)
def test_filters_keep_the_matching_rows(text: str, kept: list[str]) -> None:
    qfilter = parse_text(text)
    check(qfilter, FIELDS | {"oper_ram"})
    keep = compile_filter(qfilter)
    assert [row["name"] for row in ROWS if keep(lambda field, row=row: row[field])] == kept


def test_patterns_without_nested_repetition_are_kept() -> None:
    for pattern in ("^web[0-9]+$", "(ab)+", "a+b*c?", "(?i)^db-(east|west)"):
        check(["=~", "name", pattern], FIELDS)


def test_fields_of_lists_each_field_once() -> None:
    assert fields_of(parse_text('pnode == "a" or pnode == "b" and "x" in tags')) == ["pnode", "tags"]
