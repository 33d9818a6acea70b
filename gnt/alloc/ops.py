"""Node-level placement primitives (htools' addPri/removePri/addSec/removeSec), vectorised.

Each primitive takes a `NodeState` whose fields may be arrays of any broadcastable shape and
an `InstAttrs` view of one or many instances, and returns the new state plus a mask of
placements that break a hard or (when `strict`) soft constraint. The same code therefore
scores one move, a vector of targets for one instance, or an instances x targets matrix.
`relocate` applies a decided placement change to the model itself.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from gnt.alloc.model import EXT_MIRRORED, ClusterModel, Instance
from gnt.alloc.score import NodeState

__all__ = ["InstAttrs", "add_pri", "add_sec", "relocate", "remove_pri", "remove_sec", "top2"]


@dataclass
class InstAttrs:
    """Instance quantities as arrays (one entry per instance, or broadcast views)."""

    mem: np.ndarray
    dsk: np.ndarray
    vcpus: np.ndarray
    running: np.ndarray
    online: np.ndarray
    local: np.ndarray
    spu: np.ndarray
    usm: np.ndarray
    has_sec: np.ndarray
    spindles: np.ndarray
    ucpu: np.ndarray
    umem: np.ndarray
    udsk: np.ndarray
    unet: np.ndarray

    @classmethod
    def of(cls, insts: list[Instance]) -> InstAttrs:
        return cls(
            mem=np.array([x.mem for x in insts], np.int64),
            dsk=np.array([x.dsk for x in insts], np.int64),
            vcpus=np.array([x.vcpus for x in insts], np.int64),
            running=np.array([x.running for x in insts], bool),
            online=np.array([not x.offline for x in insts], bool),
            local=np.array([x.local_storage for x in insts], bool),
            spu=np.array([x.spindle_use for x in insts], np.int64),
            usm=np.array([x.uses_sec_mem for x in insts], bool),
            has_sec=np.array([x.has_secondary for x in insts], bool),
            spindles=np.array([-1 if x.spindles is None else x.spindles for x in insts], np.int64),
            ucpu=np.array([x.util[0] for x in insts], np.float64),
            umem=np.array([x.util[1] for x in insts], np.float64),
            udsk=np.array([x.util[2] for x in insts], np.float64),
            unet=np.array([x.util[3] for x in insts], np.float64),
        )

    def take(self, idx: np.ndarray | int, shape: tuple[int, ...] | None = None) -> InstAttrs:
        """Select instances (and optionally reshape them, e.g. to a column for matrices)."""
        vals = {name: getattr(self, name)[idx] for name in _INST_FIELDS}
        if shape is not None:
            vals = {k: np.reshape(v, shape) for k, v in vals.items()}
        return InstAttrs(**vals)


_INST_FIELDS = tuple(f.name for f in fields(InstAttrs))


def _sp_delta(st: NodeState, x: InstAttrs) -> np.ndarray:
    return np.where(x.local & ~st.excl, x.spu, 0)


def _fsp_delta(st: NodeState, x: InstAttrs) -> np.ndarray:
    return np.where(x.local & st.excl, np.maximum(x.spindles, 0), 0)


def remove_pri(st: NodeState, x: InstAttrs) -> NodeState:
    """The node after its primary instance `x` leaves."""
    sp, dsk = _sp_delta(st, x), np.where(x.local, x.dsk, 0)
    vc = np.where(x.online, x.vcpus, 0)
    return st.replace(
        i_mem=st.i_mem - np.where(x.running, x.mem, 0),
        f_dsk=st.f_dsk + dsk,
        f_sp=st.f_sp + _fsp_delta(st, x),
        u_cpu=st.u_cpu - vc,
        inst_sp=st.inst_sp - sp,
        npri=st.npri - 1,
        l_cpu=st.l_cpu - x.ucpu,
        l_mem=st.l_mem - x.umem,
        l_dsk=st.l_dsk - x.udsk,
        l_net=st.l_net - x.unet,
        mem_touched=np.ones_like(st.mem_touched),
        n1_touched=np.ones_like(st.n1_touched),
        f_mem_f=st.f_mem_f + x.mem,
        f_dsk_f=st.f_dsk_f + dsk,
        u_cpu_f=st.u_cpu_f - vc,
        inst_sp_f=st.inst_sp_f - sp,
    )


def add_pri(st: NodeState, x: InstAttrs, strict: bool | np.ndarray = True) -> tuple[NodeState, np.ndarray]:
    """The node after receiving `x` as primary, and where that is not allowed.

    The checks are htools' addPriEx: memory and disk must stay positive; when `strict`, the
    node must not start failing N+1, must stay within the VCPU ratio and spindle limit.
    """
    sp, dsk = _sp_delta(st, x), np.where(x.local, x.dsk, 0)
    vc = np.where(x.online, x.vcpus, 0)
    new = st.replace(
        i_mem=st.i_mem + np.where(x.running, x.mem, 0),
        f_dsk=st.f_dsk - dsk,
        f_sp=st.f_sp - _fsp_delta(st, x),
        u_cpu=st.u_cpu + vc,
        inst_sp=st.inst_sp + sp,
        npri=st.npri + 1,
        l_cpu=st.l_cpu + x.ucpu,
        l_mem=st.l_mem + x.umem,
        l_dsk=st.l_dsk + x.udsk,
        l_net=st.l_net + x.unet,
        mem_touched=np.ones_like(st.mem_touched),
        n1_touched=np.ones_like(st.n1_touched),
        f_mem_f=st.f_mem_f - x.mem,
        f_dsk_f=st.f_dsk_f - dsk,
        u_cpu_f=st.u_cpu_f + vc,
        inst_sp_f=st.inst_sp_f + sp,
    )
    free = new.unallocated()
    bad = free <= 0
    bad = bad | x.local & (new.f_dsk <= 0)
    bad = bad | x.local & st.excl & ((new.f_sp < 0) | (x.spindles < 0))
    with np.errstate(divide="ignore", invalid="ignore"):
        soft = x.local & (new.inst_sp > st.hi_sp)
        soft = soft | (free <= st.r_mem) & ~st.fail_n1()
        soft = soft | (st.vcpu_ratio >= 0) & (st.vcpu_ratio < new.u_cpu / st.t_cpu)
        soft = soft | (new.f_mem_f <= 0) | (x.local & (new.f_dsk_f <= 0))
    return new, bad | (soft & strict)


def remove_sec(st: NodeState, x: InstAttrs, new_rmem: np.ndarray) -> NodeState:
    """The node after it stops being the secondary of `x`; `new_rmem` is its new N+1 reserve."""
    sp = _sp_delta(st, x)
    return st.replace(
        f_dsk=st.f_dsk + np.where(x.local, x.dsk, 0),
        f_sp=st.f_sp + _fsp_delta(st, x),
        inst_sp=st.inst_sp - sp,
        nsec=st.nsec - 1,
        l_dsk=st.l_dsk - x.udsk,
        r_mem=new_rmem,
        n1_touched=np.ones_like(st.n1_touched),
        f_dsk_f=st.f_dsk_f + x.dsk,
        inst_sp_f=st.inst_sp_f - sp,
    )


def add_sec(
    st: NodeState, x: InstAttrs, peer_mem: np.ndarray, strict: bool | np.ndarray = True
) -> tuple[NodeState, np.ndarray]:
    """The node after becoming secondary of `x`, and where that is not allowed.

    `peer_mem` is what the node already reserves for `x`'s (new) primary; htools' addSecEx
    checks disk, and when `strict` also that the node could absorb the failover (N+1).
    """
    sp = _sp_delta(st, x)
    need = np.where(x.usm, x.mem, 0)
    new_rmem = np.maximum(st.r_mem, peer_mem + need)
    new = st.replace(
        f_dsk=st.f_dsk - x.dsk,
        f_sp=st.f_sp - _fsp_delta(st, x),
        inst_sp=st.inst_sp + sp,
        nsec=st.nsec + 1,
        l_dsk=st.l_dsk + x.udsk,
        r_mem=new_rmem,
        n1_touched=np.ones_like(st.n1_touched),
        f_dsk_f=st.f_dsk_f - x.dsk,
        inst_sp_f=st.inst_sp_f + sp,
    )
    old_mem = st.unallocated()
    bad = ~x.has_sec | (new.f_dsk <= 0) | (st.excl & ((new.f_sp < 0) | (x.spindles < 0)))
    soft = new.inst_sp > st.hi_sp
    soft = soft | need >= old_mem
    soft = soft | (old_mem <= new_rmem) & ~st.fail_n1()
    soft = soft | (new.f_dsk_f <= 0) | (need >= st.f_mem_f)
    return new, bad | (soft & strict)


def top2(peers: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row: the largest value, its column and the second largest (for fast N+1 updates)."""
    n = peers.shape[1]
    if n < 2:
        z = np.zeros(peers.shape[0], peers.dtype)
        return peers.max(axis=1, initial=0), np.zeros(peers.shape[0], np.int64), z
    part = np.argpartition(-peers, 1, axis=1)[:, :2]
    rows = np.arange(peers.shape[0])[:, None]
    vals = peers[rows, part]
    order = np.argsort(-vals, axis=1, kind="stable")
    part = np.take_along_axis(part, order, axis=1)
    vals = np.take_along_axis(vals, order, axis=1)
    return vals[:, 0], part[:, 0], vals[:, 1]


