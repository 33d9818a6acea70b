"""`gnt-backup` (export, import, list, list-fields, remove) and `gnt-instance move`, with Ganeti's
options, prompts and messages. Imports no logical unit (the CLI path stays light); `move` is added
to gnt-instance by `add_move_command`.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from gnt.cli.common import (
    CONTEXT,
    client,
    common_job_options,
    confirm,
    handle_errors,
    job_fields,
    os_parameter_options,
    parse_ident_keyval,
    parse_keyval,
    resolve_fields,
)
from gnt.cli.fields import field_option
from gnt.cli.jobs import run_ops
from gnt.cli.output import print_fields, table
from gnt.errors import ParameterError

__all__ = ["add_move_command", "main"]

#: gnt.compression.TRANSPORTS (not imported: the CLI stays light); the cluster's list narrows it
COMPRESSIONS = ("none", "gzip", "gzip-fast", "gzip-slow")
#: gnt-backup list's fields (Ganeti's "export" query resource)
LIST_FIELDS = [
    {"name": "node", "title": "Node", "kind": "text", "doc": "Node name"},
    {"name": "export", "title": "Export", "kind": "text", "doc": "Export name"},
]


def _op(op_id: str, dry_run: bool, priority: str, **fields: Any) -> dict[str, Any]:
    return {"OP_ID": op_id, **fields, **job_fields(dry_run, priority)}


def add_move_command(group: click.Group) -> None:
    """Add `move` to the gnt-instance command group."""

    @group.command(context_settings=CONTEXT)
    @click.argument("name")
    @click.option("-f", "--force", is_flag=True, help="Do not ask for confirmation")
    @click.option("-n", "--node", "target_node", required=True, help="Node to move the instance to")
    @click.option("--compress", type=click.Choice(COMPRESSIONS), default="none", help="Transport compression")
    @click.option("--shutdown-timeout", type=int, default=120, help="Seconds for a clean shutdown")
    @click.option("--ignore-consistency", is_flag=True, help="Go on even if the source cannot shut it down")
    @click.option("--ignore-ipolicy", is_flag=True, help="Ignore the instance policy")
    @common_job_options
    @handle_errors
    def move(
        name: str,
        force: bool,
        target_node: str,
        compress: str,
        shutdown_timeout: int,
        ignore_consistency: bool,
        ignore_ipolicy: bool,
        submit: bool,
        dry_run: bool,
        priority: str,
    ) -> None:
        """Move an instance to another node by copying its disks (file, plain).

        The instance is shut down for the copy and started on the new node if it was running.

        \b
        Example:
          gnt-instance move -f -n node3 inst1
        """
        confirm(f"Instance {name} will be moved. This requires a shutdown of the instance. Continue?", force)
        op = _op(
            "OP_INSTANCE_MOVE",
            dry_run,
            priority,
            instance_name=name,
            target_node=target_node,
            compress=compress,
            shutdown_timeout=shutdown_timeout,
            ignore_consistency=ignore_consistency,
            ignore_ipolicy=ignore_ipolicy,
        )
        run_ops(client(), [op], submit)


@click.group(context_settings=CONTEXT)
def main() -> None:
    """Ganeti-style instance exports (gnt-backup)."""


@main.command(context_settings=CONTEXT)
@click.argument("name")
@click.option("-f", "--force", is_flag=True, help="Do not ask for confirmation")
@click.option("-n", "--node", "target_node", required=True, help="Node whose export directory receives the export")
@click.option("--noshutdown", is_flag=True, help="Do not shut the instance down (the copy may be inconsistent)")
@click.option("--shutdown-timeout", type=int, default=120, help="Seconds for a clean shutdown")
@click.option("--remove-instance", is_flag=True, help="Remove the instance once exported")
@click.option("--ignore-remove-failures", is_flag=True, help="Go on if removing the instance fails")
@click.option(
    "--transport-compression", "compress", type=click.Choice(COMPRESSIONS), default="none", help="Compression"
)
@click.option(
    "--long-sleep",
    is_flag=True,
    help="Allow the instance to stay down for the whole copy (gnt cannot snapshot, so it always does)",
)
@click.option("--zero-free-space", is_flag=True, help="Zero the disks' free space first (refused: gnt cannot)")
@click.option("--zeroing-timeout-fixed", type=click.IntRange(0, 86400), default=None, help="Seconds for zeroing")
@click.option(
    "--zeroing-timeout-per-mib", type=click.FloatRange(0, 3600), default=None, help="Extra zeroing seconds per MiB"
)
@common_job_options
@handle_errors
def export(
    name: str,
    force: bool,
    target_node: str,
    noshutdown: bool,
    shutdown_timeout: int,
    remove_instance: bool,
    ignore_remove_failures: bool,
    compress: str,
    long_sleep: bool,
    zero_free_space: bool,
    zeroing_timeout_fixed: int | None,
    zeroing_timeout_per_mib: float | None,
    submit: bool,
    dry_run: bool,
    priority: str,
) -> None:
    """Export an instance to a node's export directory (config.ini and one dump per disk).

    \b
    Example:
      gnt-backup export -n node2 inst1
    """
    if remove_instance and noshutdown:
        raise ParameterError("Can not remove instance without shutting it down before")
    if (zeroing_timeout_fixed is not None or zeroing_timeout_per_mib is not None) and not zero_free_space:
        raise ParameterError("--zeroing-timeout-fixed and --zeroing-timeout-per-mib need --zero-free-space")
    if remove_instance:
        confirm(f"Instance {name} will be removed after the export. Continue?", force)
    op = _op(
        "OP_BACKUP_EXPORT",
        dry_run,
        priority,
        instance_name=name,
        target_node=target_node,
        shutdown=not noshutdown,
        shutdown_timeout=shutdown_timeout,
        remove_instance=remove_instance,
        ignore_remove_failures=ignore_remove_failures,
        compress=compress,
        mode="local",
        long_sleep=long_sleep,
        zero_free_space=zero_free_space,
        zeroing_timeout_fixed=zeroing_timeout_fixed,
        zeroing_timeout_per_mib=zeroing_timeout_per_mib,
    )
    result = run_ops(client(), [op], submit)
    if isinstance(result, list) and result and isinstance(result[0], list) and len(result[0]) == 2:
        finalized, disks = result[0]
        if not finalized:
            print("Export failed, finalizing the export failed", file=sys.stderr)
            sys.exit(1)
        for index, ok in enumerate(disks or []):
            if not ok:
                print(f"Export failed, disk {index} could not be copied", file=sys.stderr)
                sys.exit(1)


@main.command("import", context_settings=CONTEXT)
@click.argument("name")
@click.option("--src-node", default=None, help="Node holding the export (searched for when not given)")
@click.option("--src-dir", default=None, help="The export's name or directory (default: the instance's name)")
@click.option("-n", "--node", "pnode", default=None, help="Primary node of the imported instance")
@click.option("-I", "--iallocator", default=None, help="Allocator choosing the node")
@field_option("OP_INSTANCE_CREATE", "group_name", "-g", "--node-group")
@click.option("--opportunistic-locking", is_flag=True, help="With -I: choose only among nodes whose locks are free now")
@click.option("-t", "--disk-template", default=None, help="Disk template (default: the export's)")
@click.option("--disk", "disks", multiple=True, help="N:size=SIZE[,mode=rw] (default: the export's disks)")
@click.option("-s", "--os-size", default=None, help="Import into one disk 0 of this size instead of the export's disks")
@click.option(
    "--file-storage-dir",
    default=None,
    help="Directory of file disks, relative to the cluster's (shared) file storage directory",
)
@field_option("OP_INSTANCE_CREATE", "file_driver", "--file-driver")
@click.option("-B", "--backend-parameters", "beparams", default=None, help="memory=128M,vcpus=1,...")
@click.option("-H", "--hypervisor-parameters", "hvparams", default=None, help="hv[:key=value,...]")
@os_parameter_options("checked by the OS now")
@click.option("--net", "nets", multiple=True, help="N:mode=...,link=...,ip=...,mac=... (default: the export's)")
@click.option("--no-nics", is_flag=True, help="Import without network interfaces")
@click.option("--no-name-check", is_flag=True, help="Do not resolve the instance name")
@click.option("--no-ip-check", is_flag=True, help="Do not check the IP is unused")
@click.option("--no-conflicts-check", is_flag=True, help="Do not check the NICs' IPs against their networks' pools")
@click.option("--ignore-ipolicy", is_flag=True, help="Import even if the instance breaks the instance policy")
@click.option(
    "--identify-defaults", is_flag=True, help="Parameters equal to this cluster's defaults follow the defaults"
)
@click.option("--no-wait-for-sync", is_flag=True, help="Do not wait for disk sync")
@click.option("--compress", type=click.Choice(COMPRESSIONS), default="none", help="Transport compression")
@click.option("--tags", default=None, help="Comma-separated tags (default: the export's)")
@common_job_options
@handle_errors
def import_(name: str, submit: bool, dry_run: bool, priority: str, **o: Any) -> None:
    """Create an instance from an export (OP_INSTANCE_CREATE in import mode); it is not started.

    \b
    Example:
      gnt-backup import -n node1 --src-node node2 --no-name-check --no-ip-check inst1
    """
    from gnt.instance.cli import parse_beparams, parse_disks, parse_nics
    from gnt.units import parse_size

    disks = parse_disks(o["disks"])
    if o["os_size"]:
        if disks:
            raise ParameterError("-s and --disk cannot be combined")
        disks = [{"size": parse_size(o["os_size"], "os-size")}]
    hypervisor, hvparams = None, {}
    if o["hvparams"]:
        hypervisor, hvparams = parse_ident_keyval(o["hvparams"], "-H")
    nics = parse_nics(o["nets"], o["no_nics"]) if o["nets"] or o["no_nics"] else []
    op = _op(
        "OP_INSTANCE_CREATE",
        dry_run,
        priority,
        instance_name=name,
        mode="import",
        src_node=o["src_node"],
        src_path=o["src_dir"],
        compress=o["compress"],
        disk_template=o["disk_template"],
        disks=disks,
        nics=nics,
        file_storage_dir=o["file_storage_dir"],
        file_driver=o["file_driver"],
        pnode=o["pnode"],
        iallocator=o["iallocator"],
        group_name=o["group_name"],
        opportunistic_locking=o["opportunistic_locking"],
        hypervisor=hypervisor,
        hvparams=dict(hvparams),
        beparams=parse_beparams(o["beparams"]),
        osparams=parse_keyval(o["osparams"] or "", "-O"),
        osparams_private=parse_keyval(o["osparams_private"] or "", "--os-parameters-private"),
        osparams_secret=parse_keyval(o["osparams_secret"] or "", "--os-parameters-secret"),
        start=False,
        name_check=not o["no_name_check"],
        ip_check=not o["no_ip_check"],
        conflicts_check=not o["no_conflicts_check"],
        ignore_ipolicy=o["ignore_ipolicy"],
        identify_defaults=o["identify_defaults"],
        wait_for_sync=not o["no_wait_for_sync"],
        tags=[t for t in (o["tags"] or "").split(",") if t],
    )
    run_ops(client(), [op], submit)


@main.command("list", context_settings=CONTEXT)
@click.option("-n", "--node", "nodes", multiple=True, help="Only this node's exports (repeatable)")
@click.option("-o", "--output", default=None, help="Comma-separated fields (node, export)")
@click.option("--no-headers", is_flag=True, help="Do not print the header line")
@click.option("--separator", default=None, help="Separator between fields (no alignment)")
@click.option("--units", default=None, help="Accepted for Ganeti compatibility (no sizes listed)")
@click.option("-v", "--verbose", is_flag=True, help="Accepted for Ganeti compatibility")
@handle_errors
def list_(
    nodes: tuple[str, ...], output: str | None, no_headers: bool, separator: str | None, units: str | None,
    verbose: bool,
) -> None:  # fmt: skip
    """List the exports on the cluster's nodes.

    \b
    Example:
      gnt-backup list --node node2
    """
    fields = resolve_fields(output, ["node", "export"])
    unknown = [f for f in fields if f not in ("node", "export")]
    if unknown:
        raise ParameterError(f"Unknown output field(s): {', '.join(unknown)}")
    result = run_ops(client(), [{"OP_ID": "OP_BACKUP_QUERY", "nodes": list(nodes)}], quiet=True)[0]
    rows = []
    for node in sorted(result):
        exports = result[node]
        if exports is False:
            print(f"Error getting export list from node {node}", file=sys.stderr)
            continue
        rows.extend({"node": node, "export": e} for e in exports)
    headers = None if no_headers else [{"node": "Node", "export": "Export"}[f] for f in fields]
    for line in table(headers, [[r[f] for f in fields] for r in rows], [False] * len(fields), separator):
        print(line)


@main.command("list-fields", context_settings=CONTEXT)
@click.argument("names", nargs=-1)
@click.option("--no-headers", is_flag=True, help="Do not print the header line")
@click.option("--separator", default=None, help="Separator between fields (no alignment)")
@handle_errors
def list_fields(names: tuple[str, ...], no_headers: bool, separator: str | None) -> None:
    """List the fields gnt-backup list can show.

    \b
    Example:
      gnt-backup list-fields
    """
    unknown = [n for n in names if n not in ("node", "export")]
    if unknown:
        raise ParameterError(f"Unknown field(s): {', '.join(unknown)}")
    print_fields([f for f in LIST_FIELDS if not names or f["name"] in names], separator, no_headers)


@main.command(context_settings=CONTEXT)
@click.argument("name")
@common_job_options
@handle_errors
def remove(name: str, submit: bool, dry_run: bool, priority: str) -> None:
    """Remove every export of an instance (the instance itself may be gone).

    \b
    Example:
      gnt-backup remove inst1
    """
    run_ops(client(), [_op("OP_BACKUP_REMOVE", dry_run, priority, instance_name=name)], submit)
