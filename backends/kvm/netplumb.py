"""NIC plumbing for kvm guests: tap devices, bridge ports, routed /32 routes with proxy ARP.

The command lists are pure (`plumb_commands`, `unplumb_commands`), golden-testable, and run
through `ip` as argv lists, optionally inside a network namespace (the node's `netns`).
"""

from __future__ import annotations

import hashlib

from backends.kvm.proc import run
from gnt.errors import HypervisorError
from gnt.runtime import NicSpec

__all__ = ["plumb", "plumb_commands", "tap_name", "unplumb", "unplumb_commands"]


def tap_name(node_key: str, instance: str, index: int) -> str:
    """A stable tap name, unique per node and instance (kernel limit: 15 characters).

    `node_key` differs between the virtual nodes of one machine, so the source and target taps
    of a migration between them never collide.
    """
    digest = hashlib.sha1(f"{node_key}/{instance}".encode()).hexdigest()[:9]
    return f"gnt{digest}{index}"[:15]


def plumb_commands(nic: NicSpec, tap: str) -> list[list[str]]:
    """Commands that make `tap` ready before QEMU opens it."""
    cmds = [["ip", "tuntap", "add", "dev", tap, "mode", "tap"]]
    if nic.mode == "bridged":
        if not nic.link:
            raise HypervisorError(f"NIC {nic.mac}: bridged mode needs a link (the bridge name)")
        cmds.append(["ip", "link", "set", "dev", tap, "master", nic.link])
    elif nic.mode == "routed":
        if not nic.ip:
            raise HypervisorError(f"NIC {nic.mac}: routed mode needs an IP address")
        cmds.append(["sysctl", "-q", "-w", f"net.ipv4.conf.{tap}.proxy_arp=1"])
    else:
        raise HypervisorError(f"NIC mode {nic.mode!r} is not supported by kvm (use bridged or routed)")
    cmds.append(["ip", "link", "set", "dev", tap, "up"])
    if nic.mode == "routed":
        route = ["ip", "route", "replace", f"{nic.ip}/32", "dev", tap]
        cmds.append(route + (["table", nic.link] if nic.link else []))
    return cmds


def unplumb_commands(tap: str) -> list[list[str]]:
    """Deleting the tap also drops its bridge port and routes."""
    return [["ip", "link", "del", "dev", tap]]


def _in_ns(netns: str | None, argv: list[str]) -> list[str]:
    return ["ip", "netns", "exec", netns, *argv] if netns else argv


async def plumb(nics: list[NicSpec], taps: list[str], netns: str | None = None) -> None:
    """Create and wire every tap; on failure remove what was made."""
    await unplumb(taps, netns)  # a leftover tap from a crashed guest would make `add` fail
    try:
        for nic, tap in zip(nics, taps, strict=True):
            for argv in plumb_commands(nic, tap):
                await run(_in_ns(netns, argv))
    except HypervisorError:
        await unplumb(taps, netns)
        raise


async def unplumb(taps: list[str], netns: str | None = None) -> None:
    """Remove the taps; a missing tap is fine."""
    for tap in taps:
        for argv in unplumb_commands(tap):
            await run(_in_ns(netns, argv), check=False)
