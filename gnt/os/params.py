"""The master's side of OS definitions: per-OS cluster settings and the check before an OS is used.

The cluster keeps, per OS (`gnt-os modify`): parameters (`-O`, under the OS's name or
`name+variant`), hypervisor parameters (`-H`), and whether it is hidden (left out of `gnt-os list`)
or blacklisted (refused for new instances, still usable by existing ones). An instance's OS
parameters are the cluster's for its OS, then for its variant, then its own (Ganeti's
SimpleFillOS). Whether the OS accepts them is asked of the nodes (`os_validate`), which run the
OS's own checks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from gnt.errors import ECODE_INVAL, ECODE_STATE, OpExecError, OpPrereqError
from gnt.rpc import procedures as proc

if TYPE_CHECKING:
    from gnt.jobs.lu import LogicalUnit
    from gnt.objects import Cluster, Node


def base_name(os_name: str) -> str:
    """'debootstrap+default' -> 'debootstrap' (hidden and blacklisted apply to the OS, not a variant)."""
    return os_name.partition("+")[0]


def filled_osparams(cluster: Cluster, os_name: str, osparams: dict[str, Any]) -> dict[str, Any]:
    """The OS parameters an instance's scripts get: cluster's for the OS, for its variant, its own."""
    per_os = getattr(cluster, "osparams", None) or {}
    result: dict[str, Any] = {}
    for key in dict.fromkeys((base_name(os_name), os_name)):
        result.update(per_os.get(key, {}))
    result.update(osparams)
    return result


def script_osparams(
    cluster: Cluster,
    os_name: str,
    osparams: dict[str, Any],
    private: dict[str, Any] | None = None,
    secret: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """What the OS scripts get as OSP_*: the public parameters filled as `filled_osparams`, then the
    cluster's private ones for the OS and its variant, the instance's private ones, and the job's
    secret ones (Ganeti's SimpleFillOS with its private and secret dicts). Only for OS script calls:
    never for an instance start, whose spec a node may keep on disk."""
    result = filled_osparams(cluster, os_name, osparams)
    per_os = getattr(cluster, "osparams_private_cluster", None) or {}
    for key in dict.fromkeys((base_name(os_name), os_name)):
        result.update(per_os.get(key, {}))
    result.update(private or {})
    result.update(secret or {})
    return result


def os_hvparams(cluster: Cluster, os_name: str, hypervisor: str) -> dict[str, Any]:
    """The per-OS hypervisor parameters (`gnt-os modify -H`) for an instance of `os_name`."""
    per_os = getattr(cluster, "os_hvp", None) or {}
    result: dict[str, Any] = {}
    for key in dict.fromkeys((base_name(os_name), os_name)):
        result.update(per_os.get(key, {}).get(hypervisor, {}))
    return result


def check_installable(cluster: Cluster, os_name: str) -> None:
    """A blacklisted OS may not be installed on a new instance (Ganeti's message and code)."""
    if os_name in cluster.blacklisted_os or base_name(os_name) in cluster.blacklisted_os:
        raise OpPrereqError(f"Guest OS '{os_name}' is not allowed for installation", ECODE_STATE)


async def check_node_has_os(lu: LogicalUnit, node: Node, os_name: str, force_variant: bool = False) -> None:
    """The OS (and its variant, unless forced) exists and is valid on `node` (Ganeti's
    CheckNodeHasOS), before an instance is given it: a wrong variant comes back as the node said
    it; a missing or broken OS is the caller's input too, naming the node."""
    result = await lu.rpc.os_validate(
        lu.ctx.services.target(node), proc.OsValidateArgs(os_name, force_variant=force_variant)
    )
    if result.failed:
        if isinstance(result.error, OpPrereqError):
            raise result.error
        raise OpPrereqError(
            f"OS '{os_name}' not in supported OS list for node {node.name}: {result.error.message}", ECODE_INVAL
        )


async def validate_on_nodes(
    lu: LogicalUnit,
    nodes: Iterable[Node],
    os_name: str,
    osparams: dict[str, Any],
    force_variant: bool = False,
    required: bool = True,
) -> None:
    """Ask each node whether it can install `os_name` with `osparams` (Ganeti's CheckOSParams):
    the OS exists there and is valid, the variant is one it lists, the parameters are ones it
    declares and its verify script accepts them. A wrong variant is the caller's input and comes
    back as the node said it; anything else names the node."""
    nodes = list(nodes)
    args = proc.OsValidateArgs(os_name, dict(osparams), force_variant, required)
    results = await asyncio.gather(*(lu.rpc.os_validate(lu.ctx.services.target(n), args) for n in nodes))
    for node, result in zip(nodes, results, strict=True):
        if result.failed:
            if isinstance(result.error, OpPrereqError):
                raise result.error
            raise OpExecError(f"OS Parameters validation failed on node {node.name}: {result.error}")
