"""gnt-node: node administration."""

from __future__ import annotations

from typing import Any

import click

from gnt.cli.common import (
    CONTEXT,
    PRIORITIES,
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
    parse_keyval,
    priority_option,
    run_list,
    validate_ops,
)
from gnt.cli.fields import field_option
from gnt.cli.jobs import follow_jobs, run_ops, wait_job
from gnt.cli.output import print_tree
from gnt.cli.resstate import state_fields, state_info, state_options
from gnt.errors import ParameterError
from gnt.node.restricted_cli import add_restricted_command
from gnt.oob.cli import add_node_oob_commands
from gnt.tags import syntax as tag_syntax
from gnt.tags.cli import add_tag_commands

DEFAULT_FIELDS = ["name", "dtotal", "dfree", "mtotal", "mnode", "mfree", "pinst_cnt", "sinst_cnt"]


@click.group(cls=AliasedGroup, aliases={"show": "info"}, context_settings=CONTEXT)
def main() -> None:
    """Node administration.

    \b
    Example:
      gnt-node add node2
      gnt-node list
    """


add_tag_commands(main, tag_syntax.KIND_NODE, "gnt-node", "node1")
add_node_oob_commands(main)
add_restricted_command(main)


def _yes_no(value: str | None, option: str) -> bool | None:
    if value is None:
        return None
    if value not in ("yes", "no"):
        raise ParameterError(f"{option} takes 'yes' or 'no', not '{value}'")
    return value == "yes"


def parse_ndparams(text: str) -> dict[str, Any]:
    """--node-parameters key=value,... with Ganeti's value conversion (numbers, yes/no)."""
    return {k: convert_value(v) for k, v in parse_keyval(text, "--node-parameters").items()}


@main.command(context_settings=CONTEXT)
@click.argument("node")
@field_option("OP_NODE_ADD", "secondary_ip", "-s", "--secondary-ip")
@click.option("--readd", is_flag=True, help="Re-add a node that was in the cluster")
@click.option("-g", "--node-group", default=None, help="Node group")
@click.option("--master-capable", default=None, help="yes/no: may become master candidate")
@click.option("--vm-capable", default=None, help="yes/no: may run instances")
@click.option("--primary-ip", default=None, help="Primary IP (default: resolve the name)")
@click.option("--no-ssh-key-check", is_flag=True, help="Accept the node's SSH host key without asking")
@click.option(
    "--no-node-setup", is_flag=True, help="Send nothing over SSH: the node is set up already (see issue-certificate)"
)
@click.option("--node-parameters", "ndparams", default=None, help="This node's own node parameters (key=value,...)")
@state_options
@common_job_options
@handle_errors
def add(
    node: str,
    secondary_ip: str | None,
    readd: bool,
    node_group: str | None,
    master_capable: str | None,
    vm_capable: str | None,
    primary_ip: str | None,
    no_ssh_key_check: bool,
    no_node_setup: bool,
    ndparams: str | None,
    hv_state: tuple[str, ...],
    disk_state: tuple[str, ...],
    submit: bool,
    dry_run: bool,
    priority: str,
) -> None:
    """Add a node to the cluster over SSH (gnt installed there, same version; its node daemon running).

    On a real cluster the node's SSH host key is shown and must be confirmed unless the cluster knows it.

    \b
    Example:
      gnt-node add node2
    """
    op = {
        "OP_ID": "OP_NODE_ADD",
        "node_name": node,
        "secondary_ip": secondary_ip,
        "readd": readd,
        "group": node_group,
        "master_capable": _yes_no(master_capable, "--master-capable"),
        "vm_capable": _yes_no(vm_capable, "--vm-capable"),
        "primary_ip": primary_ip,
        "node_setup": not no_node_setup,
        "ndparams": parse_ndparams(ndparams) if ndparams else {},
        **state_fields({"hv_state": hv_state, "disk_state": disk_state}),
        **job_fields(dry_run, priority),
    }
    validate_ops([op])  # a bad name is one line before any SSH
    from gnt import paths

    if not paths.is_virtual() and not dry_run and not no_node_setup:
        from gnt.netutil import resolve
        from gnt.node.hostkey import confirm_host_key

        port = int(client().get("/2/info").get("ndparams", {}).get("ssh_port", 22))
        op["ssh_host_key"] = confirm_host_key(node, primary_ip or resolve(node), port, no_ssh_key_check, readd)
    run_ops(client(), [op], submit)


