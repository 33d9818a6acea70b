"""The one hypervisor interface every driver implements.

All methods are coroutines: drivers run inside the node daemon's event loop and must not block it
(use asyncio subprocesses or `asyncio.to_thread`). Runtime state lives on the node (under
`gnt.paths.instance_run_dir(name)`), so a restarted node daemon finds the guests it left running.

Live migration is split in the same steps for every driver, driven by the master:

1. target `accept_instance(spec)` -> info (e.g. a port), the target waits for the incoming guest;
2. source `migrate_instance(spec, target_address, info, live)` starts sending and returns at once;
3. the master polls source `migration_status(spec)` until the phase is final (it logs progress);
   `abort_migration(spec)` cancels, the source keeps running;
4. `finalize_migration_dst(spec, info, success)` on the target, then
   `finalize_migration_src(spec, success)` on the source.
"""

from __future__ import annotations

import abc
import asyncio
import os
from typing import Any

from gnt import paths
from gnt.errors import HypervisorError
from gnt.runtime import DiskSpec, InstanceRuntime, InstanceSpec, MigrationStatus, NicSpec

#: how often the node daemon asks a driver without an end event whether a migration ended (s)
MIGRATION_POLL = 0.005


class Hypervisor(abc.ABC):
    """A node's driver for one hypervisor type."""

    name: str = ""

    def disk_path(self, disk: DiskSpec) -> str:
        """The node-local path of a disk: `path` when the node filled it in, else the logical id's path."""
        if disk.path:
            return disk.path
        if disk.logical_id:
            return paths.localize(disk.logical_id[-1])
        raise HypervisorError(f"disk {disk.index} ({disk.uuid}) has no path on this node")

    # -- the host --------------------------------------------------------------------------
    def powercycle(self) -> None:
        """Hard-reboot the host now (Ganeti's LinuxPowercycle): sync, then sysrq 'b'; never returns.

        Refused on a virtual node: there the "host" is the node daemon, which the agent restarts
        instead (`agent.powercycle`), so no test can reboot the machine it runs on.
        """
        if paths.is_virtual():
            raise HypervisorError("refusing to reboot the real host from a virtual node")
        os.sync()
        try:
            with open("/proc/sysrq-trigger", "w") as trigger:
                trigger.write("b")
        except OSError as err:
            raise HypervisorError(f"Could not reboot through /proc/sysrq-trigger: {err}") from err

    async def kill_all_guests(self) -> None:  # noqa: B027 - optional: a driver without guests to kill
        """What a power cut does to this node's guests (a virtual node's powercycle); by default nothing."""

    # -- lifecycle --------------------------------------------------------------------------
    @abc.abstractmethod
    async def start(self, spec: InstanceSpec, paused: bool = False) -> None:
        """Start the guest; raises HypervisorError if it cannot (e.g. not enough memory)."""

    @abc.abstractmethod
    async def stop(self, spec: InstanceSpec, timeout: float, force: bool = False) -> None:
        """Shut the guest down cleanly within `timeout` seconds, then hard; `force` skips clean."""

    @abc.abstractmethod
    async def reboot(self, spec: InstanceSpec, hard: bool = False) -> None:
        """Soft (guest) or hard (fresh process) reboot."""

    @abc.abstractmethod
    async def list_instances(self) -> list[str]:
        """Names of the guests this driver holds on this node, running or not yet cleaned up."""

    @abc.abstractmethod
    async def instance_info(self, name: str) -> InstanceRuntime | None:
        """Live state of one guest, or None if the node does not know it."""

    async def all_instances_info(self) -> dict[str, InstanceRuntime]:
        result = {}
        for name in await self.list_instances():
            info = await self.instance_info(name)
            if info is not None:
                result[name] = info
        return result

    async def running_disks(self, name: str) -> list[DiskSpec]:
        """The disks guest `name` was started with, as the driver recorded them (the watcher's
        node-health pass deactivates them after stopping a guest the config no longer lets run
        here); [] when the driver keeps no record."""
        return []

    @abc.abstractmethod
    async def cleanup(self, name: str) -> None:
        """Forget a guest that is no longer running (crashed or user shut down): remove its state."""

    @abc.abstractmethod
    async def node_info(self) -> dict[str, Any]:
        """memory_total, memory_free, memory_dom0 (MiB), cpu_total, and driver-specific keys."""

    async def verify(self) -> list[str]:
        """Problems with this hypervisor on this node (empty list when healthy)."""
        return []

    async def version(self) -> str:
        """The hypervisor's version here ("" when it has none worth comparing), for verify's
        across-nodes check: a live migration between different versions may fail."""
        return ""

    def console_command(self, spec: InstanceSpec) -> list[str]:
        """argv that attaches a terminal to the guest's serial console on this node."""
        raise NotImplementedError

    # -- migration --------------------------------------------------------------------------
    @abc.abstractmethod
    async def accept_instance(self, spec: InstanceSpec, target_address: str) -> dict[str, Any]:
        """Target: get ready to receive the guest; returns what the source needs to connect."""

    @abc.abstractmethod
    async def migrate_instance(self, spec: InstanceSpec, target_address: str, info: dict[str, Any], live: bool) -> None:
        """Source: start sending the guest; returns once the transfer has started."""

    @abc.abstractmethod
    async def migration_status(self, spec: InstanceSpec) -> MigrationStatus:
        """Source: progress of the outgoing migration."""

    async def wait_migration(self, spec: InstanceSpec, timeout: float) -> None:
        """Source: return when the outgoing migration may have ended, at the latest after `timeout`.

        The node daemon asks `migration_status` after each return, so returning early is always
        safe. The default waits a few ms (the daemon polls); a driver to which the end is an event
        (a process exit) waits for that instead and leaves the node's CPU to the transfer.
        """
        await asyncio.sleep(min(timeout, MIGRATION_POLL))

    @abc.abstractmethod
    async def abort_migration(self, spec: InstanceSpec) -> None:
        """Source: cancel the outgoing migration; the guest keeps running here."""

    @abc.abstractmethod
    async def finalize_migration_dst(self, spec: InstanceSpec, info: dict[str, Any], success: bool) -> None:
        """Target: on success resume the guest, on failure destroy the half-received copy."""

    @abc.abstractmethod
    async def finalize_migration_src(self, spec: InstanceSpec, success: bool) -> None:
        """Source: on success clean up the old copy, on failure make sure the guest runs."""

    # -- disks of a running guest -------------------------------------------------------------
    async def resize_disk(self, spec: InstanceSpec, index: int, size: int) -> None:
        """Tell the running guest that disk `index` is now `size` MiB (grow-disk). Only drivers whose
        `gnt.disktypes.HYPERVISOR_CAPS` entry says `resizes_disks_online` implement it."""
        raise HypervisorError(f"Hypervisor {self.name} cannot resize a disk of a running instance")

    # -- devices and memory of a running guest (gnt-instance modify --hotplug / -m) -------------
    async def hotplug_nic(self, spec: InstanceSpec, nic: NicSpec) -> None:
        """Plug `nic` into the running guest; on failure nothing of it is left (no tap, no device).
        Only drivers whose `gnt.disktypes.HYPERVISOR_CAPS` entry says `hotplug` implement these."""
        raise HypervisorError(f"Hypervisor {self.name} does not support hotplug")

    async def unplug_nic(self, spec: InstanceSpec, nic: NicSpec) -> None:
        """Take `nic` (found by uuid) out of the running guest, and its host side (tap) with it."""
        raise HypervisorError(f"Hypervisor {self.name} does not support hotplug")

    async def hotplug_disk(self, spec: InstanceSpec, disk: DiskSpec, path: str) -> None:
        """Plug the disk at node path `path` into the running guest; on failure nothing is left."""
        raise HypervisorError(f"Hypervisor {self.name} does not support hotplug")

    async def unplug_disk(self, spec: InstanceSpec, disk: DiskSpec) -> None:
        """Take the disk (found by uuid) out of the running guest; its storage stays."""
        raise HypervisorError(f"Hypervisor {self.name} does not support hotplug")

    async def balloon_memory(self, spec: InstanceSpec, memory: int) -> None:
        """Set the running guest's memory to `memory` MiB; `instance_info` reports it from then on."""
        raise HypervisorError(f"Hypervisor {self.name} cannot change the memory of a running instance")
