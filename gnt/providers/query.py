"""The master's side of a search-path diagnose (OS definitions, ExtStorage providers).

Every online vm_capable node answers the diagnose procedure with every provider directory of its
search path, in search order. `per_provider` turns those answers into {provider: {node: [entries]}},
each node's entries in search order (the first is the one used), every answering node listed (an
empty list: the node lacks the provider). A node that did not answer is left out rather than
making every provider invalid. The callers turn the entries into Ganeti's records.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gnt.errors import ECODE_NOENT, OpPrereqError
from gnt.rpc import procedures as proc

if TYPE_CHECKING:
    from gnt.rpc.transport import RpcResult

__all__ = ["ask_nodes", "per_provider", "pick"]


async def ask_nodes(cfg: Any, rpc: Any, services: Any, procedure: Any) -> tuple[list[Any], dict[str, RpcResult]]:
    """The online vm_capable nodes and their answers to `procedure` (a diagnose without arguments)."""
    nodes = [n for n in cfg.nodes.values() if not n.offline and n.vm_capable]
    return nodes, await rpc.call_many(services.targets(nodes), procedure, proc.NoArgs())


def per_provider(
    results: dict[str, RpcResult], entry: Callable[[dict[str, Any]], list[Any]]
) -> list[tuple[str, dict[str, list[list[Any]]]]]:
    """(provider name, {node: entries}) sorted by name, from the nodes that answered; `entry`
    turns one reported directory into the caller's entry row."""
    good = sorted(name for name, result in results.items() if not result.failed)
    by_name: dict[str, dict[str, list[list[Any]]]] = {}
    for node in good:
        for reported in results[node].payload or []:
            by_name.setdefault(str(reported["name"]), {n: [] for n in good})[node].append(entry(reported))
    return sorted(by_name.items())


def pick(infos: list[dict[str, Any]], names: list[str]) -> list[dict[str, Any]]:
    """The records named (all when none is); a name no node has is an error, as in Ganeti."""
    by_name = {i["name"]: i for i in infos}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise OpPrereqError(f"Some items were not found: {', '.join(missing)}", ECODE_NOENT)
    return [by_name[n] for n in names] if names else infos
