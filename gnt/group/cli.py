"""gnt-group: node group administration, with Ganeti's commands, options and output."""

from __future__ import annotations

import sys
from typing import Any

import click

from gnt.cli.common import (
    CONTEXT,
    add_list_fields_command,
    client,
    common_job_options,
    convert_value,
    filter_option,
    handle_errors,
    job_fields,
    list_options,
    parse_diskparams,
    parse_keyval,
    run_list,
)
from gnt.cli.fields import field_option
from gnt.cli.ipolicy import format_ipolicy_command, ipolicy_from_opts, ipolicy_options
from gnt.cli.jobs import run_ops
from gnt.cli.output import print_tree
from gnt.cli.resstate import state_fields, state_info, state_options
from gnt.errors import ParameterError
from gnt.tags import syntax as tag_syntax
from gnt.tags.cli import add_tag_commands

#: Ganeti's `gnt-group list` columns without -o
DEFAULT_FIELDS = ["name", "node_cnt", "pinst_cnt", "alloc_policy", "ndparams"]
_ISPEC_KEYS = ("memory-size", "cpu-count", "disk-count", "disk-size", "nic-count", "spindle-use")


@click.group(context_settings=CONTEXT)
def main() -> None:
    """Node group administration.

    \b
    Example:
      gnt-group add rack2
      gnt-group assign-nodes rack2 node3
      gnt-group list
    """


add_tag_commands(main, tag_syntax.KIND_NODEGROUP, "gnt-group", "default")
add_list_fields_command(main, "group", "gnt-group")


def group_params(opts: dict[str, Any]) -> dict[str, Any]:
    """The opcode fields that `add` and `modify` share, from their options (absent ones left out)."""
    fields: dict[str, Any] = {}
    if opts.get("alloc_policy") is not None:
        fields["alloc_policy"] = opts["alloc_policy"]
    if opts.get("node_parameters"):
        fields["ndparams"] = {k: convert_value(v) for k, v in parse_keyval(opts["node_parameters"], "-N").items()}
    if opts.get("diskparams"):
        fields["diskparams"] = parse_diskparams(opts["diskparams"])
    ipolicy = ipolicy_from_opts(opts)
    if ipolicy:
        fields["ipolicy"] = ipolicy
    fields.update(state_fields(opts))
    return fields


def _group_options(fn: Any) -> Any:
    for option in reversed(
        [
            field_option("OP_GROUP_SET_PARAMS", "alloc_policy", "--alloc-policy"),
            click.option("-N", "--node-parameters", default=None, help="Node parameters (key=value,...)"),
            click.option(
                "-D",
                "--disk-parameters",
                "diskparams",
                multiple=True,
                help="template:key=value,... (drbd:resync-rate; modify: key=default follows the cluster's)",
            ),
        ]
    ):
        fn = option(fn)
    return ipolicy_options()(state_options(fn))


@main.command(context_settings=CONTEXT)
@click.argument("group")
@_group_options
@common_job_options
@handle_errors
def add(group: str, submit: bool, dry_run: bool, priority: str, **opts: Any) -> None:
    """Create a node group.

    \b
    Example:
      gnt-group add --alloc-policy=last_resort rack2
      gnt-group add -D drbd:resync-rate=20480 rack3
    """
    op = {"OP_ID": "OP_GROUP_ADD", "group_name": group, **group_params(opts), **job_fields(dry_run, priority)}
    run_ops(client(), [op], submit)


@main.command(context_settings=CONTEXT)
@click.argument("group")
@common_job_options
@handle_errors
def remove(group: str, submit: bool, dry_run: bool, priority: str) -> None:
    """Remove a node group (it must hold no node).

    \b
    Example:
      gnt-group remove rack2
    """
    run_ops(client(), [{"OP_ID": "OP_GROUP_REMOVE", "group_name": group, **job_fields(dry_run, priority)}], submit)


