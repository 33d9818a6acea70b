"""Seeded synthetic clusters (like htools' --simulate backend, but with instances placed).

Used by the benchmark and the tests: `generate_cluster` builds a group of identical nodes
and places DRBD instances skewed towards a few nodes, so that there is real balancing work,
while respecting memory, disk, VCPU ratio and spindle limits so the input is valid.
"""

from __future__ import annotations

import numpy as np

from gnt.alloc.model import ClusterModel, Group, Instance, IPolicy, ISpec, Node

__all__ = ["generate_cluster"]

_MEMS = (1024, 2048, 4096, 8192)
_DISKS = (10240, 20480, 51200, 102400)
_CPUS = (1, 2, 4)


def generate_cluster(
    n_nodes: int,
    seed: int = 1,
    per_node: tuple[int, int] = (10, 20),
    node_mem: int = 131072,
    node_disk: int = 4 * 1024 * 1024,
    node_cpus: int = 32,
    skew: float = 1.2,
    plain_fraction: float = 0.0,
) -> ClusterModel:
    """An unbalanced DRBD cluster of `n_nodes` nodes with 10-20 instances per node."""
    rng = np.random.default_rng(seed)
    pol = IPolicy(
        ((ISpec(128, 1, 1024, 1, 1, 1), ISpec(65536, 16, 1024 * 1024, 16, 8, 12)),),
        ISpec(1024, 1, 10240, 1, 1, 1),
        ("drbd", "plain", "file", "sharedfile", "diskless"),
        4.0,
        32.0,
    )
    groups = [Group("default", "00000000-0000-4000-8000-000000000001", ipolicy=pol)]
    nodes = [
        Node(f"node{i + 1:03d}", node_mem, 1024, node_mem - 1024, node_disk, node_disk, node_cpus, spindles=8)
        for i in range(n_nodes)
    ]
    free_mem = np.full(n_nodes, node_mem - 1024, np.int64)
    reserve = np.zeros((n_nodes, n_nodes), np.int64)
    free_dsk = np.full(n_nodes, node_disk, np.int64)
    vcpus = np.ones(n_nodes, np.int64)
    weights = 1.0 / np.arange(1, n_nodes + 1) ** skew
    weights = rng.permutation(weights / weights.sum())
    target = int(rng.integers(per_node[0], per_node[1] + 1) * n_nodes)
    instances: list[Instance] = []
    attempts = 0
    while len(instances) < target and attempts < target * 20:
        attempts += 1
        mem, dsk, cpu = int(rng.choice(_MEMS)), int(rng.choice(_DISKS)), int(rng.choice(_CPUS))
        plain = rng.random() < plain_fraction
        p = int(rng.choice(n_nodes, p=weights))
        s = -1 if plain else int(rng.choice(n_nodes, p=weights))
        if s == p:
            s = int(rng.integers(n_nodes))
            if s == p:
                continue
        if free_mem[p] - mem < 4096 or free_dsk[p] - dsk < 0 or vcpus[p] + cpu > 4 * node_cpus:
            continue
        if s >= 0 and free_dsk[s] - dsk < 0:
            continue
        free_mem[p] -= mem
        free_dsk[p] -= dsk
        vcpus[p] += cpu
        if s >= 0:
            free_dsk[s] -= dsk
            reserve[s, p] += mem
        name = f"inst{len(instances) + 1:05d}"
        status = "running" if rng.random() > 0.05 else "ADMIN_down"
        if status != "running":
            free_mem[p] += mem
        tmpl = "plain" if plain else "drbd"
        instances.append(Instance(name, mem, dsk, cpu, status, p, s, tmpl, spindle_use=1))
    for i, n in enumerate(nodes):
        n.f_mem = int(free_mem[i])
        n.f_dsk = int(free_dsk[i])
    return ClusterModel(groups, nodes, instances, [], pol)
