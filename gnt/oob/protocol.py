"""Ganeti's out-of-band protocol: how the master runs a node's OOB program and reads its answer.

The program is the `oob_program` node parameter, an absolute path the admin put in the config
(`gnt-node modify --node-parameters oob_program=PATH`). The master runs it as
``PROGRAM COMMAND NODENAME`` from an argv list (never through a shell), with a timeout; a non-zero
exit is an error. On stdout it prints JSON: ``{"powered": bool}`` for power-status, a list of
``[item, status]`` pairs for health, nothing for the power actions.

It runs on the master, as in Ganeti, and never on the node daemon: a node daemon must not run a
path it is handed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from typing import Any

from gnt import constants, opchecks
from gnt.errors import OpExecError

POWER_ON = "power-on"
POWER_OFF = "power-off"
POWER_CYCLE = "power-cycle"
POWER_STATUS = "power-status"
HEALTH = "health"
COMMANDS = (POWER_ON, POWER_OFF, POWER_CYCLE, POWER_STATUS, HEALTH)
#: commands that would take the master down with them (Ganeti's _SKIP_MASTER)
SKIP_MASTER = (POWER_OFF, POWER_CYCLE)
#: the power-status key
POWERED = "powered"

STATUS_OK = "OK"
STATUS_WARNING = "WARNING"
STATUS_CRITICAL = "CRITICAL"
STATUS_UNKNOWN = "UNKNOWN"
STATUSES = (STATUS_OK, STATUS_WARNING, STATUS_CRITICAL, STATUS_UNKNOWN)

#: Ganeti's result-status codes of a per-node query answer (RS_*)
RS_NORMAL = 0
RS_UNKNOWN = 1
RS_NODATA = 2
RS_UNAVAIL = 3
RS_OFFLINE = 4

#: Ganeti's defaults: seconds one OOB call may take, seconds between two power-ons
DEFAULT_TIMEOUT = 60
DEFAULT_POWER_DELAY = 2.0
#: stdout beyond this is not an OOB answer (a runaway program must not fill the master's memory)
MAX_OUTPUT = 1 << 20


def oob_program(cfg: Any, node: Any) -> str:
    """The node's effective `oob_program` (node, then group, then cluster); "" means no OOB."""
    group = cfg.groups.get(node.group)
    params = {**constants.ND_DEFAULTS, **cfg.cluster.ndparams, **(group.ndparams if group else {}), **node.ndparams}
    value = params.get("oob_program") or ""
    return value if isinstance(value, str) else ""


def program_problem(value: Any) -> str | None:
    """Why `value` cannot be an `oob_program` node parameter, or None ("" means no OOB)."""
    if not isinstance(value, str):
        return f"oob_program must be a string, not {type(value).__name__}"
    if value == "":
        return None
    if not os.path.isabs(value) or os.path.normpath(value) != value:
        return f"oob_program must be a normalised absolute path, not '{value[:200]}'"
    if any(ch.isspace() or not ch.isprintable() for ch in value):
        return f"oob_program must not contain whitespace or control characters: '{value[:200]!r}'"
    return None


#: the kind of value each node parameter holds (Ganeti's ND_PARAMETER_TYPES)
_ND_KINDS: dict[str, tuple[type, ...]] = {
    "cpu_speed": (int, float),
    "exclusive_storage": (bool,),
    "oob_program": (str,),
    "ovs": (bool,),
    "ovs_link": (str,),
    "ovs_name": (str,),
    "spindle_count": (int,),
    "ssh_port": (int,),
}


_KIND_WORDS = {int: "an integer", bool: "a boolean (yes or no)", str: "a string"}


