"""`gnt-cluster balance` and `gnt-cluster capacity`: hbal and hspace for the live cluster or a file.

They plan on the client, like Ganeti's htools: the cluster's state comes from the RAPI (or from an
htools text file with -t), the plan is computed here, and `-X` carries it out as jobs, each job set
of independent moves in parallel.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from gnt.cli.common import CONTEXT, client, handle_errors
from gnt.cli.jobs import wait_job
from gnt.errors import ParameterError

UNLIMITED_MOVES = 10**9


def load_model(text_file: str | None) -> Any:
    """The cluster model from an htools text file, or from the running cluster."""
    from gnt.alloc import load_text
    from gnt.alloc.rapi import MODEL_INSTANCE_FIELDS, MODEL_NODE_FIELDS, model_from_rapi, state_scope

    if text_file:
        try:
            return load_text(text_file)
        except OSError as err:
            raise ParameterError(f"Cannot read {text_file}: {err.strerror}") from err
    cl = client()
    nodes = cl.get("/2/nodes", bulk=1, fields=",".join(MODEL_NODE_FIELDS))
    instances = cl.get("/2/instances", bulk=1, fields=",".join(MODEL_INSTANCE_FIELDS))
    info = cl.get("/2/info")
    scope = state_scope(
        info.get("default_hypervisor"), info.get("enabled_disk_templates") or [], info.get("volume_group_name")
    )
    groups = cl.get("/2/groups", bulk=1)
    return model_from_rapi(nodes, instances, groups, info["ipolicy"], info["tags"], state=scope)


def move_ops(move: Any, running: bool) -> list[dict[str, Any]]:
    """The opcodes that carry out one planned move, in order."""
    verb = "OP_INSTANCE_MIGRATE" if running else "OP_INSTANCE_FAILOVER"
    ops: list[dict[str, Any]] = []
    for action in move.actions():
        if action == "f":
            ops.append({"OP_ID": verb, "instance_name": move.instance})
        elif action.startswith("fa:"):
            ops.append({"OP_ID": verb, "instance_name": move.instance, "target_node": action[3:]})
        else:
            ops.append(
                {
                    "OP_ID": "OP_INSTANCE_REPLACE_DISKS",
                    "instance_name": move.instance,
                    "mode": "replace_new_secondary",
                    "remote_node": action[2:],
                }
            )
    return ops


@click.command(context_settings=CONTEXT)
@click.option("-X", "--exec", "execute", is_flag=True, help="Carry the plan out through the job queue")
@click.option("--max-moves", type=int, default=None, help="Stop after this many moves (default: no limit)")
@click.option("--min-gain", type=float, default=0.01, help="Minimum score gain per move")
@click.option("--min-gain-limit", type=float, default=0.1, help="Apply --min-gain only below this score")
@click.option("-t", "--text-data", "text_file", default=None, help="Plan offline from an htools text file")
@click.option("-S", "--save", "save_file", default=None, help="Save the cluster state after the plan (text format)")
@click.option("--dry-run", is_flag=True, help="Only print the plan (the default without -X)")
@click.option("-G", "--group", "group_name", default=None, help="Balance this node group (default: the largest)")
@click.option("--no-disk-moves", is_flag=True, help="Only fail instances over, never replace a disk")
@click.option("--no-instance-moves", is_flag=True, help="Only replace secondaries, never move a primary")
@click.option("--evac-mode", is_flag=True, help="Only move instances off offline or drained nodes")
@click.option("--restricted-migration", is_flag=True, help="No replace-primary moves (hbal's option)")
@click.option("--select-instances", default=None, help="Move only these instances (comma-separated)")
@click.option("--exclude-instances", default=None, help="Never move these instances (comma-separated)")
@click.option(
    "--exclusion-tags",
    default=None,
    metavar="TAG,...",
    help="Instance tags TAG:* also keep instances apart, beside the cluster's htools:iextags: ones",
)
@click.option(
    "-U",
    "--dynu-file",
    "dynu_file",
    default=None,
    metavar="FILE",
    help="Instance load, one 'NAME CPU MEM DISK NET' line each, to even out (hbal's -U)",
)
@click.option("--ignore-dynu", is_flag=True, help="Take every instance's load as zero (overrides -U)")
@click.option(
    "--ignore-soft-errors", is_flag=True, help="Allow moves that break N+1, VCPU ratio, spindle or tag limits"
)
@handle_errors
def balance(
    execute: bool,
    max_moves: int,
    min_gain: float,
    min_gain_limit: float,
    text_file: str | None,
    save_file: str | None,
    dry_run: bool,
    group_name: str | None = None,
    no_disk_moves: bool = False,
    no_instance_moves: bool = False,
    evac_mode: bool = False,
    restricted_migration: bool = False,
    select_instances: str | None = None,
    exclude_instances: str | None = None,
    exclusion_tags: str | None = None,
    dynu_file: str | None = None,
    ignore_dynu: bool = False,
    ignore_soft_errors: bool = False,
) -> None:
    """Compute (and with -X run) moves that even the cluster out, like Ganeti's hbal.

    \b
    Example:
      gnt-cluster balance                 # show the plan
      gnt-cluster balance -X              # and carry it out
      gnt-cluster balance -t cluster.data -S balanced.data
      gnt-cluster balance --exclusion-tags=service -U load.txt
    """
    from gnt.alloc import balance as plan_balance
    from gnt.alloc import format_plan, save_text

    if execute and (text_file or dry_run):
        raise ParameterError("-X runs the plan on the live cluster; it cannot be combined with -t or --dry-run")
    loads = _read_loads(dynu_file) if dynu_file and not ignore_dynu else None
    model = load_model(text_file)
    print(f"Loaded {len(model.nodes)} nodes, {len(model.instances)} instances")
    _adjust_model(model, _names(exclusion_tags), loads, ignore_dynu)
    running = {inst.name: inst.running for inst in model.instances}
    if max_moves is not None and max_moves < 0:
        raise ParameterError("--max-moves must be 0 or more")
    limit = UNLIMITED_MOVES if max_moves is None else max_moves
    group = _group_index(model, group_name)
    located = any(model.node_locs) or any(model.inst_dloc)
    before = _location(model, model.groups[group].name if group is not None else None) if located else None
    plan = plan_balance(
        model,
        max_moves=limit,
        min_gain=min_gain,
        min_gain_limit=min_gain_limit,
        group=group,
        disk_moves=not no_disk_moves,
        instance_moves=not no_instance_moves,
        select=_names(select_instances),
        exclude=_names(exclude_instances),
        evac_mode=evac_mode,
        restricted_migration=restricted_migration,
        ignore_soft_errors=ignore_soft_errors,
    )
    print(f"Initial score: {plan.initial_score:.8f}")
    for line in before.lines() if before is not None else []:
        print(line)
    print("Trying to minimize the CV...")
    for line in format_plan(plan):
        print(line)
    print(f"Cluster score improved from {plan.initial_score:.8f} to {plan.final_score:.8f}")
    print(f"Solution length={len(plan.moves)}")
    if located and plan.moves:  # failure domains: where the plan leaves them
        after = _location(model, plan.group)
        print(f"After the plan: location score {after.location_score:g}, exclusion score {after.exclusion_score:g}")
    if save_file:
        save_text(model, save_file)
        print(f"The cluster state after the plan was saved to file '{save_file}'")
    if execute and plan.moves:
        _execute(plan, running)


def _read_loads(path: str) -> dict[str, tuple[float, float, float, float]]:
    """The -U file's loads (read before the cluster, so a bad file costs no RAPI round trip)."""
    from gnt.alloc.utilisation import parse_utilisation

    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as err:
        raise ParameterError(f"Cannot read {path}: {err.strerror}") from err
    except UnicodeDecodeError as err:
        raise ParameterError(f"Cannot read {path}: not UTF-8 text") from err
    return parse_utilisation(text)


