"""`--roman` of Ganeti's `info` commands: whole numbers shown in Roman numerals.

Ganeti has offered it since its early days; scripts and habits that pass it keep working. Only the
numbers Ganeti writes (1 to 4999, four thousand as MMMM) change; zero, negatives, larger numbers,
booleans and text stay.
"""

from __future__ import annotations

from typing import Any

__all__ = ["romanize", "to_roman"]

_NUMERALS = (
    (1000, "M"),
    (900, "CM"),
    (500, "D"),
    (400, "CD"),
    (100, "C"),
    (90, "XC"),
    (50, "L"),
    (40, "XL"),
    (10, "X"),
    (9, "IX"),
    (5, "V"),
    (4, "IV"),
    (1, "I"),
)
MAX_ROMAN = 4999


def to_roman(number: int) -> str:
    """1..4999 in Roman numerals (ValueError outside: there is no numeral for them)."""
    if not 1 <= number <= MAX_ROMAN:
        raise ValueError(f"{number} has no Roman numeral (1 to {MAX_ROMAN} only)")
    parts: list[str] = []
    for value, numeral in _NUMERALS:
        count, number = divmod(number, value)
        parts.append(numeral * count)
    return "".join(parts)


def romanize(data: Any) -> Any:
    """A copy of an info tree with every whole number it can write turned into Roman numerals."""
    if isinstance(data, dict):
        return {key: romanize(value) for key, value in data.items()}
    if isinstance(data, list):
        return [romanize(item) for item in data]
    if isinstance(data, int) and not isinstance(data, bool) and 1 <= data <= MAX_ROMAN:
        return to_roman(data)
    return data
