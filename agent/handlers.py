"""The node's RPC procedures: each takes its declared, already checked argument record
(gnt.rpc.procedures; see agent.dispatcher) and returns a JSON-ready result.

Handlers translate between records and the drivers in `backends/` and `storage/`; the decisions
(which node, which disk, when) are the master's. What a disk is (local, shared) is asked of its
storage driver.
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
from gnt import PROTOCOL_VERSION, __version__, confine, durable, paths
from gnt import serial as ser
from gnt.errors import GntError, HypervisorError, StorageError
from gnt.rpc import procedures as proc
from gnt.rpc.procedures import Procedure
from gnt.runtime import InstanceSpec, MigrationPhase

Handler = Callable[[Any], Awaitable[Any]]
#: the maximum a migration_status call waits on the node before answering
STATUS_WAIT_MAX = 5.0
HANDLERS: dict[str, Handler] = {}


def handles(declaration: Procedure[Any]) -> Callable[[Handler], Handler]:
    """Register the handler of one declared procedure."""

    def register(fn: Handler) -> Handler:
        HANDLERS[declaration.name] = fn
        return fn

    return register


def _is_local(dev_type: str) -> bool:
    return storage.get(dev_type).kind.is_local


async def _assemble_disks(spec: InstanceSpec, incoming: bool = False) -> None:
    """Open the instance's disks here; on a migration target, local disks do not exist yet."""
    for disk in spec.disks:
        if incoming and _is_local(disk.dev_type):
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


@handles(proc.VERSION)
async def version(args: proc.NoArgs) -> dict[str, Any]:
    return {"protocol": PROTOCOL_VERSION, "version": __version__, "node": paths.hostname()}


@handles(proc.NODE_INFO)
async def node_info(args: proc.NodeInfoArgs) -> dict[str, Any]:
    from storage.file import storage_usage

    info: dict[str, Any] = {"hv": {}, "storage": [], "bootid": _boot_id()}
    for name in args.hypervisors:
        info["hv"][name] = await backends.get(name).node_info()
    for path in args.storage_dirs:
        local = confine.storage_path(path, "storage directory")
        os.makedirs(local, exist_ok=True)
        info["storage"].append({"type": "file", "name": path, **storage_usage(local)})
    if args.vg_names:
        info["storage"].extend(await _plain().vg_usage(list(args.vg_names)))
    info["cpu_total"] = os.cpu_count() or 1
    info["arch"] = platform.machine()
    return info


def _plain() -> Any:
    """The LVM driver, for node-wide facts (volume group usage, the LVs of a VG)."""
    return storage.get("plain")


def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as handle:
            return handle.read().strip()
    except OSError:
        return ""


@handles(proc.NODE_VERIFY)
async def node_verify(args: proc.NodeInfoArgs) -> dict[str, Any]:
    """Facts the master compares against the config in `gnt-cluster verify`."""
    from storage.file import list_disk_files

    result: dict[str, Any] = {"node": paths.hostname(), "version": PROTOCOL_VERSION, "time": time.time()}
    result["hypervisors"] = {}
    for name in args.hypervisors:
        hv = backends.get(name)
        result["hypervisors"][name] = {
            "problems": await hv.verify(),
            "version": await hv.version(),
            "instances": {k: str(v.state) for k, v in (await hv.all_instances_info()).items()},
        }
    result["disk_files"] = await asyncio.to_thread(list_disk_files, list(args.storage_dirs))
    if args.vg_names:
        try:
            result["volumes"] = await _plain().volumes(list(args.vg_names))
        except StorageError as err:  # no lvm2, a hung PV: verify reports it for this node
            result["volumes_error"] = str(err)
    result["ssconf"] = _read_ssconf()
    result["node_cert"] = await asyncio.to_thread(_node_cert_facts)
    mip = await _master_ip_facts()
    if mip is not None:
        result["master_ip"] = mip
    if args.drbd:
        from storage.drbd import usermode_helper

        try:
            result["drbd_helper"] = usermode_helper()
        except StorageError as err:
            result["drbd_helper_error"] = str(err)
    return result


