"""Which instances `startup`, `shutdown` and `reboot` act on, and running one job per instance.

Ganeti's selection modes: the instances named (the default, or `--instance`), every instance
(`--all`), those whose primary and/or secondary node is named (`--node`, `--primary`,
`--secondary`), those with one of the given tags (`--tags`), or on nodes with one of the given tags
(`--node-tags`, `--pri-node-tags`, `--sec-node-tags`). Any selection that may reach more than one
instance asks for confirmation unless `--force-multiple`. Each instance gets its own job, all
submitted at once; the command waits for every one and fails if any failed.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from gnt.cli.client import Client
from gnt.cli.jobs import wait_job
from gnt.errors import ECODE_INVAL, GntError, OpPrereqError, ParameterError

__all__ = ["MODES", "run_on_selection", "select_instances", "selection_options"]

INSTANCES, CLUSTER = "instances", "cluster"
NODES_BOTH, NODES_PRI, NODES_SEC = "nodes", "nodes-pri", "nodes-sec"
NODES_BOTH_TAGS, NODES_PRI_TAGS, NODES_SEC_TAGS = "nodes-by-tags", "nodes-pri-by-tags", "nodes-sec-by-tags"
INSTANCES_TAGS = "instances-by-tags"
#: option -> (mode, help), in Ganeti's order; the last one given wins, as with Ganeti's store_const
MODES: dict[str, tuple[str, str]] = {
    "--node": (NODES_BOTH, "Act on the instances whose primary or secondary node is named"),
    "--primary": (NODES_PRI, "Act on the primary instances of the named nodes"),
    "--secondary": (NODES_SEC, "Act on the secondary instances of the named nodes"),
    "--all": (CLUSTER, "Act on every instance of the cluster"),
    "--instance": (INSTANCES, "Act on the named instances (the default)"),
    "--node-tags": (NODES_BOTH_TAGS, "Act on the instances of nodes with any of the given tags"),
    "--pri-node-tags": (NODES_PRI_TAGS, "Act on the primary instances of nodes with any of the given tags"),
    "--sec-node-tags": (NODES_SEC_TAGS, "Act on the secondary instances of nodes with any of the given tags"),
    "--tags": (INSTANCES_TAGS, "Act on the instances with any of the given tags"),
}
_NODE_MODES = {NODES_BOTH, NODES_PRI, NODES_SEC, NODES_BOTH_TAGS, NODES_PRI_TAGS, NODES_SEC_TAGS}
_BY_TAGS = {NODES_BOTH_TAGS, NODES_PRI_TAGS, NODES_SEC_TAGS}
#: above this many, the confirmation does not list the instances (Ganeti offers to show them)
_LISTED = 20

MakeOp = Callable[[str], dict[str, Any]]


def selection_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The selection flags (into `multi_mode`) and `--force-multiple`."""
    fn = click.option("--force-multiple", is_flag=True, help="Do not ask for confirmation when more than one instance")(
        fn
    )
    for option, (mode, text) in reversed(MODES.items()):
        fn = click.option(option, "multi_mode", flag_value=mode, default=None, help=text)(fn)
    return fn


def _rows(cl: Client, resource: str, fields: list[str], names: list[str] | None = None) -> list[list[Any]]:
    result = cl.get(f"/2/query/{resource}", fields=",".join(fields), names=",".join(names) if names else None)
    return [[cell[1] for cell in row] for row in result["data"]]


def _unique(names: list[str]) -> list[str]:
    return list(dict.fromkeys(names))


