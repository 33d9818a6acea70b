"""The floating master IP as the cluster config holds it: checks at `gnt-cluster init`, and ssconf.

A cluster has a floating master IP when it was initialised with `--master-netdev`: the cluster name
then resolves to the address that follows the master role (Ganeti's model). Without it (every
virtual cluster, whose nodes all share one loopback) there is none and clients find the master
through ssconf, so nothing is ever added to an interface by accident.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass
from typing import Any

from gnt import netutil
from gnt.errors import ECODE_ENVIRON, ECODE_INVAL, OpPrereqError

#: a Linux interface name (IFNAMSIZ 16 with the NUL; no '/' or whitespace)
NETDEV_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,14}$")


@dataclass(frozen=True)
class MasterIp:
    address: str = ""
    netmask: int = 32
    netdev: str = ""
    external_script: bool = False


def check_netdev(netdev: str, must_exist: bool = True) -> None:
    if not NETDEV_RE.match(netdev):
        raise OpPrereqError(f"Invalid master netdev {netdev!r}: not an interface name", ECODE_INVAL)
    if must_exist and not os.path.exists(f"/sys/class/net/{netdev}"):
        raise OpPrereqError(f"Master netdev {netdev} does not exist on this node", ECODE_ENVIRON)


def check_netmask(netmask: int, version: int) -> None:
    limit = 32 if version == 4 else 128
    if isinstance(netmask, bool) or not isinstance(netmask, int) or not 0 < netmask <= limit:
        raise OpPrereqError(
            f"Invalid master netmask {netmask!r} for an IPv{version} address (1 to {limit})", ECODE_INVAL
        )


def plan_at_init(cluster_name: str, primary_ip: str, opts: dict[str, Any]) -> MasterIp:
    """What `gnt-cluster init` records; refuses a netdev that is not there or a cluster name that is this node."""
    netdev = opts.get("master_netdev")
    netmask = opts.get("master_netmask")
    external = bool(opts.get("use_external_mip_script"))
    if not netdev:
        if netmask is not None or external:
            raise OpPrereqError(
                "--master-netmask and --use-external-mip-script need --master-netdev (the master IP's interface)",
                ECODE_INVAL,
            )
        return MasterIp()
    check_netdev(netdev, must_exist=not external)
    address = netutil.resolve(cluster_name)
    version = ipaddress.ip_address(address).version
    netmask = (32 if version == 4 else 128) if netmask is None else netmask
    check_netmask(netmask, version)
    if address == primary_ip:
        raise OpPrereqError(
            f"The cluster name {cluster_name} resolves to this node's own address ({address}); the master IP"
            " must be an address of its own (or leave out --master-netdev)",
            ECODE_INVAL,
        )
    return MasterIp(address, netmask, netdev, external)


def ssconf_values(cluster: Any) -> dict[str, str]:
    """The ssconf keys the node daemons read the master IP from (agent.master_ip)."""
    return {
        "cluster_ip": cluster.master_ip,
        "master_netdev": cluster.master_netdev if cluster.master_ip else "",
        "master_netmask": str(cluster.master_netmask),
        "master_ip_script": "1" if cluster.use_external_mip_script else "0",
    }
