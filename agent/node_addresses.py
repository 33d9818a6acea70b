"""Whether this node owns an address: the node-side half of the secondary IP checks (Ganeti's
node_has_ip_address). It only reports (a bind to port 0, closed at once), so the caller's argument
cannot make it change anything."""

from __future__ import annotations

from agent.handlers import handles
from gnt import netutil
from gnt.errors import RpcArgumentError
from gnt.rpc import procedures as proc


@handles(proc.NODE_HAS_IP_ADDRESS)
async def node_has_ip_address(args: proc.AddressArgs) -> bool:
    try:
        return netutil.owns_address(args.address)
    except ValueError:
        raise RpcArgumentError(f"node_has_ip_address: {args.address!r} is not an IP address") from None
