"""Allocation and balancing (Ganeti's htools in Python): model, score, hail, hbal, hspace.

Public API (pure functions over a `ClusterModel`; no I/O except the text-format helpers):

- `load_text(path)` / `save_text(model, path)` / `parse_text` / `format_text`: htools text format
- `model_from_rapi(nodes, instances, groups, ipolicy)`: model from RAPI bulk dicts
- `cluster_score(model)` / `detailed_score(model)`: Ganeti's cluster score
- `balance(model, max_moves=..., min_gain=..., min_gain_limit=...) -> Plan`, `format_plan(plan)`
- `capacity(model, spec=None, tiered=False) -> CapacityResult`, `format_capacity(result)`
- `allocate`, `multi_allocate`, `relocate_secondary`, `evacuate`, `change_group`
- `process_request(req)` / `build_request(model, request)`: the iallocator protocol
"""

from gnt.alloc.allocate import Placement, allocate, change_group, evacuate, multi_allocate, relocate_secondary
from gnt.alloc.balance import Move, Plan, apply_move, balance, format_plan, job_sets
from gnt.alloc.capacity import CapacityResult, capacity, format_capacity
from gnt.alloc.iallocator import build_request, main, process_request
from gnt.alloc.model import ClusterModel, Group, Instance, IPolicy, ISpec, Node
from gnt.alloc.rapi import model_from_rapi
from gnt.alloc.score import cluster_score, detailed_score
from gnt.alloc.simulate import generate_cluster
from gnt.alloc.text import format_text, load_text, parse_text, save_text

__all__ = [
    "CapacityResult",
    "ClusterModel",
    "Group",
    "IPolicy",
    "ISpec",
    "Instance",
    "Move",
    "Node",
    "Placement",
    "Plan",
    "allocate",
    "apply_move",
    "balance",
    "build_request",
    "capacity",
    "change_group",
    "cluster_score",
    "detailed_score",
    "evacuate",
    "format_capacity",
    "format_plan",
    "format_text",
    "generate_cluster",
    "job_sets",
    "load_text",
    "main",
    "model_from_rapi",
    "multi_allocate",
    "parse_text",
    "process_request",
    "relocate_secondary",
    "save_text",
]
