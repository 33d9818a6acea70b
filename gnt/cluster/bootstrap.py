"""`gnt-cluster init` and `master-failover`: the two operations that run before a master exists.

Both run in the CLI process on the node that becomes master: they write the config and ssconf
locally, then start gnt-masterd, which takes over from there.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from typing import Any

from gnt import constants, daemon_util, durable, netutil, paths
from gnt.errors import ECODE_INVAL, ECODE_STATE, GntError, OpPrereqError, ParameterError

#: how long a started gnt-masterd may take to answer; one that exits fails at once, so this only
#: bounds a hung start. Imports alone take 5-15 s on a slow host (Debian 12 hosts under QEMU/TCG), and a
#: Xen dom0 under QEMU/TCG on a loaded machine took more than 120 s: the bound is generous on purpose.
MASTERD_START_TIMEOUT = 300.0


def _localize_dir(value: str, default: str) -> str:
    return os.path.abspath(value) if value else default


def default_shared_file_storage_dir() -> str:
    """One directory for the whole virtual cluster; the standard path on a real one.

    On a virtual node the standard path would be localised under that node's own root, giving each
    node a private "shared" directory, and the first sharedfile migration would not find its disk.
    """
    if paths.is_virtual():
        return paths.ensure_dir(os.path.join(paths.vcluster_base(), "shared-file-storage"))
    return paths.DEFAULT_SHARED_FILE_STORAGE_DIR


def _init_ipolicy(given: dict[str, Any] | None) -> dict[str, Any]:
    """The cluster's full instance policy: Ganeti's defaults filled in with the --ipolicy-* options."""
    from gnt import ipolicy

    try:
        ipolicy.check_ipolicy(given)
    except ValueError as err:
        raise OpPrereqError(str(err), ECODE_INVAL) from None
    policy = ipolicy.fill_ipolicy(given)
    problem = ipolicy.std_problem(policy)
    if problem:
        raise OpPrereqError(problem, ECODE_INVAL)
    return policy


def _primary_ip_version(given: Any, address: str) -> int:
    """`--primary-ip-version`: 4 or 6, and the family of this host's address (the master's); its
    family when not given. Ganeti resolves the host in the family asked for; gnt's nodes resolve
    to one address, so a family it does not have is refused with Ganeti's message."""
    import ipaddress

    family = ipaddress.ip_address(address).version
    if given is None:
        return family
    if given not in (4, 6):
        raise ParameterError(f"Invalid primary ip version: {given}.")
    if given != family:
        raise OpPrereqError(f"This host's IP ({address}) is not a valid IPv{given} address.", ECODE_INVAL)
    return int(given)


def _ssh_key(key_type: str | None, bits: int | None) -> tuple[str, int]:
    """The cluster's SSH key type and size from --ssh-key-type/--ssh-key-bits (Ganeti's defaults:
    rsa, and the type's default size); ParameterError for a type gnt cannot make or a wrong size."""
    from gnt import ssh_key_spec

    try:
        key_type = ssh_key_spec.check_options(key_type, bits) or ssh_key_spec.DEFAULT_TYPE
    except ValueError as err:
        raise ParameterError(str(err)) from None
    bits = ssh_key_spec.choose_bits(key_type, bits, None, None)
    if ssh_key_spec.bits_problem(key_type, bits):
        raise ParameterError(f"--ssh-key-bits {bits} is not valid for {key_type} keys")
    return key_type, bits


