"""Changing the master IP's settings under a running master: `gnt-cluster modify` and `rename`.

The node daemon reads the address from its own ssconf, so the order matters: the old address is
taken down while the master's ssconf still names it, the config is committed and ssconf pushed,
then the new one is put up. A failure to take down or put up is a warning (the config change
stands, as in Ganeti): `gnt-cluster activate-master-ip` repairs it.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from gnt import netutil
from gnt.cluster.master_ip_config import MasterIp, check_netdev, check_netmask
from gnt.errors import ECODE_INVAL, OpPrereqError
from gnt.rpc import procedures as proc


def resolve_cluster_ip(cfg: Any, name: str) -> str:
    """The address `name` resolves to, refused when it is a node's own address."""
    try:
        address = netutil.resolve(name)
    except OpPrereqError as err:
        raise OpPrereqError(f"Cannot resolve cluster name '{name}': {str(err).split(': ', 1)[-1]}", err.code) from None
    for node in cfg.nodes.values():
        if address in (node.primary_ip, node.secondary_ip):
            raise OpPrereqError(
                f"The cluster name {name} resolves to {address}, node {node.name}'s own address; the master IP"
                " must be an address of its own",
                ECODE_INVAL,
            )
    return address


def plan_set_params(cfg: Any, op: Any) -> MasterIp | None:
    """The master IP after `gnt-cluster modify`, or None when the op does not touch it.

    On a cluster without a master IP, `--master-netdev` turns it on (the cluster name must then
    resolve to an address of its own); `--master-netmask` or `--use-external-mip-script` alone
    cannot, as at init.
    """
    cluster = cfg.cluster
    if op.master_netdev is None and op.master_netmask is None and op.use_external_mip_script is None:
        return None
    netdev = op.master_netdev if op.master_netdev is not None else cluster.master_netdev
    check_netdev(netdev, must_exist=False)  # it exists on the master, not necessarily where masterd runs checks
    address = cluster.master_ip
    if not address:
        if op.master_netdev is None:
            raise OpPrereqError(
                "This cluster has no master IP: --master-netmask and --use-external-mip-script need"
                " --master-netdev (the master IP's interface)",
                ECODE_INVAL,
            )
        address = resolve_cluster_ip(cfg, cluster.cluster_name)
    version = ipaddress.ip_address(address).version
    if op.master_netmask is not None:
        netmask = op.master_netmask
    elif cluster.master_ip:
        netmask = cluster.master_netmask
    else:
        netmask = 32 if version == 4 else 128
    check_netmask(netmask, version)
    external = cluster.use_external_mip_script if op.use_external_mip_script is None else op.use_external_mip_script
    return MasterIp(address, netmask, netdev, bool(external))


async def _call(lu: Any, procedure: proc.Procedure[proc.NoArgs], what: str) -> None:
    master = lu.cfg.master()
    result = await lu.rpc.call(lu.ctx.services.target(master), procedure, proc.NoArgs())
    if result.failed:
        lu.feedback(
            f"  - WARNING: could not {what} the master IP on {master.name}: {result.error};"
            " run `gnt-cluster activate-master-ip` once the cause is fixed"
        )


async def take_down(lu: Any) -> None:
    """Before a change: the current address off the master (no-op when there is none)."""
    if lu.cfg.cluster.master_ip:
        await _call(lu, proc.MASTER_IP_DEACTIVATE, "remove")


async def bring_up(lu: Any) -> None:
    """After the commit and the ssconf push: the (new) address on the master."""
    if lu.cfg.cluster.master_ip:
        await _call(lu, proc.MASTER_IP_ACTIVATE, "add")


def apply(cluster: Any, plan: MasterIp) -> None:
    cluster.master_ip = plan.address
    cluster.master_netmask = plan.netmask
    cluster.master_netdev = plan.netdev
    cluster.use_external_mip_script = plan.external_script