def _node_cert_facts() -> dict[str, Any] | None:
    """This node's certificate as `gnt-cluster verify` checks it (ENODESSL): digest, subject, end, problems; no key."""
    from gnt import node_certs

    try:
        with open(paths.cluster_cert(), "rb") as handle:
            return node_certs.inspect(handle.read()).to_dict()
    except (OSError, ValueError) as err:
        return {"digest": "", "subject": "", "not_after": 0.0, "problems": [f"cannot be read: {err}"]}


async def _master_ip_facts() -> dict[str, Any] | None:
    """Whether this node holds the master IP, when the cluster has one (ENODENET); None: no master netdev."""
    from agent import master_ip

    setting = master_ip.read_setting()
    if not setting.address:
        return None
    facts: dict[str, Any] = {"address": setting.address, "netdev": setting.netdev, "present": None}
    if setting.external_script:
        return facts
    try:
        facts["present"] = await master_ip.is_present(setting)
    except GntError as err:
        return {"error": str(err)}
    return facts


def _read_ssconf() -> dict[str, str]:
    values = {}
    directory = paths.ssconf_dir()
    if os.path.isdir(directory):
        for entry in os.listdir(directory):
            if entry.startswith("ssconf_"):
                with open(os.path.join(directory, entry)) as handle:
                    values[entry.removeprefix("ssconf_")] = handle.read()
    return values


@handles(proc.SSCONF_WRITE)
async def ssconf_write(args: proc.SsconfWriteArgs) -> None:
    """Write ssconf files; every key is checked before anything is written (all or nothing)."""
    for key in args.values:
        confine.check_ssconf_key(key)
    directory = paths.ensure_dir(paths.ssconf_dir())
    for key, value in args.values.items():
        durable.write_file(os.path.join(directory, f"ssconf_{key}"), value)


@handles(proc.TEST_DELAY)
async def test_delay(args: proc.TestDelayArgs) -> None:
    await asyncio.sleep(max(args.duration, 0.0))


# -- instances --------------------------------------------------------------------------------


@handles(proc.INSTANCE_LIST)
async def instance_list(args: proc.HypervisorsArgs) -> list[str]:
    names: list[str] = []
    for hv in args.hypervisors:
        names.extend(await backends.get(hv).list_instances())
    return names


@handles(proc.ALL_INSTANCES_INFO)
async def all_instances_info(args: proc.HypervisorsArgs) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for hv in args.hypervisors:
        for name, info in (await backends.get(hv).all_instances_info()).items():
            result[name] = ser.to_dict(info) | {"hypervisor": hv}
    return result


@handles(proc.INSTANCE_INFO)
async def instance_info(args: proc.InstanceQueryArgs) -> dict[str, Any] | None:
    info = await backends.get(args.hypervisor).instance_info(args.name)
    return ser.to_dict(info) if info else None


@handles(proc.INSTANCE_START)
async def instance_start(args: proc.InstanceStartArgs) -> None:
    spec = args.instance
    hv = backends.get(spec.hypervisor)
    current = await hv.instance_info(spec.name)
    if current is not None and str(current.state) in ("running", "paused"):
        return  # already running: starting is idempotent, as in Ganeti
    if current is not None:
        await hv.cleanup(spec.name)
    await _assemble_disks(spec)
    await hv.start(spec, paused=args.paused)


@handles(proc.INSTANCE_SHUTDOWN)
async def instance_shutdown(args: proc.InstanceShutdownArgs) -> None:
    spec = args.instance
    hv = backends.get(spec.hypervisor)
    await hv.stop(spec, args.timeout, force=args.force)
    if await hv.instance_info(spec.name) is not None:
        await hv.cleanup(spec.name)


