"""Disk parameters per disk template (`-D drbd:resync-rate=N`): the cluster's, and a node group's over them.

Ganeti keeps disk parameters at two levels: the cluster's defaults and each node group's own, and
a disk takes its instance's primary node's group's, filled from the cluster's (a key the group does
not set is the cluster's). That lets one rack resync at a rate its links can carry without changing
the whole cluster's. Which templates and keys exist, and their ranges, is `gnt.opchecks.diskparams`
(from `gnt.drbd.DISK_PARAMS`): the cluster and the groups are validated by the same declarations.

A group's change names only the keys it changes; `default` (Ganeti's VALUE_DEFAULT) or null drops
the group's own value, so the key follows the cluster's again.
"""

from __future__ import annotations

from typing import Any

from gnt import opchecks

__all__ = ["RESET_VALUES", "apply_changes", "check_changes", "filled", "of_group", "of_instance"]

DiskParams = dict[str, dict[str, Any]]

#: values of a group's change that drop its own value of a key (Ganeti's VALUE_DEFAULT; null over RAPI)
RESET_VALUES = ("default", None)


def _is_reset(value: Any) -> bool:
    return value is None or value == "default"


def filled(cluster: DiskParams, group: DiskParams) -> DiskParams:
    """`cluster`'s parameters with `group`'s own over them, per template (Ganeti's SimpleFillDP); copies."""
    result = {template: dict(params) for template, params in cluster.items()}
    for template, params in group.items():
        result[template] = {**result.get(template, {}), **params}
    return result


def check_changes(value: Any) -> None:
    """A group's change: the cluster's declarations, where a key may also be reset (`default`, null)."""
    if isinstance(value, dict):
        value = {
            template: {k: v for k, v in params.items() if not _is_reset(v)} if isinstance(params, dict) else params
            for template, params in value.items()
        }
    opchecks.diskparams(value)


def apply_changes(current: DiskParams, changes: DiskParams) -> DiskParams:
    """`current` (a group's own parameters) with `changes` applied; a template left empty is dropped."""
    result = {template: dict(params) for template, params in current.items()}
    for template, params in changes.items():
        own = result.setdefault(template, {})
        for key, value in params.items():
            if _is_reset(value):
                own.pop(key, None)
            else:
                own[key] = value
        if not own:
            del result[template]
    return result


def of_group(cfg: Any, group_uuid: str) -> DiskParams:
    """The parameters disks of nodes in the group take (the cluster's alone if the group is unknown)."""
    group = cfg.groups.get(group_uuid)
    return filled(cfg.cluster.diskparams, group.diskparams if group is not None else {})


def of_instance(cfg: Any, inst: Any) -> DiskParams:
    """The parameters `inst`'s disks take: its primary node's group's, filled from the cluster's."""
    node = cfg.nodes.get(inst.primary_node)
    return of_group(cfg, node.group if node is not None else "")
