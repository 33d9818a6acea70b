"""The OS query: what every node's OS search path holds, merged per OS as Ganeti's OsQuery does.

Each node answers `os_diagnose` with every OS directory of its search path, in search order (a
name found twice: the first is used, later ones are shadowed). Per OS and node the entries are
kept in that order as `[path, valid, message, variants, parameters, api_versions]`; an OS is valid
when the entry used on every answering node is valid, and its variants, parameters and API
versions are those all nodes agree on. A node that did not answer is left out rather than
making every OS invalid. Hidden and blacklisted come from the cluster (`gnt-os modify`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gnt.os.secrets import redact
from gnt.providers.query import ask_nodes, per_provider, pick
from gnt.rpc import procedures as proc

if TYPE_CHECKING:
    from gnt.objects import Cluster
    from gnt.rpc.transport import RpcResult


async def collect(cfg: Any, rpc: Any, services: Any) -> list[dict[str, Any]]:
    """Ask every online vm_capable node for its OSes and merge the answers (sorted by name)."""
    _, results = await ask_nodes(cfg, rpc, services, proc.OS_DIAGNOSE)
    return merge(results, cfg.cluster)


def merge(results: dict[str, RpcResult], cluster: Cluster) -> list[dict[str, Any]]:
    """Per-node answers -> one record per OS (Ganeti's OsInfo fields)."""
    return [_info(name, per_node, cluster) for name, per_node in per_provider(results, _entry)]


def _entry(entry: dict[str, Any]) -> list[Any]:
    return [
        entry.get("path"),
        bool(entry.get("valid")),
        entry.get("message", ""),
        list(entry.get("variants") or []),
        [list(p) for p in entry.get("parameters") or []],
        list(entry.get("api_versions") or []),
    ]


def _info(name: str, per_node: dict[str, list[list[Any]]], cluster: Cluster) -> dict[str, Any]:
    valid = all(entries and entries[0][1] for entries in per_node.values())
    variants: list[str] = []
    params: list[list[str]] = []
    versions: list[int] = []
    if valid:
        used = [entries[0] for entries in per_node.values()]
        variants = [v for v in used[0][3] if all(v in u[3] for u in used)]
        params = [p for p in used[0][4] if all(p in u[4] for u in used)]
        versions = sorted(v for v in used[0][5] if all(v in u[5] for u in used))
    return {
        "name": name,
        "valid": valid,
        "hidden": name in cluster.hidden_os,
        "blacklisted": name in cluster.blacklisted_os,
        "variants": variants,
        "parameters": params,
        "api_versions": versions,
        "node_status": per_node,
        "os_hvp": dict(cluster.os_hvp.get(name, {})),
        # private parameters by name only: their values are never shown
        "osparams": {**cluster.osparams.get(name, {}), **redact(cluster.osparams_private_cluster.get(name, {}))},
    }


def select(infos: list[dict[str, Any]], fields: list[str], names: list[str]) -> list[list[Any]]:
    """OP_OS_DIAGNOSE's rows: as Ganeti, hidden, blacklisted and invalid OSes are left out unless
    the matching field is asked for; names that no node has are an error."""
    chosen = pick(infos, names)
    for flag in ("hidden", "blacklisted"):
        if flag not in fields:
            chosen = [i for i in chosen if not i[flag]]
    if "valid" not in fields:
        chosen = [i for i in chosen if i["valid"]]
    return [[info[f] for f in fields] for info in chosen]


def os_names(name: str, variants: list[str]) -> list[str]:
    """What an admin types for an OS: `name+variant` for each variant, or the bare name (Ganeti's
    CalculateOSNames)."""
    return [f"{name}+{v}" for v in variants] if variants else [name]


def listed_names(infos: list[dict[str, Any]]) -> list[str]:
    """`gnt-os list` and `GET /2/os`: the usable OSes (valid, not hidden, not blacklisted), with variants."""
    rows = select(infos, ["name", "variants"], [])
    return [full for name, variants in rows for full in os_names(name, variants)]
