"""gnt-instance: instance administration."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from gnt.backup.cli import add_move_command
from gnt.cli.common import (
    CONTEXT,
    AliasedGroup,
    add_list_fields_command,
    client,
    common_job_options,
    confirm,
    convert_value,
    filter_option,
    handle_errors,
    job_fields,
    list_options,
    os_parameter_options,
    parse_ident_keyval,
    parse_index,
    parse_keyval,
    parse_node_pair,
    run_list,
)
from gnt.cli.fields import field_option
from gnt.cli.jobs import run_ops
from gnt.errors import ParameterError
from gnt.instance.cli_admin import add_admin_commands
from gnt.instance.cli_multi import add_multi_commands
from gnt.instance.selection import run_on_selection, selection_options
from gnt.tags import syntax as tag_syntax
from gnt.tags.cli import add_tag_commands
from gnt.units import parse_size

DEFAULT_FIELDS = ["name", "hypervisor", "os", "pnode", "status", "oper_ram"]


@click.group(
    cls=AliasedGroup, aliases={"start": "startup", "stop": "shutdown", "show": "info"}, context_settings=CONTEXT
)
def main() -> None:
    """Instance administration.

    \b
    Example:
      gnt-instance add -t diskless -o noop -n node1 --no-name-check --no-ip-check inst1
      gnt-instance list
    """


add_tag_commands(main, tag_syntax.KIND_INSTANCE, "gnt-instance", "inst1")
add_admin_commands(main)
add_multi_commands(main)
add_move_command(main)


def parse_beparams(text: str | None) -> dict[str, Any]:
    """-B as Ganeti sends it: sizes in MiB, 'memory' sets both maxmem and minmem."""
    params = parse_keyval(text or "", "-B")
    if "memory" in params and ("maxmem" in params or "minmem" in params):
        raise ParameterError("-B memory sets both maxmem and minmem; give either memory or maxmem/minmem")
    result: dict[str, Any] = {}
    for key, value in params.items():
        if key in ("memory", "maxmem", "minmem"):
            size = parse_size(value, key)  # a bad size is a Parameter Error before any job
            if key == "memory":
                result["maxmem"] = result["minmem"] = size
            else:
                result[key] = size
        else:
            result[key] = convert_value(value)
    return result


def parse_disks(values: tuple[str, ...]) -> list[dict[str, Any]]:
    disks: dict[int, dict[str, Any]] = {}
    for value in values:
        ident, params = parse_ident_keyval(value, "--disk")
        index = parse_index(ident, "disk", "--disk", value)
        if index in disks:
            raise ParameterError(f"Disk {index} given twice (--disk {value})")
        if "adopt" in params:  # the size is the adopted device's (the master refuses both given)
            if not params["adopt"]:
                raise ParameterError(f"Empty name to adopt for disk {ident} (--disk {ident}:adopt=NAME)")
        elif "size" not in params:
            raise ParameterError(f"Missing size for disk {ident} (--disk {ident}:size=SIZE or adopt=NAME)")
        if "size" in params:
            params["size"] = parse_size(params["size"], f"disk/{ident} size")
        disks[index] = params
    if disks and sorted(disks) != list(range(len(disks))):
        raise ParameterError("Disk indices must be consecutive, starting at 0")
    return [disks[i] for i in sorted(disks)]


def parse_nics(values: tuple[str, ...], no_nics: bool) -> list[dict[str, Any]]:
    if no_nics:
        if values:
            raise ParameterError("--no-nics and --net cannot be combined")
        return []
    if not values:
        return [{}]
    nics: dict[int, dict[str, Any]] = {}
    for value in values:
        ident, params = parse_ident_keyval(value, "--net")
        index = parse_index(ident, "NIC", "--net", value)
        if index in nics:
            raise ParameterError(f"NIC {index} given twice (--net {value})")
        nics[index] = params
    if sorted(nics) != list(range(len(nics))):
        raise ParameterError("NIC indices must be consecutive, starting at 0")
    return [nics[i] for i in sorted(nics)]


_DISK_ACTIONS = ("add", "remove", "modify", "attach", "detach")


def parse_disk_changes(values: tuple[str, ...]) -> list[list[Any]]:
    """modify --disk as Ganeti writes it, into OP_INSTANCE_SET_PARAMS' [[action, ident, params], ...]:
    `add:size=1G` or `N:add,size=1G` (insert at N), `attach:name=X` or `N:attach,uuid=U`,
    `ID:modify,mode=ro,name=X` (or just `ID:mode=ro`), `ID:remove`, `ID:detach`, `remove` and
    `detach` (the last disk); ID is an index, a disk name or a uuid (resolved by the master)."""
    changes: list[list[Any]] = []
    for value in values:
        ident, params = parse_ident_keyval(value, "--disk")
        if ident in _DISK_ACTIONS:
            if ident == "modify":
                raise ParameterError(f"Which disk to modify? (--disk {value}): ID:modify,mode=ro")
            action, target = ident, -1
        else:
            flags = [a for a in _DISK_ACTIONS if params.get(a) is True]
            for flag in flags:
                del params[flag]
            if len(flags) > 1:
                raise ParameterError(f"Cannot {' and '.join(flags)} a disk at the same time (--disk {value})")
            action = flags[0] if flags else "modify"
            if action in ("add", "attach") or (ident.isascii() and ident.isdigit()):
                target = parse_index(ident, "disk", "--disk", value)  # a new disk goes at an index
            else:
                target = ident  # a disk's name or uuid
        if action == "add":
            if "size" not in params:
                raise ParameterError(f"Missing size for the new disk (--disk {value}): add:size=SIZE")
            params["size"] = parse_size(params["size"], "disk size")
        elif action in ("remove", "detach") and params:
            raise ParameterError(f"No settings should be passed when removing or detaching a disk (--disk {value})")
        elif action == "modify" and not params:
            raise ParameterError(f"Nothing to change for disk {ident} (--disk {value}): give mode= or name=")
        changes.append([action, target, params])
    return changes


def parse_nic_changes(values: tuple[str, ...]) -> list[list[Any]]:
    """modify --net as Ganeti writes it, into OP_INSTANCE_SET_PARAMS' [[action, identifier, params], ...]:
    `add[:opts]` (at the end), `N:add[,opts]` (at N), `remove` (the last), `ID:remove`,
    `ID:modify,opts` or just `ID:opts`; ID is an index, a NIC name or a uuid (resolved by the master)."""
    changes: list[list[Any]] = []
    for value in values:
        ident, params = parse_ident_keyval(value, "--net")
        if ident in ("add", "remove"):
            action, target = ident, "-1"
        else:
            flags = [a for a in ("add", "remove", "modify") if params.get(a) is True]
            for flag in flags:
                del params[flag]
            if len(flags) > 1:
                raise ParameterError(f"Cannot {' and '.join(flags)} a NIC at the same time (--net {value})")
            action, target = (flags[0] if flags else "modify"), ident
            if action == "add":
                parse_index(ident, "NIC", "--net", value)  # a new NIC goes at an index, not a name
        if action == "remove" and params:
            raise ParameterError(f"Not accepting parameters on removal (--net {value})")
        if action == "modify" and not params:
            raise ParameterError(f"Nothing to change for NIC {ident} (--net {value}): give mac=, ip=, link=, ...")
        changes.append([action, target, {k: v for k, v in params.items()}])
    return changes


def _instance_op(op_id: str, name: str, dry_run: bool, priority: str, **fields: Any) -> dict[str, Any]:
    return {"OP_ID": op_id, "instance_name": name, **fields, **job_fields(dry_run, priority)}


@main.command(context_settings=CONTEXT)
@click.argument("name")
@click.option("-t", "--disk-template", required=True, help="diskless, file, sharedfile, plain, drbd")
@click.option("-n", "--node", default=None, help="pnode[:snode]")
@field_option("OP_INSTANCE_CREATE", "iallocator", "-I", "--iallocator")
@field_option("OP_INSTANCE_CREATE", "group_name", "-g", "--node-group")
@field_option("OP_INSTANCE_CREATE", "opportunistic_locking", "--opportunistic-locking")
@click.option("-o", "--os-type", default=None, help="OS definition (name, or name+variant if it has variants)")
@os_parameter_options("for this job's OS scripts only")
@field_option("OP_INSTANCE_CREATE", "force_variant", "--force-variant")
@click.option("--disk", "disks", multiple=True, help="N:size=SIZE[,mode=rw] or N:adopt=LV|PATH (repeatable)")
@click.option("-s", "--os-size", default=None, help="Size of a single disk 0")
@field_option("OP_INSTANCE_CREATE", "file_driver", "--file-driver")
@field_option("OP_INSTANCE_CREATE", "file_storage_dir", "--file-storage-dir")
@click.option("-B", "--backend-parameters", "beparams", default=None, help="memory=128M,vcpus=1,...")
@click.option("-H", "--hypervisor-parameters", "hvparams", default=None, help="hv[:key=value,...]")
@click.option("--net", "nets", multiple=True, help="N:mode=bridged,link=br0,ip=...,mac=... (repeatable)")
@click.option("--no-nics", is_flag=True, help="Create without network interfaces")
@click.option("--no-start", is_flag=True, help="Do not start the instance")
@field_option("OP_INSTANCE_CREATE", "no_install", "--no-install")
@field_option("OP_INSTANCE_CREATE", "forthcoming", "--forthcoming")
@field_option("OP_INSTANCE_CREATE", "commit", "--commit")
@click.option("--no-name-check", is_flag=True, help="Do not resolve the instance name")
@click.option("--no-ip-check", is_flag=True, help="Do not check the IP is unused")
@click.option("--no-conflicts-check", is_flag=True, help="Do not refuse NIC addresses already taken in a network")
@click.option("--no-wait-for-sync", is_flag=True, help="Do not wait for disk sync")
@click.option("--tags", default=None, help="Comma-separated tags")
@field_option("OP_INSTANCE_CREATE", "ignore_ipolicy", "--ignore-ipolicy")
@common_job_options
@handle_errors
def add(name: str, submit: bool, dry_run: bool, priority: str, **o: Any) -> None:
    """Create an instance.

    \b
    Example:
      gnt-instance add -t file --disk 0:size=1G -o noop -B memory=128M -n node1 --no-name-check \\
          --no-ip-check --no-nics inst1

    \b
    --forthcoming only reserves the instance (its nodes, memory, disks and addresses count as used;
    nothing is made); the same add with --commit later makes it real on the reserved nodes.
    """
    disks = parse_disks(o["disks"])
    if o["os_size"]:
        if disks:
            raise ParameterError("-s and --disk cannot be combined")
        disks = [{"size": parse_size(o["os_size"], "os-size")}]
    pnode, snode = parse_node_pair(o["node"])
    hypervisor, hvparams = None, {}
    if o["hvparams"]:
        hypervisor, hvparams = parse_ident_keyval(o["hvparams"], "-H")
    op = _instance_op(
        "OP_INSTANCE_CREATE",
        name,
        dry_run,
        priority,
        disk_template=o["disk_template"],
        disks=disks,
        nics=parse_nics(o["nets"], o["no_nics"]),
        os_type=o["os_type"],
        osparams=parse_keyval(o["osparams"] or "", "-O"),
        osparams_private=parse_keyval(o["osparams_private"] or "", "--os-parameters-private"),
        osparams_secret=parse_keyval(o["osparams_secret"] or "", "--os-parameters-secret"),
        force_variant=o["force_variant"],
        pnode=pnode,
        snode=snode,
        iallocator=o["iallocator"],
        group_name=o["group_name"],
        opportunistic_locking=o["opportunistic_locking"],
        file_driver=o["file_driver"],
        file_storage_dir=o["file_storage_dir"],
        forthcoming=o["forthcoming"],
        commit=o["commit"],
        hypervisor=hypervisor,
        hvparams={k: convert_value(v) for k, v in hvparams.items()},
        beparams=parse_beparams(o["beparams"]),
        start=not o["no_start"],
        name_check=not o["no_name_check"],
        ip_check=not o["no_ip_check"],
        conflicts_check=not o["no_conflicts_check"],
        no_install=o["no_install"],
        wait_for_sync=not o["no_wait_for_sync"],
        tags=[t for t in (o["tags"] or "").split(",") if t],
        ignore_ipolicy=o["ignore_ipolicy"],
    )
    result = run_ops(client(), [op], submit)
    if dry_run and result:
        print(f"Instance {name} would be created on node(s) {', '.join(result[0])}")


@main.command(context_settings=CONTEXT)
@click.argument("name")
@click.option("-f", "--force", is_flag=True, help="Do not ask for confirmation")
@field_option("OP_INSTANCE_REMOVE", "ignore_failures", "--ignore-failures")
@field_option("OP_INSTANCE_REMOVE", "shutdown_timeout", "--shutdown-timeout")
@common_job_options
@handle_errors
def remove(
    name: str, force: bool, ignore_failures: bool, shutdown_timeout: int, submit: bool, dry_run: bool, priority: str
) -> None:
    """Remove an instance and its disks.

    \b
    Example:
      gnt-instance remove -f inst1
    """
    confirm(f"This will remove the instance {name} and its disks. Continue?", force)
    op = _instance_op(
        "OP_INSTANCE_REMOVE",
        name,
        dry_run,
        priority,
        ignore_failures=ignore_failures,
        shutdown_timeout=shutdown_timeout,
    )
    run_ops(client(), [op], submit, quiet=True)


@main.command("list", context_settings=CONTEXT)
@click.argument("instances", nargs=-1)
@list_options
@filter_option
@handle_errors
def list_(
    instances: tuple[str, ...],
    output: str | None,
    no_headers: bool,
    separator: str | None,
    units: str | None,
    use_filter: bool,
) -> None:
    """List instances (default fields: name hypervisor os pnode status oper_ram).

    \b
    Example:
      gnt-instance list -o name,pnode,status,oper_state,be/memory --no-headers --separator=:
    """
    run_list("instance", DEFAULT_FIELDS, output, no_headers, separator, units, instances, use_filter)


add_list_fields_command(main, "instance", "gnt-instance")


@main.command(context_settings=CONTEXT)
@click.argument("names", nargs=-1)
@selection_options
@field_option("OP_INSTANCE_STARTUP", "force", "-f", "--force")
@field_option("OP_INSTANCE_STARTUP", "startup_paused", "--paused")
@field_option("OP_INSTANCE_STARTUP", "no_remember", "--no-remember")
@field_option("OP_INSTANCE_STARTUP", "ignore_offline_nodes", "--ignore-offline")
@click.option("-B", "--backend-parameters", "beparams", default=None, help="Temporary backend parameters")
@click.option("-H", "--hypervisor-parameters", "hvparams", default=None, help="Temporary hv parameters")
@common_job_options
@handle_errors
def startup(
    names: tuple[str, ...],
    multi_mode: str | None,
    force_multiple: bool,
    force: bool,
    startup_paused: bool,
    no_remember: bool,
    ignore_offline_nodes: bool,
    beparams: str | None,
    hvparams: str | None,
    submit: bool,
    dry_run: bool,
    priority: str,
) -> None:
    """Start instances: the named ones, or a selection (--all, --node, --tags, ...).

    \b
    Example:
      gnt-instance startup inst1
      gnt-instance startup --all --force-multiple
    """
    fields = {
        "force": force,
        "startup_paused": startup_paused,
        "no_remember": no_remember,
        "ignore_offline_nodes": ignore_offline_nodes,
        "beparams": parse_beparams(beparams),
        "hvparams": {k: convert_value(v) for k, v in parse_keyval(hvparams or "", "-H").items()},
    }
    run_on_selection(
        client(),
        "startup",
        names,
        multi_mode,
        force_multiple,
        submit,
        lambda name: _instance_op("OP_INSTANCE_STARTUP", name, dry_run, priority, **fields),
    )


@main.command(context_settings=CONTEXT)
@click.argument("names", nargs=-1)
@selection_options
@field_option("OP_INSTANCE_SHUTDOWN", "force", "-f", "--force")
@field_option("OP_INSTANCE_SHUTDOWN", "timeout", "--timeout")
@field_option("OP_INSTANCE_SHUTDOWN", "no_remember", "--no-remember")
@field_option("OP_INSTANCE_SHUTDOWN", "ignore_offline_nodes", "--ignore-offline")
@common_job_options
@handle_errors
def shutdown(
    names: tuple[str, ...],
    multi_mode: str | None,
    force_multiple: bool,
    force: bool,
    timeout: int,
    no_remember: bool,
    ignore_offline_nodes: bool,
    submit: bool,
    dry_run: bool,
    priority: str,
) -> None:
    """Stop instances: the named ones, or a selection (--all, --node, --tags, ...).

    \b
    Example:
      gnt-instance shutdown --timeout=30 inst1
      gnt-instance shutdown --node-tags --force-multiple rack:r1
    """
    fields = {
        "force": force,
        "timeout": timeout,
        "no_remember": no_remember,
        "ignore_offline_nodes": ignore_offline_nodes,
    }
    run_on_selection(
        client(),
        "shutdown",
        names,
        multi_mode,
        force_multiple,
        submit,
        lambda name: _instance_op("OP_INSTANCE_SHUTDOWN", name, dry_run, priority, **fields),
    )


@main.command(context_settings=CONTEXT)
@click.argument("names", nargs=-1)
@selection_options
@click.option("-t", "--type", "reboot_type", type=click.Choice(["soft", "hard", "full"]), default="hard")
@field_option("OP_INSTANCE_REBOOT", "ignore_secondaries", "--ignore-secondaries")
@field_option("OP_INSTANCE_REBOOT", "shutdown_timeout", "--shutdown-timeout")
@common_job_options
@handle_errors
def reboot(
    names: tuple[str, ...],
    multi_mode: str | None,
    force_multiple: bool,
    reboot_type: str,
    ignore_secondaries: bool,
    shutdown_timeout: int,
    submit: bool,
    dry_run: bool,
    priority: str,
) -> None:
    """Reboot instances: the named ones, or a selection (--all, --node, --tags, ...).

    \b
    Example:
      gnt-instance reboot -t soft inst1
      gnt-instance reboot --primary --force-multiple node2
    """
    fields = {
        "reboot_type": reboot_type,
        "ignore_secondaries": ignore_secondaries,
        "shutdown_timeout": shutdown_timeout,
    }
    run_on_selection(
        client(),
        "reboot",
        names,
        multi_mode,
        force_multiple,
        submit,
        lambda name: _instance_op("OP_INSTANCE_REBOOT", name, dry_run, priority, **fields),
    )


@main.command(context_settings=CONTEXT)
@click.argument("name")
@click.option("-f", "--force", is_flag=True, help="Do not ask for confirmation")
@click.option("--non-live", is_flag=True, help="Pause the instance during the move")
@click.option("--migration-mode", type=click.Choice(["live", "non-live"]), default=None)
@field_option("OP_INSTANCE_MIGRATE", "target_node", "-n", "--target-node")
@field_option("OP_INSTANCE_MIGRATE", "iallocator", "-I", "--iallocator")
@field_option("OP_INSTANCE_MIGRATE", "cleanup", "--cleanup")
@field_option("OP_INSTANCE_MIGRATE", "allow_failover", "--allow-failover")
@field_option("OP_INSTANCE_MIGRATE", "ignore_ipolicy", "--ignore-ipolicy")
@field_option("OP_INSTANCE_MIGRATE", "ignore_hvversions", "--ignore-hvversions")
@click.option(
    "--no-runtime-changes",
    is_flag=True,
    help="Refuse the migration rather than balloon the guest down to the target's free memory",
)
@common_job_options
@handle_errors
def migrate(
    name: str,
    force: bool,
    non_live: bool,
    migration_mode: str | None,
    target_node: str | None,
    iallocator: str | None,
    cleanup: bool,
    allow_failover: bool,
    ignore_ipolicy: bool,
    ignore_hvversions: bool,
    no_runtime_changes: bool,
    submit: bool,
    dry_run: bool,
    priority: str,
) -> None:
    """Live-migrate an instance to another node.

    \b
    Example:
      gnt-instance migrate -f -n node2 inst1
    """
    confirm(f"Instance {name} will be migrated. Continue?", force)
    mode = "non-live" if non_live else migration_mode
    op = _instance_op(
        "OP_INSTANCE_MIGRATE",
        name,
        dry_run,
        priority,
        mode=mode,
        target_node=target_node,
        iallocator=iallocator,
        cleanup=cleanup,
        allow_failover=allow_failover,
        ignore_ipolicy=ignore_ipolicy,
        allow_runtime_changes=not no_runtime_changes,
        ignore_hvversions=ignore_hvversions,
    )
    run_ops(client(), [op], submit)


@main.command(context_settings=CONTEXT)
@click.argument("name")
@click.option("-f", "--force", is_flag=True, help="Do not ask for confirmation")
@field_option("OP_INSTANCE_FAILOVER", "target_node", "-n", "--target-node")
@field_option("OP_INSTANCE_FAILOVER", "iallocator", "-I", "--iallocator")
@field_option("OP_INSTANCE_FAILOVER", "ignore_consistency", "--ignore-consistency")
@field_option("OP_INSTANCE_FAILOVER", "shutdown_timeout", "--shutdown-timeout")
@field_option("OP_INSTANCE_FAILOVER", "ignore_ipolicy", "--ignore-ipolicy")
@field_option("OP_INSTANCE_FAILOVER", "cleanup", "--cleanup")
@common_job_options
@handle_errors
def failover(
    name: str,
    force: bool,
    target_node: str | None,
    iallocator: str | None,
    ignore_consistency: bool,
    shutdown_timeout: int,
    ignore_ipolicy: bool,
    cleanup: bool,
    submit: bool,
    dry_run: bool,
    priority: str,
) -> None:
    """Stop an instance and start it on another node.

    \b
    Example:
      gnt-instance failover -f -n node3 inst1
    """
    confirm(f"Instance {name} will be failed over (stopped and started elsewhere). Continue?", force)
    op = _instance_op(
        "OP_INSTANCE_FAILOVER",
        name,
        dry_run,
        priority,
        target_node=target_node,
        iallocator=iallocator,
        ignore_consistency=ignore_consistency,
        shutdown_timeout=shutdown_timeout,
        ignore_ipolicy=ignore_ipolicy,
        cleanup=cleanup,
    )
    run_ops(client(), [op], submit)


@main.command(context_settings=CONTEXT)
@click.argument("name")
@click.option("-B", "--backend-parameters", "beparams", default=None, help="memory=256M,vcpus=2,...")
@click.option("-H", "--hypervisor-parameters", "hvparams", default=None, help="key=value,...")
@click.option("-O", "--os-parameters", "osparams", default=None, help="key=value,...")
@click.option(
    "--os-parameters-private",
    "osparams_private",
    default=None,
    help="key=value,... private OS parameters: stored, shown as <redacted>",
)
@click.option(
    "-o", "--os-type", "os_type", default=None, help="Record a new OS (NAME or NAME+VARIANT); reinstall to use it"
)
@field_option("OP_INSTANCE_SET_PARAMS", "force_variant", "--force-variant")
@click.option("--offline", is_flag=True, help="Mark the instance offline")
@click.option("--online", is_flag=True, help="Mark the instance online")
@click.option(
    "--disk",
    "disks",
    multiple=True,
    help="add:size=SIZE[,mode=,name=] | N:add,size=SIZE | ID:modify,mode=,name= | ID:remove | remove"
    " | [N:]attach,name=NAME|uuid=UUID | ID:detach (ID: index, name, uuid)",
)
@click.option(
    "--net",
    "nets",
    multiple=True,
    help="add[:mac=,ip=,mode=,link=,network=,name=] | N:add,... | ID:remove | ID:modify,... (ID: index, name, uuid)",
)
@field_option("OP_INSTANCE_SET_PARAMS", "hotplug", "--hotplug")
@field_option("OP_INSTANCE_SET_PARAMS", "hotplug_if_possible", "--hotplug-if-possible")
@click.option("-m", "--runtime-memory", "runtime_memory", default=None, help="Balloon the running instance to SIZE")
@field_option("OP_INSTANCE_SET_PARAMS", "pnode", "--new-primary")
@click.option("--no-conflicts-check", is_flag=True, help="Do not refuse NIC addresses already taken in a network")
@field_option("OP_INSTANCE_SET_PARAMS", "disk_template", "-t", "--disk-template")
@field_option("OP_INSTANCE_SET_PARAMS", "remote_node", "-n", "--node")
@field_option("OP_INSTANCE_SET_PARAMS", "iallocator", "-I", "--iallocator")
@click.option("--no-wait-for-sync", is_flag=True, help="Do not wait for the new mirror to sync")
@field_option("OP_INSTANCE_SET_PARAMS", "force", "-f", "--force")
@field_option("OP_INSTANCE_SET_PARAMS", "ignore_ipolicy", "--ignore-ipolicy")
@common_job_options
@handle_errors
def modify(
    name: str,
    beparams: str | None,
    hvparams: str | None,
    osparams: str | None,
    osparams_private: str | None,
    os_type: str | None,
    force_variant: bool,
    offline: bool,
    online: bool,
    disks: tuple[str, ...],
    nets: tuple[str, ...],
    hotplug: bool,
    hotplug_if_possible: bool,
    runtime_memory: str | None,
    pnode: str | None,
    no_conflicts_check: bool,
    disk_template: str | None,
    remote_node: str | None,
    iallocator: str | None,
    no_wait_for_sync: bool,
    force: bool,
    ignore_ipolicy: bool,
    submit: bool,
    dry_run: bool,
    priority: str,
) -> None:
    """Change instance parameters (takes effect at the next start for memory/vcpus), add or remove
    disks and NICs (at once into a running kvm instance with --hotplug), balloon its memory.

    \b
    Example:
      gnt-instance modify -B memory=256M,vcpus=2 inst1
      gnt-instance modify --disk add:size=1G inst1
      gnt-instance modify --disk 1:remove inst1
      gnt-instance modify --net add:network=net1,ip=pool --hotplug inst1
      gnt-instance modify --net 0:modify,ip=192.0.2.10 inst1
      gnt-instance modify --net eth1:remove --hotplug inst1
      gnt-instance modify -m 512M inst1
      gnt-instance modify --new-primary node2 inst1
      gnt-instance modify -t drbd -n node2 inst1
      gnt-instance modify -t drbd -I hail inst1
      gnt-instance modify --os-parameters-private root_password=s3cret inst1
      gnt-instance modify -o debootstrap+default inst1
      gnt-instance modify --disk 0:modify,name=root,mode=ro inst1
      gnt-instance modify --disk 1:detach inst1
      gnt-instance modify --disk attach:name=data inst2
    """
    if offline and online:
        raise ParameterError("--offline and --online cannot be combined")
    if hotplug and hotplug_if_possible:
        raise ParameterError("--hotplug and --hotplug-if-possible cannot be combined")
    op = _instance_op(
        "OP_INSTANCE_SET_PARAMS",
        name,
        dry_run,
        priority,
        beparams=parse_beparams(beparams),
        hvparams={k: convert_value(v) for k, v in parse_keyval(hvparams or "", "-H").items()},
        osparams=parse_keyval(osparams or "", "-O"),
        osparams_private=parse_keyval(osparams_private or "", "--os-parameters-private"),
        os_name=os_type,
        force_variant=force_variant,
        force=force,
        offline=True if offline else (False if online else None),
        disks=parse_disk_changes(disks),
        nics=parse_nic_changes(nets),
        hotplug=hotplug,
        hotplug_if_possible=hotplug_if_possible,
        runtime_mem=parse_size(runtime_memory, "runtime memory") if runtime_memory else None,
        pnode=pnode,
        conflicts_check=not no_conflicts_check,
        disk_template=disk_template,
        remote_node=remote_node,
        iallocator=iallocator,
        wait_for_sync=not no_wait_for_sync,
        ignore_ipolicy=ignore_ipolicy,
    )
    result = run_ops(client(), [op], submit)
    if result and isinstance(result[0], list):  # a dry run answers None: nothing was modified
        print(f"Modified instance {name}")
        for key, value in result[0]:
            print(f" - {key} -> {value}")
        print(
            "Please don't forget that most parameters take effect only at the next (re)start of the instance"
            " initiated by ganeti; restarting from within the instance will not be enough."
        )
        if any(key == "os_name" for key, _ in result[0]):
            print(f"The new OS is installed only by a reinstall: gnt-instance reinstall {name}")


@main.command(context_settings=CONTEXT)
@click.argument("name")
@click.option("--show-cmd", is_flag=True, help="Print the command instead of running it")
@click.option(
    "--priority",
    type=click.Choice(["low", "normal", "high"]),
    default="normal",
    expose_value=False,
    help="Accepted as Ganeti does; the console is a query, not a job, so it has no priority",
)
@handle_errors
def console(name: str, show_cmd: bool) -> None:
    """Attach to an instance's serial console.

    \b
    Example:
      gnt-instance console inst1
    """
    import shlex

    from gnt import paths

    info = client().get(f"/2/instances/{name}/console")
    argv = info["command"]
    if not paths.is_virtual() and info["node"] != paths.hostname():
        # the console lives on the primary node: reach it as Ganeti does, over SSH with a terminal
        argv = ["ssh", "-q", "-t", "-oBatchMode=yes", f"root@{info['node_ip']}", shlex.join(argv)]
    if show_cmd:
        print(shlex.join(argv))
        return
    sys.stdout.flush()
    os.execvp(argv[0], argv)


# -- disks ------------------------------------------------------------------------------------------


@main.command("activate-disks", context_settings=CONTEXT)
@click.argument("name")
@field_option("OP_INSTANCE_ACTIVATE_DISKS", "ignore_size", "--ignore-size")
@field_option("OP_INSTANCE_ACTIVATE_DISKS", "wait_for_sync", "--wait-for-sync")
@common_job_options
@handle_errors
def activate_disks(
    name: str, ignore_size: bool, wait_for_sync: bool, submit: bool, dry_run: bool, priority: str
) -> None:
    """Bring an instance's disks up on its nodes; prints node:disk/N:device per disk.

    \b
    Example:
      gnt-instance activate-disks inst1
    """
    op = _instance_op(
        "OP_INSTANCE_ACTIVATE_DISKS", name, dry_run, priority, ignore_size=ignore_size, wait_for_sync=wait_for_sync
    )
    result = run_ops(client(), [op], submit)
    if result and isinstance(result[0], list):
        for node, iv_name, device in result[0]:
            print(f"{node}:{iv_name}:{device}")


@main.command("deactivate-disks", context_settings=CONTEXT)
@click.argument("name")
@field_option("OP_INSTANCE_DEACTIVATE_DISKS", "force", "-f", "--force")
@common_job_options
@handle_errors
def deactivate_disks(name: str, force: bool, submit: bool, dry_run: bool, priority: str) -> None:
    """Shut an instance's disks down on its nodes (refused while it runs, unless -f).

    \b
    Example:
      gnt-instance deactivate-disks inst1
    """
    op = _instance_op("OP_INSTANCE_DEACTIVATE_DISKS", name, dry_run, priority, force=force)
    run_ops(client(), [op], submit)


@main.command("grow-disk", context_settings=CONTEXT)
@click.argument("name")
@click.argument("disk")
@click.argument("amount")
@click.option("--no-wait-for-sync", is_flag=True, help="Do not wait for the disk to resync")
@field_option("OP_INSTANCE_GROW_DISK", "absolute", "--absolute")
@field_option("OP_INSTANCE_GROW_DISK", "ignore_ipolicy", "--ignore-ipolicy")
@common_job_options
@handle_errors
def grow_disk(
    name: str,
    disk: str,
    amount: str,
    no_wait_for_sync: bool,
    absolute: bool,
    ignore_ipolicy: bool,
    submit: bool,
    dry_run: bool,
    priority: str,
) -> None:
    """Grow disk DISK (an index) of an instance by AMOUNT (e.g. 1G), or to AMOUNT with --absolute.

    \b
    Example:
      gnt-instance grow-disk inst1 0 2G
    """
    if not disk.isascii() or not disk.isdigit() or len(disk) > 3:
        raise ParameterError(f"Invalid disk index: '{disk}'")
    op = _instance_op(
        "OP_INSTANCE_GROW_DISK",
        name,
        dry_run,
        priority,
        disk=int(disk),
        amount=parse_size(amount, "amount"),
        wait_for_sync=not no_wait_for_sync,
        absolute=absolute,
        ignore_ipolicy=ignore_ipolicy,
    )
    run_ops(client(), [op], submit)


def parse_recreate_disks(values: tuple[str, ...]) -> list[Any]:
    """--disk N[:size=SIZE,mode=rw] (repeatable) as OP_INSTANCE_RECREATE_DISKS' [[N, {...}], ...]."""
    result: list[Any] = []
    for value in values:
        ident, params = parse_ident_keyval(value, "--disk")
        index = parse_index(ident, "disk", "--disk", value)
        unknown = sorted(set(params) - {"size", "mode"})
        if unknown:
            raise ParameterError(f"Unknown disk parameter '{unknown[0]}' in --disk {value} (size and mode can change)")
        if "size" in params:
            params["size"] = parse_size(params["size"], f"disk/{index} size")
        result.append([index, params])
    return result


