"""Capacity planning (hspace): how many more instances of a spec fit, keeping N+1.

Instances are allocated one placement pass at a time, exactly as the allocator would place
them (all node pairs scored, htools' checks applied). To stay fast on large groups, one
pass places several instances: after the best pair, further pairs are taken in score order
as long as they share no node with a pair already used in the pass, so every placement is
still checked against the exact node state it lands on (only the ranking is approximate).
Tiered mode starts from the policy's max spec and shrinks the spec by the most frequent
failure reason (memory, disk or CPU), as hspace's tiered allocation does.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from gnt.alloc.allocate import pair_scores
from gnt.alloc.model import ClusterModel, Instance, ISpec
from gnt.alloc.ops import InstAttrs, add_instance, place
from gnt.alloc.score import cluster_score

__all__ = ["CapacityResult", "capacity", "format_capacity"]

_UNIT = {"FailMem": ("mem", 64), "FailDisk": ("disk", 256), "FailCPU": ("cpu", 1)}


@dataclass
class CapacityResult:
    """What fit: counts per spec, the failure reason and before/after figures."""

    mode: str
    template: str
    initial_spec: ISpec
    allocated: list[tuple[ISpec, int]] = field(default_factory=list)
    fail_reason: str = ""
    initial_score: float = 0.0
    final_score: float = 0.0
    nodes: int = 0
    initial_instances: int = 0
    totals: dict[str, float] = field(default_factory=dict)
    efficiency: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def count(self) -> int:
        return sum(n for _, n in self.allocated)


def _inst(spec: ISpec, template: str, n: int) -> Instance:
    disks = [spec.disk] * max(spec.disk_count, 1)
    return Instance(
        f"capacity-{n}", spec.mem, spec.disk * max(spec.disk_count, 1), spec.cpu, "running", -1, -1, template,
        spindle_use=spec.spindle_use, disks=disks,
    )  # fmt: skip


def _fill(m: ClusterModel, spec: ISpec, template: str, group: int, counter: list[int]) -> tuple[int, Counter[str]]:
    """Allocate copies of `spec` until nothing fits; returns (count, failure reasons)."""
    placed = 0
    while True:
        inst = _inst(spec, template, counter[0])
        x = InstAttrs.of([inst]).take(0)
        reasons: Counter[str] = Counter()
        tg, sc = pair_scores(m, inst, x, group, set(), reasons)
        flat = sc.ravel()
        ok = np.flatnonzero(np.isfinite(flat))
        if len(ok) == 0:
            return placed, reasons
        ok = ok[np.argsort(flat[ok], kind="stable")]
        used: set[int] = set()
        limit = max(1, len(tg) // 8)
        taken = 0
        # the candidates' nodes as Python ints in one go (not an unravel_index per candidate)
        pos = np.unravel_index(ok, sc.shape)
        prim = tg[pos[0]].tolist()
        sec = tg[pos[1]].tolist() if sc.ndim == 2 else [-1] * len(prim)
        for p, s in zip(prim, sec, strict=True):
            if p in used or s in used:
                continue
            used.update((p, s))
            inst = _inst(spec, template, counter[0])
            counter[0] += 1
            place(m, add_instance(m, inst), p, s, x)  # every copy of the spec has the same attributes
            taken += 1
            if taken >= limit:
                break
        placed += taken


def _shrink(m: ClusterModel, spec: ISpec, reason: str, floor: ISpec) -> ISpec | None:
    """The next smaller spec after a failure of kind `reason` (hspace's shrinkByType).

    htools shrinks by one unit (64 MiB, 256 MiB, 1 CPU) per failed attempt; sizes that no
    node could hold anyway are skipped in one step, which gives the same sequence of
    successful specs without scoring every intermediate size.
    """
    field_name, unit = _UNIT.get(reason, ("", 0))
    if not field_name:
        return None
    val = getattr(spec, field_name) - unit
    on = m.can_receive()
    if on.any() and field_name == "mem":
        room = int((m.free_mem() - m.r_mem)[on].max()) - 1
        val = min(val, room - room % unit)
    elif on.any() and field_name == "disk":
        room = int(m.f_dsk[on].max()) // max(spec.disk_count, 1) - 1
        val = min(val, room - room % unit)
    if val < max(getattr(floor, field_name), unit):
        return None
    return ISpec(**{**spec.__dict__, field_name: val})


def _reason(reasons: Counter[str]) -> str:
    known = [(k, v) for k, v in reasons.most_common() if k in _UNIT and v > 0]
    return known[0][0] if known else (reasons.most_common(1)[0][0] if reasons else "")


def capacity(
    model: ClusterModel,
    spec: ISpec | None = None,
    tiered: bool = False,
    template: str = "drbd",
    group: int | None = None,
) -> CapacityResult:
    """How many more instances of `spec` (or tiered specs) fit; `model` is not changed."""
    t0 = time.monotonic()
    m = model.copy()
    g = int(np.bincount(m.group, minlength=1).argmax()) if group is None else group
    pol = m.groups[g].policy if m.groups else m.ipolicy
    start = spec or (ISpec(**{**pol.minmax[0][1].__dict__, "disk_count": 1}) if tiered else pol.std)
    res = CapacityResult("tiered" if tiered else "standard", template, start)
    res.nodes, res.initial_instances = len(m.nodes), len(m.instances)
    res.initial_score = cluster_score(m)
    counter = [0]
    cur: ISpec | None = start
    while cur is not None:
        n, reasons = _fill(m, cur, template, g, counter)
        if n:
            res.allocated.append((cur, n))
        res.fail_reason = _reason(reasons)
        cur = _shrink(m, cur, res.fail_reason, pol.minmax[0][0]) if tiered else None
    res.final_score = cluster_score(m)
    _efficiency(m, res)
    res.seconds = time.monotonic() - t0
    return res


def _efficiency(m: ClusterModel, res: CapacityResult) -> None:
    on = ~m.offline
    t_mem, t_dsk = float(m.t_mem[on].sum()), float(m.t_dsk[on].sum())
    t_cpu = float(m.t_cpu[on].sum())
    vcpu = float((m.vcpu_ratio * m.t_cpu)[on].sum())
    used_mem = float(sum(x.mem for x in m.instances) + m.n_mem[on].sum())
    used_dsk = float((m.t_dsk - m.f_dsk)[on].sum())
    used_cpu = float(sum(x.vcpus for x in m.instances))
    res.totals = {"MEM": t_mem, "DSK": t_dsk, "CPU": t_cpu, "VCPU": vcpu}
    res.efficiency = {
        "memory": 100 * used_mem / t_mem if t_mem else 0.0,
        "disk": 100 * used_dsk / t_dsk if t_dsk else 0.0,
        "vcpu": 100 * used_cpu / vcpu if vcpu else 0.0,
    }


def _fmt_spec(s: ISpec) -> str:
    return f"MEM {s.mem}, DSK {s.disk * max(s.disk_count, 1)}, CPU {s.cpu}"


def format_capacity(res: CapacityResult) -> list[str]:
    """hspace-style report lines."""
    t = res.totals
    title = "Tiered" if res.mode == "tiered" else "Normal (fixed-size)"
    head = "Tiered (initial size)" if res.mode == "tiered" else "Standard (fixed-size)"
    lines = [
        f"The cluster has {res.nodes} nodes and the following resources:",
        f"  MEM {t.get('MEM', 0):.0f}, DSK {t.get('DSK', 0):.0f}, CPU {t.get('CPU', 0):.0f}, "
        f"VCPU {t.get('VCPU', 0):.0f}.",
        f"There are {res.initial_instances} initial instances on the cluster.",
        f"{head} instance spec is:",
        f"  {_fmt_spec(res.initial_spec)}, using disk template '{res.template}'.",
        f"{title} allocation results:",
    ]
    if res.mode == "tiered":
        lines += [f"  - {n:4d} instances of spec {_fmt_spec(s)}" for s, n in res.allocated]
    else:
        lines.append(f"  - {res.count:4d} instances allocated")
    lines += [
        f"  - most likely failure reason: {res.fail_reason}",
        f"  - initial cluster score: {res.initial_score:.8f}",
        f"  -   final cluster score: {res.final_score:.8f}",
        f"  - memory usage efficiency: {res.efficiency.get('memory', 0):.2f}%",
        f"  -   disk usage efficiency: {res.efficiency.get('disk', 0):.2f}%",
        f"  -   vcpu usage efficiency: {res.efficiency.get('vcpu', 0):.2f}%",
    ]
    return lines
