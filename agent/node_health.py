"""The watcher's node-health pass (Ganeti's `maintain_node_health`): a node the config marks offline
stops the guests it still runs and deactivates their disks.

An offline node is one the master no longer talks to: its instances were failed over or are to be
started elsewhere, so a guest still running here is a duplicate waiting to write on disks another
node now uses. Ganeti's watcher asks confd for the node's role and, for an offline node, stops every
guest its hypervisors list and shuts down every DRBD device. Here the node asks the nodes holding a
config copy (the master and the master candidates its ssconf names, as `agent.startup` does) with
`config_node_role`; the newest answer (highest serial) decides, since every commit reaches the
candidates before its job succeeds. The node's own ssconf cannot: the master stops updating an
offline node's files, so they still say what was true before.

Kept safe: nothing happens unless a config copy answered, knows this node, marks it offline and
has `maintain_node_health` on; only guests a hypervisor reports running (or paused) are stopped,
and only the disks those guests were started with are deactivated. A node whose peers do not
answer does nothing (it cannot tell an offline mark from a network split).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import backends
import storage
from agent.startup import ask_config_holders, local_guests
from gnt import paths, ssconf
from gnt.runtime import InstanceSpec

__all__ = ["Verdict", "newest_verdict", "run_pass", "stop_guests"]

log = logging.getLogger("gnt-watcher")
STOP_TIMEOUT = 30.0


@dataclass
class Verdict:
    """The newest config copy's word on this node."""

    source: str
    serial: int
    known: bool
    offline: bool
    maintain: bool

    @property
    def must_clean(self) -> bool:
        return self.known and self.offline and self.maintain


@dataclass
class Outcome:
    """What one pass did: `verdict` None when no config copy answered (or nothing ran here)."""

    verdict: Verdict | None = None
    stopped: list[str] = field(default_factory=list)
    deactivated: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def newest_verdict(results: dict[str, Any]) -> Verdict | None:
    """The answer with the highest serial among the nodes that answered with a config copy."""
    best: Verdict | None = None
    for name, result in sorted(results.items()):
        if result.failed or not result.payload:
            continue
        data = result.payload
        serial = int(data.get("serial", 0))
        if best is None or serial > best.serial:
            best = Verdict(
                source=name,
                serial=serial,
                known=bool(data.get("known")),
                offline=bool(data.get("offline")),
                maintain=bool(data.get("maintain_node_health")),
            )
    return best


async def ask(me: str) -> Verdict | None:
    """This node's role by the newest config copy of the master and the candidates (None: no answer)."""
    from gnt.rpc import procedures as proc

    results = await ask_config_holders(me, proc.CONFIG_NODE_ROLE, proc.ConfigNodeRoleArgs(me), "node health")
    return None if results is None else newest_verdict(results)


async def stop_guests(guests: dict[str, str], outcome: Outcome) -> None:
    """Stop each guest (name -> hypervisor) that still runs, then shut down the disks it ran on."""
    for name, hv_name in sorted(guests.items()):
        hv = backends.get(hv_name)
        try:
            info = await hv.instance_info(name)
            if info is None or str(info.state) not in ("running", "paused"):
                continue
            disks = await hv.running_disks(name)  # read first: stopping forgets the guest's record
            spec = InstanceSpec(name=name, uuid="", hypervisor=hv_name, memory=0, vcpus=0)
            await hv.stop(spec, STOP_TIMEOUT, force=True)  # Ganeti's: forced, the node is out of the cluster
            if await hv.instance_info(name) is not None:
                await hv.cleanup(name)
            outcome.stopped.append(name)
        except Exception as err:  # noqa: BLE001 - reported; the other guests are still handled
            outcome.errors.append(f"stopping instance {name}: {err}")
            continue
        for disk in disks:
            try:
                await storage.get(disk.dev_type).shutdown(disk)
                outcome.deactivated.append(f"{name}/disk{disk.index}")
            except Exception as err:  # noqa: BLE001 - reported; the other disks are still handled
                outcome.errors.append(f"deactivating disk {disk.index} of {name}: {err}")


async def run_pass() -> Outcome:
    """One node-health pass on this (non-master) node."""
    outcome = Outcome()
    me = paths.hostname()
    if ssconf.read("master_node") == me:
        return outcome  # the master is never offline
    guests = await local_guests()
    if not guests:
        return outcome  # nothing that could need stopping: no need to ask anyone
    try:
        outcome.verdict = await ask(me)
    except Exception as err:  # noqa: BLE001 - as no answer: a node that cannot ask does nothing
        log.warning("node health: cannot ask the config holders: %s", err)
        return outcome
    if outcome.verdict is None or not outcome.verdict.must_clean:
        return outcome
    log.warning(
        "node %s is offline (config serial %d, as held by %s): stopping instances %s",
        me, outcome.verdict.serial, outcome.verdict.source, ", ".join(sorted(guests)),
    )  # fmt: skip
    await stop_guests(guests, outcome)
    return outcome
