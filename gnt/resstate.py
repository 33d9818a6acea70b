"""Static resource state (Ganeti's `hv_state_static` and `disk_state_static`): what an admin records
of a node's resources, over what the node reports live.

Ganeti's resource-model design (doc/design-resource-model.rst) moves a node's semi-static resources
into the configuration: total and node memory, hypervisor overhead, total and node cores per
hypervisor (`--hypervisor-state kvm:mem_total=N,...`), and total, reserved and overhead disk per
storage unit (`--disk-state plain/xenvg:disk_total=N,...`). They are set on the cluster, on a node
group and on a node; a node's own value wins over its group's, which wins over the cluster's, as
for node parameters. Ganeti 3.0 records them and leaves its allocator on the live values; gnt uses
them where the design gives them a meaning (`effective_node`): this is how an admin keeps the
allocator off memory that a KVM host's own processes need, which the live free memory cannot say.

Values are integers (MiB for memory and disk, cores for CPU). A change names only the keys it
changes; `default` or null drops a key, so it follows the level above again.
"""

from __future__ import annotations

from typing import Any

from gnt import constants

__all__ = [
    "DISK_STATE_KEYS",
    "DISK_STATE_TYPES",
    "HV_STATE_KEYS",
    "apply_disk_state",
    "apply_hv_state",
    "check_disk_state",
    "check_disk_state_changes",
    "check_hv_state",
    "check_hv_state_changes",
    "effective_node",
    "filled_disk_state",
    "filled_hv_state",
    "free_memory",
    "format_disk_state",
    "format_hv_state",
    "of_node",
]

HvState = dict[str, dict[str, int]]
DiskState = dict[str, dict[str, dict[str, int]]]

#: Ganeti's HVST_* keys (mem_total, mem_node, mem_hv: MiB; cpu_total, cpu_node: cores)
HV_STATE_KEYS = ("mem_total", "mem_node", "mem_hv", "cpu_total", "cpu_node")
#: Ganeti's DS_* keys (MiB)
DISK_STATE_KEYS = ("disk_total", "disk_reserved", "disk_overhead")
#: Ganeti's DS_VALID_TYPES: storage units are LVM volume groups, keyed by the plain template
DISK_STATE_TYPES = (constants.DT_PLAIN,)
#: a state value beyond this is a typo (a PiB of memory, a million cores); it must fit int64 sums
_MAX_VALUE = 2**50
_RESET = ("default", None)


def _check_value(where: str, key: str, value: Any, reset_ok: bool) -> None:
    if reset_ok and value in _RESET:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{where}: {key} must be an integer, not {value!r}")
    if not 0 <= value <= _MAX_VALUE:
        raise ValueError(f"{where}: {key} must be between 0 and {_MAX_VALUE}, not {value}")


def _check_params(where: str, params: Any, keys: tuple[str, ...], reset_ok: bool) -> None:
    if not isinstance(params, dict):
        raise ValueError(f"{where}: expected an object of parameters, not {params!r}")
    for key, value in params.items():
        if key not in keys:
            raise ValueError(f"{where}: unknown parameter '{key}' (known: {', '.join(keys)})")
        _check_value(where, key, value, reset_ok)


def _hv_state(value: Any, reset_ok: bool) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        raise ValueError(f"expected {{hypervisor: {{parameter: value}}}}, not {value!r}")
    for hv, params in value.items():
        if hv not in constants.HYPERVISORS:
            raise ValueError(
                f"invalid hypervisor '{hv}' in hypervisor state (known: {', '.join(constants.HYPERVISORS)})"
            )
        _check_params(f"hypervisor state of {hv}", params, HV_STATE_KEYS, reset_ok)


def _disk_state(value: Any, reset_ok: bool) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        raise ValueError(f"expected {{storage type: {{name: {{parameter: value}}}}}}, not {value!r}")
    for kind, units in value.items():
        if kind not in DISK_STATE_TYPES:
            raise ValueError(f"invalid storage type '{kind}' in disk state (known: {', '.join(DISK_STATE_TYPES)})")
        if not isinstance(units, dict):
            raise ValueError(f"disk state of {kind}: expected {{name: {{parameter: value}}}}, not {units!r}")
        for name, params in units.items():
            if not isinstance(name, str) or not name:
                raise ValueError(f"disk state of {kind}: invalid storage name {name!r}")
            _check_params(f"disk state of {kind}/{name}", params, DISK_STATE_KEYS, reset_ok)


def check_hv_state(value: Any) -> None:
    """A full hypervisor state (what an object stores): known hypervisors and keys, integers."""
    _hv_state(value, reset_ok=False)


def check_hv_state_changes(value: Any) -> None:
    """A change of a hypervisor state: as `check_hv_state`, where a key may also be reset."""
    _hv_state(value, reset_ok=True)


def check_disk_state(value: Any) -> None:
    """A full disk state: the plain storage type, storage names, known keys, integers."""
    _disk_state(value, reset_ok=False)


def check_disk_state_changes(value: Any) -> None:
    """A change of a disk state: as `check_disk_state`, where a key may also be reset."""
    _disk_state(value, reset_ok=True)