@main.command("recreate-disks", context_settings=CONTEXT)
@click.argument("name")
@click.option("--disk", "disks", multiple=True, help="N[:size=SIZE] (repeatable); all disks when absent")
@click.option("-n", "--node", default=None, help="Recreate on these nodes: pnode[:snode]")
@field_option("OP_INSTANCE_RECREATE_DISKS", "iallocator", "-I", "--iallocator")
@common_job_options
@handle_errors
def recreate_disks(
    name: str,
    disks: tuple[str, ...],
    node: str | None,
    iallocator: str | None,
    submit: bool,
    dry_run: bool,
    priority: str,
) -> None:
    """Create an instance's missing disks again (empty), on its nodes or on new ones.

    \b
    Example:
      gnt-instance recreate-disks --disk 0:size=2G -n node2 inst1
    """
    pnode, snode = parse_node_pair(node)
    op = _instance_op(
        "OP_INSTANCE_RECREATE_DISKS",
        name,
        dry_run,
        priority,
        disks=parse_recreate_disks(disks),
        nodes=[n for n in (pnode, snode) if n],
        iallocator=iallocator,
    )
    run_ops(client(), [op], submit)


def parse_replace_disks(value: str | None) -> list[int]:
    """--disks 0,2 as a list of indices (all disks when absent)."""
    if not value:
        return []
    indices = []
    for item in value.split(","):
        item = item.strip()
        if not item.isascii() or not item.isdigit() or len(item) > 3:
            raise ParameterError(f"Invalid disk index passed: '{item}' (--disks takes indices such as 0,1)")
        indices.append(int(item))
    return indices