def _adjust_model(model: Any, extags: list[str] | None, loads: dict | None, ignore_dynu: bool) -> None:
    """hbal's model options: extra exclusion tags and the instances' dynamic load."""
    from gnt.alloc.utilisation import apply_utilisation, ignore_utilisation

    if extags:
        model.add_exclusion_tags(extags)
    if ignore_dynu:
        ignore_utilisation(model)
    elif loads is not None:
        unknown = apply_utilisation(model, loads)
        if unknown:  # hbal skips them silently; say so
            print(f"Utilisation data for unknown instance(s) ignored: {', '.join(unknown)}")


def _names(text: str | None) -> list[str] | None:
    return [n for n in text.split(",") if n] if text else None


def _group_index(model: Any, name: str | None) -> int | None:
    """The index of node group `name` (by name or uuid) in the model; None for the default."""
    if name is None:
        return None
    for index, group in enumerate(model.groups):
        if name in (group.name, group.uuid):
            return index
    raise ParameterError(f"Node group '{name}' not found")


def _location(model: Any, group: str | None = None) -> Any:
    """The failure-domain report of the balanced group (the biggest one, as `balance` picks)."""
    import numpy as np

    from gnt.alloc.location import location_report

    if group is None:
        index = int(np.bincount(model.group, minlength=1).argmax()) if len(model.nodes) else 0
    else:
        index = next((i for i, g in enumerate(model.groups) if g.name == group), 0)
    return location_report(model, model.group_nodes(index))


