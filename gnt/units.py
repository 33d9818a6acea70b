"""Sizes as admins type them ("128M", "1.5G") and as `list --units` prints them."""

from __future__ import annotations

import re

from gnt.errors import ParameterError

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]?)[bB]?\s*$")
_FACTORS = {"": 1, "m": 1, "g": 1024, "t": 1024 * 1024}
#: the largest size gnt accepts (1 EiB): far above any disk, far below what int64 sums overflow at
MAX_SIZE_MIB = 2**40


def parse_size(value: str | int | float, name: str = "size") -> int:
    """Parse a size into MiB (default unit MiB), rounding up like Ganeti; raises ParameterError.

    Sizes above `MAX_SIZE_MIB` (and non-finite numbers) are refused here, so no caller ever
    hands the allocator, a node or SQLite a number they cannot hold.
    """
    invalid = f"'{name}' (value {value}) is not a valid size. error: Invalid format"
    if isinstance(value, bool):
        raise ParameterError(invalid)
    if isinstance(value, (int, float)):
        amount: float = value
    elif isinstance(value, str):
        match = _SIZE_RE.match(value)
        if not match or match.group(2).lower() not in _FACTORS:
            raise ParameterError(invalid)
        amount = float(match.group(1)) * _FACTORS[match.group(2).lower()]
    else:
        raise ParameterError(invalid)
    if amount != amount or amount < 0:  # NaN or negative
        raise ParameterError(invalid)
    if amount > MAX_SIZE_MIB:
        raise ParameterError(f"'{name}' (value {value}) is too large; sizes go up to {MAX_SIZE_MIB // 2**20}T")
    return int(-(-amount // 1))


def format_size(mib: int | float | None, units: str = "h") -> str:
    """Format MiB for output; units 'h' (human), 'm', 'g', 't'."""
    if mib is None:
        return "?"
    if units == "m":
        return str(int(mib))
    if units == "g":
        return f"{mib / 1024:.1f}"
    if units == "t":
        return f"{mib / 1024 / 1024:.1f}"
    if mib >= 1024 * 1024:
        return f"{mib / 1024 / 1024:.1f}T"
    if mib >= 1024:
        return f"{mib / 1024:.1f}G"
    return f"{int(mib)}M"
