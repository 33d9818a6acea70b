"""gnt-cluster: cluster-wide administration."""

from __future__ import annotations

import platform
import sys
from typing import Any

import click

from gnt import CONFIG_VERSION, EXPORT_VERSION, OS_API_VERSION, PROTOCOL_VERSION, __version__
from gnt.cli.common import (
    CONTEXT,
    AliasedGroup,
    client,
    common_job_options,
    convert_value,
    handle_errors,
    job_fields,
    parse_diskparams,
    parse_ident_keyval,
    parse_keyval,
    validate_ops,
)
from gnt.cli.ipolicy import format_ipolicy_command, ipolicy_from_opts, ipolicy_options
from gnt.cli.jobs import run_ops, wait_job
from gnt.cli.output import print_tree
from gnt.cli.resstate import state_fields, state_info, state_options
from gnt.cluster.verify_codes import N1_CHECK
from gnt.errors import OpPrereqError, ParameterError
from gnt.ialloc_params import describe as describe_ialloc_params
from gnt.tags import syntax as tag_syntax
from gnt.tags.cli import add_tag_commands
from gnt.units import parse_size


@click.group(cls=AliasedGroup, aliases={"masterfailover": "master-failover", "show": "info"}, context_settings=CONTEXT)
def main() -> None:
    """Cluster administration.

    \b
    Example:
      gnt-cluster init --enabled-hypervisors=fake cluster1
      gnt-cluster verify
    """


add_tag_commands(main, tag_syntax.KIND_CLUSTER, "gnt-cluster")