def init_cluster(name: str, opts: dict[str, Any]) -> None:
    """Create the cluster with this node as master, then start the master daemon."""
    from gnt import certs, compression, confine, node_certs, opchecks, uidpool
    from gnt.config import store
    from gnt.config.manager import ConfigManager
    from gnt.db import SqliteWriter
    from gnt.objects import Cluster, Node, NodeGroup

    if os.path.exists(paths.config_db()) or os.path.exists(paths.cluster_cert()):
        raise OpPrereqError("Cluster is already initialised", ECODE_STATE)
    hostname = paths.hostname()
    address = netutil.resolve(hostname)
    ip_version = _primary_ip_version(opts.get("primary_ip_version"), address)
    hypervisors = opts.get("enabled_hypervisors") or ["fake"]
    bad = [h for h in hypervisors if h not in constants.HYPERVISORS]
    if bad:
        raise OpPrereqError(f"Unknown hypervisor(s): {', '.join(bad)}", ECODE_INVAL)
    from gnt.instance.common import check_hvparams

    for hv, params in (opts.get("hvparams") or {}).items():
        check_hvparams(hv, params)  # a typo or an impossible value must not land in a new cluster
    templates = opts.get("enabled_disk_templates") or list(constants.DEFAULT_ENABLED_DISK_TEMPLATES)
    bad = [t for t in templates if t not in constants.DISK_TEMPLATES]
    if bad:
        raise OpPrereqError(f"Unknown disk template(s): {', '.join(bad)}", ECODE_INVAL)
    vg_name = opts.get("vg_name") or constants.DEFAULT_VG_NAME
    problem = confine.lvm_name_problem(vg_name, "volume group")
    if problem:
        raise OpPrereqError(f"Invalid --vg-name: {problem}", ECODE_INVAL)
    drbd_helper = opts.get("drbd_helper")
    drbd_helper = constants.DEFAULT_DRBD_HELPER if drbd_helper is None else drbd_helper
    try:
        opchecks.drbd_helper(drbd_helper)
    except ValueError as err:
        raise OpPrereqError(f"Invalid --drbd-usermode-helper: {err}", ECODE_INVAL) from None
    try:
        uidpool.check([list(r) for r in opts.get("uid_pool") or []])
    except uidpool.UidPoolError as err:
        raise OpPrereqError(f"Invalid --uid-pool: {err}", ECODE_INVAL) from None
    try:
        opchecks.diskparams(opts.get("diskparams") or {})
    except ValueError as err:
        raise OpPrereqError(f"Invalid -D: {err}", ECODE_INVAL) from None
    try:
        opchecks.nicparams(opts.get("nicparams") or {})
    except ValueError as err:
        raise OpPrereqError(f"Invalid -N: {err}", ECODE_INVAL) from None
    from gnt import resstate

    for option, key, check in (
        ("--hypervisor-state", "hv_state", resstate.check_hv_state),
        ("--disk-state", "disk_state", resstate.check_disk_state),
    ):
        try:
            check(opts.get(key))
        except ValueError as err:
            raise ParameterError(f"Invalid {option}: {err}") from None
    from gnt import ialloc_params

    try:
        ialloc_params.check(opts.get("default_iallocator_params"))
    except ValueError as err:
        raise ParameterError(f"Invalid --default-iallocator-params: {err}") from None
    ndparams = dict(opts.get("ndparams") or {})
    from gnt.oob.protocol import ndparams_check

    try:
        ndparams_check(ndparams)
    except ValueError as err:
        raise ParameterError(f"Invalid --node-parameters: {err}") from None
    if opts.get("default_iallocator"):
        from gnt.instance.placement import check_allocator

        try:
            check_allocator(opts["default_iallocator"])  # a bad default would fail every later placement
        except OpPrereqError as err:
            raise ParameterError(err.message) from None
    ssh_key_type, ssh_key_bits = _ssh_key(opts.get("ssh_key_type"), opts.get("ssh_key_bits"))
    tools = list(opts.get("compression_tools") or compression.DEFAULT_TOOLS)
    try:
        compression.check_tools(tools)
    except ValueError as err:
        raise ParameterError(str(err)) from None
    policy = _init_ipolicy(opts.get("ipolicy"))
    from gnt.cluster.master_ip_config import plan_at_init

    master_ip = plan_at_init(name, address, opts)
    secondary = opts.get("secondary_ip")
    if secondary and secondary != address:
        try:
            owned = netutil.owns_address(secondary)
        except ValueError:
            raise OpPrereqError(f"Invalid secondary IP {secondary!r}: not an IP address", ECODE_INVAL) from None
        if not owned:
            raise OpPrereqError(
                f"You gave {secondary} as secondary IP, but it does not belong to this host", ECODE_INVAL
            )
    group = NodeGroup(name="default")
    node = Node(
        name=hostname,
        primary_ip=address,
        secondary_ip=opts.get("secondary_ip") or address,
        group=group.uuid,
        master_candidate=True,
    )
    cluster = Cluster(
        cluster_name=name,
        master_node=node.uuid,
        enabled_hypervisors=hypervisors,
        enabled_disk_templates=templates,
        volume_group_name=vg_name,
        drbd_usermode_helper=drbd_helper,
        diskparams=opts.get("diskparams") or {},
        file_storage_dir=_localize_dir(opts.get("file_storage_dir", ""), paths.DEFAULT_FILE_STORAGE_DIR),
        shared_file_storage_dir=_localize_dir(
            opts.get("shared_file_storage_dir", ""), default_shared_file_storage_dir()
        ),
        master_netdev=opts.get("master_netdev") or constants.DEFAULT_MASTER_NETDEV,
        master_ip=master_ip.address,
        master_netmask=master_ip.netmask,
        use_external_mip_script=master_ip.external_script,
        mac_prefix=opts.get("mac_prefix") or constants.DEFAULT_MAC_PREFIX,
        beparams={"default": opts.get("beparams", {})},
        hvparams=opts.get("hvparams", {}),
        nicparams={"default": opts.get("nicparams", {})},
        ipolicy=policy,
        candidate_pool_size=opts.get("candidate_pool_size") or constants.DEFAULT_CANDIDATE_POOL_SIZE,
        ndparams=ndparams,
        hv_state_static=resstate.apply_hv_state({}, opts.get("hv_state")),
        disk_state_static=resstate.apply_disk_state({}, opts.get("disk_state")),
        default_iallocator_params=dict(opts.get("default_iallocator_params") or {}),
        primary_ip_version=ip_version,
        enabled_user_shutdown=bool(opts.get("enabled_user_shutdown")),
        prealloc_wipe_disks=bool(opts.get("prealloc_wipe_disks")),
        maintain_node_health=bool(opts.get("maintain_node_health")),
        uid_pool=[list(r) for r in opts.get("uid_pool") or []],
        ssh_key_type=ssh_key_type,
        ssh_key_bits=ssh_key_bits,
        compression_tools=tools,
    )
    if opts.get("default_iallocator"):
        cluster.default_iallocator = opts["default_iallocator"]
    for hv in hypervisors:
        cluster.hvparams.setdefault(hv, {})
    started_noded = False
    paths.ensure_dir(paths.data_dir())
    ca_pem = certs.generate_pem(name)  # the cluster CA; this node's own certificate is the first it signs
    node_pem = node_certs.issue(ca_pem, node.name)
    node.cert_digests = [node_certs.digest(node_pem)]
    try:
        writer = SqliteWriter(paths.config_db(), store.SCHEMA, durable=True)
        try:
            ConfigManager(writer).commit_sync([cluster, group, node])
        finally:
            writer.close()
        write_local_ssconf(name, node.name, address)
        # its own daemon serves master procedures only to a listed certificate (agent.callers), this one's first
        listed = node_certs.format_list([(node.cert_digests[0], node_certs.ROLE_CANDIDATE)])
        durable.write_file(paths.ssconf_file(node_certs.SSCONF_KEY), listed)
        confine.write_storage_paths(
            paths.file_storage_paths(), [cluster.file_storage_dir, cluster.shared_file_storage_dir]
        )
        confine.write_volume_groups(paths.lvm_volume_groups(), [vg_name])
        certs.write_pem(paths.cluster_ca(), ca_pem)
        certs.write_pem(paths.cluster_cert(), node_pem)
        certs.write_pem(paths.rapi_cert(), certs.generate_pem(name))  # separate: node daemons never trust it
        if not paths.is_virtual():  # a virtual cluster's start-all runs every node daemon already
            started_noded = _start_local_noded()
        start_masterd()
    except BaseException:
        _undo_init()
        if started_noded:
            with contextlib.suppress(GntError, OSError):
                daemon_util.stop("gnt-noded")
        raise