@main.command("issue-certificate", context_settings=CONTEXT)
@click.argument("node")
@click.argument("output", type=click.Path(dir_okay=False))
@handle_errors
def issue_certificate(node: str, output: str) -> None:
    """Write a key pair for NODE signed by the cluster CA, for a node its admin sets up (add --no-node-setup).

    Run on the master (or a master candidate: they hold the CA). Copy OUTPUT to the node's
    /var/lib/gnt/server.pem (mode 0600) and the master's /var/lib/gnt/ssconf_node_certs beside it
    (without it the node serves no master procedure), write the node's file-storage-paths and
    lvm-volume-groups as on the other nodes, start gnt-noded there, then run
    `gnt-node add --no-node-setup NODE`: the master checks the certificate and lists it.

    \b
    Example:
      gnt-node issue-certificate node4 /root/node4-server.pem
    """
    import os

    from gnt import certs, node_certs, paths
    from gnt.opchecks import is_hostname

    if not is_hostname(node):
        raise ParameterError(f"{node!r} is not a valid host name (letters, digits, '-', '_' and dots)")
    if os.path.exists(output):
        raise ParameterError(f"{output} exists already; name a new file (it will hold a private key)")
    try:
        with open(paths.cluster_ca(), "rb") as handle:
            ca_pem = handle.read()
    except FileNotFoundError:
        raise ParameterError("this node holds no cluster CA: run this on the master or a master candidate") from None
    pem = node_certs.issue(ca_pem, node)
    try:
        certs.write_pem(os.path.abspath(output), pem)
    except OSError as err:
        raise ParameterError(f"cannot write {output}: {err.strerror}") from None
    click.echo(f"Wrote the key pair of {node} (certificate SHA-256 {node_certs.digest(pem)[:16]}...) to {output}")


@main.command(context_settings=CONTEXT)
@click.argument("node")
@common_job_options
@handle_errors
def remove(node: str, submit: bool, dry_run: bool, priority: str) -> None:
    """Remove a node (it must hold no instances).

    \b
    Example:
      gnt-node remove node3
    """
    run_ops(client(), [{"OP_ID": "OP_NODE_REMOVE", "node_name": node, **job_fields(dry_run, priority)}], submit)


@main.command("list", context_settings=CONTEXT)
@click.argument("nodes", nargs=-1)
@list_options
@filter_option
@handle_errors
def list_(
    nodes: tuple[str, ...],
    output: str | None,
    no_headers: bool,
    separator: str | None,
    units: str | None,
    use_filter: bool,
) -> None:
    """List nodes (default fields: name dtotal dfree mtotal mnode mfree pinst_cnt sinst_cnt).

    \b
    Example:
      gnt-node list -o name,role,pinst_cnt --no-headers
    """
    run_list("node", DEFAULT_FIELDS, output, no_headers, separator, units, nodes, use_filter)


add_list_fields_command(main, "node", "gnt-node")

#: field -> (title, kind) of the storage listings (Ganeti's titles)
_VOLUME_TITLES = {
    "node": ("Node", "text"),
    "phys": ("PhysDev", "text"),
    "vg": ("VG", "text"),
    "name": ("Name", "text"),
    "size": ("Size", "unit"),
    "instance": ("Instance", "text"),
}
_STORAGE_TITLES = {
    "node": ("Node", "text"),
    "type": ("Type", "text"),
    "name": ("Name", "text"),
    "size": ("Size", "unit"),
    "used": ("Used", "unit"),
    "free": ("Free", "unit"),
    "allocatable": ("Allocatable", "bool"),
}


def _print_rows(
    titles: dict[str, tuple[str, str]],
    fields: list[str],
    rows: list[list[Any]],
    no_headers: bool,
    separator: str | None,
    units: str | None,
) -> None:
    from gnt.cli.output import format_value, table

    kinds = [titles.get(f, (f, "text"))[1] for f in fields]
    unit = units or ("m" if separator is not None else "h")
    cells = [[format_value(k, v, unit) for k, v in zip(kinds, row, strict=True)] for row in rows]
    headers = None if no_headers else [titles.get(f, (f, ""))[0] for f in fields]
    for line in table(headers, cells, [k == "unit" for k in kinds], separator):
        print(line)