def _hvparams(values: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = {}
    for value in values:
        hv, params = parse_ident_keyval(value, "-H")
        result.setdefault(hv, {}).update({k: convert_value(v) for k, v in params.items()})
    return result


def _beparams(text: str | None) -> dict[str, Any]:
    params = parse_keyval(text or "", "-B")
    for key in ("memory", "maxmem", "minmem"):
        if key in params:
            params[key] = parse_size(params[key], key)
    return {k: convert_value(v) for k, v in params.items()}


def _ndparams(text: str | None) -> dict[str, Any]:
    return {k: convert_value(v) for k, v in parse_keyval(text or "", "--node-parameters").items()}


_IALLOC_PARAMS_HELP = "key=value,...: options every allocator run gets (--key=value; -key gives --key)"


def _ialloc_params(text: str | None) -> dict[str, Any] | None:
    """Ganeti's keyval rules; the values stay strings: they become the allocator's arguments."""
    return None if text is None else parse_keyval(text, "--default-iallocator-params")


_USER_SHUTDOWN_HELP = "yes: a guest's own poweroff is USER_down, left alone by the watcher (default no)"
_WIPE_HELP = "yes: zero new disks and grown space before instances use them (default no)"
_HEALTH_HELP = "yes: the watcher stops instances still running on nodes marked offline (default no)"
_UID_POOL_HELP = "User-id pool of kvm security_model=pool: uids and ranges, e.g. 1000-2000,3000"
_COMPRESSION_HELP = "Comma-separated tools moves, exports and imports may use (gzip, gzip-fast, gzip-slow; '' resets)"
#: Ganeti's default list (gnt.compression.DEFAULT_TOOLS; not imported: the CLI stays light)
_DEFAULT_COMPRESSION_TOOLS = ["gzip", "gzip-fast", "gzip-slow"]


def _compression_tools(text: str | None) -> list[str] | None:
    """--compression-tools as Ganeti reads it: a comma-separated list; empty resets to the default."""
    if text is None:
        return None
    return [t for t in text.split(",") if t] or list(_DEFAULT_COMPRESSION_TOOLS)


def _uid_ranges(text: str | None, option: str) -> list[list[int]] | None:
    """A --uid-pool/--add-uids/--remove-uids value as [[low, high], ...]; None when not given."""
    if text is None:
        return None
    from gnt import uidpool

    try:
        ranges = uidpool.parse(text)
        uidpool.check([list(r) for r in ranges])
    except uidpool.UidPoolError as err:
        raise OpPrereqError(f"Invalid {option}: {err}", "wrong_input") from None
    return [list(r) for r in ranges]


@main.command(context_settings=CONTEXT)
@click.argument("name")
@click.option("--enabled-hypervisors", default="fake", help="Comma-separated hypervisors (first is default)")
@click.option("--enabled-disk-templates", default=None, help="Comma-separated disk templates")
@click.option("--file-storage-dir", default="", help="Directory for file disks (per node)")
@click.option("--shared-file-storage-dir", default="", help="Directory for sharedfile disks (shared by all nodes)")
@click.option("--vg-name", default=None, help="LVM volume group of plain disks (default: xenvg)")
@click.option("--drbd-usermode-helper", "drbd_helper", default=None, help="DRBD module usermode_helper (/bin/true)")
@click.option("-D", "--disk-parameters", "diskparams", multiple=True, help="template:key=value,... (drbd:resync-rate)")
@click.option("-B", "--backend-parameters", "beparams", default=None, help="Default backend parameters")
@click.option("-H", "--hypervisor-parameters", "hvparams", multiple=True, help="hv:key=value,... (repeatable)")
@click.option("-N", "--nic-parameters", "nicparams", default=None, help="Default NIC parameters")
@click.option("--master-netdev", default=None, help="Interface of the master IP (the cluster name's address)")
@click.option("--master-netmask", type=click.IntRange(1, 128), default=None, help="Prefix length of the master IP")
@click.option("--use-external-mip-script", is_flag=True, help="Run /etc/gnt/master-ip-setup instead of ip(8)")
@click.option("-s", "--secondary-ip", default=None, help="Secondary IP of this node")
@click.option("-m", "--mac-prefix", default=None, help="Prefix of generated MAC addresses")
@click.option("-C", "--candidate-pool-size", type=int, default=None, help="Number of master candidates")
@click.option("-I", "--default-iallocator", default=None, help="Allocator used when a command names none (hail)")
@click.option("--default-iallocator-params", "default_iallocator_params", default=None, help=_IALLOC_PARAMS_HELP)
@click.option(
    "--primary-ip-version",
    type=int,
    default=None,
    metavar="4|6",
    help="IP family of the nodes' primary addresses (default: this host's address's)",
)
@click.option("--node-parameters", "ndparams", default=None, help="Default node parameters (key=value,...)")
@click.option("--user-shutdown", type=click.Choice(["yes", "no"]), default="no", help=_USER_SHUTDOWN_HELP)
@click.option("--prealloc-wipe-disks", type=click.Choice(["yes", "no"]), default="no", help=_WIPE_HELP)
@click.option("--maintain-node-health", type=click.Choice(["yes", "no"]), default="no", help=_HEALTH_HELP)
@click.option("--uid-pool", default=None, help=_UID_POOL_HELP)
@click.option("--compression-tools", default=None, help=_COMPRESSION_HELP)
@click.option("--ssh-key-type", default=None, help="Type of the cluster's SSH key: rsa (default), ecdsa or ed25519")
@click.option(
    "--ssh-key-bits", type=int, default=None, help="Size of the cluster's SSH key (default: rsa 2048, ecdsa 384)"
)
@state_options
@click.option("--no-etc-hosts", is_flag=True, expose_value=False, help="Leave /etc/hosts alone (gnt never edits it)")
@click.option(
    "--no-ssh-init",
    is_flag=True,
    expose_value=False,
    help="Make no SSH key now (gnt makes the cluster's key at the first gnt-node add)",
)
@ipolicy_options(split=True)
@handle_errors
def init(name: str, **opts: Any) -> None:
    """Initialise a cluster with this node as its master.

    \b
    Example:
      gnt-cluster init --enabled-hypervisors=fake --enabled-disk-templates=diskless,file,sharedfile mycluster
    """
    from gnt.cluster.bootstrap import init_cluster

    settings = {
        "enabled_hypervisors": [h for h in opts["enabled_hypervisors"].split(",") if h],
        "enabled_disk_templates": [t for t in (opts["enabled_disk_templates"] or "").split(",") if t],
        "file_storage_dir": opts["file_storage_dir"],
        "shared_file_storage_dir": opts["shared_file_storage_dir"],
        "vg_name": opts["vg_name"],
        "drbd_helper": opts["drbd_helper"],
        "diskparams": parse_diskparams(opts["diskparams"]),
        "beparams": _beparams(opts["beparams"]),
        "hvparams": _hvparams(opts["hvparams"]),
        "nicparams": parse_keyval(opts["nicparams"] or "", "-N"),
        "master_netdev": opts["master_netdev"],
        "master_netmask": opts["master_netmask"],
        "use_external_mip_script": opts["use_external_mip_script"],
        "secondary_ip": opts["secondary_ip"],
        "mac_prefix": opts["mac_prefix"],
        "candidate_pool_size": opts["candidate_pool_size"],
        "default_iallocator": opts["default_iallocator"],
        "default_iallocator_params": _ialloc_params(opts["default_iallocator_params"]),
        "primary_ip_version": opts["primary_ip_version"],
        "ndparams": _ndparams(opts["ndparams"]),
        "ipolicy": ipolicy_from_opts(opts),
        "enabled_user_shutdown": opts["user_shutdown"] == "yes",
        "prealloc_wipe_disks": opts["prealloc_wipe_disks"] == "yes",
        "maintain_node_health": opts["maintain_node_health"] == "yes",
        "uid_pool": _uid_ranges(opts["uid_pool"], "--uid-pool") or [],
        "ssh_key_type": opts["ssh_key_type"],
        "ssh_key_bits": opts["ssh_key_bits"],
        "compression_tools": _compression_tools(opts["compression_tools"]),
        **state_fields(opts),
    }
    init_cluster(name, settings)
    cl = client()
    run_ops(cl, [{"OP_ID": "OP_CLUSTER_POST_INIT"}], quiet=True)


@main.command(context_settings=CONTEXT)
@handle_errors
def getmaster() -> None:
    """Print the master node's name.

    \b
    Example:
      gnt-cluster getmaster
    """
    from gnt import paths

    try:
        with open(paths.ssconf_file("master_node")) as handle:
            print(handle.read().strip())
    except OSError:
        print(client().get("/2/info")["master"])


@main.command(context_settings=CONTEXT)
@handle_errors
def version() -> None:
    """Print the software and interface versions.

    \b
    Example:
      gnt-cluster version
    """
    print(f"Software version: {__version__}")
    print(f"Internode protocol: {PROTOCOL_VERSION}")
    print(f"Configuration format: {CONFIG_VERSION}")
    print(f"OS api version: {OS_API_VERSION}")
    print(f"Export interface: {EXPORT_VERSION}")
    print(f"VCS version: (gnt) version {__version__}")


def _params_block(title: str, data: dict[str, Any]) -> dict[str, Any]:
    return {title: {k: data[k] for k in sorted(data)}}


@main.command(context_settings=CONTEXT)
@click.option("--roman", is_flag=True, help="Show whole numbers in Roman numerals (as Ganeti can)")
@handle_errors
def info(roman: bool) -> None:
    """Show the cluster's configuration.

    \b
    Example:
      gnt-cluster info
      gnt-cluster info --roman
    """
    import time

    from gnt import uidpool

    data = client().get("/2/info")
    stamp = "%Y-%m-%d %H:%M:%S"
    tree: dict[str, Any] = {
        "Cluster name": data["name"],
        "Cluster UUID": data["uuid"],
        "Creation time": time.strftime(stamp, time.localtime(data["ctime"])),
        "Modification time": time.strftime(stamp, time.localtime(data["mtime"])),
        "Master node": data["master"],
        "Architecture (this node)": f"{platform.architecture()[0]} ({platform.machine()})",
        "Tags": ", ".join(data["tags"]) or "(none)",
        "Default hypervisor": data["default_hypervisor"],
        "Enabled hypervisors": ", ".join(data["enabled_hypervisors"]),
        "Hypervisor parameters": {hv: dict(sorted(p.items())) for hv, p in data["hvparams"].items()},
        "Cluster parameters": {
            "candidate pool size": data["candidate_pool_size"],
            "maximal number of jobs running simultaneously": data["max_running_jobs"],
            "mac prefix": data["mac_prefix"],
            "master netdev": data["master_netdev"],
            "master netmask": data["master_netmask"],
            "master IP": data.get("master_ip") or "(none)",
            "use external master IP address setup script": data.get("use_external_mip_script", False),
            "lvm volume group": data.get("volume_group_name") or "None",
            "lvm reserved volumes": ", ".join(data.get("reserved_lvs") or []) or "(none)",
            "drbd usermode helper": data.get("drbd_usermode_helper") or "(none)",
            "disk parameters": {t: dict(sorted(p.items())) for t, p in (data.get("diskparams") or {}).items()},
            "file storage path": data["file_storage_dir"],
            "shared file storage path": data["shared_file_storage_dir"],
            "maintenance of node health": data.get("maintain_node_health", False),
            "uid pool": uidpool.format_pool(data.get("uid_pool") or [], roman=roman),
            "default instance allocator": data["default_iallocator"],
            "default instance allocator parameters": describe_ialloc_params(
                data.get("default_iallocator_params") or {}
            ),
            "primary ip version": data.get("primary_ip_version", 4),
            "preallocation wipe disks": data.get("prealloc_wipe_disks", False),
            "enabled disk templates": ", ".join(data["enabled_disk_templates"]),
            "config serial": data["config_serial"],
            "job queue drained": data["drain_flag"],
            "compression tools": list(data["compression_tools"]),
            "enabled user shutdown": data.get("enabled_user_shutdown", False),
            "ssh_key_type": data["ssh_key_type"],
            "ssh_key_bits": data["ssh_key_bits"],
        },
        "Default node parameters": dict(sorted(data["ndparams"].items())),
        "Default instance parameters": {"default": dict(sorted(data["beparams"]["default"].items()))},
        "Default nic parameters": {"default": dict(sorted(data["nicparams"]["default"].items()))},
        "Instance policy - limits for instances": data["ipolicy"],
    }
    tree.update(state_info(data.get("hv_state"), data.get("disk_state")))
    if roman:
        from gnt.cli.roman import romanize

        tree = romanize(tree)
    print_tree(tree)


@main.command(context_settings=CONTEXT)
@click.option("-v", "--verbose", is_flag=True, help="More details")
@click.option("--error-codes", is_flag=True, help="Machine-parseable error codes (ftype:ecode:etype:item:msg)")
@click.option("--skip-checks", default="", help="Checks to skip")
@click.option("--no-nplus1-mem", is_flag=True, help="Skip the N+1 memory redundancy check")
@click.option("-g", "--node-group", default=None, help="Verify only this node group")
@click.option("-I", "--ignore-errors", multiple=True, metavar="ERROR_CODE", help="Report this error code as a warning")
@common_job_options
@handle_errors
def verify(
    verbose: bool,
    error_codes: bool,
    skip_checks: str,
    no_nplus1_mem: bool,
    node_group: str | None,
    ignore_errors: tuple[str, ...],
    submit: bool,
    dry_run: bool,
    priority: str,
) -> None:
    """Check the cluster: config, nodes, instances, orphan disks, N+1 memory. Exits 1 if it found errors.

    \b
    Example:
      gnt-cluster verify
      gnt-cluster verify --error-codes -I ENODEN1 -g rack2
    """
    skip = [c for c in skip_checks.split(",") if c]
    if no_nplus1_mem:
        skip.append(N1_CHECK)
    cl = client()
    op = {
        "OP_ID": "OP_CLUSTER_VERIFY",
        "verbose": verbose,
        "error_codes": error_codes,
        "skip_checks": skip,
        "ignore_errors": list(ignore_errors),
        "group_name": node_group,
        **job_fields(dry_run, priority),
    }
    try:
        job_id = cl.submit([op])
    except OpPrereqError:
        validate_ops([op])  # a malformed -I or --skip-checks value: one line, as run_ops says it
        raise
    if submit:
        print(f"JobID: {job_id}")
        return
    print(f"Submitted jobs {job_id}")
    print(f"Waiting for job {job_id} ...")
    result = wait_job(cl, job_id)
    if result and result[0] is False:
        sys.exit(1)


@main.command("show-ispecs-cmd", context_settings=CONTEXT)
@handle_errors
def show_ispecs_cmd() -> None:
    """Print the gnt-cluster init command line that recreates the cluster's instance specs.

    \b
    Example:
      gnt-cluster show-ispecs-cmd
    """
    data = client().get("/2/info")
    print(f"gnt-cluster init{format_ipolicy_command(data['ipolicy'], False)} {data['name']}")


@main.command("verify-disks", context_settings=CONTEXT)
@click.option("-g", "--node-group", default=None, help="Check only the instances with a node in this group")
@common_job_options
@handle_errors
def verify_disks(node_group: str | None, submit: bool, dry_run: bool, priority: str) -> None:
    """Remove disks that failed operations left behind, report missing plain volumes and activate
    again the ones that should be up.

    \b
    Example:
      gnt-cluster verify-disks
    """
    op = {"OP_ID": "OP_CLUSTER_VERIFY_DISKS", "group_name": node_group, **job_fields(dry_run, priority)}
    result = run_ops(client(), [op], submit)
    if result and isinstance(result[0], dict) and (result[0].get("pending") or result[0].get("missing")):
        sys.exit(1)


@main.command("repair-disk-sizes", context_settings=CONTEXT)
@click.argument("instances", nargs=-1)
@common_job_options
@handle_errors
def repair_disk_sizes(instances: tuple[str, ...], submit: bool, dry_run: bool, priority: str) -> None:
    """Correct the recorded disk sizes from what the nodes report (all instances, or the named ones).

    \b
    Example:
      gnt-cluster repair-disk-sizes inst1 inst2
    """
    op = {"OP_ID": "OP_CLUSTER_REPAIR_DISK_SIZES", "instances": list(instances), **job_fields(dry_run, priority)}
    run_ops(client(), [op], submit)


@main.command(context_settings=CONTEXT)
@click.option("--enabled-hypervisors", default=None, help="Comma-separated hypervisors")
@click.option("--enabled-disk-templates", default=None, help="Comma-separated disk templates")
@click.option("-B", "--backend-parameters", "beparams", default=None, help="Default backend parameters")
@click.option("-H", "--hypervisor-parameters", "hvparams", multiple=True, help="hv:key=value,...")
@click.option("-N", "--nic-parameters", "nicparams", default=None, help="Default NIC parameters")
@click.option("-C", "--candidate-pool-size", type=int, default=None, help="Number of master candidates")
@click.option("--max-running-jobs", type=int, default=None, help="Jobs that may run at once")
@click.option("-m", "--mac-prefix", default=None, help="Prefix of generated MAC addresses")
@click.option("--node-parameters", "ndparams", default=None, help="Default node parameters (key=value,...)")
@click.option("--master-netdev", default=None, help="Interface of the master IP")
@click.option("--master-netmask", type=click.IntRange(1, 128), default=None, help="Prefix length of the master IP")
@click.option("--use-external-mip-script", type=click.Choice(["yes", "no"]), default=None, help="Run the MIP script")
@click.option("--file-storage-dir", default=None, help="Directory of file disks")
@click.option("--shared-file-storage-dir", default=None, help="Directory of sharedfile disks")
@click.option("--vg-name", default=None, help="LVM volume group of plain disks (every node must have it)")
@click.option("--reserved-lvs", default=None, help="Comma-separated regexps of LVs (vg/lv) not gnt's; '' clears")
@click.option("--drbd-usermode-helper", "drbd_helper", default=None, help="DRBD module usermode_helper; '' checks none")
@click.option("-D", "--disk-parameters", "diskparams", multiple=True, help="template:key=value,... (drbd:resync-rate)")
@click.option("-I", "--default-iallocator", default=None, help="Default instance allocator")
@click.option("--default-iallocator-params", "default_iallocator_params", default=None, help=_IALLOC_PARAMS_HELP)
@click.option("--user-shutdown", type=click.Choice(["yes", "no"]), default=None, help=_USER_SHUTDOWN_HELP)
@click.option("--prealloc-wipe-disks", type=click.Choice(["yes", "no"]), default=None, help=_WIPE_HELP)
@click.option("--maintain-node-health", type=click.Choice(["yes", "no"]), default=None, help=_HEALTH_HELP)
@click.option("--uid-pool", default=None, help=_UID_POOL_HELP + " (replaces the pool; '' empties it)")
@click.option("--add-uids", default=None, help="Uids and ranges to add to the uid pool (1000-2000,3000)")
@click.option("--remove-uids", default=None, help="Uids and ranges to remove from the uid pool, each as added")
@click.option("--compression-tools", default=None, help=_COMPRESSION_HELP)
@state_options
@ipolicy_options()
@common_job_options
@handle_errors
def modify(submit: bool, dry_run: bool, priority: str, **opts: Any) -> None:
    """Change cluster parameters.

    \b
    Example:
      gnt-cluster modify -B memory=256M --candidate-pool-size=5
      gnt-cluster modify --add-uids 2000-2099 --remove-uids 1000-1099
    """
    op: dict[str, Any] = {"OP_ID": "OP_CLUSTER_SET_PARAMS", **job_fields(dry_run, priority)}
    if opts["enabled_hypervisors"]:
        op["enabled_hypervisors"] = opts["enabled_hypervisors"].split(",")
    if opts["enabled_disk_templates"]:
        op["enabled_disk_templates"] = opts["enabled_disk_templates"].split(",")
    if opts["beparams"]:
        op["beparams"] = _beparams(opts["beparams"])
    if opts["hvparams"]:
        op["hvparams"] = _hvparams(opts["hvparams"])
    if opts["nicparams"]:
        op["nicparams"] = parse_keyval(opts["nicparams"], "-N")
    if opts["diskparams"]:
        op["diskparams"] = parse_diskparams(opts["diskparams"])
    if opts["ndparams"]:
        op["ndparams"] = _ndparams(opts["ndparams"])
    op.update(state_fields(opts))
    ipolicy = ipolicy_from_opts(opts)
    if ipolicy is not None:
        op["ipolicy"] = ipolicy
    if opts["reserved_lvs"] is not None:
        op["reserved_lvs"] = [p for p in opts["reserved_lvs"].split(",") if p]
    for option, field in (
        ("use_external_mip_script", "use_external_mip_script"),
        ("user_shutdown", "enabled_user_shutdown"),
        ("prealloc_wipe_disks", "prealloc_wipe_disks"),
        ("maintain_node_health", "maintain_node_health"),
    ):
        if opts[option] is not None:
            op[field] = opts[option] == "yes"
    for option, flag in (("uid_pool", "--uid-pool"), ("add_uids", "--add-uids"), ("remove_uids", "--remove-uids")):
        ranges = _uid_ranges(opts[option], flag)
        if ranges is not None:
            op[option] = ranges
    for key in (
        "candidate_pool_size",
        "max_running_jobs",
        "mac_prefix",
        "master_netdev",
        "master_netmask",
        "file_storage_dir",
        "shared_file_storage_dir",
        "default_iallocator",
        "vg_name",
        "drbd_helper",
    ):
        if opts[key] is not None:
            op[key] = opts[key]
    if opts["default_iallocator_params"] is not None:
        op["default_iallocator_params"] = _ialloc_params(opts["default_iallocator_params"])
    if opts["compression_tools"] is not None:
        op["compression_tools"] = _compression_tools(opts["compression_tools"])
    if len(op) == 3:
        raise ParameterError("Please give at least one of the parameters.")
    run_ops(client(), [op], submit)


@main.command(context_settings=CONTEXT)
@click.option("--yes-do-it", "--ya-rly", is_flag=True, help="Confirm that you really want to destroy the cluster")
@handle_errors
def destroy(yes_do_it: bool) -> None:
    """Destroy the cluster (only when the master is its last node and no instances are left).

    \b
    Example:
      gnt-cluster destroy --yes-do-it
    """
    if not yes_do_it:
        raise ParameterError("Destroying the cluster is permanent; add --yes-do-it if you really want to")
    run_ops(client(), [{"OP_ID": "OP_CLUSTER_DESTROY"}])


@main.command("master-failover", context_settings=CONTEXT)
@click.option("--no-voting", is_flag=True, help="Skip the vote among nodes (old master known to be dead)")
@click.option("--yes-do-it", is_flag=True, help="Do not ask for confirmation of --no-voting (scripts)")
@click.option(
    "--ignore-offline-nodes",
    is_flag=True,
    expose_value=False,
    help="Leave offline nodes out of the vote and the config push (gnt always does)",
)
@handle_errors
def master_failover(no_voting: bool, yes_do_it: bool) -> None:
    """Make this node (a master candidate) the master.

    Without a majority of nodes answering (a two-node cluster whose master is down) the vote
    cannot pass: --no-voting skips it, after a confirmation that --yes-do-it answers.

    \b
    Example (on the new master):
      gnt-cluster master-failover
      gnt-cluster master-failover --no-voting --yes-do-it
    """
    from gnt.cluster.bootstrap import master_failover as failover

    if no_voting and not yes_do_it:
        question = "This skips the vote: if the old master is still running, the cluster gets two masters. Continue?"
        if not sys.stdin.isatty():
            raise ParameterError("--no-voting skips the vote among nodes; add --yes-do-it to confirm it")
        if not click.confirm(question, default=False):
            raise ParameterError("Master failover aborted")

    old = failover(no_voting)
    print(f"Master role moved from {old} to this node.")


@main.command("recover-config", context_settings=CONTEXT)
@click.option("--from", "source", default=None, metavar="NODE", help="Take the replica of this master candidate")
@click.option("--force", is_flag=True, help="Replace the config even if it is not damaged")
@click.option("--no-start", is_flag=True, help="Do not start gnt-masterd afterwards")
@handle_errors
def recover_config(source: str | None, force: bool, no_start: bool) -> None:
    """Rebuild a damaged config from the newest master candidate's replica (master node, masterd stopped).

    \b
    Example (on the master node, after gnt-masterd refused to start on a damaged config.db):
      gnt-cluster recover-config
      gnt-cluster recover-config --from node2
    """
    from gnt.cluster.bootstrap import start_masterd
    from gnt.cluster.recover import recover_config as recover

    done = recover(source, force)
    for node, answer in sorted(done.asked.items()):
        print(f"  {node}: {answer}")
    print(f"Config rebuilt from the replica of {done.source} (serial {done.serial});")
    print(f"the damaged file is kept as {done.kept_aside}")
    if not no_start:
        start_masterd()
        print("gnt-masterd started")


@main.group(context_settings=CONTEXT)
def queue() -> None:
    """Control the job queue (drain, undrain, info).

    \b
    Example:
      gnt-cluster queue drain
    """


@queue.command("drain", context_settings=CONTEXT)
@handle_errors
def queue_drain() -> None:
    """Refuse new jobs."""
    client().request("PUT", "/2/queue/drain", True)


@queue.command("undrain", context_settings=CONTEXT)
@handle_errors
def queue_undrain() -> None:
    """Accept new jobs again."""
    client().request("PUT", "/2/queue/drain", False)


@queue.command("info", context_settings=CONTEXT)
@handle_errors
def queue_info() -> None:
    """Show whether the queue is drained."""
    data = client().get("/2/queue")
    print(f"The drain flag is {'set' if data['drained'] else 'unset'}")


def _register_htools() -> None:
    from gnt.cluster.htools import balance, capacity

    main.add_command(balance)
    main.add_command(capacity)


_register_htools()


def _register_remote() -> None:
    from gnt.cluster.master_ip_cli import COMMANDS as MASTER_IP_COMMANDS
    from gnt.cluster.remote_cli import COMMANDS

    for cmd in (*COMMANDS, *MASTER_IP_COMMANDS):
        main.add_command(cmd)


_register_remote()


def _show_watcher_pause(until: float | None) -> None:
    import time

    if until is None or until < time.time():
        print("The watcher is not paused.")
    else:
        print(f"The watcher is paused until {time.ctime(until)}.")


@main.command(context_settings=CONTEXT)
@click.argument("command", metavar="{pause DURATION|continue|info}")
@click.argument("duration", required=False)
@handle_errors
def watcher(command: str, duration: str | None) -> None:
    """Pause the watcher for a while, let it continue, or show whether it is paused.

    DURATION is seconds, or a number with s, m, h, d or w.

    \b
    Example:
      gnt-cluster watcher pause 1h
      gnt-cluster watcher info
      gnt-cluster watcher continue
    """
    from gnt.watcher_pause import API_PATH as PATH
    from gnt.watcher_pause import parse_timespec

    if command == "pause":
        if duration is None:
            raise ParameterError("Missing pause duration")
        seconds = parse_timespec(duration)
        _show_watcher_pause(client().request("PUT", PATH, {"duration": seconds})["paused_until"])
    elif duration is not None:
        raise ParameterError(f"'{command}' takes no argument, got '{duration}'")
    elif command == "continue":
        client().request("PUT", PATH, {"duration": None})
        print("The watcher is no longer paused.")
    elif command == "info":
        _show_watcher_pause(client().get(PATH)["paused_until"])
    else:
        raise ParameterError(f"Command '{command}' is not valid.")


def _register_crypto() -> None:
    from gnt.cluster.crypto_cli import renew_crypto

    main.add_command(renew_crypto)


_register_crypto()


def _register_epo() -> None:
    from gnt.oob.epo import add_epo_command

    add_epo_command(main)


_register_epo()


@main.command(context_settings=CONTEXT)
@click.option("--to", "to", default=None, metavar="VERSION", help="The gnt version every node now runs")
@click.option("--resume", is_flag=True, help="Finish an interrupted upgrade")
@handle_errors
def upgrade(to: str | None, resume: bool) -> None:
    """Bring the cluster to a new gnt version once every node runs it: drain the queue, convert the
    configuration to that version's format, undrain. Run on the master.

    \b
    Example:
      gnt-cluster upgrade --to 0.1.0
      gnt-cluster upgrade --resume
    """
    from gnt.cluster.upgrade_cli import run_upgrade

    run_upgrade(to, resume)
