"""The cluster model: nodes, instances, groups and policies as numpy arrays.

The model is a pure snapshot (no I/O). Static facts (totals, flags, tags) are loaded once;
the dynamic per-node state that the score depends on (free disk, used VCPUs, reserved memory
for N+1, ...) is derived from the instance placement by `ClusterModel.rebuild` and then kept up
to date move by move by `gnt.alloc.ops`, so that the balancer never recomputes it from scratch.

Semantics follow Ganeti's htools (Node.hs / Instance.hs / Loader.hs) so that scores agree with
`hbal`/`hinfo` on the same input; the few places where htools has quirks (the free memory
percentage of an untouched node comes from the reported free memory, the N+1 test switches
from ``<`` to ``<=`` after the first change) are reproduced with two "touched" flags.
"""

from __future__ import annotations

import copy
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "DEFAULT_IPOLICY",
    "DISK_TEMPLATES",
    "EXT_MIRRORED",
    "INSTANCE_STATUSES",
    "LOCAL_STORAGE",
    "ClusterModel",
    "Group",
    "IPolicy",
    "ISpec",
    "Instance",
    "Node",
]

DISK_TEMPLATES = (
    "diskless",
    "file",
    "sharedfile",
    "plain",
    "blockdev",
    "drbd",
    "rbd",
    "ext",
    "gluster",
)
#: Templates whose disks live on node-local LVM: they consume the node's free disk.
LOCAL_STORAGE = frozenset({"drbd", "plain"})
#: Externally mirrored templates: they can run on any node of the group, no secondary.
EXT_MIRRORED = frozenset({"diskless", "sharedfile", "rbd", "ext", "gluster", "blockdev"})
INSTANCE_STATUSES = (
    "running",
    "ADMIN_down",
    "ADMIN_offline",
    "ERROR_down",
    "ERROR_up",
    "ERROR_nodedown",
    "ERROR_nodeoffline",
    "ERROR_wrongnode",
    "USER_down",
)
_RUNNING = frozenset({"running", "ERROR_up"})

EXTAGS_PREFIX = "htools:iextags:"
LOCATION_PREFIX = "htools:nlocation:"
DESIRED_LOCATION_PREFIX = "htools:desiredlocation:"
MIGRATION_PREFIX = "htools:migration:"
ALLOW_MIGRATION_PREFIX = "htools:allowmigration:"
#: htools' baseUtil: the load an instance puts on its nodes when no utilisation data is given
BASE_UTIL = (1.0, 1.0, 1.0, 1.0)


def classed_tags(cluster_tags: list[str], cluster_prefix: str, tags: list[str]) -> frozenset[str]:
    """The `tags` a cluster tag ``CLUSTER_PREFIX + CLASS`` declares, i.e. those starting with ``CLASS:``.

    This is how htools reads migration and location classes (``htools:migration:hv`` makes node
    tags ``hv:*`` migration classes): the class must be followed by a colon.
    """
    classes = [t[len(cluster_prefix) :] + ":" for t in cluster_tags if t.startswith(cluster_prefix)]
    return frozenset(t for t in tags if any(t.startswith(c) for c in classes))


def allowed_migrations(cluster_tags: list[str]) -> list[tuple[str, str]]:
    """The (x, y) pairs of ``htools:allowmigration:x::y`` cluster tags: a node tagged y receives
    instances as if it were also tagged x. Malformed tags (no ``::``, or a second one) are ignored."""
    pairs = []
    for tag in cluster_tags:
        if not tag.startswith(ALLOW_MIGRATION_PREFIX):
            continue
        src, sep, dst = tag[len(ALLOW_MIGRATION_PREFIX) :].partition("::")
        if sep and "::" not in dst:
            pairs.append((src, dst))
    return pairs


@dataclass(frozen=True)
class ISpec:
    """One instance specification (Ganeti's ISpec field order)."""

    mem: int = 128
    cpu: int = 1
    disk: int = 1024
    disk_count: int = 1
    nic_count: int = 1
    spindle_use: int = 1


