"""Sizes as admins type them and as list commands print them."""

from __future__ import annotations

import pytest

from gnt.errors import ParameterError
from gnt.units import format_size, parse_size


@pytest.mark.parametrize(
    ("text", "mib"),
    [
        ("128", 128),
        ("128M", 128),
        ("128m", 128),
        ("128MB", 128),
        ("1G", 1024),
        ("1g", 1024),
        ("1.5G", 1536),
        ("2T", 2 * 1024 * 1024),
        (" 64M ", 64),
        ("0.5", 1),  # rounds up like Ganeti
        (512, 512),
        (0, 0),
        (1.2, 2),
    ],
)
def test_parse_size_accepts_ganeti_sizes(text: str | int | float, mib: int) -> None:
    assert parse_size(text) == mib


@pytest.mark.parametrize("bad", ["abc", "-5", "", "1Q", "G", "1.5.5G", True, False, -5])
def test_parse_size_rejects_malformed_values(bad: object) -> None:
    with pytest.raises(ParameterError) as info:
        parse_size(bad, "memory")  # type: ignore[arg-type]
    assert info.value.message == f"'memory' (value {bad}) is not a valid size. error: Invalid format"


def test_parse_size_error_message_matches_ganeti() -> None:
    with pytest.raises(ParameterError, match=r"^'memory' \(value abc\) is not a valid size\. error: Invalid format$"):
        parse_size("abc", "memory")


@pytest.mark.parametrize(
    ("mib", "units", "text"),
    [
        (128, "h", "128M"),
        (1023, "h", "1023M"),
        (1024, "h", "1.0G"),
        (1536, "h", "1.5G"),
        (2 * 1024 * 1024, "h", "2.0T"),
        (1536, "m", "1536"),
        (1536, "g", "1.5"),
        (1024 * 1024, "t", "1.0"),
        (None, "h", "?"),
    ],
)
def test_format_size_in_each_unit(mib: int | None, units: str, text: str) -> None:
    assert format_size(mib, units) == text


def test_format_size_defaults_to_human() -> None:
    assert format_size(2048) == "2.0G"