def _execute(plan: Any, running: dict[str, bool]) -> None:
    cl = client()
    failed = False
    for number, jobset in enumerate(plan.jobsets, 1):
        jobs = [move_ops(plan.moves[i], running.get(plan.moves[i].instance, True)) for i in jobset]
        submitted = cl.submit_many(jobs)
        ids = [value for ok, value in submitted if ok]
        print(f"Job set {number}: got job IDs {', '.join(map(str, ids))}")
        for ok, value in submitted:
            if not ok:
                print(f"  submission failed: {value}")
                failed = True
        for job_id in ids:
            try:
                wait_job(cl, job_id, quiet=True)
            except Exception as err:  # noqa: BLE001 - report every failed move, then stop
                print(f"  job {job_id} failed: {err}")
                failed = True
        if failed:
            print("Stopping: a move failed; run the balancer again to re-plan", file=sys.stderr)
            raise SystemExit(1)


def _spec(text: str, option: str) -> Any:
    from gnt.alloc import ISpec
    from gnt.units import parse_size

    parts = text.split(",")
    if len(parts) != 3:
        raise ParameterError(f"{option} takes DISK,RAM,CPU (e.g. 1G,128M,1), not '{text}'")
    return ISpec(disk=parse_size(parts[0], "disk"), mem=parse_size(parts[1], "memory"), cpu=int(parts[2]))


@click.command(context_settings=CONTEXT)
@click.option("-t", "--text-data", "text_file", default=None, help="Plan offline from an htools text file")
@click.option("--standard-alloc", default=None, help="DISK,RAM,CPU of the instances to fit (default: ipolicy std)")
@click.option("--tiered-alloc", default=None, help="Start from DISK,RAM,CPU and shrink when nothing fits")
@click.option(
    "--disk-template",
    default=None,
    help="Template of the new instances (default: drbd for -t, else the first enabled one)",
)
@handle_errors
def capacity(
    text_file: str | None, standard_alloc: str | None, tiered_alloc: str | None, disk_template: str | None
) -> None:
    """How many more instances fit while keeping N+1 redundancy, like Ganeti's hspace.

    \b
    Example:
      gnt-cluster capacity --standard-alloc=1G,128M,1
      gnt-cluster capacity -t cluster.data --tiered-alloc=10G,1G,2
    """
    from gnt.alloc import capacity as plan_capacity
    from gnt.alloc import format_capacity

    if standard_alloc and tiered_alloc:
        raise ParameterError("--standard-alloc and --tiered-alloc cannot be combined")
    model = load_model(text_file)
    template = disk_template or ("drbd" if text_file else client().get("/2/info")["enabled_disk_templates"][0])
    spec = (
        _spec(tiered_alloc or standard_alloc, "--tiered-alloc" if tiered_alloc else "--standard-alloc")
        if (tiered_alloc or standard_alloc)
        else None
    )
    result = plan_capacity(model, spec=spec, tiered=bool(tiered_alloc), template=template)
    for line in format_capacity(result):
        print(line)
