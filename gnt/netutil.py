"""Name resolution; in a virtual cluster, node names resolve through the cluster's hosts file."""

from __future__ import annotations

import ipaddress
import os
import socket

from gnt import paths
from gnt.errors import ECODE_NOENT, OpPrereqError


def _vcluster_hosts() -> dict[str, str]:
    base = paths.vcluster_base()
    hosts: dict[str, str] = {}
    path = os.path.join(base, "hosts") if base else ""
    if path and os.path.exists(path):
        with open(path) as handle:
            for line in handle:
                parts = line.split("#", 1)[0].split()
                if len(parts) >= 2:
                    for name in parts[1:]:
                        hosts[name] = parts[0]
    return hosts


def resolve(name: str) -> str:
    """IPv4 address of `name`; raises OpPrereqError(unknown_entity) if it does not resolve."""
    try:
        ipaddress.ip_address(name)
        return name
    except ValueError:
        pass
    address = _vcluster_hosts().get(name)
    if address:
        return address
    try:
        return socket.gethostbyname(name)
    except OSError as err:
        raise OpPrereqError(f"Cannot resolve node name '{name}': {err}", ECODE_NOENT) from err


def owns_address(address: str) -> bool:
    """True when a socket can bind to `address` here: it is configured on one of this host's interfaces.

    Raises ValueError when `address` is not an IP address.
    """
    family = socket.AF_INET if ipaddress.ip_address(address).version == 4 else socket.AF_INET6
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((address, 0))
        except OSError:
            return False
    return True