@dataclass(frozen=True)
class IPolicy:
    """Instance policy: allowed spec ranges, standard spec, templates and ratios."""

    minmax: tuple[tuple[ISpec, ISpec], ...] = ((ISpec(128, 1, 1024, 1, 1, 1), ISpec(32768, 8, 1024 * 1024, 16, 8, 12)),)
    std: ISpec = ISpec()
    templates: tuple[str, ...] = DISK_TEMPLATES
    vcpu_ratio: float = 4.0
    spindle_ratio: float = 32.0

    def spec_ok(self, mem: int, cpu: int, disks: list[int], spindle_use: int, template: str) -> str | None:
        """Return why an instance shape violates the policy, or None if it complies."""
        if template not in self.templates:
            return f"disk template {template} not allowed by policy"
        if not self.minmax:
            return None
        for lo, hi in self.minmax:
            if not lo.mem <= mem <= hi.mem or not lo.cpu <= cpu <= hi.cpu:
                continue
            if not lo.spindle_use <= spindle_use <= hi.spindle_use:
                continue
            if any(not lo.disk <= d <= hi.disk for d in disks):
                continue
            if template != "diskless" and not lo.disk_count <= len(disks) <= hi.disk_count:
                continue
            return None
        return "instance spec outside the policy's min/max specs"


DEFAULT_IPOLICY = IPolicy()


@dataclass
class Group:
    """A node group; `ipolicy` None means htools' default policy."""

    name: str
    uuid: str
    alloc_policy: str = "preferred"
    tags: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    ipolicy: IPolicy | None = None

    @property
    def policy(self) -> IPolicy:
        return self.ipolicy or DEFAULT_IPOLICY


@dataclass
class Node:
    """Static facts about a node, as the text format and RAPI describe it."""

    name: str
    t_mem: float
    n_mem: int
    f_mem: int
    t_dsk: float
    f_dsk: int
    t_cpu: float
    group: int = 0
    offline: bool = False
    drained: bool = False
    master: bool = False
    spindles: int = 1
    tags: list[str] = field(default_factory=list)
    excl_storage: bool = False
    free_spindles: int = 0
    n_cpu: int = 1
    cpu_speed: float = 1.0
    unknown: bool = False  # "?" fields in the text format


@dataclass
class Instance:
    """An instance; `pnode`/`snode` are node indices (-1 for no secondary)."""

    name: str
    mem: int
    dsk: int
    vcpus: int
    status: str
    pnode: int
    snode: int = -1
    template: str = "drbd"
    tags: list[str] = field(default_factory=list)
    auto_balance: bool = True
    spindle_use: int = 1
    spindles: int | None = None
    forthcoming: bool = False
    disks: list[int] | None = None
    #: networks (uuids, as the iallocator protocol names them) its NICs are on: only groups
    #: connected to all of them can host it
    networks: tuple[str, ...] = ()
    #: htools' dynamic utilisation (cpu, mem, disk, net), hbal's -U file; one each by default, so
    #: the load components count primaries (disk: primaries and secondaries)
    util: tuple[float, float, float, float] = BASE_UTIL

    @property
    def running(self) -> bool:
        return self.status in _RUNNING

    @property
    def offline(self) -> bool:
        return self.status == "ADMIN_offline"

    @property
    def has_secondary(self) -> bool:
        return self.template == "drbd"

    @property
    def local_storage(self) -> bool:
        return self.template in LOCAL_STORAGE

    @property
    def uses_sec_mem(self) -> bool:
        return not self.offline and self.auto_balance


