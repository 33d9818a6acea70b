"""The cluster's default iallocator parameters (`--default-iallocator-params`, Ganeti's
`default_iallocator_params`): options every allocator run is given.

Ganeti hands them to the allocator program as command-line options after the request file,
`--KEY=VALUE` each, or `--KEY` for a key whose value is null (`-KEY` on the command line). gnt does
the same for external allocators. A key becomes an option of a program the master runs as root, so
it must look like one (letters, digits, '-' and '_', not starting with '-'), and a value is one
argument: a string without NUL or newline, a boolean, or null.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["as_arguments", "check", "describe"]

_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}\Z")
#: a handful of options is what an allocator takes; more is a mistake
MAX_PARAMS = 64


def check(value: Any) -> None:
    """A `default_iallocator_params` dict (None passes: the field not set)."""
    if value is None:
        return
    if not isinstance(value, dict):
        raise ValueError(f"expected an object of allocator parameters, not {value!r}")
    if len(value) > MAX_PARAMS:
        raise ValueError(f"at most {MAX_PARAMS} allocator parameters, not {len(value)}")
    for key, item in value.items():
        if not isinstance(key, str) or not _KEY_RE.match(key):
            raise ValueError(
                f"invalid allocator parameter name {key!r} (letters, digits, '-' and '_', not starting with '-')"
            )
        if item is None or isinstance(item, bool):
            continue
        if not isinstance(item, str) or "\0" in item or "\n" in item or len(item) > 1024:
            raise ValueError(f"allocator parameter {key}: {item!r} is not a valid value (a string of one line)")


def as_arguments(params: dict[str, Any]) -> list[str]:
    """The allocator program's options, as Ganeti's node daemon builds them."""
    return [f"--{key}" if value is None else f"--{key}={value}" for key, value in params.items()]


def describe(params: dict[str, Any]) -> str:
    """`gnt-cluster info`'s one line: `key=value, ...` (a null value as `-key`)."""
    return ", ".join(f"-{k}" if v is None else f"{k}={v}" for k, v in sorted(params.items()))