@main.command("replace-disks", context_settings=CONTEXT)
@click.argument("name")
@click.option("-p", "--on-primary", is_flag=True, help="Replace the disks on the primary node")
@click.option("-s", "--on-secondary", is_flag=True, help="Replace the disks on the secondary node")
@field_option("OP_INSTANCE_REPLACE_DISKS", "remote_node", "-n", "--new-secondary")
@field_option("OP_INSTANCE_REPLACE_DISKS", "iallocator", "-I", "--iallocator")
@click.option("-a", "--auto", is_flag=True, help="Replace the disks found faulty")
@click.option("--disks", default=None, help="Disk indices to replace, e.g. 0,2 (all when absent)")
@field_option("OP_INSTANCE_REPLACE_DISKS", "early_release", "--early-release")
@field_option("OP_INSTANCE_REPLACE_DISKS", "ignore_ipolicy", "--ignore-ipolicy")
@common_job_options
@handle_errors
def replace_disks(
    name: str,
    on_primary: bool,
    on_secondary: bool,
    remote_node: str | None,
    iallocator: str | None,
    auto: bool,
    disks: str | None,
    early_release: bool,
    ignore_ipolicy: bool,
    submit: bool,
    dry_run: bool,
    priority: str,
) -> None:
    """Replace the storage of one side of a mirrored (drbd) instance's disks.

    \b
    Examples:
      gnt-instance replace-disks -s inst1
      gnt-instance replace-disks -n node3 inst1
    """
    chosen = [on_primary, on_secondary, auto, remote_node is not None, iallocator is not None]
    if chosen.count(True) != 1:
        raise ParameterError("One and only one of the -p, -s, -a, -n and -I options must be passed")
    if on_primary:
        mode = "replace_on_primary"
    elif on_secondary:
        mode = "replace_on_secondary"
    elif auto:
        mode = "replace_auto"
    else:
        mode = "replace_new_secondary"
    op = _instance_op(
        "OP_INSTANCE_REPLACE_DISKS",
        name,
        dry_run,
        priority,
        mode=mode,
        disks=parse_replace_disks(disks),
        remote_node=remote_node,
        iallocator=iallocator,
        early_release=early_release,
        ignore_ipolicy=ignore_ipolicy,
    )
    run_ops(client(), [op], submit)