@main.command(context_settings=CONTEXT)
@click.argument("group")
@click.argument("new_name")
@common_job_options
@handle_errors
def rename(group: str, new_name: str, submit: bool, dry_run: bool, priority: str) -> None:
    """Rename a node group.

    \b
    Example:
      gnt-group rename rack2 rack3
    """
    op = {"OP_ID": "OP_GROUP_RENAME", "group_name": group, "new_name": new_name, **job_fields(dry_run, priority)}
    run_ops(client(), [op], submit)


@main.command(context_settings=CONTEXT)
@click.argument("group")
@_group_options
@common_job_options
@handle_errors
def modify(group: str, submit: bool, dry_run: bool, priority: str, **opts: Any) -> None:
    """Change a node group's allocation policy, node or disk parameters, or instance policy.

    \b
    Example:
      gnt-group modify --alloc-policy=unallocable rack2
      gnt-group modify --ipolicy-vcpu-ratio=2 rack2
      gnt-group modify -D drbd:resync-rate=default rack2
    """
    fields = group_params(opts)
    if not fields:
        raise ParameterError("Please give at least one of the parameters.")
    op = {"OP_ID": "OP_GROUP_SET_PARAMS", "group_name": group, **fields, **job_fields(dry_run, priority)}
    result = run_ops(client(), [op], submit)
    if result and result[0]:
        print(f"Modified node group {group}")
        for key, value in result[0]:
            print(f" - {key} -> {value}")


@main.command("assign-nodes", context_settings=CONTEXT)
@click.argument("group")
@click.argument("nodes", nargs=-1, required=True)
@field_option("OP_GROUP_ASSIGN_NODES", "force", "-f", "--force")
@common_job_options
@handle_errors
def assign_nodes(group: str, nodes: tuple[str, ...], force: bool, submit: bool, dry_run: bool, priority: str) -> None:
    """Move nodes into a node group.

    \b
    Example:
      gnt-group assign-nodes rack2 node3 node4
    """
    op = {
        "OP_ID": "OP_GROUP_ASSIGN_NODES",
        "group_name": group,
        "nodes": list(nodes),
        "force": force,
        **job_fields(dry_run, priority),
    }
    run_ops(client(), [op], submit)


@main.command("list", context_settings=CONTEXT)
@click.argument("groups", nargs=-1)
@list_options
@filter_option
@handle_errors
def list_(
    groups: tuple[str, ...],
    output: str | None,
    no_headers: bool,
    separator: str | None,
    units: str | None,
    use_filter: bool,
) -> None:
    """List node groups (default fields: name node_cnt pinst_cnt alloc_policy ndparams).

    \b
    Example:
      gnt-group list -o name,node_list --no-headers
    """
    run_list("group", DEFAULT_FIELDS, output, no_headers, separator, units, groups, use_filter)


def params_info(own: dict[str, Any], filled: dict[str, Any]) -> dict[str, Any]:
    """Ganeti's parameter listing in `info`: a value the object does not set itself reads
    `default (value)` (inherited); nested dicts (per template) likewise, key by key."""
    shown: dict[str, Any] = {}
    for key, value in sorted(filled.items()):
        if isinstance(value, dict) and value:
            shown[key] = params_info(own.get(key) or {}, value)
        else:
            shown[key] = own.get(key, f"default ({value})")
    return shown


def _ispec_tree(spec: dict[str, Any]) -> dict[str, Any]:
    return {key: spec[key] for key in _ISPEC_KEYS if key in spec}


