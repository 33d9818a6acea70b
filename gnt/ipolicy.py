"""Instance policies (Ganeti's ipolicy): their shape, how layers fill each other, and the checks
an instance's specs must pass.

A policy holds `minmax` (a list of {min, max} spec pairs; an instance must fit inside one pair),
`std` (the standard spec capacity planning uses; cluster-level only, it must lie inside a pair),
`disk-templates`, `vcpu-ratio` and `spindle-ratio`. The allocator enforces policies on its own
model; the LUs that place an instance by hand (`add -n`, `modify`, `migrate`, `failover`) call
`spec_violations` here, so both speak Ganeti's messages.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from gnt import constants

__all__ = [
    "IPOLICY_KEYS",
    "ISPEC_KEYS",
    "check_ipolicy",
    "fill_ipolicy",
    "group_policy",
    "instance_violations",
    "spec_violations",
    "std_problem",
]

ISPEC_KEYS = ("memory-size", "cpu-count", "disk-count", "disk-size", "nic-count", "spindle-use")
IPOLICY_KEYS = ("minmax", "std", "disk-templates", "vcpu-ratio", "spindle-ratio")


def fill_ipolicy(*layers: dict[str, Any] | None) -> dict[str, Any]:
    """Ganeti's defaults overlaid by each layer in turn: `std` merges per key, other keys replace."""
    result: dict[str, Any] = copy.deepcopy(constants.IPOLICY_DEFAULTS)
    for layer in layers:
        for key, value in (layer or {}).items():
            if key == "std" and isinstance(value, dict):
                result["std"] = {**result.get("std", {}), **value}
            else:
                result[key] = copy.deepcopy(value)
    return result


def group_policy(cfg: Any, group_uuid: str) -> dict[str, Any]:
    """The policy a node group's instances live under (defaults, cluster, group)."""
    group = cfg.groups.get(group_uuid)
    return fill_ipolicy(cfg.cluster.ipolicy, getattr(group, "ipolicy", None))


def _ispec(value: Any, what: str) -> dict[str, int]:
    if not isinstance(value, dict):
        raise ValueError(f"{what} must be an object of {', '.join(ISPEC_KEYS)}")
    for key, item in value.items():
        if key not in ISPEC_KEYS:
            raise ValueError(f"Invalid key {key!r} in {what}; expected {', '.join(ISPEC_KEYS)}")
        if not isinstance(item, int) or isinstance(item, bool) or item < 0:
            raise ValueError(f"{what} {key} must be a non-negative integer, not {item!r}")
    return value


def check_ipolicy(value: Any) -> None:
    """Ganeti's instance policy shape: min <= max in every minmax pair, ratios positive, known
    templates, no unknown keys. Raises ValueError (the opcode checks' contract)."""
    if value is None:
        return
    if not isinstance(value, dict):
        raise ValueError("ipolicy must be an object")
    unknown = sorted(set(value) - set(IPOLICY_KEYS))
    if unknown:
        raise ValueError(f"Invalid keys in ipolicy: {', '.join(unknown)}; expected {', '.join(IPOLICY_KEYS)}")
    if "std" in value:
        _ispec(value["std"], "ipolicy std")
    if "minmax" in value:
        pairs = value["minmax"]
        if not isinstance(pairs, list) or not pairs:
            raise ValueError("ipolicy minmax must be a non-empty list of {min, max}")
        for pair in pairs:
            if not isinstance(pair, dict) or set(pair) != {"min", "max"}:
                raise ValueError("each ipolicy minmax entry must be {min, max}")
            low, high = _ispec(pair["min"], "ipolicy min"), _ispec(pair["max"], "ipolicy max")
            if set(low) != set(ISPEC_KEYS) or set(high) != set(ISPEC_KEYS):
                raise ValueError(f"ipolicy min and max must each give all of {', '.join(ISPEC_KEYS)}")
            wrong = [k for k in ISPEC_KEYS if low[k] > high[k]]
            if wrong:
                raise ValueError(f"Invalid ipolicy: min {wrong[0]} {low[wrong[0]]} is above max {high[wrong[0]]}")
    for ratio in ("vcpu-ratio", "spindle-ratio"):
        if ratio in value:
            item = value[ratio]
            if not isinstance(item, (int, float)) or isinstance(item, bool) or not 0 < item <= 1e6:
                raise ValueError(f"ipolicy {ratio} must be a positive number, not {item!r}")
    if "disk-templates" in value:
        templates = value["disk-templates"]
        if not isinstance(templates, list) or any(t not in constants.DISK_TEMPLATES_AVAILABLE for t in templates):
            known = ", ".join(constants.DISK_TEMPLATES_AVAILABLE)
            raise ValueError(f"ipolicy disk-templates must be a list of {known}, not {templates!r}")


def std_problem(filled: dict[str, Any]) -> str | None:
    """Why a filled policy's std spec lies outside every min/max pair, or None."""
    std = filled.get("std", {})
    for pair in filled.get("minmax", []):
        if all(pair["min"].get(k, v) <= v <= pair["max"].get(k, v) for k, v in std.items()):
            return None
    shown = ",".join(f"{k}={v}" for k, v in sorted(std.items()))
    return f"Invalid instance policy: std specs ({shown}) are outside every min/max range"


def _out_of_range(name: str, value: int | None, pair: dict[str, dict[str, int]]) -> str | None:
    key = name.split("/")[0]
    if value is None:
        return None
    low, high = pair["min"].get(key, value), pair["max"].get(key, value)
    if low <= value <= high:
        return None
    return f"{name} value {value} is not in range [{low}, {high}]"


def spec_violations(
    policy: dict[str, Any],
    *,
    memory: int | None,
    cpus: int | None,
    disks: Sequence[int],
    nics: int | None,
    spindles: int | None,
    template: str,
) -> list[str]:
    """Ganeti's ComputeIPolicySpecViolation: the template, then the pair with the fewest misses."""
    settings: list[tuple[str, int | None]] = [
        ("memory-size", memory),
        ("cpu-count", cpus),
        ("nic-count", nics),
        ("spindle-use", spindles),
    ]
    settings += [(f"disk-size/{i}", size) for i, size in enumerate(disks)]
    if template != constants.DT_DISKLESS:  # a diskless instance has no disks to count
        settings.append(("disk-count", len(disks)))
    found: list[str] = []
    allowed = policy.get("disk-templates", [])
    if template not in allowed:
        found.append(f"Disk template {template} is not allowed (allowed templates: {', '.join(allowed)})")
    fewest: list[str] | None = None
    for pair in policy.get("minmax", []):
        misses = [m for m in (_out_of_range(n, v, pair) for n, v in settings) if m]
        if fewest is None or len(misses) < len(fewest):
            fewest = misses
    return found + (fewest or [])


def instance_violations(policy: dict[str, Any], be: dict[str, Any], inst: Any) -> list[str]:
    """An instance's specs (filled backend parameters `be`) against a filled policy."""
    return spec_violations(
        policy,
        memory=int(be["maxmem"]),
        cpus=int(be["vcpus"]),
        disks=[int(d.size) for d in inst.disks],
        nics=len(inst.nics),
        spindles=int(be.get("spindle_use", 1)),
        template=inst.disk_template,
    )
