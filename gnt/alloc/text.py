"""Ganeti's htools text format (the ``-t FILE`` backend of hbal, hspace and hail).

Five sections separated by single empty lines: groups, nodes, instances, cluster tags,
instance policies; fields are ``|``-separated. The field order (and the older, shorter
rows that htools still accepts) follows Ganeti 3.0's Backend/Text.hs, so files move freely
between gnt and the Haskell tools.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gnt.alloc.model import (
    DEFAULT_IPOLICY,
    DISK_TEMPLATES,
    INSTANCE_STATUSES,
    ClusterModel,
    Group,
    Instance,
    IPolicy,
    ISpec,
    Node,
)
from gnt.errors import OpPrereqError

__all__ = ["format_text", "load_text", "parse_text", "save_text"]

_ALLOC_POLICIES = ("preferred", "last_resort", "unallocable")


def _bad(msg: str) -> OpPrereqError:
    return OpPrereqError(f"invalid htools text data: {msg}", "wrong_input")


def _int(value: str, what: str) -> int:
    try:
        return int(value)
    except ValueError:
        try:
            f = float(value)
        except ValueError:
            raise _bad(f"{what}: cannot parse {value!r} as a number") from None
        if not f.is_integer():
            raise _bad(f"{what}: {value!r} is not an integer") from None
        return int(f)


def _float(value: str, what: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise _bad(f"{what}: cannot parse {value!r} as a number") from None


def _yn(value: str, what: str) -> bool:
    if value not in ("Y", "N"):
        raise _bad(f"{what}: expected Y or N, got {value!r}")
    return value == "Y"


def _split_tags(value: str) -> list[str]:
    return [t for t in value.split(",")] if value else []


def _sections(text: str) -> list[list[str]]:
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # Haskell's `lines` drops the final newline
    sections: list[list[str]] = [[]]
    for line in lines:
        if line == "":
            sections.append([])
        else:
            sections[-1].append(line)
    if len(sections) == 4:
        sections.append([])
    if len(sections) != 5:
        raise _bad(f"{len(sections)} sections instead of 4 or 5")
    return sections


def _parse_group(row: list[str]) -> Group:
    if len(row) < 4:
        raise _bad(f"incomplete group data: {'|'.join(row)!r}")
    name, uuid, apol, tags = row[:4]
    if apol not in _ALLOC_POLICIES:
        raise _bad(f"group {name}: unknown allocation policy {apol!r}")
    nets = _split_tags(row[4]) if len(row) > 4 else []
    return Group(name, uuid, apol, _split_tags(tags), nets)


def _parse_node(row: list[str], groups: dict[str, int]) -> Node:
    if len(row) < 9:
        raise _bad(f"incomplete node data: {'|'.join(row)!r}")
    defaults = ["1", "", "N", "0", "1", "1.0"]
    row = row[:9] + row[9:15] + defaults[len(row[9:15]) :]
    name, tm, nm, fm, td, fd, tc, fo, gu, sp, tags, ex, fsp, ncpu, speed = row
    if gu not in groups:
        raise _bad(f"unknown group {gu!r} for node {name}")
    gdx = groups[gu]
    if "?" in (tm, nm, fm, td, fd, tc):
        return Node(name, 0, 0, 0, 0, 0, 0, gdx, offline=True, spindles=0, n_cpu=0, unknown=True)
    node = Node(
        name,
        t_mem=_float(tm, name),
        n_mem=_int(nm, name),
        f_mem=_int(fm, name),
        t_dsk=_float(td, name),
        f_dsk=_int(fd, name),
        t_cpu=_float(tc, name),
        group=gdx,
        offline=fo == "Y",
        master=fo == "M",
        spindles=_int(sp, name),
        tags=_split_tags(tags),
        excl_storage=_yn(ex, f"node {name} exclusive storage"),
        free_spindles=_int(fsp, name),
        n_cpu=_int(ncpu, name),
        cpu_speed=_float(speed, name),
    )
    return node


def _parse_instance(row: list[str], nodes: dict[str, int]) -> Instance:
    if len(row) < 10:
        raise _bad(f"incomplete instance data: {'|'.join(row)!r}")
    defaults = ["1", "-", "N"]
    row = row[:10] + row[10:13] + defaults[len(row[10:13]) :]
    name, mem, dsk, vcpus, status, ab, pnode, snode, dt, tags, su, sps, fc = row
    if status not in INSTANCE_STATUSES:
        raise _bad(f"instance {name}: unknown status {status!r}")
    if dt not in DISK_TEMPLATES:
        raise _bad(f"instance {name}: unknown disk template {dt!r}")
    if pnode not in nodes:
        raise _bad(f"unknown node {pnode!r} for instance {name}")
    if snode and snode not in nodes:
        raise _bad(f"unknown node {snode!r} for instance {name}")
    pdx, sdx = nodes[pnode], nodes[snode] if snode else -1
    if dt == "drbd" and pdx == sdx:
        raise _bad(f"instance {name} has same primary and secondary node - {pnode}")
    return Instance(
        name,
        mem=_int(mem, name),
        dsk=_int(dsk, name),
        vcpus=_int(vcpus, name),
        status=status,
        pnode=pdx,
        snode=sdx,
        template=dt,
        tags=_split_tags(tags),
        auto_balance=_yn(ab, f"instance {name} auto_balance"),
        spindle_use=_int(su, name),
        spindles=None if sps == "-" else _int(sps, name),
        forthcoming=_yn(fc, f"instance {name} forthcoming"),
    )


def _parse_ispec(value: str, what: str) -> ISpec:
    parts = value.split(",")
    if len(parts) < 6:
        raise _bad(f"invalid ispec data for {what}: {value!r}")
    return ISpec(*(_int(p, what) for p in parts[:6]))


def _parse_ipolicy(row: list[str]) -> tuple[str, IPolicy]:
    if len(row) < 6:
        raise _bad(f"invalid ipolicy data: {'|'.join(row)!r}")
    owner, std, minmax, dts, vr, sr = row[:6]
    specs = minmax.split(";") if minmax else []
    if len(specs) % 2:
        raise _bad(f"odd number of min/max specs for {owner!r}")
    pairs = tuple(
        (_parse_ispec(specs[i], owner + "/minspec"), _parse_ispec(specs[i + 1], owner + "/maxspec"))
        for i in range(0, len(specs), 2)
    )
    templates = tuple(_split_tags(dts))
    for t in templates:
        if t not in DISK_TEMPLATES:
            raise _bad(f"policy {owner!r}: unknown disk template {t!r}")
    pol = IPolicy(
        pairs,
        _parse_ispec(std, owner + "/stdspec"),
        templates,
        _float(vr, owner + "/vcpu_ratio"),
        _float(sr, owner + "/spindle_ratio"),
    )
    return owner, pol


def parse_text(text: str) -> ClusterModel:
    """Build a model from the text of an htools data file."""
    gl, nl, il, tl, pl = _sections(text)
    groups = [_parse_group(line.split("|")) for line in gl]
    by_uuid = {g.uuid: i for i, g in enumerate(groups)}
    nodes = [_parse_node(line.split("|"), by_uuid) for line in nl]
    by_name = {n.name: i for i, n in enumerate(nodes)}
    instances = [_parse_instance(line.split("|"), by_name) for line in il]
    cluster_pol = DEFAULT_IPOLICY
    gnames = {g.name: g for g in groups}
    for line in pl:
        owner, pol = _parse_ipolicy(line.split("|"))
        if owner == "":
            cluster_pol = pol
        elif owner in gnames:
            gnames[owner].ipolicy = pol
        else:
            raise _bad(f"ipolicy for unknown group {owner!r}")
    return ClusterModel(groups, nodes, instances, list(tl), cluster_pol)


def load_text(path: str | Path) -> ClusterModel:
    """Read an htools text file (as `hbal -t FILE` does)."""
    return parse_text(Path(path).read_text())


def _fmt_spec(s: ISpec) -> str:
    return ",".join(str(v) for v in (s.mem, s.cpu, s.disk, s.disk_count, s.nic_count, s.spindle_use))


def _fmt_policy(owner: str, p: IPolicy) -> str:
    minmax = ";".join(f"{_fmt_spec(lo)};{_fmt_spec(hi)}" for lo, hi in p.minmax)
    return "|".join(
        [
            owner,
            _fmt_spec(p.std),
            minmax,
            ",".join(p.templates),
            repr(float(p.vcpu_ratio)),
            repr(float(p.spindle_ratio)),
        ]
    )


def _fmt_node(m: ClusterModel, i: int, f_mem: np.ndarray) -> str:
    n = m.nodes[i]
    role = "Y" if n.offline or n.drained else ("M" if n.master else "N")
    guuid = m.groups[n.group].uuid
    return (
        f"{n.name}|{n.t_mem:.0f}|{n.n_mem}|{int(f_mem[i])}|{n.t_dsk:.0f}|{int(m.f_dsk[i])}|{n.t_cpu:.0f}|"
        f"{role}|{guuid}|{n.spindles}|{','.join(n.tags)}|{'Y' if n.excl_storage else 'N'}|"
        f"{int(m.f_sp[i])}|{n.n_cpu}|{n.cpu_speed:f}"
    )


def _fmt_instance(m: ClusterModel, x: Instance) -> str:
    snode = m.nodes[x.snode].name if x.snode >= 0 else ""
    sps = "-" if x.spindles is None else str(x.spindles)
    return (
        f"{x.name}|{x.mem}|{x.dsk}|{x.vcpus}|{x.status}|{'Y' if x.auto_balance else 'N'}|"
        f"{m.nodes[x.pnode].name}|{snode}|{x.template}|{','.join(x.tags)}|{x.spindle_use}|{sps}|"
        f"{'Y' if x.forthcoming else 'N'}"
    )


def format_text(model: ClusterModel) -> str:
    """Serialise the model's current state (placement and free resources) to text."""
    f_mem = model.written_free_mem()
    glines = [f"{g.name}|{g.uuid}|{g.alloc_policy}|{','.join(g.tags)}|{','.join(g.networks)}" for g in model.groups]
    nlines = [_fmt_node(model, i, f_mem) for i in range(len(model.nodes))]
    ilines = [_fmt_instance(model, x) for x in model.instances]
    plines = [_fmt_policy("", model.ipolicy)]
    plines += [_fmt_policy(g.name, g.policy) for g in model.groups]

    def block(lines: list[str]) -> str:
        return "".join(line + "\n" for line in lines)

    return "\n".join([block(glines), block(nlines), block(ilines), block(model.cluster_tags), block(plines)])


def save_text(model: ClusterModel, path: str | Path) -> None:
    """Write the model in the text format (as htools' ``-S FILE`` does)."""
    Path(path).write_text(format_text(model))