def _set_tags(m: ClusterModel, idx: int, node: int, sign: int) -> None:
    """Add (+1) or remove (-1) instance `idx`'s exclusion and location bookkeeping on `node`."""
    inst = m.instances[idx]
    tags = m.inst_excl[idx]
    c = m.ptags[node]
    for t in tags:
        c[t] += sign
        if c[t] <= 0:
            del c[t]
    m.conflicts[node] = sum(c.values()) - len(c)
    locs = m.node_locs[node]
    lscore = len(m.inst_dloc[idx] - locs)
    if inst.snode >= 0:
        lscore += len(locs & m.node_locs[inst.snode])
    m.loc_score[node] += sign * lscore
    for key in m.map_keys(node, tags):
        m.inst_map[key] += sign
        if m.inst_map[key] <= 0:
            del m.inst_map[key]


def relocate(m: ClusterModel, attrs: InstAttrs, idx: int, new_p: int, new_s: int) -> None:
    """Move instance `idx` to (new_p, new_s) in the model, updating all derived state.

    No constraint is checked here: callers decide with the primitives above, then apply.
    """
    inst = m.instances[idx]
    p, s = inst.pnode, inst.snode
    x = attrs.take(idx)
    _set_tags(m, idx, p, -1)
    if p != new_p:
        remove_pri(NodeState.gather(m, p), x).scatter(m, p)
    if s >= 0 and (s != new_s or p != new_p):
        if x.usm:
            m.peers[s, p] -= x.mem
        if s != new_s:
            st = NodeState.gather(m, s)
            remove_sec(st, x, st.r_mem).scatter(m, s)
        m.r_mem[s] = m.peers[s].max()
        m.n1_touched[s] = True
        if s == new_s:
            m.mem_touched[s] = True  # htools moves the primary through the secondary
    if p != new_p:
        add_pri(NodeState.gather(m, new_p), x, False)[0].scatter(m, new_p)
    if new_s >= 0 and (s != new_s or p != new_p):
        if s != new_s:
            st = NodeState.gather(m, new_s)
            add_sec(st, x, np.int64(0), False)[0].scatter(m, new_s)
        if x.usm:
            m.peers[new_s, new_p] += x.mem
        m.r_mem[new_s] = m.peers[new_s].max()
    inst.pnode, inst.snode = new_p, new_s
    _set_tags(m, idx, new_p, +1)


