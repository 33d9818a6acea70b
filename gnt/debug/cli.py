"""gnt-debug: debugging helpers."""

from __future__ import annotations

import sys
from typing import Any

import click

from gnt.cli.common import (
    CONTEXT,
    PRIORITIES,
    AliasedGroup,
    client,
    common_job_options,
    handle_errors,
    job_fields,
    parse_keyval,
)
from gnt.cli.jobs import run_ops
from gnt.debug.limits import delay_problem
from gnt.errors import ParameterError


@click.group(cls=AliasedGroup, aliases={"allocator": "iallocator"}, context_settings=CONTEXT)
def main() -> None:
    """Debugging commands."""


@main.command(context_settings=CONTEXT)
@click.argument("duration")
@click.option("--no-master", is_flag=True, help="Do not sleep on the master")
@click.option("-n", "--node", "nodes", multiple=True, help="Also sleep on this node (repeatable)")
@click.option("-r", "--repeat", type=int, default=0, help="Repeat this many more times")
@click.option("-l", "--no-locks", is_flag=True, help="Take no lock on the -n nodes while sleeping")
@common_job_options
@handle_errors
def delay(
    duration: str,
    no_master: bool,
    nodes: tuple[str, ...],
    repeat: int,
    no_locks: bool,
    submit: bool,
    dry_run: bool,
    priority: str,
) -> None:
    """Run a job that only sleeps (OP_TEST_DELAY); 0 makes the no-op job.

    \b
    Example:
      gnt-debug delay 0
      gnt-debug delay -n node2 1.5
    """
    try:
        seconds = float(duration)
    except ValueError as err:
        raise ParameterError(f"Invalid duration '{duration}'") from err
    problem = delay_problem(seconds, repeat)
    if problem:
        raise ParameterError(problem)
    op = {
        "OP_ID": "OP_TEST_DELAY",
        "duration": seconds,
        "on_master": not no_master,
        "on_nodes": list(nodes),
        "repeat": repeat,
        "no_locks": no_locks or not nodes,
        **job_fields(dry_run, priority),
    }
    run_ops(client(), [op], submit)


@main.command("test-osparams", context_settings=CONTEXT)
@click.option(
    "--os-parameters-secret",
    "osparams_secret",
    default=None,
    help="key=value,... secret OS parameters to send (never stored)",
)
@common_job_options
@handle_errors
def test_osparams(osparams_secret: str | None, submit: bool, dry_run: bool, priority: str) -> None:
    """Check that secret OS parameters reach the master's logical unit (OP_TEST_OS_PARAMS).

    The job log names each parameter received with its length; values are never shown or stored.

    \b
    Example:
      gnt-debug test-osparams --os-parameters-secret root_password=s3cret
    """
    op = {
        "OP_ID": "OP_TEST_OS_PARAMS",
        "osparams_secret": parse_keyval(osparams_secret, "--os-parameters-secret") if osparams_secret else None,
        **job_fields(dry_run, priority),
    }
    run_ops(client(), [op], submit)


@main.command("test-jobqueue", context_settings=CONTEXT)
@click.option("--priority", type=click.Choice(["low", "normal", "high"]), default="normal", help="Job priority")
@handle_errors
def test_jobqueue(priority: str) -> None:
    """Exercise the job queue: refused submissions, dependencies, logging, success and failure.

    \b
    Example:
      gnt-debug test-jobqueue
    """
    from gnt.debug.jqueue_cli import run_test_jobqueue

    run_test_jobqueue(priority)


