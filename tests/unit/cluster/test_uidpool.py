"""The user-id pool's syntax and edits (gnt.uidpool): Ganeti's `--uid-pool` format, its checks, and
its rules for adding (an exact duplicate is skipped, an overlap kept) and removing (exact ranges only)."""

from __future__ import annotations

import pytest

from gnt import uidpool
from gnt.errors import OpPrereqError
from gnt.opcodes import from_dict


@pytest.mark.parametrize(
    ("text", "ranges"),
    [
        ("1000-2000,3000", [(1000, 2000), (3000, 3000)]),
        (" 3000 , 1000 - 2000 ", [(1000, 2000), (3000, 3000)]),  # whitespace allowed, sorted
        ("5,,6,", [(5, 5), (6, 6)]),  # empty items skipped
        ("", []),
        ("0-4294967294", [(0, uidpool.UID_MAX)]),
    ],
)
def test_parse_reads_uids_and_ranges(text: str, ranges: list[tuple[int, int]]) -> None:
    assert uidpool.parse(text) == ranges


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1-2-3", "Only one hyphen allowed"),
        ("abc", "lower boundary"),
        ("10-x", "higher boundary"),
        ("-5", "lower boundary"),
        ("1.5", "lower boundary"),
    ],
)
def test_parse_refuses_what_is_not_a_uid_or_range(text: str, message: str) -> None:
    with pytest.raises(uidpool.UidPoolError, match=message):
        uidpool.parse(text)


@pytest.mark.parametrize(
    ("pool", "message"),
    [
        ([[2000, 1000]], r"Lower user-id range boundary value \(2000\) is larger than higher boundary value \(1000\)"),
        ([[-1, 5]], "smaller than 0"),
        ([[1, 2**32 - 1]], "larger than 4294967294"),
        ([[1, 2, 3]], r"\[low, high\]"),
        ([[True, 5]], r"\[low, high\]"),
        ("1000", "list"),
    ],
)
def test_check_refuses_bad_ranges(pool: object, message: str) -> None:
    with pytest.raises(uidpool.UidPoolError, match=message):
        uidpool.check(pool)


def test_format_is_ganetis_comma_list() -> None:
    assert uidpool.format_pool([[3000, 3000], [1000, 2000]]) == "1000-2000, 3000"
    assert uidpool.format_pool([]) == ""
    assert uidpool.format_pool([[4, 5]], roman=True) == "IV-V"


def test_ssconf_text_round_trips() -> None:
    pool = [(1000, 2000), (3000, 3000)]
    assert uidpool.to_ssconf(pool) == "1000-2000\n3000"
    assert uidpool.from_ssconf(uidpool.to_ssconf(pool)) == pool
    assert uidpool.from_ssconf("") == []


def test_add_skips_an_exact_duplicate_and_keeps_an_overlap() -> None:
    pool = uidpool.add([[1000, 2000]], [[1000, 2000], [1500, 2500], [10, 10]])
    assert pool == [(10, 10), (1000, 2000), (1500, 2500)]
    assert uidpool.size(pool) == 1 + 1501  # overlapping uids counted once


def test_remove_takes_exact_ranges_only() -> None:
    assert uidpool.remove([[1000, 2000], [3000, 3000]], [[3000, 3000]]) == [(1000, 2000)]
    with pytest.raises(uidpool.UidPoolError, match="not found in the current user-id pool: 1000-1500"):
        uidpool.remove([[1000, 2000]], [[1000, 1500]])


def test_the_opcode_refuses_a_bad_pool_before_any_job() -> None:
    with pytest.raises(OpPrereqError, match="larger than higher boundary"):
        from_dict({"OP_ID": "OP_CLUSTER_SET_PARAMS", "add_uids": [[5, 1]]})
    with pytest.raises(OpPrereqError, match="expected"):
        from_dict({"OP_ID": "OP_CLUSTER_SET_PARAMS", "uid_pool": "1000-2000"})
    op = from_dict({"OP_ID": "OP_CLUSTER_SET_PARAMS", "uid_pool": [[1000, 2000]], "maintain_node_health": True})
    assert op.uid_pool == [[1000, 2000]] and op.maintain_node_health is True