class ClusterModel:
    """Groups, nodes and instances plus the derived per-node state, in arrays.

    Node arrays are indexed by node index, instance lists by instance index. The derived
    arrays (``i_mem``, ``f_dsk``, ``u_cpu``, ``peers``...) are filled by `rebuild` and
    updated in place by `gnt.alloc.ops`.
    """

    def __init__(
        self,
        groups: list[Group],
        nodes: list[Node],
        instances: list[Instance],
        cluster_tags: list[str] | None = None,
        ipolicy: IPolicy | None = None,
    ) -> None:
        self.groups = groups
        self.nodes = nodes
        self.instances = instances
        self.cluster_tags = list(cluster_tags or [])
        self.ipolicy = ipolicy or DEFAULT_IPOLICY
        #: exclusion-tag prefixes given on the command line (hbal's --exclusion-tags), beside the cluster's
        self.extra_ex_prefixes: list[str] = []
        self.node_index = {n.name: i for i, n in enumerate(nodes)}
        self.inst_index = {x.name: i for i, x in enumerate(instances)}
        self.rebuild()

    # -- construction -------------------------------------------------------------------

    def copy(self) -> ClusterModel:
        """A deep copy whose state can be changed without touching this one."""
        return copy.deepcopy(self)

    def _static_arrays(self) -> None:
        nodes = self.nodes
        f64, i64 = np.float64, np.int64
        self.t_mem = np.array([n.t_mem for n in nodes], f64)
        self.n_mem = np.array([n.n_mem for n in nodes], i64)
        self.t_dsk = np.array([n.t_dsk for n in nodes], f64)
        self.t_cpu = np.array([n.t_cpu for n in nodes], f64)
        self.cpu_speed = np.array([n.cpu_speed for n in nodes], f64)
        self.t_sp = np.array([n.spindles for n in nodes], i64)
        self.excl = np.array([n.excl_storage for n in nodes], bool)
        self.group = np.array([n.group for n in nodes], i64)
        # htools treats drained nodes as offline: they neither receive nor count as online.
        self.offline = np.array([n.offline or n.drained for n in nodes], bool)
        pols = [self.groups[n.group].policy if self.groups else DEFAULT_IPOLICY for n in nodes]
        self.vcpu_ratio = np.array([p.vcpu_ratio for p in pols], f64)
        self.hi_sp = np.array([p.spindle_ratio for p in pols], f64) * self.t_sp
        self.hi_cpu = np.floor(self.vcpu_ratio * self.t_cpu)
        self.lo_dsk = np.zeros(len(nodes), i64)
        ext = {t[len(EXTAGS_PREFIX) :] for t in self.cluster_tags if t.startswith(EXTAGS_PREFIX)}
        self.ex_prefixes = sorted({p for p in ext if p} | set(self.extra_ex_prefixes))
        # ``htools:nlocation:rack`` makes ``rack:*`` node tags locations (the colon counts: not ``racket``)
        self.node_locs = [classed_tags(self.cluster_tags, LOCATION_PREFIX, n.tags) for n in nodes]
        dlp = [t[len(DESIRED_LOCATION_PREFIX) :] for t in self.cluster_tags if t.startswith(DESIRED_LOCATION_PREFIX)]
        self.dloc_prefixes = dlp
        self._migration_classes()
        self.inst_excl = [self._excl_tags(x) for x in self.instances]
        self.inst_dloc = [self._dloc_tags(x) for x in self.instances]

    def _migration_classes(self) -> None:
        """htools' migration tags: an instance may move its primary from node a to node b only if
        every migration tag of a is one b receives (its own tags, plus those ``allowmigration``
        lets it stand in for). `mig_ok[a, b]` holds that; None when no node has a migration tag."""
        self.node_mig = [classed_tags(self.cluster_tags, MIGRATION_PREFIX, n.tags) for n in self.nodes]
        if not any(self.node_mig):
            self.mig_ok: np.ndarray | None = None
            return
        pairs = allowed_migrations(self.cluster_tags)
        self.node_rmig = [mig | {x for x, y in pairs if y in mig} for mig in self.node_mig]
        self.mig_ok = np.array([[a <= b for b in self.node_rmig] for a in self.node_mig], bool).reshape(
            len(self.nodes), len(self.nodes)
        )

    def migration_ok(self, src: np.ndarray | int, dst: np.ndarray | int) -> np.ndarray:
        """Whether an instance may migrate (or fail over) from nodes `src` to nodes `dst` (broadcast)."""
        shape = np.broadcast_shapes(np.shape(src), np.shape(dst))
        if self.mig_ok is None:
            return np.ones(shape, bool)
        return self.mig_ok[src, dst]

    def add_exclusion_tags(self, names: list[str]) -> None:
        """Make instance tags ``NAME:*`` exclusion tags too, as hbal's ``--exclusion-tags=NAME,...``.

        hbal appends the colon to the names given on its command line (a cluster tag
        ``htools:iextags:NAME`` makes the bare prefix ``NAME`` one), so ``--exclusion-tags=dns``
        takes ``dns:a`` but not ``dnsmasq``. Empty names are ignored.
        """
        self.extra_ex_prefixes = sorted(set(self.extra_ex_prefixes) | {f"{n}:" for n in names if n})
        self.rebuild()

    def _excl_tags(self, inst: Instance) -> tuple[str, ...]:
        return tuple(t for t in inst.tags if any(t.startswith(p) for p in self.ex_prefixes))

    def _dloc_tags(self, inst: Instance) -> frozenset[str]:
        """The instance's desired locations (tags under a ``htools:desiredlocation:`` prefix)."""
        return frozenset(t for t in inst.tags if any(t.startswith(p) for p in self.dloc_prefixes))

    def map_keys(self, node: int, excl: tuple[str, ...]) -> list[tuple[int, str, str]]:
        """The (group, location, exclusion tag) keys an instance with `excl` adds as primary on `node`.

        htools keeps these pairs per node and scores them over the online nodes of the scored group
        only, so keys carry the group and offline (or drained) primaries add none.
        """
        if self.offline[node] or not excl:
            return []
        g = int(self.group[node])
        return [(g, loc, ex) for loc in self.node_locs[node] for ex in excl]

    def location_exclusion(self, nodes: np.ndarray | None = None) -> float:
        """htools' location-exclusion component over `nodes`' groups: instances sharing an
        exclusion tag whose primaries share a location, beyond the first of each pair."""
        groups = None if nodes is None else set(self.group[np.asarray(nodes)].tolist())
        return float(sum(c - 1 for (g, _, _), c in self.inst_map.items() if c > 1 and (groups is None or g in groups)))

    def instance_flags(self) -> tuple[bool, bool]:
        """(any instance forthcoming, any instance with an exclusion tag): asked for every placement
        scored, so kept until the instance list grows or the model is rebuilt."""
        flags = self._instance_flags()
        return flags[1], flags[2]

    def uniform_load(self) -> bool:
        """Whether every instance loads cpu, memory and network alike (always so without -U data):
        then the three load components have the same per-node values and can be scored as one."""
        return self._instance_flags()[3]

    def _instance_flags(self) -> tuple[int, bool, bool, bool]:
        """The flags over every instance, kept since the last rebuild: instances are only ever
        appended between rebuilds (the allocator and capacity planner add one per placement), so
        only the new ones are looked at, not the whole list once per placement scored."""
        seen = 0 if self._flags is None else self._flags[0]
        if seen > len(self.instances):
            seen, self._flags = 0, None
        if seen == len(self.instances) and self._flags is not None:
            return self._flags
        new = self.instances[seen:]
        forth = any(x.forthcoming for x in new)
        excl = any(self.inst_excl[seen:])
        uniform = all(x.util[0] == x.util[1] == x.util[3] for x in new)
        if self._flags is not None:
            forth, excl, uniform = forth or self._flags[1], excl or self._flags[2], uniform and self._flags[3]
        self._flags = (len(self.instances), forth, excl, uniform)
        return self._flags

    def rebuild(self) -> None:
        """Recompute every derived array from the static facts and the placement."""
        self._flags: tuple[int, bool, bool, bool] | None = None
        self._static_arrays()
        n = len(self.nodes)
        i64 = np.int64
        self.f_mem_rep = np.array([nd.f_mem for nd in self.nodes], i64)
        self.f_dsk = np.array([nd.f_dsk for nd in self.nodes], i64)
        self.f_sp = np.array([nd.free_spindles for nd in self.nodes], i64)
        self.i_mem = np.zeros(n, i64)
        self.u_cpu = np.array([nd.n_cpu for nd in self.nodes], i64)
        self.inst_sp = np.zeros(n, np.float64)
        self.npri = np.zeros(n, i64)
        self.nsec = np.zeros(n, i64)
        # htools' utilLoad: cpu, memory and network of the primaries, disk of primaries and secondaries
        self.l_cpu = np.zeros(n, np.float64)
        self.l_mem = np.zeros(n, np.float64)
        self.l_dsk = np.zeros(n, np.float64)
        self.l_net = np.zeros(n, np.float64)
        self.peers = np.zeros((n, n), i64)
        self.f_mem_f = self.f_mem_rep.copy()
        self.f_dsk_f = self.f_dsk.copy()
        self.u_cpu_f = self.u_cpu.copy()
        self.inst_sp_f = np.zeros(n, np.float64)
        self.ptags: list[Counter[str]] = [Counter() for _ in range(n)]
        self.loc_score = np.zeros(n, i64)
        self.inst_map: Counter[tuple[int, str, str]] = Counter()
        self.conflicts = np.zeros(n, i64)
        for idx, inst in enumerate(self.instances):
            self._load_instance(idx, inst)
        self.conflicts = np.array([sum(c.values()) - len(c) for c in self.ptags], i64)
        # Unaccounted memory: what the node reports missing beyond our records.
        self.x_mem = self.t_mem.astype(i64) - self.n_mem - self.f_mem_rep - self.i_mem
        self.mem_touched = np.zeros(n, bool)
        self.n1_touched = np.zeros(n, bool)
        self.r_mem = self.peers.max(axis=1) if n else np.zeros(0, i64)

    def _load_instance(self, idx: int, inst: Instance) -> None:
        """Account one instance on its nodes the way htools' loader (setPri/setSec) does."""
        p, s = inst.pnode, inst.snode
        if inst.forthcoming:
            self._load_forthcoming(inst)
            return
        if not inst.offline:
            self.u_cpu[p] += inst.vcpus
            self.u_cpu_f[p] += inst.vcpus
        if inst.running:
            self.i_mem[p] += inst.mem
        else:
            self.f_mem_f[p] -= inst.mem
        self.npri[p] += 1
        cpu, mem, dsk, net = inst.util
        self.l_cpu[p] += cpu
        self.l_mem[p] += mem
        self.l_dsk[p] += dsk
        self.l_net[p] += net
        sp = inst.spindle_use if inst.local_storage else 0
        self.ptags[p].update(self.inst_excl[idx])
        if s >= 0:
            self.nsec[s] += 1
            self.l_dsk[s] += dsk
            if not self.excl[s]:
                self.inst_sp[s] += sp
                self.inst_sp_f[s] += sp
            if inst.uses_sec_mem:
                self.peers[s, p] += inst.mem
        if not self.excl[p]:
            self.inst_sp[p] += sp
            self.inst_sp_f[p] += sp
        locs = self.node_locs[p]
        if s >= 0:
            self.loc_score[p] += len(locs & self.node_locs[s])
        self.loc_score[p] += len(self.inst_dloc[idx] - locs)
        self.inst_map.update(self.map_keys(p, self.inst_excl[idx]))

    def _load_forthcoming(self, inst: Instance) -> None:
        p, s = inst.pnode, inst.snode
        self.f_mem_f[p] -= inst.mem
        if not inst.offline:
            self.u_cpu_f[p] += inst.vcpus
        sp = inst.spindle_use if inst.local_storage else 0
        for node in (p, s) if s >= 0 else (p,):
            if inst.local_storage or node == s:
                self.f_dsk_f[node] -= inst.dsk
            if not self.excl[node]:
                self.inst_sp_f[node] += sp

    # -- views ----------------------------------------------------------------------------

    def free_mem(self) -> np.ndarray:
        """Memory not allocated to instances (htools' unallocatedMem), per node."""
        return self.t_mem.astype(np.int64) - self.n_mem - self.i_mem - np.maximum(self.x_mem, 0)

    def written_free_mem(self) -> np.ndarray:
        """Free memory to write out so that reloading reproduces the same state."""
        return self.t_mem.astype(np.int64) - self.n_mem - self.i_mem - self.x_mem

    def group_nodes(self, group: int) -> np.ndarray:
        return np.flatnonzero(self.group == group)

    def instance_group(self, idx: int) -> int:
        return int(self.group[self.instances[idx].pnode])

    def can_receive(self) -> np.ndarray:
        """Nodes that may receive instances: online, not drained, known."""
        return ~self.offline & np.array([not n.unknown for n in self.nodes], bool)
