"""What an OP_TEST_DELAY may ask for: shared by the CLI (checked before submitting) and the LU.

An endless sleep would hold its locks, and its running slot, for ever; a zero-length sleep
repeated for ever would never give the master's event loop back. Both are refused up front.
"""

from __future__ import annotations

import math

#: the longest total sleep one OP_TEST_DELAY may ask for (a day); anything longer is a mistake
MAX_DELAY = 86400.0
#: repeats are bounded too
MAX_REPEAT = 10000


def delay_problem(duration: float, repeat: int = 0) -> str | None:
    """Why (duration, repeat) is not an acceptable delay, or None if it is."""
    if not math.isfinite(duration):
        return f"Duration must be a finite number of seconds, not {duration}"
    if duration < 0:
        return f"Duration must be >= 0, not {duration}"
    if not 0 <= repeat <= MAX_REPEAT:
        return f"Repeat must be between 0 and {MAX_REPEAT}, not {repeat}"
    if duration * (repeat + 1) > MAX_DELAY:
        return f"Delay of {duration}s x {repeat + 1} exceeds the maximum of {MAX_DELAY:.0f}s"
    return None
