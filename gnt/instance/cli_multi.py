"""`gnt-instance info`, `batch-create` and `change-group`: Ganeti's options and output.

Kept apart from `gnt.instance.cli` (registered there by `add_multi_commands`). `info` runs
OP_INSTANCE_QUERY_DATA, the opcode behind RAPI's `GET /2/instances/NAME/info`, so the CLI and the
RAPI show the same facts.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from typing import Any

import click

from gnt.cli.common import CONTEXT, PRIORITIES, client, common_job_options, handle_errors, job_fields, priority_option
from gnt.cli.fields import field_option
from gnt.cli.jobs import follow_jobs, run_ops, wait_job
from gnt.cli.output import print_tree
from gnt.errors import ECODE_INVAL, OpPrereqError
from gnt.units import format_size

__all__ = ["add_multi_commands", "info_tree", "read_batch_file", "to_roman"]

#: a definition file larger than this is refused before it is parsed (each entry is a small object)
MAX_BATCH_FILE = 16 * 1024 * 1024

_STAMP = "%Y-%m-%d %H:%M:%S"


def to_roman(value: Any, convert: bool = True) -> Any:
    """`info --roman`: an integer from 1 to 4999 in Roman numerals, as Ganeti's TryToRoman writes it;
    anything else (0, a larger number, a float, a string, None) unchanged."""
    from gnt.cli.roman import MAX_ROMAN
    from gnt.cli.roman import to_roman as numeral

    if not convert or isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_ROMAN:
        return value
    return numeral(value)


def _backend_view(actual: dict[str, Any], custom: dict[str, Any], roman: bool = False) -> dict[str, Any]:
    """Ganeti's back-end listing: values the instance does not set read `default (value)`;
    `memory` is Ganeti's old name of `maxmem`, shown beside it."""
    shown = {k: to_roman(v, roman) for k, v in actual.items()}
    view = {k: (v if k in custom else f"default ({v})") for k, v in shown.items()}
    if "memory" not in custom and "maxmem" in actual:
        view["memory"] = f"default ({shown['maxmem']})"
    return dict(sorted(view.items()))


def _disk_view(index: int, template: str, disk: dict[str, Any], roman: bool = False) -> dict[str, Any]:
    view: dict[str, Any] = {
        f"disk/{to_roman(index, roman)}": f"{template}, size {format_size(disk['size'])}",
        "access mode": disk["mode"],
    }
    if disk["logical_id"]:
        view["logical_id"] = str(disk["logical_id"])
        view["on primary"] = f"{disk.get('path')} (N/A:N/A)"
    return view | {"name": disk["name"], "UUID": disk["uuid"]}


def info_tree(d: dict[str, Any], roman: bool = False) -> dict[str, Any]:
    """One instance's OP_INSTANCE_QUERY_DATA dict as Ganeti prints it (`roman`: its integers that
    count something, the indices, the port and the back-end numbers, in Roman numerals, as --roman)."""
    configured = "up" if d["config_state"] == "up" else "down"
    state = f"configured to be {configured}"
    if d["run_state"] is not None:
        state += f", actual state is {d['run_state']}"
    group = f"{d['pnode_group_name']} (UUID {d['pnode_group_uuid']})"
    nics = [
        {f"nic/{to_roman(i, roman)}": "", "MAC": mac, "IP": ip, "mode": mode, "link": link}
        for i, (_name, _uuid, ip, mac, mode, link, *_rest) in enumerate(d["nics"])
    ]
    runtime = {"Runtime memory": f"{d['runtime_memory']}MiB"} if d.get("runtime_memory") is not None else {}
    return {
        "Instance name": d["name"],
        "UUID": d["uuid"],
        "Serial number": d["serial_no"],
        "Creation time": time.strftime(_STAMP, time.localtime(d["ctime"])),
        "Modification time": time.strftime(_STAMP, time.localtime(d["mtime"])),
        "State": state,
        "Nodes": [{"primary": d["pnode"], "group": group}, {"secondaries": ", ".join(d["snodes"])}],
        "Operating system": d["os"],
        "Operating system parameters": d["os_actual"],
        "Allocated network port": to_roman(d["network_port"], roman),
        "Hypervisor": d["hypervisor"],
        "Hypervisor parameters": dict(sorted(d["hv_actual"].items())),
        "Back-end parameters": _backend_view(d["be_actual"], d["be_instance"], roman),
        **runtime,
        "NICs": nics,
        "Disk template": d["disk_template"],
        "Disks": [_disk_view(i, d["disk_template"], disk, roman) for i, disk in enumerate(d["disks"])],
    }


def read_batch_file(path: str) -> list[dict[str, Any]]:
    """Ganeti's batch-create file: a JSON list of OP_INSTANCE_CREATE bodies (its RAPI form).

    Unknown keys are refused here, by position, as Ganeti's CLI does, so a typo never becomes a job;
    the values themselves are checked by the opcode at submission.
    """
    from gnt.opcodes import OpInstanceCreate

    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read(MAX_BATCH_FILE + 1)
    except OSError as err:
        raise OpPrereqError(f"Can't read the instance definition file: {err.strerror}: {path}", ECODE_INVAL) from None
    if len(text) > MAX_BATCH_FILE:
        raise OpPrereqError(f"The instance definition file is larger than {MAX_BATCH_FILE} bytes", ECODE_INVAL)
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as err:
        raise OpPrereqError(f"Can't parse the instance definition file: {err}", ECODE_INVAL) from None
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise OpPrereqError("The instance definition file is not a list of objects", ECODE_INVAL)
    if not data:
        raise OpPrereqError("The instance definition file defines no instance", ECODE_INVAL)
    known = {f.name for f in dataclasses.fields(OpInstanceCreate)}
    for index, item in enumerate(data):
        unknown = sorted(k[:40] for k in set(item) - known)
        if unknown:
            raise OpPrereqError(f"Unknown fields in definition {index}: {', '.join(unknown)}", ECODE_INVAL)
    return data


