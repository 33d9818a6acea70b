"""The ExtStorage query: what every node's es search path holds, merged per provider.

Each node answers `extstorage_diagnose` with every provider directory of its own search path, in
search order. Per provider and node the entries are kept in that order as
`[path, valid, message, parameters]` (Ganeti's node_status); a node without the provider has an
empty list there. A provider is valid for a node group when the entry used (the first) is valid on
every answering node of the group (Ganeti's nodegroup_status); its parameters are those every node
of a valid group agrees on. A node that did not answer is left out rather than making every
provider invalid, as for OSes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gnt.providers.query import ask_nodes, per_provider, pick
from gnt.rpc import procedures as proc

if TYPE_CHECKING:
    from gnt.rpc.transport import RpcResult

Entry = list[Any]  # [path, valid, message, parameters]


async def collect(cfg: Any, rpc: Any, services: Any) -> list[dict[str, Any]]:
    """Ask every online vm_capable node for its providers and merge the answers (sorted by name)."""
    nodes, results = await ask_nodes(cfg, rpc, services, proc.EXTSTORAGE_DIAGNOSE)
    groups: dict[str, list[str]] = {}
    for node in nodes:
        group = cfg.groups.get(node.group)
        groups.setdefault(group.name if group else node.group, []).append(node.name)
    return merge(results, groups)


def _entry(reported: dict[str, Any]) -> Entry:
    return [
        reported.get("path"),
        bool(reported.get("valid")),
        reported.get("message", ""),
        [list(p) for p in reported.get("parameters") or []],
    ]


def merge(results: dict[str, RpcResult], groups: dict[str, list[str]]) -> list[dict[str, Any]]:
    """Per-node answers and {group name: [node names]} -> one record per provider."""
    good = {name for name, result in results.items() if not result.failed}
    answered = {g: [n for n in members if n in good] for g, members in groups.items()}
    return [_info(name, per_node, answered) for name, per_node in per_provider(results, _entry)]


def _valid_on(entries: list[Entry]) -> bool:
    return bool(entries) and bool(entries[0][1])


def _info(name: str, per_node: dict[str, list[Entry]], groups: dict[str, list[str]]) -> dict[str, Any]:
    group_status = {g: bool(members) and all(_valid_on(per_node[n]) for n in members) for g, members in groups.items()}
    used = [per_node[n][0] for g, members in groups.items() if group_status[g] for n in members]
    params = [p for p in used[0][3] if all(p in u[3] for u in used)] if used else []
    return {"name": name, "node_status": per_node, "nodegroup_status": group_status, "parameters": params}


def select(infos: list[dict[str, Any]], fields: list[str], names: list[str]) -> list[list[Any]]:
    """OP_EXTSTORAGE_DIAGNOSE's rows; names that no node has are an error, as for OSes."""
    return [[info[f] for f in fields] for info in pick(infos, names)]
