"""Dynamic utilisation (hbal's -U file and --ignore-dynu): per-instance load the balancer evens out.

Ganeti does not measure instance load itself; hbal reads it from a file the administrator fills,
one line per instance, ``NAME CPU MEM DISK NET``, fields separated by single spaces, numbers in
Haskell's notation (``1``, ``0.5``, ``-2``, ``1e3``; not ``.5`` or ``1.``). The cpu, memory and
network loads of a node are those of its primaries, the disk load also counts its secondaries
(DRBD writes land on both). Instances the file does not name keep one for every metric;
names the cluster does not know are skipped, as hbal 3.0 does (its man page says it aborts; the
code skips). `--ignore-dynu` sets every load to zero and ignores the file.

Unlike hbal, gnt refuses non-finite numbers (``NaN``, ``Infinity``): hbal takes them and then
finds no move at all, which says nothing about what was wrong.
"""

from __future__ import annotations

import math
import re

from gnt.alloc.model import ClusterModel
from gnt.errors import ParameterError

__all__ = ["ZERO_UTIL", "apply_utilisation", "ignore_utilisation", "parse_utilisation"]

ZERO_UTIL = (0.0, 0.0, 0.0, 0.0)
_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?")


def _number(text: str, line_no: int, name: str) -> float:
    if not _NUMBER.fullmatch(text):
        raise ParameterError(f"Utilisation line {line_no} ({name}): '{text}' is not a number")
    value = float(text)
    if not math.isfinite(value):
        raise ParameterError(f"Utilisation line {line_no} ({name}): '{text}' is out of range")
    return value


def parse_utilisation(text: str) -> dict[str, tuple[float, float, float, float]]:
    """The loads a -U file gives, by instance name (a later line for the same name wins, as in hbal).

    Raises:
        ParameterError: a line that is not ``NAME CPU MEM DISK NET`` with single spaces and numbers.
    """
    out: dict[str, tuple[float, float, float, float]] = {}
    for line_no, line in enumerate(text.splitlines(), 1):
        parts = line.split(" ")
        if len(parts) != 5 or not parts[0]:
            raise ParameterError(
                f"Cannot parse utilisation line {line_no}: {line!r} (expected 'NAME CPU MEM DISK NET', single spaces)"
            )
        name = parts[0]
        cpu, mem, dsk, net = (_number(p, line_no, name) for p in parts[1:])
        out[name] = (cpu, mem, dsk, net)
    return out


def apply_utilisation(model: ClusterModel, loads: dict[str, tuple[float, float, float, float]]) -> list[str]:
    """Give the named instances their loads and rebuild the model; returns the names it does not know."""
    unknown = []
    for name, util in loads.items():
        idx = model.inst_index.get(name)
        if idx is None:
            unknown.append(name)
            continue
        model.instances[idx].util = util
    model.rebuild()
    return sorted(unknown)


def ignore_utilisation(model: ClusterModel) -> None:
    """hbal's --ignore-dynu: every instance loads nothing, so the load components are all zero."""
    for inst in model.instances:
        inst.util = ZERO_UTIL
    model.rebuild()
