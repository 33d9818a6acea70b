"""The cluster's user-id pool: its text syntax, checks and edits (Ganeti's `--uid-pool`).

The pool is a list of inclusive `[low, high]` ranges, kept sorted, stored in the cluster config
and shipped to every node in the `uid_pool` ssconf file. The kvm backend's `security_model=pool`
runs each QEMU as a uid taken from it (the node-side allocator is `backends.kvm.uids`).

Ganeti's rules, kept: ranges are compared whole, so adding a range that is already there changes
nothing, adding an overlapping one keeps both (the allocator hands out each uid once however many
ranges hold it), and removing needs a range exactly as it was added.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = [
    "UID_MAX",
    "UID_MIN",
    "UidPoolError",
    "add",
    "check",
    "format_pool",
    "from_ssconf",
    "missing",
    "normalize",
    "parse",
    "remove",
    "size",
    "to_ssconf",
]

UID_MIN = 0
#: (uid_t)-1 is "no change" to setuid(2) and no process can run as it: the highest usable uid is one less
UID_MAX = 2**32 - 2

Range = tuple[int, int]


class UidPoolError(ValueError):
    """A pool definition or edit that cannot be applied; the message is Ganeti's."""


def parse(value: str, separator: str = ",") -> list[Range]:
    """`"1000-2000, 3000"` as sorted ranges; whitespace around numbers and empty items are allowed."""
    ranges: list[Range] = []
    for item in value.split(separator):
        if not item.strip():
            continue
        bounds = item.split("-")
        if len(bounds) > 2:
            raise UidPoolError(f"Invalid user-id range definition. Only one hyphen allowed: {item.strip()}")
        lower = _number(bounds[0], "lower")
        higher = _number(bounds[-1], "higher")
        ranges.append((lower, higher))
    return sorted(ranges)


def _number(text: str, which: str) -> int:
    text = text.strip()
    if not text.isdigit() or not text.isascii():
        raise UidPoolError(f"Invalid user-id value for {which} boundary of user-id range: {text[:40]!r}")
    return int(text)


def check(pool: Any) -> None:
    """Each range is `[low, high]` of whole numbers, low <= high, inside UID_MIN..UID_MAX."""
    if not isinstance(pool, list):
        raise UidPoolError(f"a user-id pool is a list of [low, high] ranges, not {str(pool)[:80]!r}")
    for entry in pool:
        ok = isinstance(entry, (list, tuple)) and len(entry) == 2
        if not ok or not all(isinstance(v, int) and not isinstance(v, bool) for v in entry):
            raise UidPoolError(f"a user-id range is [low, high] (two whole numbers), not {str(entry)[:80]!r}")
        lower, higher = entry
        if lower > higher:
            raise UidPoolError(
                f"Lower user-id range boundary value ({lower}) is larger than higher boundary value ({higher})"
            )
        if lower < UID_MIN:
            raise UidPoolError(f"Lower user-id range boundary value ({lower}) is smaller than {UID_MIN}")
        if higher > UID_MAX:
            raise UidPoolError(f"Higher user-id boundary value ({higher}) is larger than {UID_MAX}")


def normalize(pool: Iterable[Iterable[int]]) -> list[Range]:
    """Ranges as sorted (low, high) tuples (JSON gives lists)."""
    return sorted((int(lo), int(hi)) for lo, hi in pool)


def add(pool: Iterable[Iterable[int]], ranges: Iterable[Iterable[int]]) -> list[Range]:
    """The pool with `ranges` added; a range already in it is not added twice."""
    result = normalize(pool)
    for entry in normalize(ranges):
        if entry not in result:
            result.append(entry)
    return sorted(result)


def missing(pool: Iterable[Iterable[int]], ranges: Iterable[Iterable[int]]) -> list[Range]:
    """The ranges of `ranges` that are not (exactly) in the pool: these cannot be removed."""
    have = set(normalize(pool))
    return [entry for entry in normalize(ranges) if entry not in have]


def remove(pool: Iterable[Iterable[int]], ranges: Iterable[Iterable[int]]) -> list[Range]:
    """The pool without `ranges`; each must be in it exactly as it was added (Ganeti's rule)."""
    absent = missing(pool, ranges)
    if absent:
        raise UidPoolError(
            f"User-id range to be removed is not found in the current user-id pool: {_format_range(absent[0])}"
        )
    drop = set(normalize(ranges))
    return [entry for entry in normalize(pool) if entry not in drop]


def _format_range(entry: Iterable[int], roman: bool = False) -> str:
    lower, higher = entry
    if roman:
        from gnt.cli.roman import to_roman

        low_text, high_text = to_roman(lower), to_roman(higher)
    else:
        low_text, high_text = str(lower), str(higher)
    return low_text if lower == higher else f"{low_text}-{high_text}"


def format_pool(pool: Iterable[Iterable[int]], separator: str = ", ", roman: bool = False) -> str:
    """The pool as `gnt-cluster info` shows it: `1000-2000, 3000` ("" when empty)."""
    return separator.join(_format_range(entry, roman) for entry in normalize(pool))


def to_ssconf(pool: Iterable[Iterable[int]]) -> str:
    """The ssconf file's text: one range a line (Ganeti's ssconf_uid_pool)."""
    return format_pool(pool, separator="\n")


def from_ssconf(text: str) -> list[Range]:
    """The ranges of an ssconf file's text; [] when the node has no pool."""
    return parse(text, separator="\n")


def size(pool: Iterable[Iterable[int]]) -> int:
    """How many distinct uids the pool holds (overlapping ranges count each uid once)."""
    total, reach = 0, -1
    for lower, higher in normalize(pool):
        lower = max(lower, reach + 1)
        if lower <= higher:
            total += higher - lower + 1
            reach = higher
    return total
