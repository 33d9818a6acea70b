"""The instance policy options of `gnt-cluster init/modify` and `gnt-group add/modify`, and the
command lines `show-ispecs-cmd` prints, in Ganeti's syntax.

`--ipolicy-bounds-specs min:k=v,.../max:k=v,...` gives one min/max pair; `//` separates pairs.
`--ipolicy-std-specs k=v,...` the standard spec. `--specs-mem-size min=..,max=..,std=..` (and
cpu-count, disk-count, disk-size, nic-count) are Ganeti's older per-parameter form, for `init` only.
Sizes take units (`1G`). Shapes are checked by `gnt.ipolicy.check_ipolicy`, as the master does.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import click

from gnt import constants
from gnt.cli.common import parse_keyval
from gnt.errors import ParameterError
from gnt.ipolicy import ISPEC_KEYS, check_ipolicy, fill_ipolicy, std_problem
from gnt.units import parse_size

__all__ = ["format_ipolicy_command", "ipolicy_from_opts", "ipolicy_options", "parse_bounds", "parse_ispec"]

_SIZE_KEYS = ("memory-size", "disk-size")
#: --specs-xxx option -> the ispec key it sets
SPLIT_SPECS = {
    "specs_cpu_count": "cpu-count",
    "specs_disk_count": "disk-count",
    "specs_disk_size": "disk-size",
    "specs_mem_size": "memory-size",
    "specs_nic_count": "nic-count",
}


def _number(key: str, value: Any, option: str) -> int:
    if key in _SIZE_KEYS and isinstance(value, str):
        return parse_size(value, f"{option} {key}")
    if not isinstance(value, str) or not value.isascii() or not value.isdigit():
        raise ParameterError(f"Invalid value for {key} in {option}: {value!r} (a non-negative integer)")
    return int(value)


def parse_ispec(text: str, option: str) -> dict[str, int]:
    """'memory-size=128,cpu-count=1' -> {'memory-size': 128, 'cpu-count': 1}; unknown keys refused."""
    spec = {}
    for key, value in parse_keyval(text, option).items():
        if key not in ISPEC_KEYS:
            raise ParameterError(f"Invalid key '{key}' in {option}; expected {', '.join(ISPEC_KEYS)}")
        spec[key] = _number(key, value, option)
    return spec


def _halves(element: str, text: str) -> dict[str, dict[str, int]]:
    pair: dict[str, dict[str, int]] = {}
    for part in element.split("/"):
        which, sep, rest = part.partition(":")
        if not sep or which not in ("min", "max") or which in pair:
            raise ParameterError(f"Invalid --ipolicy-bounds-specs '{text}': expected min:...//max:...")
        pair[which] = parse_ispec(rest, "--ipolicy-bounds-specs")
    return pair


def parse_bounds(text: str) -> list[dict[str, dict[str, int]]]:
    """Ganeti's `min:../max:..` pairs separated by `//`; `min:..//max:..` (gnt's first spelling) is
    read as one pair too."""
    halves = [_halves(element, text) for element in text.split("//")]
    pairs: list[dict[str, dict[str, int]]] = []
    for half in halves:
        last = pairs[-1] if pairs else None
        if last is not None and len(last) == 1 and len(half) == 1 and set(last) != set(half):
            last.update(half)
        else:
            pairs.append(half)
    for pair in pairs:
        if set(pair) != {"min", "max"}:
            raise ParameterError(f"Invalid --ipolicy-bounds-specs '{text}': both min and max are needed")
        for which in ("min", "max"):
            missing = [k for k in ISPEC_KEYS if k not in pair[which]]
            if missing:
                raise ParameterError(f"Missing parameters in ipolicy spec {which}: {', '.join(missing)}")
    return pairs


def _ratio(text: str, option: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ParameterError(f"Invalid {option} '{text}': expected a number") from None
    if not 0 < value <= 1e6:
        raise ParameterError(f"Invalid {option} '{text}': expected a positive number")
    return value


def _split_specs(opts: dict[str, Any]) -> dict[str, Any]:
    """--specs-xxx min=..,max=..,std=.. options, filled from Ganeti's defaults (as its init does)."""
    defaults: dict[str, Any] = copy.deepcopy(constants.IPOLICY_DEFAULTS)
    pair, std = defaults["minmax"][0], defaults["std"]
    for option, key in SPLIT_SPECS.items():
        text = opts.get(option)
        if not text:
            continue
        name = "--" + option.replace("_", "-")
        for which, value in parse_keyval(text, name).items():
            if which not in ("min", "max", "std"):
                raise ParameterError(f"Invalid key '{which}' in {name}; expected min, max, std")
            target = std if which == "std" else pair[which]
            target[key] = _number(key, value, name)
    return {"minmax": [pair], "std": std}