def ndparams_check(value: Any) -> None:
    """Opcode field check for node parameters: known keys, values of their kind, a valid `oob_program`.

    A null value resets the key to what the node inherits (group, then cluster), as Ganeti's does.
    """
    if value is None:
        return
    if not isinstance(value, dict):
        raise ValueError(f"expected an object of node parameters, got {str(value)[:80]!r}")
    for key, item in value.items():
        kinds = _ND_KINDS.get(key)
        if kinds is None:
            raise ValueError(f"Unknown node parameter '{str(key)[:80]}' (known: {', '.join(sorted(_ND_KINDS))})")
        if item is None:
            continue
        if not isinstance(item, kinds) or (bool not in kinds and isinstance(item, bool)):
            raise ValueError(f"Node parameter {key} must be {_KIND_WORDS[kinds[0]]}, not {str(item)[:80]!r}")
        _check_nd_value(key, item)


def _check_nd_value(key: str, item: Any) -> None:
    if key == "oob_program":
        problem = program_problem(item)
        if problem:
            raise ValueError(problem)
    elif key == "ssh_port" and not 1 <= item <= 65535:
        raise ValueError(f"Node parameter ssh_port must be a port from 1 to 65535, not {item}")
    elif key == "spindle_count" and not 1 <= item <= 2**31 - 1:
        raise ValueError(f"Node parameter spindle_count must be at least 1, not {item}")
    elif key == "cpu_speed" and not 0 < item <= 1e6:
        raise ValueError(f"Node parameter cpu_speed must be a positive number, not {item}")
    elif key in ("ovs_name", "ovs_link"):
        opchecks.nic_link(item)


async def run_program(program: str, command: str, node: str, timeout: float) -> Any:
    """Run ``program command node``; its parsed stdout, or OpExecError on failure or timeout."""
    if command not in COMMANDS:
        raise OpExecError(f"Unknown out-of-band command '{command}'")
    argv = [program, command, node]
    shown = " ".join(argv)
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as err:
        raise OpExecError(f"'{shown}' failed with reason '{err.strerror or err}'; output: ") from None
    try:
        stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        _kill_group(proc.pid)
        await proc.wait()
        raise OpExecError(f"'{shown}' failed with reason 'timeout after {timeout}s'; output: ") from None
    except asyncio.CancelledError:
        _kill_group(proc.pid)
        raise
    output = (stdout + stderr)[:2000].decode(errors="replace").strip()
    if proc.returncode != 0:
        code = proc.returncode
        reason = f"exited with exit code {code}" if code > 0 else f"terminated by signal {-code}"
        raise OpExecError(f"'{shown}' failed with reason '{reason}'; output: {output}")
    if len(stdout) > MAX_OUTPUT:
        raise OpExecError(f"'{shown}' printed more than {MAX_OUTPUT} bytes")
    text = stdout.decode(errors="replace").strip()
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError as err:
        raise OpExecError(f"'{shown}' printed invalid JSON: {err}") from None


def _kill_group(pid: int) -> None:
    """Kill the program and whatever it started (it leads its own session)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def payload_problems(command: str, payload: Any) -> list[str]:
    """What is wrong with a program's answer to `command` (Ganeti's payload check); [] if fine."""
    errs: list[str] = []
    if command == HEALTH:
        if not isinstance(payload, list):
            errs.append(f"command 'health' is expected to return a list but got {_type(payload)}")
        else:
            for entry in payload:
                if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str)):
                    errs.append(f"health item {str(entry)[:80]} is not an [item, status] pair")
                elif entry[1] not in STATUSES:
                    errs.append(f"health item '{entry[0]}' has invalid status '{entry[1]}'")
    elif command == POWER_STATUS:
        if not isinstance(payload, dict):
            errs.append(f"power-status is expected to return a dict but got {_type(payload)}")
        elif not isinstance(payload.get(POWERED), bool):
            errs.append(f"power-status is expected to return a boolean '{POWERED}' but got {payload}")
    elif payload is not None:
        errs.append(f"{command} is expected to not return payload but got '{str(payload)[:80]}'")
    return errs


def _type(value: Any) -> str:
    return f"<type '{type(value).__name__}'>"


def format_result_error(status: int) -> str:
    """How the CLI shows a node without an answer (Ganeti's FormatResultError, verbose)."""
    return {RS_NODATA: "(nodata)", RS_UNAVAIL: "(unavail)", RS_OFFLINE: "(offline)"}.get(status, "(unknown)")