def _start_local_noded() -> bool:
    """The master's own node daemon, as `gnt-node add` starts it on other nodes; whether this started it."""
    if daemon_util.running_pid("gnt-noded") is not None:
        return False
    daemon_util.start("gnt-noded")
    return True


def _undo_init() -> None:
    """A failed init leaves nothing behind, so it can simply be run again."""
    for path in (
        paths.config_db(),
        paths.cluster_cert(),
        paths.cluster_ca(),
        paths.rapi_cert(),
        paths.ssconf_file("cluster_name"),
        paths.ssconf_file("master_node"),
        paths.ssconf_file("master_ip"),
        paths.ssconf_file("node_certs"),
        paths.jobs_db(),
        paths.file_storage_paths(),
        paths.lvm_volume_groups(),
    ):
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.unlink(path + suffix)


def write_local_ssconf(cluster_name: str, master: str, master_ip: str) -> None:
    """Enough ssconf for this node's own daemons; the master pushes the full set when it starts."""
    directory = paths.ensure_dir(paths.ssconf_dir())
    for key, value in (("cluster_name", cluster_name), ("master_node", master), ("master_ip", master_ip)):
        durable.write_file(os.path.join(directory, f"ssconf_{key}"), value)


def daemon_argv(name: str) -> list[str]:
    """How to run daemon `name` (e.g. "gnt-masterd") without the caller's directory on sys.path.

    The console script installed next to this interpreter comes first; failing that, the module
    runs under `-P`, which keeps the working directory off sys.path. `python -m` alone would import
    a folder called `gnt` in the current directory instead of the installed package.
    """
    script = os.path.join(os.path.dirname(sys.executable), name)
    if os.access(script, os.X_OK):
        return [script]
    module = {"gnt-masterd": "daemons.masterd", "gnt-noded": "daemons.noded", "gnt-watcher": "daemons.watcher"}[name]
    return [sys.executable, "-P", "-m", module]