@main.command(context_settings=CONTEXT)
@click.argument("nodes", nargs=-1)
@list_options
@priority_option
@handle_errors
def volumes(
    nodes: tuple[str, ...],
    output: str | None,
    no_headers: bool,
    separator: str | None,
    units: str | None,
    priority: str,
) -> None:
    """List the logical volumes on nodes (fields: node phys vg name size instance).

    \b
    Example:
      gnt-node volumes node1
    """
    from gnt.cli.common import resolve_fields

    fields = resolve_fields(output, list(_VOLUME_TITLES))
    op = {"OP_ID": "OP_NODE_QUERYVOLS", "output_fields": fields, "nodes": list(nodes), "priority": PRIORITIES[priority]}
    (rows,) = run_ops(client(), [op], quiet=True)
    _print_rows(_VOLUME_TITLES, fields, rows, no_headers, separator, units)


@main.command("list-drbd", context_settings=CONTEXT)
@click.argument("node")
@click.option("--no-headers", is_flag=True, help="Do not print the header line")
@click.option("--separator", default=None, help="Separator between fields (default: aligned columns)")
@handle_errors
def list_drbd(node: str, no_headers: bool, separator: str | None) -> None:
    """List the DRBD minors the config places on a node (Node Minor Instance Disk Role PeerNode).

    \b
    Example:
      gnt-node list-drbd node1
    """
    data = client().get("/2/query/node", fields="name,drbd_minors", names=node)
    rows = [[row[0][1], *entry] for row in data["data"] for entry in (row[1][1] or [])]
    titles = {f: (f, "text") for f in ("Node", "Minor", "Instance", "Disk", "Role", "PeerNode")}
    _print_rows(titles, list(titles), rows, no_headers, separator, None)


@main.command("modify-storage", context_settings=CONTEXT)
@click.argument("node")
@click.argument("storage_type")
@click.argument("name")
@click.option("--allocatable", default=None, help="yes/no: may new extents be allocated on it (lvm-pv)")
@common_job_options
@handle_errors
def modify_storage(
    node: str, storage_type: str, name: str, allocatable: str | None, submit: bool, dry_run: bool, priority: str
) -> None:
    """Change a storage unit on a node (an LVM physical volume's allocatable flag).

    \b
    Example:
      gnt-node modify-storage --allocatable=no node1 lvm-pv /dev/sdb
    """
    flag = _yes_no(allocatable, "--allocatable")
    if flag is None:
        raise ParameterError("Nothing to change: give --allocatable=yes|no")
    op = {
        "OP_ID": "OP_NODE_MODIFY_STORAGE",
        "node_name": node,
        "storage_type": storage_type,
        "name": name,
        "changes": {"allocatable": flag},
        **job_fields(dry_run, priority),
    }
    run_ops(client(), [op], submit)


@main.command("repair-storage", context_settings=CONTEXT)
@click.argument("node")
@click.argument("storage_type")
@click.argument("name")
@click.option("--ignore-consistency", is_flag=True, help="Accepted for Ganeti compatibility")
@common_job_options
@handle_errors
def repair_storage(
    node: str, storage_type: str, name: str, ignore_consistency: bool, submit: bool, dry_run: bool, priority: str
) -> None:
    """Repair a storage unit on a node (drop missing physical volumes from an LVM volume group).

    \b
    Example:
      gnt-node repair-storage node1 lvm-vg xenvg
    """
    op = {
        "OP_ID": "OP_REPAIR_NODE_STORAGE",
        "node_name": node,
        "storage_type": storage_type,
        "name": name,
        "ignore_consistency": ignore_consistency,
        **job_fields(dry_run, priority),
    }
    run_ops(client(), [op], submit)


@main.command("list-storage", context_settings=CONTEXT)
@click.argument("nodes", nargs=-1)
@click.option("-t", "--storage-type", default="lvm-vg", help="Storage type: lvm-vg or lvm-pv")
@list_options
@priority_option
@handle_errors
def list_storage(
    nodes: tuple[str, ...],
    storage_type: str,
    output: str | None,
    no_headers: bool,
    separator: str | None,
    units: str | None,
    priority: str,
) -> None:
    """List storage units (volume groups, or their physical volumes) on nodes: size, used, free.

    \b
    Example:
      gnt-node list-storage -t lvm-vg
    """
    from gnt.cli.common import resolve_fields

    fields = resolve_fields(output, list(_STORAGE_TITLES))
    op = {
        "OP_ID": "OP_NODE_QUERY_STORAGE",
        "storage_type": storage_type,
        "output_fields": fields,
        "nodes": list(nodes),
        "priority": PRIORITIES[priority],
    }
    (rows,) = run_ops(client(), [op], quiet=True)
    _print_rows(_STORAGE_TITLES, fields, rows, no_headers, separator, units)