@main.command("submit-job", context_settings=CONTEXT)
@click.argument("files", nargs=-1)
@click.option("-v", "--verbose", is_flag=True, help="Print the jobs' ids and their log")
@click.option("--op-repeat", type=click.IntRange(1, 10000), default=1, help="Repeat the opcodes in each job")
@click.option("--job-repeat", type=click.IntRange(1, 10000), default=1, help="Submit each file this many times")
@click.option("--timing-stats", is_flag=True, help="Print counters and timings")
@click.option("--each", is_flag=True, help="Submit the jobs one by one, not in one request")
@click.option("--dry-run", is_flag=True, help="Make every opcode read only check its prerequisites")
@click.option(
    "--priority",
    type=click.Choice(list(PRIORITIES)),
    default=None,
    help="Give every opcode read this priority (default: as the file says)",
)
@handle_errors
def submit_job(
    files: tuple[str, ...],
    verbose: bool,
    op_repeat: int,
    job_repeat: int,
    timing_stats: bool,
    each: bool,
    dry_run: bool,
    priority: str | None,
) -> None:
    """Submit jobs of opcodes read from JSON files (each file: a list of opcodes).

    \b
    Example:
      echo '[{"OP_ID": "OP_TEST_DELAY", "duration": 0}]' > job.json
      gnt-debug submit-job --job-repeat 10 --timing-stats job.json
    """
    from gnt.debug.submit import submit_jobs

    overrides: dict[str, Any] = {"dry_run": True} if dry_run else {}
    if priority is not None:
        overrides["priority"] = PRIORITIES[priority]
    sys.exit(submit_jobs(files, op_repeat, job_repeat, each, timing_stats, verbose, overrides))


@main.command(context_settings=CONTEXT)
@click.option("-o", "--output", default=None, help="Fields to show (comma-separated, '+' adds to the default)")
@click.option("--no-headers", is_flag=True, help="Do not print the header line")
@click.option("--separator", default=None, help="Separator between fields (no alignment)")
@click.option("--interval", type=click.IntRange(1, 3600), default=None, help="Repeat every N seconds")
@click.option("-v", "--verbose", is_flag=True, help="Accepted for Ganeti compatibility")
@handle_errors
def locks(output: str | None, no_headers: bool, separator: str | None, interval: int | None, verbose: bool) -> None:
    """Show the master's lock table: each lock's mode, owners and waiting jobs.

    \b
    Example:
      gnt-debug locks
      gnt-debug locks --interval 2 -o name,owner
    """
    from gnt.debug.locks_cli import show_locks

    show_locks(output, no_headers, separator, interval)


@main.command(context_settings=CONTEXT)
@click.argument("names", nargs=-1, required=True)
@click.option("--dir", "direction", type=click.Choice(["in", "out"]), default="in", help="Show input or run (out)")
@click.option("-I", "--iallocator", default=None, help="Allocator to run with --dir out (e.g. hail)")
@click.option(
    "-m",
    "--mode",
    type=click.Choice(["allocate", "relocate", "change-group", "node-evacuate", "multi-allocate"]),
    default="relocate",
    help="Request type",
)
@click.option("--memory", default="128", help="Memory of the new instance (e.g. 512M)")
@click.option("--disks", default="4096,4096", help="Disk sizes of the new instance, comma-separated")
@click.option("-t", "--disk-template", default="plain", help="Disk template of the new instance")
@click.option("--nics", default="00:11:22:33:44:55", help="NICs as MAC/IP/BRIDGE, comma-separated")
@click.option("-o", "--os-type", default=None, help="OS of the new instance")
@click.option("-p", "--vcpus", type=click.IntRange(1, 1024), default=1, help="VCPUs of the new instance")
@click.option("--tags", default=None, help="Tags of the new instance, comma-separated")
@click.option("--evac-mode", type=click.Choice(["primary-only", "secondary-only", "all"]), default="all")
@click.option("--target-groups", multiple=True, help="Target group (change-group; repeatable)")
@click.option("--spindle-use", type=click.IntRange(0, 1024), default=1, help="Spindles of the new instance")
@click.option("--count", type=click.IntRange(1, 1000), default=1, help="Instances to allocate (multi-allocate)")
@common_job_options
@handle_errors
def iallocator(names: tuple[str, ...], **opts: Any) -> None:
    """Show an iallocator request built from the options (--dir in), or the allocator's answer (out).

    \b
    Example:
      gnt-debug iallocator --mode allocate --memory 256 -t file --disks 1G new1
      gnt-debug iallocator --dir out -I hail --mode allocate -t file --disks 1G new1
    """
    from gnt.units import parse_size

    op = {
        "OP_ID": "OP_TEST_ALLOCATOR",
        "direction": opts["direction"],
        "mode": opts["mode"],
        "name": names[0],
        "instances": list(names),
        "iallocator": opts["iallocator"],
        "memory": parse_size(opts["memory"], "--memory"),
        "disks": [{"size": parse_size(v, "--disks"), "mode": "rw"} for v in opts["disks"].split(",") if v],
        "disk_template": opts["disk_template"],
        "nics": [_nic(text) for text in opts["nics"].split(",") if text],
        "os": opts["os_type"],
        "vcpus": opts["vcpus"],
        "tags": opts["tags"].split(",") if opts["tags"] else [],
        "evac_mode": opts["evac_mode"],
        "target_groups": list(opts["target_groups"]),
        "spindle_use": opts["spindle_use"],
        "count": opts["count"],
        **job_fields(opts["dry_run"], opts["priority"]),
    }
    result = run_ops(client(), [op], opts["submit"])
    if result:
        print(result[0])