def select_instances(cl: Client, mode: str, args: list[str]) -> list[str]:
    """The instance names `mode` and the command's arguments select (Ganeti's _ExpandMultiNames)."""
    if mode == CLUSTER:
        if args:
            raise OpPrereqError("Cluster filter mode takes no arguments", ECODE_INVAL)
        return [row[0] for row in _rows(cl, "instance", ["name"])]
    if mode in _NODE_MODES:
        fields = ["name", "pinst_list", "sinst_list", "tags"]
        if mode in _BY_TAGS:
            if not args:
                raise OpPrereqError("No node tags passed", ECODE_INVAL)
            nodes = [row for row in _rows(cl, "node", fields) if set(row[3]) & set(args)]
        else:
            if not args:
                raise OpPrereqError("No node names passed", ECODE_INVAL)
            nodes = _rows(cl, "node", fields, _unique(args))
        primaries = [name for row in nodes for name in row[1]]
        secondaries = [name for row in nodes for name in row[2]]
        if mode in (NODES_PRI, NODES_PRI_TAGS):
            return _unique(primaries)
        if mode in (NODES_SEC, NODES_SEC_TAGS):
            return _unique(secondaries)
        return _unique(primaries + secondaries)
    if mode == INSTANCES:
        if not args:
            raise OpPrereqError("No instance names passed", ECODE_INVAL)
        return [row[0] for row in _rows(cl, "instance", ["name"], _unique(args))]
    if mode == INSTANCES_TAGS:
        if not args:
            raise OpPrereqError("No instance tags passed", ECODE_INVAL)
        return [row[0] for row in _rows(cl, "instance", ["name", "tags"]) if set(row[1]) & set(args)]
    raise OpPrereqError(f"Unknown mode '{mode}'", ECODE_INVAL)


def _confirm(names: list[str], operation: str) -> None:
    """Ganeti's "The startup will operate on N instances" question; no terminal means no, with a hint."""
    count = len(names)
    if not sys.stdin.isatty():
        raise ParameterError(
            f"The {operation} would operate on {count} instance(s); use --force-multiple to do it without asking"
        )
    question = f"The {operation} will operate on {count} instances.\n"
    if count <= _LISTED:
        question += "Affected instances:\n" + "".join(f"  {name}\n" for name in names)
    if not click.confirm(question + "Do you want to continue?", default=False):
        print("Aborted.", file=sys.stderr)
        sys.exit(1)


def run_on_selection(
    cl: Client,
    operation: str,
    args: tuple[str, ...],
    mode: str | None,
    force_multiple: bool,
    submit: bool,
    make_op: MakeOp,
) -> None:
    """Select, confirm, submit one job per instance, then wait for them all; exit 1 if any failed."""
    mode = mode or INSTANCES
    names = select_instances(cl, mode, list(args))
    if not names:
        if mode == CLUSTER:
            print(f"Cluster is empty, no instances to {operation}")
            return
        raise OpPrereqError("Selection filter does not match any instances", ECODE_INVAL)
    multi = mode != INSTANCES or len(names) > 1
    if multi and not force_multiple:
        _confirm(names, operation)
    submitted = list(zip(names, cl.submit_many([[make_op(name)] for name in names]), strict=True))
    ok = all(accepted for _, (accepted, _) in submitted)
    if submit:
        for name, (accepted, value) in submitted:
            if accepted:
                print(f"{value}: {name}")
            else:
                print(f"Failure for {name}: {value}", file=sys.stderr)
    else:
        ok = _wait_all(cl, submitted, verbose=multi) and ok
    if not ok:
        sys.exit(1)


def _wait_all(cl: Client, submitted: list[tuple[str, tuple[bool, Any]]], verbose: bool) -> bool:
    """Ganeti's JobExecutor output: the job ids, then each job's feedback; failures on stderr."""
    ids = [str(value) for _, (accepted, value) in submitted if accepted]
    if verbose and ids:
        print(f"Submitted jobs {', '.join(ids)}", flush=True)
    ok = True
    for name, (accepted, value) in submitted:
        if not accepted:
            print(f"Failed to submit job for {name}: {value}", file=sys.stderr)
            ok = False
    for name, (accepted, job_id) in submitted:
        if not accepted:
            continue
        print(f"Waiting for job {job_id} for {name} ...", flush=True)
        try:
            wait_job(cl, int(job_id))
        except GntError as err:
            print(f"Job {job_id} for {name} has failed: {err.message}", file=sys.stderr, flush=True)
            ok = False
    return ok
