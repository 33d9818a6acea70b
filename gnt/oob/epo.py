"""`gnt-cluster epo`: Ganeti's emergency power-off (and `--on` to bring everything back).

Off: shut down every instance with a disk on the affected nodes (without remembering the new
state, so `--on` restarts them), then power the nodes off through their out-of-band program. A node
without one is named and left to the admin; the master is refused unless `--all` (the whole
cluster goes, the master last of all, by hand). On: power the nodes on, wait until their node
daemons answer, then start the instances again.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import click

from gnt.cli.common import CONTEXT, PRIORITIES, client, confirm, handle_errors
from gnt.cli.jobs import run_ops, wait_job
from gnt.errors import GntError, ParameterError

_FIELDS = ["name", "master", "pinst_list", "sinst_list", "powered", "offline"]
#: how long `--on` waits for the powered-on nodes' daemons to answer (Ganeti's 15 minutes)
REACHABLE_TIMEOUT = 15 * 60.0
REACHABLE_INTERVAL = 1.0
DEFAULT_SHUTDOWN_TIMEOUT = 120


def _value(cell: list[Any]) -> Any:
    return cell[1] if cell[0] == 0 else None


def _query(resource: str, fields: list[str], names: list[str]) -> list[list[Any]]:
    result = client().get(f"/2/query/{resource}", fields=",".join(fields), names=",".join(names) or None)
    return [[_value(cell) for cell in row] for row in result["data"]]


def _instance_power(names: list[str], start: bool, opts: dict[str, Any]) -> bool:
    """Start or stop instances, one job each (as Ganeti's _InstanceStart); True if all succeeded."""
    if not names:
        return True
    verb, done, doing = ("startup", "started", "starting") if start else ("shutdown", "stopped", "stopping")
    jobs = []
    for name in names:
        op: dict[str, Any] = {"OP_ID": "OP_INSTANCE_STARTUP" if start else "OP_INSTANCE_SHUTDOWN"}
        op.update(instance_name=name, no_remember=not start, priority=PRIORITIES[opts["priority"]])
        if not start:
            op["timeout"] = opts["shutdown_timeout"]
        print(f"Submit {verb} of instance {name}")
        jobs.append([op])
    cl = client()
    bad = 0
    for ok, job in cl.submit_many(jobs):
        if not ok:
            bad += 1
            continue
        try:
            wait_job(cl, job, quiet=True)
        except GntError as err:
            print(f"Job {job}: {err}", file=sys.stderr)
            bad += 1
    if bad:
        print(
            f"There were errors while {doing} instances:\n{bad} error(s) out of {len(names)} instance(s)",
            file=sys.stderr,
        )
        return False
    print(f"All instances have been {done} successfully")
    return True


def _oob_power(nodes: list[str], on: bool, opts: dict[str, Any]) -> bool:
    op = {
        "OP_ID": "OP_OOB_COMMAND",
        "node_names": nodes,
        "command": "power-on" if on else "power-off",
        "ignore_status": True,
        "timeout": opts["oob_timeout"],
        "power_delay": opts["power_delay"],
        "priority": PRIORITIES[opts["priority"]],
    }
    result = run_ops(client(), [op], quiet=True)[0]
    ok = True
    for (_, name), (status, _) in result:
        if status != 0:
            print(f"There was a problem changing power for {name}, please investigate", file=sys.stderr)
            ok = False
    return ok


def _wait_reachable(nodes: list[str]) -> list[str]:
    """The nodes whose daemons answer (live data) before the deadline."""
    deadline = time.monotonic() + REACHABLE_TIMEOUT
    while True:
        rows = _query("node", ["name", "bootid"], nodes)
        up = [row[0] for row in rows if row[1] is not None]
        if len(up) == len(nodes) or time.monotonic() > deadline:
            return up
        time.sleep(REACHABLE_INTERVAL)


def add_epo_command(main: click.Group) -> None:
    """Add `epo` to gnt-cluster."""

    @main.command(context_settings=CONTEXT)
    @click.argument("names", nargs=-1)
    @click.option("-f", "--force", is_flag=True, help="Do not ask for confirmation")
    @click.option("--on", is_flag=True, help="Power the nodes on again and restart their instances")
    @click.option("--groups", is_flag=True, help="The arguments are node groups, not nodes")
    @click.option("--all", "show_all", is_flag=True, help="The whole cluster (including the master)")
    @click.option("--oob-timeout", type=click.IntRange(1, 3600), default=60, help="Seconds per OOB call")
    @click.option(
        "--shutdown-timeout",
        type=click.IntRange(0, 86400),
        default=DEFAULT_SHUTDOWN_TIMEOUT,
        help="Seconds for a clean instance shutdown",
    )
    @click.option("--power-delay", type=click.FloatRange(0, 3600), default=2.0, help="Seconds between power-ons")
    @click.option("--priority", type=click.Choice(["low", "normal", "high"]), default="normal", help="Job priority")
    @handle_errors
    def epo(names: tuple[str, ...], **opts: Any) -> None:
        """Emergency power-off: stop the instances, then power the nodes off out-of-band.

        \b
        Example:
          gnt-cluster epo -f node3 node4
          gnt-cluster epo --groups -f rack2
          gnt-cluster epo --on -f node3 node4
        """
        sys.exit(run_epo(list(names), opts))


def run_epo(args: list[str], opts: dict[str, Any]) -> int:
    """Ganeti's Epo: choose the nodes and instances, confirm, then power off (or on); the exit code."""
    if opts["groups"] and opts["show_all"]:
        raise ParameterError("Only one of --groups or --all are allowed")
    if args and opts["show_all"]:
        raise ParameterError("Arguments in combination with --all are not allowed")
    if not args and not opts["show_all"]:
        raise ParameterError("Please name the nodes (or with --groups the node groups), or use --all")
    node_names = args
    if opts["groups"]:
        node_names = [n for (nodes,) in _query("group", ["node_list"], args) for n in nodes or []]
    rows = _query("node", _FIELDS, node_names) if (node_names or opts["show_all"]) else []
    all_nodes = [row[0] for row in rows]
    #: the nodes `--on` waits for: an offline node's daemon is not expected to answer
    online = [row[0] for row in rows if not row[5]]
    node_list: list[str] = []
    inst_map: dict[str, set[str]] = {}
    for name, master, pinsts, sinsts, powered, offline in rows:
        if not offline:
            for inst in (pinsts or []) + (sinsts or []):
                if inst in inst_map:
                    if not master:
                        inst_map[inst].add(name)
                elif master:
                    inst_map[inst] = set()
                else:
                    inst_map[inst] = {name}
        if master and opts["on"]:
            continue  # the master is up: this command runs on it
        if master and not opts["show_all"]:
            print(
                f"{name} is the master node, please do a master-failover to another node not affected by the EPO"
                " or use --all if you intend to shutdown the whole cluster",
                file=sys.stderr,
            )
            return 1
        if powered is None:
            print(
                f"Node {name} does not support out-of-band handling, it can not be handled in a fully automated manner"
            )
        elif powered == opts["on"]:
            print(f"Node {name} is already in desired power state, skipping")
        elif not offline or powered:
            node_list.append(name)
    if not all_nodes:
        print("No nodes to handle", file=sys.stderr)
        return 1
    confirm(f"The following nodes will be affected by epo: {', '.join(all_nodes)}. Continue?", opts["force"])
    if opts["on"]:
        return _epo_on(online, node_list, inst_map, opts)
    return _epo_off(node_list, inst_map, opts)


def _epo_off(node_list: list[str], inst_map: dict[str, set[str]], opts: dict[str, Any]) -> int:
    if not _instance_power(sorted(inst_map), False, opts):
        print("Please investigate and stop instances manually before continuing", file=sys.stderr)
        return 1
    if not node_list:
        return 0
    return 0 if _oob_power(node_list, False, opts) else 1


def _epo_on(online: list[str], node_list: list[str], inst_map: dict[str, set[str]], opts: dict[str, Any]) -> int:
    if node_list and not _oob_power(node_list, True, opts):
        print("Not all nodes seem to get back up, investigate and start manually if needed", file=sys.stderr)
    up = set(_wait_reachable(online)) if online else set()
    startable = sorted(inst for inst, nodes in inst_map.items() if nodes <= up)
    missing = sorted(set(online) - up)
    if missing:
        print(f"Nodes not reachable in time: {', '.join(missing)}; their instances are left stopped", file=sys.stderr)
    ok = _instance_power(startable, True, opts)
    return 0 if ok and not missing else 1