def add_multi_commands(main: click.Group) -> None:
    """Register `info`, `batch-create` and `change-group` on the gnt-instance group."""

    @main.command(context_settings=CONTEXT)
    @click.argument("instances", nargs=-1)
    @field_option("OP_INSTANCE_QUERY_DATA", "static", "-s", "--static")
    @click.option("--all", "show_all", is_flag=True, help="Show every instance (can take long)")
    @click.option("-r", "--roman", is_flag=True, help="Write the indices, port and back-end numbers in Roman numerals")
    @priority_option
    @handle_errors
    def info(instances: tuple[str, ...], static: bool, show_all: bool, roman: bool, priority: str) -> None:
        """Show instance details.

        \b
        Example:
          gnt-instance info inst1
          gnt-instance info --static --all
        """
        if instances and show_all:
            raise OpPrereqError("Cannot use --all if static names are given", ECODE_INVAL)
        if not instances and not show_all:
            raise OpPrereqError("No instance selected. Use --all to show information about all instances.", ECODE_INVAL)
        op = {
            "OP_ID": "OP_INSTANCE_QUERY_DATA",
            "instances": list(instances),
            "static": static,
            "priority": PRIORITIES[priority],
        }
        (result,) = run_ops(client(), [op], quiet=True)
        print_tree([info_tree(result[name], roman) for name in sorted(result, key=_order(instances))])

    @main.command("batch-create", context_settings=CONTEXT)
    @click.argument("json_file")
    @field_option("OP_INSTANCE_MULTI_ALLOC", "iallocator", "-I", "--iallocator")
    @common_job_options
    @handle_errors
    def batch_create(json_file: str, iallocator: str | None, submit: bool, dry_run: bool, priority: str) -> None:
        """Create several instances from a JSON file, placed together by the allocator.

        The file is a list of instance definitions in OP_INSTANCE_CREATE's (RAPI) form, as in Ganeti.

        \b
        Example:
          echo '[{"instance_name": "web1", "disk_template": "diskless", "os_type": "noop"}]' > batch.json
          gnt-instance batch-create -I hail batch.json
        """
        instances = read_batch_file(json_file)
        cl = client()
        op = {"OP_ID": "OP_INSTANCE_MULTI_ALLOC", "instances": instances, "iallocator": iallocator}
        op |= job_fields(dry_run, priority)
        outcome = run_ops(cl, [op], submit=submit)
        if outcome is None:  # --submit: the job id is printed
            return
        (result,) = outcome
        bad = 0
        for name in result.get("failed", []):
            print(f"Instance {name} could not be allocated")
            bad += 1
        jobs = zip(result.get("allocatable", []), result.get("jobs", []), strict=False)
        bad += _wait_all(cl, [(name, ok, job_id) for name, (ok, job_id) in jobs])
        if bad:
            print(f"There were {bad} errors during the creation.")
            sys.exit(1)
        print("All instances created successfully.")

    @main.command("change-group", context_settings=CONTEXT)
    @click.argument("instance")
    @click.option("--to", "groups", multiple=True, metavar="GROUP", help="Group to move to (repeatable)")
    @field_option("OP_INSTANCE_CHANGE_GROUP", "iallocator", "-I", "--iallocator")
    @field_option("OP_INSTANCE_CHANGE_GROUP", "early_release", "--early-release")
    @common_job_options
    @handle_errors
    def change_group(
        instance: str,
        groups: tuple[str, ...],
        iallocator: str | None,
        early_release: bool,
        submit: bool,
        dry_run: bool,
        priority: str,
    ) -> None:
        """Move an instance to the nodes of another node group.

        \b
        Example:
          gnt-instance change-group --to rack2 -I hail inst1
        """
        cl = client()
        op = {
            "OP_ID": "OP_INSTANCE_CHANGE_GROUP",
            "instance_name": instance,
            "target_groups": list(groups) or None,
            "iallocator": iallocator,
            "early_release": early_release,
        } | job_fields(dry_run, priority)
        outcome = run_ops(cl, [op], submit=submit)
        if outcome is None:
            return
        (result,) = outcome
        bad = _wait_all(cl, [(instance, ok, job_id) for ok, job_id in result.get("jobs", [])])
        if bad:
            print(f"There were {bad} errors while changing group of instance '{instance}'.")
            sys.exit(1)
        print(f"Instance '{instance}' changed group successfully.")


def _wait_all(cl: Any, jobs: list[tuple[str, bool, Any]]) -> int:
    """Follow each instance's job to its end; the number that failed (or were never submitted)."""
    return follow_jobs(
        cl,
        jobs,
        refused=lambda name, reason: f"Instance {name}: job submission failed: {reason}",
        failed=lambda name, _job, err: f"Instance {name}: {err}",
        wait=wait_job,
    )


def _order(instances: tuple[str, ...]) -> Any:
    """Named instances in the order given, all instances by name."""
    position = {name: i for i, name in enumerate(instances)}
    return lambda name: (position.get(name, len(position)), name)