def _merge(current: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    result = dict(current)
    for key, value in changes.items():
        if value in _RESET:
            result.pop(key, None)
        else:
            result[key] = value
    return result


def apply_hv_state(current: HvState, changes: HvState | None) -> HvState:
    """`current` with `changes` applied per hypervisor; a hypervisor left without keys is dropped."""
    result = {hv: dict(params) for hv, params in current.items()}
    for hv, params in (changes or {}).items():
        merged = _merge(result.get(hv, {}), params)
        if merged:
            result[hv] = merged
        else:
            result.pop(hv, None)
    return result


def apply_disk_state(current: DiskState, changes: DiskState | None) -> DiskState:
    """`current` with `changes` applied per storage type and name; empty entries are dropped."""
    result = {kind: {name: dict(p) for name, p in units.items()} for kind, units in current.items()}
    for kind, units in (changes or {}).items():
        own = result.setdefault(kind, {})
        for name, params in units.items():
            merged = _merge(own.get(name, {}), params)
            if merged:
                own[name] = merged
            else:
                own.pop(name, None)
        if not own:
            del result[kind]
    return result


def filled_hv_state(*levels: HvState) -> HvState:
    """The levels (cluster, group, node) over each other, key by key; the last one wins."""
    result: HvState = {}
    for level in levels:
        for hv, params in level.items():
            result[hv] = {**result.get(hv, {}), **params}
    return result


def filled_disk_state(*levels: DiskState) -> DiskState:
    """As `filled_hv_state`, per storage type and name."""
    result: DiskState = {}
    for level in levels:
        for kind, units in level.items():
            own = result.setdefault(kind, {})
            for name, params in units.items():
                own[name] = {**own.get(name, {}), **params}
    return result


def of_node(cfg: Any, node: Any) -> tuple[HvState, DiskState]:
    """A node's static state: the cluster's, its group's and its own over each other."""
    group = cfg.groups.get(node.group)
    levels = [cfg.cluster, *([group] if group is not None else []), node]
    return (
        filled_hv_state(*(obj.hv_state_static for obj in levels)),
        filled_disk_state(*(obj.disk_state_static for obj in levels)),
    )


def effective_node(row: dict[str, Any], hv_state: dict[str, int], disk_state: dict[str, int]) -> dict[str, Any]:
    """A node's resource fields (`mtotal`, `mnode`, `mfree`, `dtotal`, `dfree`, `ctotal`, `cnos`) with
    its static state over the live values, as the resource-model design defines them; a copy.

    `hv_state` is the state of the hypervisor the capacity is counted for (the cluster's default,
    as the design says), `disk_state` that of the volume group the LVM disks go to. Only keys that
    are set change anything; a total of 0 means unknown (Ganeti's default) and keeps the live one.

    Memory follows the design's equation, free = total - node - hypervisor overhead - instances,
    where `imem` (the row's memory of running primaries, `mtotal - mnode - mfree` when the node has
    no overhead of its own) comes from the live values; the result never exceeds the live free
    memory, so a state cannot promise memory the node does not have. `disk_reserved` is a floor
    the free disk keeps (subtracted), `disk_overhead` space that other volumes take.
    """
    out = dict(row)
    if hv_state:
        live_total, live_node, live_free = row.get("mtotal"), row.get("mnode"), row.get("mfree")
        total = hv_state.get("mem_total") or live_total
        node_mem = hv_state.get("mem_node", live_node)
        overhead = hv_state.get("mem_hv", 0)
        if total is not None:
            out["mtotal"] = total
        if node_mem is not None:
            out["mnode"] = node_mem
        if None not in (live_total, live_node, live_free) and total is not None and node_mem is not None:
            used = max(0, live_total - live_node - live_free)  # instances (and what no one accounts for)
            free = max(0, total - node_mem - overhead - used)
            out["mfree"] = min(live_free, free)
        if hv_state.get("cpu_total"):
            out["ctotal"] = hv_state["cpu_total"]
        if "cpu_node" in hv_state:
            out["cnos"] = hv_state["cpu_node"]
    if disk_state:
        live_total, live_free = row.get("dtotal"), row.get("dfree")
        total = disk_state.get("disk_total") or live_total
        if total is not None:
            out["dtotal"] = total
        if live_total is not None and live_free is not None and total is not None:
            used = max(0, live_total - live_free)
            free = total - disk_state.get("disk_overhead", 0) - used
            free = min(live_free, free) - disk_state.get("disk_reserved", 0)
            out["dfree"] = max(0, free)
    return out


def free_memory(cfg: Any, node: Any, hypervisor: str, hv_info: dict[str, Any]) -> int:
    """`hypervisor`'s free memory on `node` from its live answer (`memory_total`, `memory_dom0`,
    `memory_free`), under the node's static state: what start, failover and N+1 checks count."""
    live_free = int(hv_info["memory_free"])
    state = of_node(cfg, node)[0].get(hypervisor)
    if not state:
        return live_free
    try:
        row = {"mtotal": int(hv_info["memory_total"]), "mnode": int(hv_info["memory_dom0"]), "mfree": live_free}
    except (KeyError, TypeError, ValueError):
        return live_free
    return int(effective_node(row, state, {})["mfree"])


def format_hv_state(state: HvState) -> dict[str, dict[str, int]]:
    """For `info` output: hypervisors and keys sorted."""
    return {hv: dict(sorted(params.items())) for hv, params in sorted(state.items())}


def format_disk_state(state: DiskState) -> dict[str, dict[str, int]]:
    """For `info` output: one entry per `type/name`, keys sorted."""
    return {
        f"{kind}/{name}": dict(sorted(params.items()))
        for kind, units in sorted(state.items())
        for name, params in sorted(units.items())
    }