@handles(proc.INSTANCE_REBOOT)
async def instance_reboot(args: proc.InstanceRebootArgs) -> None:
    spec = args.instance
    hv = backends.get(spec.hypervisor)
    if args.reboot_type == "full":
        await hv.stop(spec, args.shutdown_timeout)
        await hv.cleanup(spec.name)
        await _assemble_disks(spec)
        await hv.start(spec)
        return
    if args.reboot_type == "hard":
        await _assemble_disks(spec)  # a hard reboot may start the guest afresh (xen: destroy, create) from its disks
    await hv.reboot(spec, hard=args.reboot_type == "hard")


@handles(proc.INSTANCE_CLEANUP)
async def instance_cleanup(args: proc.InstanceQueryArgs) -> None:
    await backends.get(args.hypervisor).cleanup(args.name)


@handles(proc.INSTANCE_CONSOLE)
async def instance_console(args: proc.InstanceArgs) -> dict[str, Any]:
    spec = args.instance
    try:
        argv = backends.get(spec.hypervisor).console_command(spec)
    except NotImplementedError as err:
        raise HypervisorError(f"Hypervisor {spec.hypervisor} has no console") from err
    return {"kind": "ssh", "command": argv, "node": paths.hostname()}


# -- migration --------------------------------------------------------------------------------


@handles(proc.ACCEPT_INSTANCE)
async def accept_instance(args: proc.AcceptInstanceArgs) -> dict[str, Any]:
    spec = args.instance
    await _assemble_disks(spec, incoming=True)
    return await backends.get(spec.hypervisor).accept_instance(spec, args.target_address)


@handles(proc.MIGRATE_INSTANCE)
async def migrate_instance(args: proc.MigrateInstanceArgs) -> None:
    spec = args.instance
    await _assemble_disks(spec)
    hv = backends.get(spec.hypervisor)
    await hv.migrate_instance(spec, args.target_address, args.info, args.live)


@handles(proc.MIGRATION_STATUS)
async def migration_status(args: proc.MigrationStatusArgs) -> dict[str, Any]:
    """Status of an outgoing migration; with `wait`, answer as soon as it ends (or after `wait` s).

    Asking the hypervisor locally every few ms is cheap; a master polling over RPC would learn of
    the end up to a whole poll interval late, and that is guest-visible orchestration time.
    """
    spec = args.instance
    hv = backends.get(spec.hypervisor)
    deadline = time.monotonic() + min(max(args.wait, 0.0), STATUS_WAIT_MAX)
    while True:
        status = await hv.migration_status(spec)
        left = deadline - time.monotonic()
        if status.phase != MigrationPhase.ACTIVE or left <= 0:
            return ser.to_dict(status)
        await hv.wait_migration(spec, left)  # the driver's end event, or a few ms (backends.base)


@handles(proc.ABORT_MIGRATION)
async def abort_migration(args: proc.InstanceArgs) -> None:
    await backends.get(args.instance.hypervisor).abort_migration(args.instance)


@handles(proc.FINALIZE_MIGRATION_DST)
async def finalize_migration_dst(args: proc.FinalizeDstArgs) -> None:
    spec = args.instance
    for disk in spec.disks:
        if _is_local(disk.dev_type):
            disk.path = None
    hv = backends.get(spec.hypervisor)
    await hv.finalize_migration_dst(spec, args.info, args.success)


@handles(proc.FINALIZE_MIGRATION_SRC)
async def finalize_migration_src(args: proc.FinalizeSrcArgs) -> None:
    await backends.get(args.instance.hypervisor).finalize_migration_src(args.instance, args.success)


# -- block devices ------------------------------------------------------------------------------


@handles(proc.BLOCKDEV_CREATE)
async def blockdev_create(args: proc.BlockdevArgs) -> str:
    return await storage.get(args.disk.dev_type).create(args.disk, args.instance_name)