@main.command(context_settings=CONTEXT)
@click.argument("groups", nargs=-1)
@handle_errors
def info(groups: tuple[str, ...]) -> None:
    """Show node group details.

    \b
    Example:
      gnt-group info default
    """
    fields = (
        "name,uuid,serial_no,alloc_policy,ndparams,diskparams,custom_diskparams,ipolicy,node_list,pinst_list,tags,"
        "hv_state,disk_state"
    )
    data = client().get("/2/query/group", fields=fields, names=",".join(groups) or None)
    out = []
    for row in data["data"]:
        name, uuid, serial, policy, ndparams, diskparams, own_diskparams, ipolicy, nodes, insts, tags, hvs, dss = (
            c[1] for c in row
        )
        bounds = [
            {f"max/{i}": _ispec_tree(pair["max"]), f"min/{i}": _ispec_tree(pair["min"])}
            for i, pair in enumerate(ipolicy.get("minmax", []))
        ]
        out.append(
            {
                "Group": name,
                "UUID": uuid,
                "Serial number": serial,
                "Allocation policy": policy,
                "Node parameters": dict(sorted(ndparams.items())),
                "Disk parameters": params_info(own_diskparams, diskparams),
                **state_info(hvs, dss),
                "Instance policy - limits for instances": {
                    "bounds specs": bounds,
                    "std": _ispec_tree(ipolicy.get("std", {})),
                    "allowed disk templates": ", ".join(ipolicy.get("disk-templates", [])),
                    "vcpu-ratio": ipolicy.get("vcpu-ratio"),
                    "spindle-ratio": ipolicy.get("spindle-ratio"),
                },
                "Nodes": nodes,
                "Primary instances": insts,
                "Tags": ", ".join(tags),
            }
        )
    print_tree(out)
    sys.stdout.flush()


@main.command("show-ispecs-cmd", context_settings=CONTEXT)
@click.option("--include-defaults", is_flag=True, help="Include the policy the group inherits, not only its own")
@click.argument("groups", nargs=-1)
@handle_errors
def show_ispecs_cmd(include_defaults: bool, groups: tuple[str, ...]) -> None:
    """Print the gnt-group add command lines that recreate node groups' instance specs.

    \b
    Example:
      gnt-group show-ispecs-cmd --include-defaults rack2
    """
    field = "ipolicy" if include_defaults else "custom_ipolicy"
    data = client().get("/2/query/group", fields=f"name,{field}", names=",".join(groups) or None)
    for row in data["data"]:
        name, policy = (c[1] for c in row)
        print(f"gnt-group add{format_ipolicy_command(policy or {}, True)} {name}")


@main.command(context_settings=CONTEXT)
@click.argument("group")
@click.option("--to", "groups", multiple=True, metavar="GROUP", help="Group to move instances to (repeatable)")
@field_option("OP_GROUP_EVACUATE", "iallocator", "-I", "--iallocator")
@field_option("OP_GROUP_EVACUATE", "early_release", "--early-release")
@click.option("--sequential", is_flag=True, help="Move the instances one after another (one job)")
@click.option("--force-failover", is_flag=True, help="Fail over instances instead of migrating them")
@common_job_options
@handle_errors
def evacuate(
    group: str,
    groups: tuple[str, ...],
    iallocator: str | None,
    early_release: bool,
    sequential: bool,
    force_failover: bool,
    submit: bool,
    dry_run: bool,
    priority: str,
) -> None:
    """Move every instance off a node group, to the other groups (or those --to names).

    \b
    Example:
      gnt-group evacuate --to rack2 -I hail rack1
    """
    from gnt.cli.jobs import follow_jobs

    op = {
        "OP_ID": "OP_GROUP_EVACUATE",
        "group_name": group,
        "target_groups": list(groups) or None,
        "iallocator": iallocator,
        "early_release": early_release,
        "sequential": sequential,
        "force_failover": force_failover,
        **job_fields(dry_run, priority),
    }
    cl = client()
    outcome = run_ops(cl, [op], submit)
    if outcome is None or dry_run:
        return
    bad = follow_jobs(
        cl,
        [("", ok, value) for ok, value in outcome[0].get("jobs", [])],
        refused=lambda _label, reason: f"Job submission failed: {reason}",
        failed=lambda _label, job_id, err: f"Job {job_id}: {err}",
    )
    if bad:
        print(f"There were {bad} errors during the evacuation.")
        sys.exit(1)
    print("All instances evacuated successfully.")