def movable(inst: Instance) -> bool:
    """Whether the balancer may move the instance at all (htools' movable templates)."""
    return not inst.forthcoming and (inst.template == "drbd" or inst.template in EXT_MIRRORED)


def _account(m: ClusterModel, x: InstAttrs, idx: int, sign: int) -> None:
    """Add (+1) or remove (-1) all of instance `idx`'s usage (`x`) at its current nodes."""
    inst = m.instances[idx]
    p, s = inst.pnode, inst.snode
    if sign < 0:
        _set_tags(m, idx, p, -1)
        remove_pri(NodeState.gather(m, p), x).scatter(m, p)
    else:
        add_pri(NodeState.gather(m, p), x, False)[0].scatter(m, p)
        _set_tags(m, idx, p, +1)
    if s >= 0:
        st = NodeState.gather(m, s)
        if sign < 0:
            remove_sec(st, x, st.r_mem).scatter(m, s)
        else:
            add_sec(st, x, np.int64(0), False)[0].scatter(m, s)
        if x.usm:
            m.peers[s, p] += sign * x.mem
        m.r_mem[s] = m.peers[s].max()


def unplace(m: ClusterModel, idx: int) -> None:
    """Take instance `idx`'s usage off its nodes (it keeps its node fields)."""
    _account(m, InstAttrs.of([m.instances[idx]]).take(0), idx, -1)


def place(m: ClusterModel, idx: int, p: int, s: int, attrs: InstAttrs | None = None) -> None:
    """Put instance `idx` (in `m.instances`, not accounted anywhere) on nodes (p, s).

    `attrs`: the instance's `InstAttrs` when the caller has them (the capacity planner places many
    instances of one spec), else they are read from the instance.
    """
    m.instances[idx].pnode, m.instances[idx].snode = p, s
    _account(m, attrs if attrs is not None else InstAttrs.of([m.instances[idx]]).take(0), idx, +1)


def add_instance(m: ClusterModel, inst: Instance) -> int:
    """Register a new (unplaced) instance in the model and return its index."""
    idx = len(m.instances)
    m.instances.append(inst)
    m.inst_index[inst.name] = idx
    m.inst_excl.append(m._excl_tags(inst))
    m.inst_dloc.append(m._dloc_tags(inst))
    return idx
