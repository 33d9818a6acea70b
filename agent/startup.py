"""What a node daemon checks when it starts: guests the config has moved elsewhere are stopped.

A node that was down while its instances were failed over comes back with their old guests still
running (a node daemon restart, or a network partition, does not stop guests). The config now
places them on another node, where they run too. Local state cannot tell a stale guest from a
good one, so the daemon asks the cluster: every other node holding a config copy (the master and
the master candidates named in ssconf) answers `config_placement` from its copy, and the newest
answer (highest serial) wins; every commit reaches the candidates before its job succeeds, so that
answer is the current placement.

Only guests running before this daemon began serving are judged (nothing can have been started or
migrated here by then), and one is stopped only when that config places it on another node. If no
other node answers, nothing is stopped and the check is retried later. Guests the config does not
know, or places here, are never touched (`gnt-cluster verify` reports the unknown ones).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import backends
from gnt import constants, paths, ssconf
from gnt.runtime import InstanceSpec

__all__ = ["Placement", "local_guests", "newest_placement", "stop_moved_guests", "stale_guests"]

log = logging.getLogger("gnt-noded")
RETRY_INTERVAL = 5.0
RETRY_MAX_INTERVAL = 60.0
STOP_TIMEOUT = 30.0
LIST_TIMEOUT = 30.0
LIVE_STATES = ("running", "paused")


@dataclass
class Placement:
    """The newest answer: which config copy (node, serial) and where it places each instance."""

    source: str
    serial: int
    instances: dict[str, dict[str, Any]]


async def local_guests() -> dict[str, str]:
    """Guests that live on this node now: name -> hypervisor.

    Runs before the daemon serves, so a driver that hangs is given up on (and its guests not judged)
    rather than keeping the node off the cluster.
    """
    found: dict[str, str] = {}
    for hv_name in ssconf.read("hypervisor_list").split():
        try:
            infos = await asyncio.wait_for(backends.get(hv_name).all_instances_info(), LIST_TIMEOUT)
        except Exception as err:  # noqa: BLE001 - one broken driver must not stop the check of the others
            log.warning("start-up check: cannot list %s guests: %s", hv_name, err)
            continue
        for name, info in infos.items():
            if str(info.state) in LIVE_STATES:
                found[name] = hv_name
    return found


def _config_holders(me: str) -> dict[str, str]:
    """Other nodes that hold a config copy (master first), name -> address, from ssconf."""
    addresses = dict(line.split(None, 1) for line in ssconf.read("node_primary_ips").splitlines() if " " in line)
    names = [ssconf.read("master_node"), *ssconf.read("master_candidates").split()]
    return {n: addresses[n] for n in dict.fromkeys(names) if n and n != me and n in addresses}


def newest_placement(results: dict[str, Any]) -> Placement | None:
    """The answer with the highest serial among the nodes that answered with a config copy."""
    best: Placement | None = None
    for name, result in sorted(results.items()):
        if result.failed or not result.payload:
            continue
        data = result.payload
        if best is None or int(data["serial"]) > best.serial:
            best = Placement(name, int(data["serial"]), dict(data.get("instances", {})))
    return best


def stale_guests(guests: dict[str, str], placement: Placement, me: str) -> dict[str, str]:
    """Guests (name -> primary node) that the config places on a node other than this one."""
    stale = {}
    for name in guests:
        where = placement.instances.get(name)
        if where and where.get("primary_node") and where["primary_node"] != me:
            stale[name] = where["primary_node"]
    return stale


async def ask_config_holders(me: str, procedure: Any, args: Any, what: str) -> dict[str, Any] | None:
    """Ask the master and the master candidates (ssconf's list, `me` left out) one node procedure
    each, at once; their answers by node name, or None when there is nobody to ask. A node that does
    not answer is logged (under `what`) and left to the caller's "newest copy wins" rule."""
    from gnt.rpc.client import RpcClient, Target

    holders = _config_holders(me)
    if not holders or not ssconf.read("cluster_name"):
        return None
    port = int(ssconf.read("noded_port") or constants.DEFAULT_NODED_PORT)
    rpc = RpcClient.https(paths.cluster_cert(), port)
    try:
        results = await rpc.call_many([Target(n, a) for n, a in holders.items()], procedure, args)
    finally:
        await rpc.close()
    for name, result in sorted(results.items()):
        if result.failed:
            log.info("%s: %s did not answer: %s", what, name, result.error)
    return results


async def _ask(names: list[str]) -> Placement | None:
    from gnt.rpc import procedures as proc

    args = proc.ConfigPlacementArgs(names)
    results = await ask_config_holders(paths.hostname(), proc.CONFIG_PLACEMENT, args, "start-up check")
    return None if results is None else newest_placement(results)


async def _stop(name: str, hv_name: str, elsewhere: str, placement: Placement) -> None:
    hv = backends.get(hv_name)
    info = await hv.instance_info(name)
    if info is None or str(info.state) not in LIVE_STATES:
        return
    log.warning(
        "stopping instance %s: the config (serial %d, as held by %s) places it on node %s, not here",
        name, placement.serial, placement.source, elsewhere,
    )  # fmt: skip
    spec = InstanceSpec(name=name, uuid="", hypervisor=hv_name, memory=0, vcpus=0)
    await hv.stop(spec, STOP_TIMEOUT, force=True)  # a duplicate: no clean shutdown, it must not write on
    if await hv.instance_info(name) is not None:
        await hv.cleanup(name)


async def stop_moved_guests(guests: dict[str, str]) -> list[str]:
    """Stop, among `guests` (listed before serving), those the config places elsewhere.

    Retries until some other node answers; returns the names stopped.
    """
    if not guests:
        return []
    delay = RETRY_INTERVAL
    while True:
        try:
            placement = await _ask(sorted(guests))
        except Exception as err:  # noqa: BLE001 - retried: the cluster may still be coming up
            log.warning("start-up check: asking for the config failed: %s", err)
            placement = None
        if placement is not None:
            break
        log.info("start-up check: no other node holding the config answered; retrying in %gs", delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, RETRY_MAX_INTERVAL)
    stale = stale_guests(guests, placement, paths.hostname())
    stopped = []
    for name, elsewhere in sorted(stale.items()):
        try:
            await _stop(name, guests[name], elsewhere, placement)
            stopped.append(name)
        except Exception as err:  # noqa: BLE001 - logged; the other guests are still checked
            log.error("start-up check: could not stop instance %s: %s", name, err)
    log.info(
        "start-up check done (config serial %d from %s): %d guest(s) checked, %d stopped",
        placement.serial, placement.source, len(guests), len(stopped),
    )  # fmt: skip
    return stopped