@handles(proc.BLOCKDEV_REMOVE)
async def blockdev_remove(args: proc.BlockdevArgs) -> None:
    await storage.get(args.disk.dev_type).remove(args.disk)


@handles(proc.BLOCKDEV_ASSEMBLE)
async def blockdev_assemble(args: proc.BlockdevArgs) -> str | None:
    return await storage.get(args.disk.dev_type).assemble(args.disk, args.instance_name)


@handles(proc.BLOCKDEV_SHUTDOWN)
async def blockdev_shutdown(args: proc.BlockdevArgs) -> None:
    await storage.get(args.disk.dev_type).shutdown(args.disk)


@handles(proc.BLOCKDEV_RENAME)
async def blockdev_rename(args: proc.BlockdevRenameArgs) -> None:
    await storage.get(args.disk.dev_type).rename(args.disk, list(args.new_logical_id))


@handles(proc.BLOCKDEV_GROW)
async def blockdev_grow(args: proc.BlockdevGrowArgs) -> None:
    await storage.get(args.disk.dev_type).grow(args.disk, args.amount)


@handles(proc.BLOCKDEV_GROW_CHECK)
async def blockdev_grow_check(args: proc.BlockdevGrowArgs) -> None:
    await storage.get(args.disk.dev_type).grow_check(args.disk, args.amount)


@handles(proc.INSTANCE_DISK_RESIZE)
async def instance_disk_resize(args: proc.InstanceDiskResizeArgs) -> None:
    spec = args.instance
    if not 0 <= args.index < len(spec.disks) or args.size <= 0:
        raise StorageError(f"Instance {spec.name} has no disk {args.index} to resize to {args.size} MiB")
    await backends.get(spec.hypervisor).resize_disk(spec, args.index, args.size)


@handles(proc.LV_STATUS)
async def lv_status(args: proc.VolumeGroupsArgs) -> list[dict[str, Any]]:
    return list(await _plain().lv_states(list(args.vg_names)))


@handles(proc.PV_LIST)
async def pv_list(args: proc.VolumeGroupsArgs) -> list[dict[str, Any]]:
    return list(await _plain().physical_volumes(list(args.vg_names)))


@handles(proc.STORAGE_MODIFY)
async def storage_modify(args: proc.StorageModifyArgs) -> None:
    if args.storage_type != "lvm-pv" or args.allocatable is None:
        raise StorageError(f"Storage type {args.storage_type} has nothing to modify here (lvm-pv: allocatable)")
    await _plain().set_allocatable(args.name, args.allocatable)


@handles(proc.STORAGE_REPAIR)
async def storage_repair(args: proc.StorageRepairArgs) -> None:
    if args.storage_type != "lvm-vg":
        raise StorageError(f"Storage type {args.storage_type} cannot be repaired (lvm-vg can)")
    await _plain().repair(args.name)


@handles(proc.LV_LIST)
async def lv_list(args: proc.VolumeGroupsArgs) -> list[dict[str, Any]]:
    return list(await _plain().volumes(list(args.vg_names)))


@handles(proc.BLOCKDEV_INFO)
async def blockdev_info(args: proc.BlockdevInfoArgs) -> list[dict[str, Any]]:
    return [ser.to_dict(await storage.get(d.dev_type).info(d)) for d in args.disks]


@handles(proc.BLOCKDEV_ADOPTABLE)
async def blockdev_adoptable(args: proc.BlockdevInfoArgs) -> list[dict[str, Any]]:
    return [ser.to_dict(await storage.get(d.dev_type).adoptable(d)) for d in args.disks]


@handles(proc.DRBD_HELPER)
async def drbd_helper(args: proc.NoArgs) -> str:
    from storage.drbd import usermode_helper

    return usermode_helper()


@handles(proc.DRBD_STATUS)
async def drbd_status(args: proc.BlockdevInfoArgs) -> list[dict[str, Any] | None]:
    from storage.drbd import DrbdDevice

    statuses = await DrbdDevice().statuses(list(args.disks))
    return [s.to_dict() if s is not None else None for s in statuses]