@main.command(context_settings=CONTEXT)
@click.argument("nodes", nargs=-1)
@handle_errors
def info(nodes: tuple[str, ...]) -> None:
    """Show node details.

    \b
    Example:
      gnt-node info node1
    """
    cl = client()
    fields = (
        "name,pip,sip,master_candidate,drained,offline,master_capable,vm_capable,pinst_list,sinst_list,ndparams,accel,"
        "hv_state,disk_state"
    )
    names = list(nodes) or [n["id"] for n in cl.get("/2/nodes")]
    data = cl.get("/2/query/node", fields=fields, names=",".join(names))
    out = []
    for row in data["data"]:
        v = [cell[1] for cell in row]
        out.append(
            {
                "Node name": v[0],
                "primary ip": v[1],
                "secondary ip": v[2],
                "master candidate": v[3],
                "drained": v[4],
                "offline": v[5],
                "master_capable": v[6],
                "vm_capable": v[7],
                "primary for instances": v[8],
                "secondary for instances": v[9],
                "node parameters": dict(sorted(v[10].items())),
                "hypervisor acceleration": v[11] if v[11] is not None else "unknown (no answer from the node)",
                **state_info(v[12], v[13]),
            }
        )
    print_tree(out)


@main.command(context_settings=CONTEXT)
@click.argument("node")
@click.option("-C", "--master-candidate", default=None, help="yes/no")
@click.option("-D", "--drained", default=None, help="yes/no")
@click.option("-O", "--offline", default=None, help="yes/no")
@click.option("--master-capable", default=None, help="yes/no")
@click.option("--vm-capable", default=None, help="yes/no")
@click.option("--auto-promote", is_flag=True, help="Promote another node if this one is demoted")
@field_option("OP_NODE_SET_PARAMS", "secondary_ip", "-s", "--secondary-ip")
@field_option("OP_NODE_SET_PARAMS", "force", "-f", "--force")
@click.option("--node-parameters", "ndparams", default=None, help="Node parameters (e.g. oob_program=/path)")
@click.option("--node-powered", "node_powered", default=None, help="yes/no: record the node's power state")
@state_options
@common_job_options
@handle_errors
def modify(node: str, submit: bool, dry_run: bool, priority: str, **opts: Any) -> None:
    """Change a node's flags (master candidate, drained, offline).

    \b
    Example:
      gnt-node modify -O yes node3
    """
    op: dict[str, Any] = {
        "OP_ID": "OP_NODE_SET_PARAMS",
        "node_name": node,
        "force": opts["force"],
        "auto_promote": opts["auto_promote"],
        **job_fields(dry_run, priority),
    }
    for key, flag in (
        ("master_candidate", "-C"),
        ("drained", "-D"),
        ("offline", "-O"),
        ("master_capable", "--master-capable"),
        ("vm_capable", "--vm-capable"),
        ("powered", "--node-powered"),
    ):
        value = _yes_no(opts["node_powered" if key == "powered" else key], flag)
        if value is not None:
            op[key] = value
    if opts["ndparams"] is not None:
        op["ndparams"] = parse_ndparams(opts["ndparams"])
    if opts["secondary_ip"] is not None:
        op["secondary_ip"] = opts["secondary_ip"]
    op.update(state_fields(opts))
    result = run_ops(client(), [op], submit)
    if result:
        print(f"Modified node {node}")
        for key, value in result[0]:
            print(f" - {key} -> {value}")


@main.command(context_settings=CONTEXT)
@click.argument("node")
@click.option("-p", "--primary-only", is_flag=True, help="Only primary instances")
@click.option("-s", "--secondary-only", is_flag=True, help="Only secondary instances")
@field_option("OP_NODE_EVACUATE", "remote_node", "-n", "--new-secondary")
@field_option("OP_NODE_EVACUATE", "iallocator", "-I", "--iallocator")
@field_option("OP_NODE_EVACUATE", "ignore_soft_errors", "--ignore-soft-errors")
@click.option("-f", "--force", is_flag=True, help="Do not ask for confirmation")
@click.option(
    "--early-release",
    is_flag=True,
    help="When moving a mirror, drop the old secondary's disks and locks before the new mirror is in sync",
)
@common_job_options
@handle_errors
def evacuate(
    node: str,
    primary_only: bool,
    secondary_only: bool,
    remote_node: str | None,
    iallocator: str | None,
    ignore_soft_errors: bool,
    force: bool,
    early_release: bool,
    submit: bool,
    dry_run: bool,
    priority: str,
) -> None:
    """Move all instances off a node (the allocator picks the targets).

    \b
    Example:
      gnt-node evacuate -f node3
    """
    if primary_only and secondary_only:
        raise ParameterError("-p and -s cannot be combined")
    mode = "primary-only" if primary_only else "secondary-only" if secondary_only else "all"
    op = {
        "OP_ID": "OP_NODE_EVACUATE",
        "node_name": node,
        "mode": mode,
        "remote_node": remote_node,
        "iallocator": iallocator,
        "early_release": early_release,
        "ignore_soft_errors": ignore_soft_errors,
        **job_fields(dry_run, priority),
    }
    _run_and_follow(op, submit)


