"""NIC and disk hotplug and memory ballooning for running kvm guests, over QMP.

A NIC goes in as a tap (plumbed like a boot-time one, see netplumb) + `netdev_add` + `device_add`;
a disk as `blockdev-add` (the same node description as the command line's) + `device_add`. Taking
one out is `device_del`, then waiting until the guest has let go of the device (QEMU removes it
only once the guest acknowledges the ACPI unplug), then `netdev_del` / `blockdev-del` and the tap.
Every step that fails undoes the ones before it, so a failed hotplug leaves the guest as it was.

The QMP messages are built by pure functions (`nic_add_commands`, `disk_add_commands`), tested
with golden cases. Devices are tracked by the config's uuid in the guest's runtime.json
(`devices`), so a NIC or disk is found whatever its index: boot-time devices keep the ids of the
command line (`nic<N>`, `disk<N>`), hotplugged ones get ids from their uuid (`hnic<uuid8>`).

The map also holds every device's PCI slot (read with `query-pci` at the first hotplug; a hotplugged
device is put in the lowest free slot explicitly). After a hotplug the guest's layout is no longer
what its config's command line would give, so a live migration hands the map to the target
(`layout` in instance_info, `argv.pinned_layout`): QEMU refuses, or hands the guest the wrong
device, when the target's ids or slots differ from the source's.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from backends.kvm import netplumb
from backends.kvm.argv import (
    _CACHE_MODES,
    _DISK_DEVICES,
    _NIC_MODELS,
    FIRST_SLOT,
    LAST_SLOT,
    boot_ids,
    hvparams,
    is_block_device,
)
from gnt.errors import HypervisorError
from gnt.runtime import DiskSpec, InstanceSpec, NicSpec

if TYPE_CHECKING:
    from backends.kvm.driver import KvmBase
    from backends.kvm.qmp import Monitor

__all__ = ["balloon", "disk_add_commands", "hotplug_disk", "hotplug_nic", "nic_add_commands", "unplug"]

MIB = 1024 * 1024
#: how long a guest may take to let go of a device it is asked to release (ACPI unplug)
UNPLUG_TIMEOUT = 30.0
UNPLUG_POLL = 0.1


def device_map(state: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """uuid -> QMP ids (and tap) of every NIC and disk the guest has, boot-time ones from its spec."""
    devices = state.get("devices")
    if devices is not None:
        return devices  # type: ignore[no-any-return]
    spec = state.get("spec") or {}
    taps = state.get("taps") or []
    return {
        "nics": {
            n["uuid"]: {**boot_ids("nics", i), "tap": taps[i] if i < len(taps) else None}
            for i, n in enumerate(spec.get("nics", []))
        },
        "disks": {d["uuid"]: boot_ids("disks", i) for i, d in enumerate(spec.get("disks", []))},
    }


def portable_layout(devices: dict[str, Any]) -> dict[str, Any]:
    """The device map without what belongs to this node (taps): what a migration target needs."""
    layout = {k: v for k, v in devices.items() if k not in ("nics", "disks")}
    for kind in ("nics", "disks"):
        layout[kind] = {u: {k: v for k, v in e.items() if k != "tap"} for u, e in devices.get(kind, {}).items()}
    return layout


async def pin_slots(mon: Monitor, devices: dict[str, Any]) -> int | None:
    """Record the PCI slot of every device in `devices` (and the balloon's, the SCSI controller's) as
    QEMU placed them; the lowest slot nobody uses, for the device about to be plugged (None: full)."""
    buses = await mon.cmd("query-pci")
    placed = [d for bus in buses if bus.get("bus") == 0 for d in bus.get("devices", [])]
    slot_of = {d.get("qdev_id"): d["slot"] for d in placed if d.get("qdev_id")}
    for kind in ("nics", "disks"):
        for entry in devices[kind].values():
            if entry.get("device") in slot_of:
                entry["slot"] = slot_of[entry["device"]]
    devices["balloon"] = slot_of.get("balloon0")
    devices["scsi"] = slot_of.get("scsi0")
    used = {d["slot"] for d in placed}
    return next((slot for slot in range(FIRST_SLOT, LAST_SLOT + 1) if slot not in used), None)


def _slot_arg(slot: int | None) -> dict[str, str]:
    return {"addr": f"{slot:#x}"} if slot is not None else {}


def _short(uuid: str) -> str:
    return uuid.replace("-", "")[:8]


def nic_add_commands(
    spec: InstanceSpec, nic: NicSpec, tap: str, slot: int | None = None
) -> list[tuple[str, dict[str, Any]]]:
    """The QMP commands that plug `nic` (its tap ready) into the guest, in PCI `slot` if given."""
    params = hvparams(spec)
    netdev = {"type": "tap", "id": f"hnic{_short(nic.uuid)}", "ifname": tap, "script": "no", "downscript": "no"}
    if params["vhost_net"]:
        netdev["vhost"] = True
    model = _NIC_MODELS.get(str(params["nic_type"]), str(params["nic_type"]))
    device = {"driver": model, "id": f"hnic{_short(nic.uuid)}-dev", "netdev": netdev["id"], "mac": nic.mac}
    if params["kernel_path"]:
        device["romfile"] = ""  # as on the command line: no PXE option ROM
    return [("netdev_add", netdev), ("device_add", {**device, **_slot_arg(slot)})]


def disk_add_commands(
    spec: InstanceSpec, disk: DiskSpec, path: str, fmt: str, is_block: bool = False, slot: int | None = None
) -> list[tuple[str, dict[str, Any]]]:
    """The QMP commands that plug the disk at `path` into the guest (as the command line would: a
    block device, such as an LV or a DRBD device, through QEMU's `host_device`)."""
    params = hvparams(spec)
    model = _DISK_DEVICES.get(str(params["disk_type"]))
    cache = _CACHE_MODES.get(str(params["disk_cache"]))
    if model is None or cache is None:
        raise HypervisorError(f"unsupported disk_cache {params['disk_cache']!r} or disk_type {params['disk_type']!r}")
    if model == "ide-hd":
        raise HypervisorError("disks of disk_type ide cannot be hotplugged (use paravirtual or scsi)")
    direct, no_flush, write_cache = cache
    ro = disk.mode == "ro"
    node_name = f"hdisk{_short(disk.uuid)}"
    caching = {"direct": direct, "no-flush": no_flush}
    node = {
        "driver": fmt,
        "node-name": node_name,
        "read-only": ro,
        "cache": caching,
        "file": {
            "driver": "host_device" if is_block else "file",
            "filename": path,
            "read-only": ro,
            "cache": dict(caching),
        },
    }
    device: dict[str, Any] = {"driver": model, "id": f"{node_name}-dev", "drive": node_name}
    device["write-cache"] = "on" if write_cache else "off"
    if model == "scsi-hd":
        device["bus"] = "scsi0.0"
    else:
        device.update(_slot_arg(slot))
    return [("blockdev-add", node), ("device_add", device)]


async def _run_all(mon: Monitor, steps: list[tuple[str, dict[str, Any]]], undo: dict[str, tuple[str, dict]]) -> None:
    """Run the steps in order; if one fails, undo those done (newest first) and raise."""
    done: list[str] = []
    try:
        for command, args in steps:
            await mon.cmd(command, args)
            done.append(command)
    except HypervisorError:
        for command in reversed(done):
            if command in undo:
                await mon.try_cmd(*undo[command])
        raise


def _running_state(drv: KvmBase, name: str) -> dict[str, Any]:
    state = drv.load(name)
    if not drv.alive(state):
        raise HypervisorError(f"{name} is not running on this node")
    assert state is not None
    return state


async def hotplug_nic(drv: KvmBase, spec: InstanceSpec, nic: NicSpec) -> None:
    async with drv.lock(spec.name):
        state = _running_state(drv, spec.name)
        devices = device_map(state)
        if nic.uuid in devices["nics"]:
            raise HypervisorError(f"{spec.name} already has NIC {nic.uuid}")
        tap = netplumb.tap_name(drv.run_root, f"{spec.name}/{nic.uuid}", 0)
        await netplumb.plumb([nic], [tap], drv.netns)
        try:
            async with drv.qmp(spec.name) as mon:
                slot = await pin_slots(mon, devices)
                steps = nic_add_commands(spec, nic, tap, slot)
                await _run_all(mon, steps, {"netdev_add": ("netdev_del", {"id": steps[0][1]["id"]})})
        except HypervisorError:
            await netplumb.unplumb([tap], drv.netns)
            raise
        entry = {"netdev": steps[0][1]["id"], "device": steps[1][1]["id"], "tap": tap, "slot": slot}
        devices["nics"][nic.uuid] = entry
        state["devices"] = devices
        state["taps"] = [*state.get("taps", []), tap]  # forget() removes it with the others
        drv.save(spec.name, state)


async def hotplug_disk(drv: KvmBase, spec: InstanceSpec, disk: DiskSpec, path: str) -> None:
    async with drv.lock(spec.name):
        state = _running_state(drv, spec.name)
        devices = device_map(state)
        if disk.uuid in devices["disks"]:
            raise HypervisorError(f"{spec.name} already has disk {disk.uuid}")
        fmt = await drv.disk_format(path, disk.params.get("format"))
        async with drv.qmp(spec.name) as mon:
            slot = await pin_slots(mon, devices)
            steps = disk_add_commands(spec, disk, path, fmt, is_block_device(path), slot)
            node = steps[0][1]["node-name"]
            await _run_all(mon, steps, {"blockdev-add": ("blockdev-del", {"node-name": node})})
        plugged = steps[1][1]
        devices["disks"][disk.uuid] = {
            "node": node,
            "device": plugged["id"],
            "slot": slot if "addr" in plugged else None,
        }
        state["devices"] = devices
        drv.save(spec.name, state)


async def _wait_released(mon: Monitor, name: str, device: str, timeout: float) -> None:
    """Until QEMU no longer lists `device` (the guest acknowledged the unplug)."""
    deadline = time.monotonic() + timeout
    while True:
        present = await mon.cmd("qom-list", {"path": "/machine/peripheral"})
        if not any(p.get("name") == device for p in present):
            return
        if time.monotonic() > deadline:
            raise HypervisorError(
                f"{name}: the guest did not release device {device} within {timeout:.0f}s"
                " (does it handle ACPI PCI hot-unplug?); it stays plugged in"
            )
        await asyncio.sleep(UNPLUG_POLL)


async def unplug(drv: KvmBase, spec: InstanceSpec, kind: str, uuid: str, timeout: float = UNPLUG_TIMEOUT) -> None:
    """Take NIC or disk `uuid` out of the running guest; then its backend (netdev + tap, block node)."""
    async with drv.lock(spec.name):
        state = _running_state(drv, spec.name)
        devices = device_map(state)
        entry = devices[kind].get(uuid)
        if entry is None:
            raise HypervisorError(f"{spec.name} has no {kind[:-1]} {uuid} plugged in")
        async with drv.qmp(spec.name) as mon:
            await pin_slots(mon, devices)  # the others stay where they are: the gap is part of the layout
            await mon.cmd("device_del", {"id": entry["device"]})
            await _wait_released(mon, spec.name, entry["device"], timeout)
            if kind == "nics":
                await mon.try_cmd("netdev_del", {"id": entry["netdev"]})
            else:
                await mon.try_cmd("blockdev-del", {"node-name": entry["node"]})
        if kind == "nics" and entry.get("tap"):
            await netplumb.unplumb([entry["tap"]], drv.netns)
            state["taps"] = [t for t in state.get("taps", []) if t != entry["tap"]]
        del devices[kind][uuid]
        state["devices"] = devices
        drv.save(spec.name, state)


async def balloon(drv: KvmBase, spec: InstanceSpec, memory: int) -> None:
    """Ask the guest's balloon for `memory` MiB; remembered as the guest's runtime memory."""
    async with drv.lock(spec.name):
        state = _running_state(drv, spec.name)
        async with drv.qmp(spec.name) as mon:
            await mon.cmd("balloon", {"value": memory * MIB})
        state["runtime_memory"] = memory
        drv.save(spec.name, state)