@handles(proc.DRBD_MINOR_STATUS)
async def drbd_minor_status(args: proc.DrbdMinorsArgs) -> list[dict[str, Any] | None]:
    from storage.drbd import DrbdDevice

    statuses = await DrbdDevice().minor_statuses(list(args.minors))
    return [s.to_dict() if s is not None else None for s in statuses]


@handles(proc.DRBD_SET_ROLE)
async def drbd_set_role(args: proc.BlockdevRoleArgs) -> None:
    from storage.drbd import DrbdDevice

    device = DrbdDevice()
    for disk in args.disks:
        await device.set_role(disk, args.primary, args.force)


@handles(proc.DRBD_REPLACE_LOCAL)
async def drbd_replace_local(args: proc.BlockdevArgs) -> list[list[str]]:
    from storage.drbd import DrbdDevice

    return await DrbdDevice().replace_local(args.disk, args.instance_name)


@handles(proc.DRBD_RELINK)
async def drbd_relink(args: proc.BlockdevInfoArgs) -> None:
    from storage.drbd import DrbdDevice

    device = DrbdDevice()
    for disk in args.disks:
        await device.relink(disk)


@handles(proc.DRBD_DISCONNECT)
async def drbd_disconnect(args: proc.BlockdevInfoArgs) -> None:
    from storage.drbd import DrbdDevice

    device = DrbdDevice()
    for disk in args.disks:
        await device.disconnect(disk)


@handles(proc.DRBD_DUAL_PRIMARY)
async def drbd_dual_primary(args: proc.BlockdevDualArgs) -> None:
    from storage.drbd import DrbdDevice

    device = DrbdDevice()
    for disk in args.disks:
        await device.set_dual_primary(disk, args.enabled)


# -- OS definitions -----------------------------------------------------------------------------


@handles(proc.OS_DIAGNOSE)
async def os_diagnose(args: proc.NoArgs) -> list[dict[str, Any]]:
    from agent import os_scripts

    return await os_scripts.diagnose(paths.os_search_path())


@handles(proc.EXTSTORAGE_DIAGNOSE)
async def extstorage_diagnose(args: proc.NoArgs) -> list[dict[str, Any]]:
    from agent import extstorage

    return await extstorage.diagnose(paths.es_search_path())


@handles(proc.INSTANCE_OS_ADD)
async def instance_os_add(args: proc.InstanceOsAddArgs) -> None:
    from agent import os_scripts

    spec = args.instance
    await _assemble_disks(spec)
    await os_scripts.run_create(
        spec.os,
        spec,
        [d.path or "" for d in spec.disks],
        paths.os_search_path(),
        paths.ensure_dir(os.path.join(paths.log_dir(), "os")),
        reinstall=args.reinstall,
    )


@handles(proc.INSTANCE_RUN_RENAME)
async def instance_run_rename(args: proc.InstanceRunRenameArgs) -> None:
    from agent import os_scripts

    spec = args.instance
    await _assemble_disks(spec)
    await os_scripts.run_rename(
        spec.os,
        spec,
        args.old_name,
        [d.path or "" for d in spec.disks],
        paths.os_search_path(),
        paths.ensure_dir(os.path.join(paths.log_dir(), "os")),
    )


@handles(proc.HOOKS_RUNNER)
async def hooks_runner(args: proc.HooksRunnerArgs) -> list[list[Any]]:
    from agent import hooks

    return await hooks.run_hooks(args.hpath, args.phase, args.env)


@handles(proc.OS_VALIDATE)
async def os_validate(args: proc.OsValidateArgs) -> None:
    from agent import os_scripts

    await os_scripts.validate(
        args.name,
        args.osparams,
        paths.os_search_path(),
        paths.ensure_dir(os.path.join(paths.log_dir(), "os")),
        force_variant=args.force_variant,
        required=args.required,
    )
