"""The node's RPC procedures: each takes the JSON arguments and returns a JSON-ready result.

Handlers translate between wire records and the drivers in `backends/` and `storage/`; the
decisions (which node, which disk, when) are the master's.
"""

from __future__ import annotations

import asyncio
import os
import platform
import time
from collections.abc import Awaitable, Callable
from typing import Any

import backends
import storage
from gnt import PROTOCOL_VERSION, __version__, paths
from gnt import serial as ser
from gnt.errors import HypervisorError
from gnt.runtime import DiskSpec, InstanceSpec, MigrationPhase

Handler = Callable[[dict[str, Any]], Awaitable[Any]]
LOCAL_STATUS_INTERVAL = 0.005
HANDLERS: dict[str, Handler] = {}


def procedure(fn: Handler) -> Handler:
    HANDLERS[fn.__name__.removeprefix("rpc_")] = fn
    return fn


def _spec(args: dict[str, Any]) -> InstanceSpec:
    return ser.from_dict(InstanceSpec, args["instance"])


#: disks that live on one node only; an incoming live migration brings their data along
LOCAL_DISKS = ("file",)


async def _assemble_disks(spec: InstanceSpec, incoming: bool = False) -> None:
    """Open the instance's disks here; on a migration target, local disks do not exist yet."""
    for disk in spec.disks:
        if incoming and disk.dev_type in LOCAL_DISKS:
            disk.path = None  # the hypervisor creates and fills it from the source
            continue
        disk.path = await storage.get(disk.dev_type).assemble(disk, spec.name)


async def warm_up() -> None:
    """Run slow one-off probes (KVM acceleration) at start-up instead of in the first job."""
    try:
        with open(paths.ssconf_file("hypervisor_list")) as handle:
            enabled = handle.read().split()
    except OSError:
        return
    if "kvm" in enabled:
        hv = backends.get("kvm")
        probe = getattr(hv, "accel_info", None)
        if probe is not None:
            await probe()


# -- node -------------------------------------------------------------------------------------


@procedure
async def rpc_version(args: dict[str, Any]) -> dict[str, Any]:
    return {"protocol": PROTOCOL_VERSION, "version": __version__, "node": paths.hostname()}


@procedure
async def rpc_node_info(args: dict[str, Any]) -> dict[str, Any]:
    from storage.file import storage_usage

    info: dict[str, Any] = {"hv": {}, "storage": [], "bootid": _boot_id()}
    for name in args.get("hypervisors", []):
        info["hv"][name] = await backends.get(name).node_info()
    for path in args.get("storage_dirs", []):
        local = paths.localize(path)
        os.makedirs(local, exist_ok=True)
        info["storage"].append({"type": "file", "name": path, **storage_usage(local)})
    info["cpu_total"] = os.cpu_count() or 1
    info["arch"] = platform.machine()
    return info


def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as handle:
            return handle.read().strip()
    except OSError:
        return ""


@procedure
async def rpc_node_verify(args: dict[str, Any]) -> dict[str, Any]:
    """Facts the master compares against the config in `gnt-cluster verify`."""
    from storage.file import list_disk_files

    result: dict[str, Any] = {"node": paths.hostname(), "version": PROTOCOL_VERSION, "time": time.time()}
    result["hypervisors"] = {}
    for name in args.get("hypervisors", []):
        hv = backends.get(name)
        result["hypervisors"][name] = {
            "problems": await hv.verify(),
            "instances": {k: str(v.state) for k, v in (await hv.all_instances_info()).items()},
        }
    dirs = [paths.localize(d) for d in args.get("storage_dirs", [])]
    result["disk_files"] = await asyncio.to_thread(list_disk_files, dirs)
    result["ssconf"] = _read_ssconf()
    return result