def ipolicy_from_opts(opts: dict[str, Any]) -> dict[str, Any] | None:
    """The ipolicy the options give (None when none is given); bad input is a ParameterError."""
    policy: dict[str, Any] = {}
    split = any(opts.get(o) for o in SPLIT_SPECS)
    if split and (opts.get("ipolicy_std_specs") or opts.get("ipolicy_bounds_specs")):
        raise ParameterError("A --specs-xxx option cannot be specified together with any --ipolicy-xxx-specs option")
    if split:
        policy.update(_split_specs(opts))
    if opts.get("ipolicy_std_specs"):
        policy["std"] = parse_ispec(opts["ipolicy_std_specs"], "--ipolicy-std-specs")
    if opts.get("ipolicy_bounds_specs"):
        policy["minmax"] = parse_bounds(opts["ipolicy_bounds_specs"])
    if opts.get("ipolicy_disk_templates"):
        policy["disk-templates"] = [t for t in opts["ipolicy_disk_templates"].split(",") if t]
    for key in ("vcpu-ratio", "spindle-ratio"):
        value = opts.get(f"ipolicy_{key.replace('-', '_')}")
        if value is not None:
            policy[key] = _ratio(value, f"--ipolicy-{key}")
    if not policy:
        return None
    try:
        check_ipolicy(policy)
    except ValueError as err:
        raise ParameterError(str(err)) from None
    if split or "minmax" in policy:
        problem = std_problem(fill_ipolicy(policy))
        if problem and (split or "std" in policy):
            raise ParameterError(problem)
    return policy


def ipolicy_options(*, std: bool = True, split: bool = False) -> Callable[[Any], Any]:
    """Add the --ipolicy-* options (and, for `gnt-cluster init`, Ganeti's --specs-* ones)."""
    options = []
    if std:
        options.append(
            click.option("--ipolicy-std-specs", default=None, help="Standard instance specs (memory-size=128,...)")
        )
    options += [
        click.option("--ipolicy-bounds-specs", default=None, help="min:key=value,.../max:key=value,...[//min:...]"),
        click.option("--ipolicy-disk-templates", default=None, help="Allowed disk templates (comma-separated)"),
        click.option("--ipolicy-vcpu-ratio", default=None, help="Maximum ratio of virtual to physical CPUs"),
        click.option("--ipolicy-spindle-ratio", default=None, help="Maximum instances per spindle"),
    ]
    if split:
        for option, key in SPLIT_SPECS.items():
            flag = "--" + option.replace("_", "-")
            options.append(click.option(flag, option, default=None, help=f"{key}: min=N,max=N,std=N"))

    def decorate(fn: Any) -> Any:
        for option in reversed(options):
            fn = option(fn)
        return fn

    return decorate


def _specs(spec: dict[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(spec.items()))


def format_ipolicy_command(policy: dict[str, Any], isgroup: bool) -> str:
    """The options that recreate `policy`'s specs (Ganeti's PrintIPolicyCommand: std for a cluster
    only, then every complete min/max pair)."""
    out = ""
    if not isgroup and policy.get("std"):
        out += f" --ipolicy-std-specs {_specs(policy['std'])}"
    pairs = [p for p in policy.get("minmax", []) if p.get("min") and p.get("max")]
    if pairs:
        out += " --ipolicy-bounds-specs " + "//".join(f"min:{_specs(p['min'])}/max:{_specs(p['max'])}" for p in pairs)
    return out