def _last_line(path: str, offset: int) -> str:
    """The last non-empty line written to `path` after `offset` (the daemon's own error message)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            lines = [line.strip() for line in handle.read().decode(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1] if lines else ""


def start_masterd(extra_args: tuple[str, ...] = ()) -> None:
    """Start gnt-masterd detached from this process, and wait until its socket answers."""
    from gnt.cli.client import Client

    paths.ensure_dir(paths.log_dir())
    from gnt import startup_error

    startup_error.clear("gnt-masterd")
    start_log = paths.log_file("gnt-masterd-start")
    with open(start_log, "ab") as log:
        offset = log.tell()
        proc = subprocess.Popen(
            [*daemon_argv("gnt-masterd"), *extra_args],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            cwd="/",
            start_new_session=True,
        )
    deadline = time.monotonic() + MASTERD_START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise GntError(_masterd_exit_message(proc.returncode, start_log, offset))
        if os.path.exists(paths.master_socket()):
            try:
                Client(timeout=5).get("/version")
                return
            except GntError:
                pass
        time.sleep(0.02)
    proc.terminate()  # a daemon that never answered must not linger beside the undone init
    raise GntError(
        f"gnt-masterd did not start within {MASTERD_START_TIMEOUT:g}s;"
        f" see {start_log} and {paths.log_file('gnt-masterd')}"
    )


def _masterd_exit_message(code: int, start_log: str, offset: int) -> str:
    """Why gnt-masterd exited: the line it recorded (gnt.startup_error), else the last line of its output.

    Either way the message names the file that holds the daemon's output, never an empty log.
    """
    from gnt import startup_error

    reason = startup_error.read("gnt-masterd") or _last_line(start_log, offset)
    return f"gnt-masterd exited with status {code}{': ' + reason if reason else ''}; see {start_log}"


def master_failover(no_voting: bool) -> str:
    """Make this master candidate the master: vote, stop the old master, update config, start."""
    import asyncio

    return asyncio.run(_failover(no_voting))


async def _failover(no_voting: bool) -> str:
    from gnt.config import store
    from gnt.config.manager import ConfigManager
    from gnt.db import SqliteWriter
    from gnt.rpc import procedures as proc
    from gnt.rpc.client import RpcClient, Target

    me = paths.hostname()
    if not os.path.exists(paths.config_db()):
        raise OpPrereqError(f"This node ({me}) holds no copy of the config; it is not a master candidate", ECODE_STATE)
    writer = SqliteWriter(paths.config_db(), store.SCHEMA, durable=True)
    try:
        cfg = ConfigManager(writer)
        cfg.load()
        node = cfg.node(me)
        if not node.master_candidate:
            raise OpPrereqError(f"This node ({me}) is not a master candidate", ECODE_STATE)
        old = cfg.master()
        if old.uuid == node.uuid:
            raise OpPrereqError(f"This node ({me}) is already the master", ECODE_INVAL)
        rpc = RpcClient.https(paths.cluster_cert(), cfg.cluster.noded_port)
        try:
            targets = [Target(n.name, n.primary_ip) for n in cfg.nodes.values() if not n.offline]
            votes = await rpc.call_many(targets, proc.CONFIG_SERIAL, proc.NoArgs())
            _check_votes(cfg, votes, old.name, no_voting)
            stopped = await rpc.master_stop(Target(old.name, old.primary_ip))
            if stopped.failed and not no_voting:
                print(f"Warning: could not stop the master daemon on {old.name}: {stopped.error}", file=sys.stderr)
            if cfg.cluster.master_ip:  # the new master's daemon puts it up when it starts
                dropped = await rpc.master_ip_deactivate(Target(old.name, old.primary_ip))
                if dropped.failed:
                    print(f"Warning: could not remove the master IP from {old.name}: {dropped.error}", file=sys.stderr)
        finally:
            await rpc.close()
        cfg.cluster.master_node = node.uuid
        cfg.commit_sync([cfg.cluster])
        write_local_ssconf(cfg.cluster.cluster_name, me, node.primary_ip)
    finally:
        writer.close()
    # the vote above is this failover's; the other nodes still name the old master until the new
    # one pushes ssconf, so the daemon's own start-up vote (gnt.cluster.voting) would refuse it
    start_masterd(("--no-voting",))
    return old.name


def _check_votes(cfg: Any, votes: dict[str, Any], old_master: str, no_voting: bool) -> None:
    answered = {name: r.payload for name, r in votes.items() if not r.failed}
    if not no_voting:
        agree = sum(1 for v in answered.values() if v.get("master") == old_master)
        if agree * 2 <= len(cfg.nodes):
            raise OpPrereqError(
                f"Only {agree} of {len(cfg.nodes)} nodes agree that {old_master} is the master; use --no-voting"
                " only if you are sure the old master is down",
                ECODE_STATE,
            )
    newest = max((v.get("serial", 0) for v in answered.values()), default=0)
    if newest > cfg.serial:
        raise OpPrereqError(
            f"This node's config (serial {cfg.serial}) is older than another candidate's"
            f" ({newest}); fail over to a node with the newest config",
            ECODE_STATE,
        )