def _read_ssconf() -> dict[str, str]:
    values = {}
    directory = paths.ssconf_dir()
    if os.path.isdir(directory):
        for entry in os.listdir(directory):
            if entry.startswith("ssconf_"):
                with open(os.path.join(directory, entry)) as handle:
                    values[entry.removeprefix("ssconf_")] = handle.read()
    return values


@procedure
async def rpc_ssconf_write(args: dict[str, Any]) -> None:
    directory = paths.ensure_dir(paths.ssconf_dir())
    for key, value in args["values"].items():
        target = os.path.join(directory, f"ssconf_{key}")
        tmp = f"{target}.tmp"
        with open(tmp, "w") as handle:
            handle.write(value)
        os.replace(tmp, target)


@procedure
async def rpc_test_delay(args: dict[str, Any]) -> None:
    await asyncio.sleep(float(args["duration"]))


# -- instances --------------------------------------------------------------------------------


@procedure
async def rpc_instance_list(args: dict[str, Any]) -> list[str]:
    names: list[str] = []
    for hv in args.get("hypervisors", []):
        names.extend(await backends.get(hv).list_instances())
    return names


@procedure
async def rpc_all_instances_info(args: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for hv in args.get("hypervisors", []):
        for name, info in (await backends.get(hv).all_instances_info()).items():
            result[name] = ser.to_dict(info) | {"hypervisor": hv}
    return result


@procedure
async def rpc_instance_info(args: dict[str, Any]) -> dict[str, Any] | None:
    info = await backends.get(args["hypervisor"]).instance_info(args["name"])
    return ser.to_dict(info) if info else None


@procedure
async def rpc_instance_start(args: dict[str, Any]) -> None:
    spec = _spec(args)
    hv = backends.get(spec.hypervisor)
    current = await hv.instance_info(spec.name)
    if current is not None and str(current.state) in ("running", "paused"):
        return  # already running: starting is idempotent, as in Ganeti
    if current is not None:
        await hv.cleanup(spec.name)
    await _assemble_disks(spec)
    await hv.start(spec, paused=bool(args.get("paused", False)))


@procedure
async def rpc_instance_shutdown(args: dict[str, Any]) -> None:
    spec = _spec(args)
    hv = backends.get(spec.hypervisor)
    await hv.stop(spec, float(args.get("timeout", 120)), force=bool(args.get("force", False)))
    if await hv.instance_info(spec.name) is not None:
        await hv.cleanup(spec.name)


@procedure
async def rpc_instance_reboot(args: dict[str, Any]) -> None:
    spec = _spec(args)
    hv = backends.get(spec.hypervisor)
    reboot_type = args.get("reboot_type", "hard")
    if reboot_type == "full":
        await hv.stop(spec, float(args.get("shutdown_timeout", 120)))
        await hv.cleanup(spec.name)
        await _assemble_disks(spec)
        await hv.start(spec)
        return
    await hv.reboot(spec, hard=reboot_type == "hard")


@procedure
async def rpc_instance_cleanup(args: dict[str, Any]) -> None:
    await backends.get(args["hypervisor"]).cleanup(args["name"])


@procedure
async def rpc_instance_console(args: dict[str, Any]) -> dict[str, Any]:
    spec = _spec(args)
    try:
        argv = backends.get(spec.hypervisor).console_command(spec)
    except NotImplementedError as err:
        raise HypervisorError(f"Hypervisor {spec.hypervisor} has no console") from err
    return {"kind": "ssh", "command": argv, "node": paths.hostname()}


# -- migration --------------------------------------------------------------------------------


@procedure
async def rpc_accept_instance(args: dict[str, Any]) -> dict[str, Any]:
    spec = _spec(args)
    await _assemble_disks(spec, incoming=True)
    return await backends.get(spec.hypervisor).accept_instance(spec, args["target_address"])


@procedure
async def rpc_migrate_instance(args: dict[str, Any]) -> None:
    spec = _spec(args)
    await _assemble_disks(spec)
    hv = backends.get(spec.hypervisor)
    await hv.migrate_instance(spec, args["target_address"], args["info"], bool(args.get("live", True)))


@procedure
async def rpc_migration_status(args: dict[str, Any]) -> dict[str, Any]:
    """Status of an outgoing migration; with `wait`, answer as soon as it ends (or after `wait` s).

    Asking the hypervisor locally every few ms is cheap; a master polling over RPC would learn of
    the end up to a whole poll interval late, and that is guest-visible orchestration time.
    """
    spec = _spec(args)
    hv = backends.get(spec.hypervisor)
    deadline = time.monotonic() + min(float(args.get("wait", 0)), 5.0)
    while True:
        status = await hv.migration_status(spec)
        if status.phase != MigrationPhase.ACTIVE or time.monotonic() >= deadline:
            return ser.to_dict(status)
        await asyncio.sleep(LOCAL_STATUS_INTERVAL)


@procedure
async def rpc_abort_migration(args: dict[str, Any]) -> None:
    spec = _spec(args)
    await backends.get(spec.hypervisor).abort_migration(spec)


@procedure
async def rpc_finalize_migration_dst(args: dict[str, Any]) -> None:
    spec = _spec(args)
    for disk in spec.disks:
        if disk.dev_type in LOCAL_DISKS:
            disk.path = None
    hv = backends.get(spec.hypervisor)
    await hv.finalize_migration_dst(spec, args.get("info", {}), bool(args["success"]))


@procedure
async def rpc_finalize_migration_src(args: dict[str, Any]) -> None:
    spec = _spec(args)
    await backends.get(spec.hypervisor).finalize_migration_src(spec, bool(args["success"]))


# -- block devices ------------------------------------------------------------------------------


def _disk(args: dict[str, Any]) -> DiskSpec:
    return ser.from_dict(DiskSpec, args["disk"])


@procedure
async def rpc_blockdev_create(args: dict[str, Any]) -> str:
    disk = _disk(args)
    return await storage.get(disk.dev_type).create(disk, args.get("instance_name", ""))


@procedure
async def rpc_blockdev_remove(args: dict[str, Any]) -> None:
    disk = _disk(args)
    await storage.get(disk.dev_type).remove(disk)


@procedure
async def rpc_blockdev_assemble(args: dict[str, Any]) -> str | None:
    disk = _disk(args)
    return await storage.get(disk.dev_type).assemble(disk, args.get("instance_name", ""))


@procedure
async def rpc_blockdev_shutdown(args: dict[str, Any]) -> None:
    disk = _disk(args)
    await storage.get(disk.dev_type).shutdown(disk)


@procedure
async def rpc_blockdev_grow(args: dict[str, Any]) -> None:
    disk = _disk(args)
    await storage.get(disk.dev_type).grow(disk, int(args["amount"]))


@procedure
async def rpc_blockdev_info(args: dict[str, Any]) -> list[dict[str, Any]]:
    disks = [ser.from_dict(DiskSpec, d) for d in args["disks"]]
    return [ser.to_dict(await storage.get(d.dev_type).info(d)) for d in disks]


# -- OS definitions -----------------------------------------------------------------------------


@procedure
async def rpc_os_diagnose(args: dict[str, Any]) -> list[dict[str, Any]]:
    from agent import os_scripts

    return await os_scripts.diagnose(paths.os_search_path())


@procedure
async def rpc_instance_os_add(args: dict[str, Any]) -> None:
    from agent import os_scripts

    spec = _spec(args)
    await _assemble_disks(spec)
    await os_scripts.run_create(
        spec.os,
        spec,
        [d.path or "" for d in spec.disks],
        paths.os_search_path(),
        paths.ensure_dir(os.path.join(paths.log_dir(), "os")),
        reinstall=bool(args.get("reinstall", False)),
    )


@procedure
async def rpc_os_validate(args: dict[str, Any]) -> None:
    from agent import os_scripts

    os_scripts.find_os(args["name"], paths.os_search_path())