def _run_and_follow(op: dict[str, Any], submit: bool) -> None:
    """Run a job that submits one job per instance, then wait for those too."""
    cl = client()
    result = run_ops(cl, [op], submit)
    if not result:
        return
    bad = follow_jobs(
        cl,
        [("", ok, value) for ok, value in result[0]["jobs"]],
        refused=lambda _label, reason: f"Job submission failed: {reason}",
        failed=lambda _label, job_id, err: f"Job {job_id} failed: {err}",
    )
    if bad:
        raise SystemExit(1)


@main.command(context_settings=CONTEXT)
@click.argument("node")
@click.option("-f", "--force", is_flag=True, help="Do not ask for confirmation")
@click.option("--ignore-consistency", is_flag=True, help="Go on even if the node cannot stop its instances")
@click.option("-I", "--iallocator", default=None, help="Allocator choosing the targets")
@common_job_options
@handle_errors
def failover(
    node: str, force: bool, ignore_consistency: bool, iallocator: str | None, submit: bool, dry_run: bool, priority: str
) -> None:
    """Fail over every primary instance of a node (stop here, start elsewhere), one job each.

    \b
    Example:
      gnt-node failover -f node2
    """
    cl = client()
    names = cl.get("/2/query/node", fields="pinst_list", names=node)["data"][0][0][1]
    if not names:
        print(f"No primary instances on node {node}, exiting.")
        return
    confirm(f"Fail over instance(s) {', '.join(names)} from node {node}?", force)
    jobs = [
        [
            {
                "OP_ID": "OP_INSTANCE_FAILOVER",
                "instance_name": name,
                "ignore_consistency": ignore_consistency,
                "iallocator": iallocator,
                **job_fields(dry_run, priority),
            }
        ]
        for name in names
    ]
    failed = False
    for name, (ok, job_id) in zip(names, cl.submit_many(jobs), strict=True):
        if not ok:
            print(f"Cannot fail over {name}: {job_id}")
            failed = True
        elif submit:
            print(f"JobID: {job_id}")
        else:
            try:
                wait_job(cl, job_id)
            except Exception as err:  # noqa: BLE001 - report every instance
                print(f"Failover of {name} failed: {err}")
                failed = True
    if failed:
        raise SystemExit(1)


@main.command(context_settings=CONTEXT)
@click.argument("node")
@click.option("--non-live", is_flag=True, help="Pause instances while moving them")
@click.option("--migration-mode", type=click.Choice(["live", "non-live"]), default=None, help="live or non-live")
@click.option("-n", "--target-node", default=None, help="Target node")
@click.option("-I", "--iallocator", default=None, help="Allocator choosing targets")
@click.option("--ignore-ipolicy", is_flag=True, help="Ignore the instance policy of the targets")
@click.option(
    "--no-runtime-changes",
    is_flag=True,
    help="Never change an instance's runtime memory to fit the target (gnt's migrations never do)",
)
@click.option("-f", "--force", is_flag=True, help="Do not ask for confirmation")
@common_job_options
@handle_errors
def migrate(
    node: str,
    non_live: bool,
    migration_mode: str | None,
    target_node: str | None,
    iallocator: str | None,
    ignore_ipolicy: bool,
    no_runtime_changes: bool,
    force: bool,
    submit: bool,
    dry_run: bool,
    priority: str,
) -> None:
    """Live-migrate all primary instances away from a node.

    \b
    Example:
      gnt-node migrate -f node2
    """
    if non_live and migration_mode:
        raise ParameterError("Only one of --non-live and --migration-mode can be given")
    op = {
        "OP_ID": "OP_NODE_MIGRATE",
        "node_name": node,
        "mode": "non-live" if non_live else migration_mode,
        "target_node": target_node,
        "iallocator": iallocator,
        "ignore_ipolicy": ignore_ipolicy,
        "allow_runtime_changes": not no_runtime_changes,
        **job_fields(dry_run, priority),
    }
    _run_and_follow(op, submit)
