"""node_powercycle: the node reboots itself a few seconds after answering (Ganeti's PowercycleNode).

On a real node the default hypervisor's driver does the hard reboot (sync, then sysrq 'b'). On a
virtual node (GNT_ROOTDIR set) the "host" is this node daemon: a powercycle kills the node's fake
guests, as a power cut would, and re-executes the daemon in place (same pid, same arguments), so
only that virtual node reboots and the machine running the virtual cluster never does.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys

import backends
from agent import children
from agent.handlers import handles
from gnt import paths
from gnt.rpc import procedures as proc

log = logging.getLogger("gnt-noded")
#: seconds between the answer and the reboot: the answer must reach the master first (Ganeti's 5)
POWERCYCLE_DELAY = 5.0


@handles(proc.NODE_POWERCYCLE)
async def node_powercycle(args: proc.NodePowercycleArgs) -> str:
    hypervisor = backends.get(args.hypervisor)  # an unknown hypervisor fails the call, not the reboot
    loop = asyncio.get_running_loop()
    loop.call_later(POWERCYCLE_DELAY, lambda: asyncio.ensure_future(_powercycle(hypervisor)))
    return f"Reboot scheduled in {POWERCYCLE_DELAY:g} seconds"


async def _powercycle(hypervisor: backends.Hypervisor) -> None:
    log.warning("powercycling this node now, as asked by the master")
    try:
        if paths.is_virtual():
            await _virtual_reboot(hypervisor)
        else:
            hypervisor.powercycle()
    except Exception:  # noqa: BLE001 - nobody waits for this answer: log it
        log.exception("powercycle failed")


async def _virtual_reboot(hypervisor: backends.Hypervisor) -> None:
    """Reboot this virtual node only: its guests die, its daemon starts afresh in the same process."""
    await hypervisor.kill_all_guests()
    children.kill_all()
    logging.shutdown()
    argv = [sys.executable, *sys.orig_argv[1:]]
    os.execv(sys.executable, argv)