def _nic(text: str) -> dict[str, Any]:
    """Ganeti's MAC/IP/BRIDGE; empty parts are unset."""
    parts = (text.split("/") + [""] * 3)[:3]
    if text.count("/") > 2:
        raise ParameterError(f"Invalid --nics entry '{text}': expected MAC/IP/BRIDGE")
    return {"mac": parts[0] or None, "ip": parts[1] or None, "bridge": parts[2] or None}


#: wconfd command -> (argument count, Ganeti's message when the count is wrong)
_WCONFD_ARGS = {
    "echo": (1, "Command 'echo' takes only precisely argument."),
    "cleanuplocks": (0, "Command 'cleanuplocks' takes no arguments."),
    "listlocks": (1, "Command 'listlocks' takes precisely one argument."),
    "listalllocks": (0, "Command 'listalllocks' takes no arguments."),
    "listalllocksowners": (0, "Command 'listalllocksowners' takes no arguments."),
    "flushconfig": (0, "Command 'flushconfig' takes no arguments."),
}


@main.command(context_settings=CONTEXT)
@click.argument("command")
@click.argument("args", nargs=-1)
@handle_errors
def wconfd(command: str, args: tuple[str, ...]) -> None:
    """Talk to the master's config and lock managers (Ganeti's WConfD): echo TEXT, cleanuplocks,
    listlocks JOBID, listalllocks, listalllocksowners, flushconfig.

    \b
    Example:
      gnt-debug wconfd echo hello
      gnt-debug wconfd listalllocksowners
    """
    if command not in _WCONFD_ARGS:
        raise ParameterError(f"Command '{command}' not supported")
    count, message = _WCONFD_ARGS[command]
    if len(args) != count:
        raise ParameterError(message)
    answer = client().request("POST", "/gnt/wconfd", {"command": command, "args": list(args)})
    if command == "cleanuplocks":
        print("Stale locks cleaned up.")
    elif command == "flushconfig":
        print("Configuration flushed.")
    else:
        print(f"Answer: {_python_repr(answer)}")


def _python_repr(value: Any) -> str:
    """What Ganeti's client prints: the answer as Python shows it (lists of pairs, quoted strings)."""
    return value if isinstance(value, str) else repr(value)


@main.command(context_settings=CONTEXT)
@click.argument("command")
@click.argument("args", nargs=-1)
@handle_errors
def metad(command: str, args: tuple[str, ...]) -> None:
    """Talk to the metadata daemon (Ganeti's metad: echo TEXT). gnt has none; the master says why.

    \b
    Example:
      gnt-debug metad echo hello
    """
    if command != "echo":
        raise ParameterError(f"Command '{command}' not supported")
    if len(args) != 1:
        raise ParameterError("Command 'echo' takes only precisely argument.")
    answer = client().request("POST", "/gnt/metad", {"command": command, "args": list(args)})
    print(f"Answer: {answer}")
