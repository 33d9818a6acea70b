"""Ganeti's rules for secondary (replication) IPs: DRBD and live migration traffic use them.

A cluster is single-homed (every node's secondary IP is its primary IP) or dual-homed (every node
has a separate one), decided by the master; a node must own the secondary IP it is given, which
its own daemon confirms (`node_has_ip_address`); and an address DRBD instances replicate over
cannot change under them.
"""

from __future__ import annotations

from typing import Any

from gnt import disktypes
from gnt.errors import ECODE_ENVIRON, ECODE_EXISTS, ECODE_INVAL, ECODE_STATE, OpPrereqError
from gnt.rpc import procedures as proc
from gnt.rpc.client import Target


def _conflicts(cfg: Any, node_name: str, address: str) -> None:
    for node in cfg.nodes.values():
        if node.name != node_name and address in (node.primary_ip, node.secondary_ip):
            raise OpPrereqError(f"New node ip address(es) conflict with existing node {node.name}", ECODE_EXISTS)


def check_add(cfg: Any, node_name: str, primary_ip: str, secondary_ip: str | None) -> None:
    """A new node is homed like the master; its secondary IP is no other node's address."""
    master = cfg.master()
    secondary = secondary_ip or primary_ip
    master_single = master.secondary_ip in ("", master.primary_ip)
    if master_single != (secondary == primary_ip):
        if master_single:
            raise OpPrereqError("The master has no secondary ip but the new node has one", ECODE_INVAL)
        raise OpPrereqError("The master has a secondary ip but the new node doesn't have one", ECODE_INVAL)
    if secondary != primary_ip:
        _conflicts(cfg, node_name, secondary)


async def check_owned(lu: Any, target: Target, address: str) -> None:
    """The node's own daemon says whether the address is configured on it."""
    result = await lu.rpc.call(target, proc.NODE_HAS_IP_ADDRESS, proc.AddressArgs(address))
    if result.failed:
        raise OpPrereqError(f"Cannot check the secondary ip on node {target.name}: {result.error}", ECODE_ENVIRON)
    if result.payload is not True:
        raise OpPrereqError(
            f"Node claims it doesn't have the secondary ip you gave ({address}), please fix and re-run this command",
            ECODE_ENVIRON,
        )


def replicating_instances(cfg: Any, node: Any) -> list[Any]:
    """Instances whose disks replicate over this node's secondary IP (network-mirrored: drbd)."""
    return [
        inst
        for inst in cfg.instances.values()
        if disktypes.kind(inst.disk_template).needs_secondary
        and (inst.primary_node == node.uuid or node.uuid in inst.secondary_nodes)
    ]


async def check_modify(lu: Any, node: Any, secondary_ip: str, force: bool) -> None:
    """`gnt-node modify -s`: Ganeti's homing rules, then no DRBD instance may be using the old address."""
    cfg = lu.cfg
    master = cfg.master()
    master_single = master.secondary_ip in ("", master.primary_ip)
    is_master = node.uuid == master.uuid
    if master_single and secondary_ip != node.primary_ip:
        if not (force and is_master):
            raise OpPrereqError(
                "Changing the secondary ip on a single-homed cluster requires the --force option to be passed,"
                " and the target node to be the master",
                ECODE_INVAL,
            )
        lu.warning("Transitioning from single-homed to multi-homed cluster; all nodes will require a secondary IP")
    elif not master_single and secondary_ip == node.primary_ip:
        if not (force and is_master):
            raise OpPrereqError(
                "Cannot set the secondary IP to be the same as the primary IP on a multi-homed cluster, unless the"
                " --force option is passed, and the target node is the master",
                ECODE_INVAL,
            )
        lu.warning("Transitioning from multi-homed to single-homed cluster; secondary IP addresses will go")
    if secondary_ip != node.primary_ip:
        _conflicts(cfg, node.name, secondary_ip)
    affected = replicating_instances(cfg, node)
    if node.offline:
        if affected:
            names = ", ".join(sorted(i.name for i in affected))
            raise OpPrereqError(
                f"Cannot change secondary IP address: offline node has instances ({names}) configured to use it",
                ECODE_STATE,
            )
        return
    running = sorted(i.name for i in affected if i.admin_state == "up")
    if running:
        raise OpPrereqError(
            f"Instance {running[0]} is running, cannot change secondary ip; stop {', '.join(running)} first",
            ECODE_STATE,
        )
    await check_owned(lu, lu.ctx.services.target(node), secondary_ip)
