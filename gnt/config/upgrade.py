"""Config format versions: which gnt release writes which format, and the conversions between them.

`gnt-cluster upgrade --to VERSION` looks the target release up in `RELEASES`, then converts the
config from the format it is stored in (`Cluster.config_version`) to that release's format one
step at a time, upward or downward, each step a pure function on the config's snapshot (the
`{kind: {uuid: data}}` dicts that `ConfigManager.snapshot` returns and a full resync ships). An
unknown release, or two formats no chain of steps joins, is refused before anything changes.

Today every gnt release writes format 100, so `STEPS` is empty and an upgrade between releases
only re-stamps the format; a release that changes the format adds its release to `RELEASES` and
one `Step` (up and down) here.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gnt import CONFIG_VERSION, __version__
from gnt.errors import ECODE_ENVIRON, ECODE_INVAL, ECODE_STATE, ConfigurationError, OpPrereqError

__all__ = ["RELEASES", "STEPS", "Snapshot", "Step", "check_release", "check_versions", "convert", "plan"]

Snapshot = dict[str, dict[str, dict[str, Any]]]

#: gnt release -> the config format it writes
RELEASES: dict[str, int] = {__version__: CONFIG_VERSION}

_RELEASE_RE = re.compile(r"^\d+\.\d+(\.\d+)?\Z")


@dataclass(frozen=True)
class Step:
    """A conversion between two adjacent formats; `up` maps `old`'s snapshot to `new`'s, `down` back."""

    old: int
    new: int
    up: Callable[[Snapshot], Snapshot]
    down: Callable[[Snapshot], Snapshot]


#: the conversions, in format order (each step's `old` is the previous step's `new`)
STEPS: list[Step] = []


def check_release(version: str) -> int:
    """The config format of release `version`; a malformed or unknown release is refused."""
    if not _RELEASE_RE.match(version):
        raise OpPrereqError(f"Invalid version '{version}': expected MAJOR.MINOR[.PATCH]", ECODE_INVAL)
    if version not in RELEASES:
        known = ", ".join(sorted(RELEASES))
        raise OpPrereqError(f"Unknown gnt version '{version}': this gnt can upgrade to {known}", ECODE_INVAL)
    return RELEASES[version]


def plan(current: int, target: int) -> list[tuple[str, Step]]:
    """The steps from format `current` to `target`, as ("up" | "down", step) in the order to run."""
    if current == target:
        return []
    upward = current < target
    chain = [
        s for s in STEPS if (current <= s.old and s.new <= target if upward else target <= s.old and s.new <= current)
    ]
    if not upward:
        chain.reverse()
    position = current
    for step in chain:
        if (step.old if upward else step.new) != position:
            break
        position = step.new if upward else step.old
    if position != target:
        raise ConfigurationError(f"No conversion of the configuration from format {current} to {target} is known")
    return [("up" if upward else "down", s) for s in chain]


def convert(snapshot: Snapshot, current: int, target: int) -> Snapshot:
    """The snapshot converted from `current` to `target` (the input is left untouched), stamped with
    the target format on its cluster object."""
    data = copy.deepcopy(snapshot)
    for direction, step in plan(current, target):
        data = step.up(data) if direction == "up" else step.down(data)
    for cluster in data.get("cluster", {}).values():
        cluster["config_version"] = target
    return data


def check_versions(answers: dict[str, Any], target: str) -> None:
    """Refuse unless every online node answered and runs `target`. `answers` maps a node to its
    version, None when it did not answer, "offline" for an offline node (skipped, as Ganeti's
    upgrade skips offline nodes; it must run `target` before it is brought back)."""
    silent = sorted(n for n, v in answers.items() if v is None)
    if silent:
        raise OpPrereqError(
            f"Could not get the gnt version of {', '.join(silent)}: start its node daemon "
            "(or mark the node offline) and try again",
            ECODE_ENVIRON,
        )
    other = {n: v for n, v in answers.items() if v not in (target, "offline")}
    if other:
        listed = ", ".join(f"{n} runs {v}" for n, v in sorted(other.items()))
        raise OpPrereqError(f"Mixed gnt versions: {listed}; install gnt {target} on every node first", ECODE_STATE)
