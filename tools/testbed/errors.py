"""The one error type of the test bed (a tool, not part of gnt, so it does not use gnt.errors)."""

from __future__ import annotations

__all__ = ["TestbedError"]


class TestbedError(Exception):
    """A step of the test bed failed; the message says which and what to do."""

    __test__ = False  # not a pytest test class despite the name
