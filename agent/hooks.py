"""Run Ganeti-style hook scripts on this node: `<hooks dir>/<hook path>-<phase>.d/*`, as run-parts.

The master names the hook path (an opcode's, like `instance-start`) and the phase (`pre` or
`post`) and sends the environment; the scripts are only ever this node's own, from its hooks
directory (`gnt.paths.hooks_dir()`, Ganeti's /etc/ganeti/hooks): the hook path is a strict name,
so no caller can point outside it. As Ganeti's run-parts: the directory's entries run in name
order, one at a time; an entry whose name is not made of letters, digits, '_' and '-', or which is
not an executable regular file, is skipped (so `README`, `x.dpkg-old` and `foo.sh~` are ignored).
Each script gets exactly the GANETI_* environment it was sent, a fixed PATH and this node's own
GANETI_DATA_DIR, nothing from the node daemon; its stdout and stderr are captured (the tail, for
the job log). A script that runs past its timeout is killed with its process group and fails.
"""

from __future__ import annotations

import asyncio
import os
import re
import stat
import tempfile
import time
from typing import Any

from agent import children
from gnt import confine, paths

#: Ganeti's hook results
HKR_SKIP, HKR_FAIL, HKR_SUCCESS = 0, 1, 2
PHASES = ("pre", "post")
HOOKS_PATH_ENV = "/sbin:/bin:/usr/sbin:/usr/bin"
#: seconds one script may run, and the whole phase on this node (kept under the RPC's own timeout)
SCRIPT_TIMEOUT = 60.0
PHASE_BUDGET = 540.0
#: bytes of a script's output kept (the end: where the reason usually is)
OUTPUT_LIMIT = 4096

HPATH_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}\Z")
SCRIPT_NAME_RE = re.compile(r"^[A-Za-z0-9_-]+\Z")
ENV_KEY_RE = re.compile(r"^GANETI_[A-Za-z0-9_]{1,200}\Z")


def check_request(hpath: str, phase: str, env: dict[str, Any]) -> dict[str, str]:
    """The checked environment of a hooks call; a refusal (RpcArgumentError) names what was wrong."""
    if not isinstance(hpath, str) or not HPATH_RE.match(hpath):
        raise confine.refuse(f"hooks_runner.hpath: invalid hook path {hpath!r}")
    if phase not in PHASES:
        raise confine.refuse(f"hooks_runner.phase: unknown hooks phase {phase!r} (pre or post)")
    clean: dict[str, str] = {}
    for key, value in env.items():
        if not ENV_KEY_RE.match(key):
            raise confine.refuse(f"hooks_runner.env: {key!r} is not a GANETI_* variable name")
        text = "" if value is None else str(value)
        if "\0" in text:
            raise confine.refuse(f"hooks_runner.env: {key} holds a NUL byte")
        clean[key] = text
    return clean


def _candidates(directory: str) -> list[tuple[str, bool]]:
    """(name, runnable) for each entry of `directory` in name order ([] if there is none)."""
    try:
        names = sorted(os.listdir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return []
    result = []
    for name in names:
        path = os.path.join(directory, name)
        try:
            st = os.stat(path)
        except OSError:
            result.append((name, False))
            continue
        runnable = bool(SCRIPT_NAME_RE.match(name)) and stat.S_ISREG(st.st_mode) and os.access(path, os.X_OK)
        result.append((name, runnable))
    return result


async def _run_one(path: str, env: dict[str, str], timeout: float) -> tuple[int, str]:
    with tempfile.TemporaryFile() as out:
        try:
            proc = await children.spawn(
                path, stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=out, env=env, cwd="/"
            )
        except OSError as err:
            return HKR_FAIL, f"Hook script execution error: {err.strerror}"
        code = await children.run_in_group(proc, timeout)
        out.seek(0, os.SEEK_END)
        out.seek(max(0, out.tell() - OUTPUT_LIMIT))
        output = out.read().decode(errors="replace").strip()
    if code is None:
        return HKR_FAIL, f"{output}\n(killed after {timeout:g} seconds)".strip()
    return (HKR_SUCCESS if code == 0 else HKR_FAIL), output


async def run_hooks(
    hpath: str,
    phase: str,
    env: dict[str, Any],
    hooks_dir: str | None = None,
    timeout: float = SCRIPT_TIMEOUT,
    budget: float = PHASE_BUDGET,
) -> list[list[Any]]:
    """Run the phase's scripts; `[[ "<hpath>-<phase>.d/<name>", HKR_*, output ], ...]` in run order."""
    clean = check_request(hpath, phase, env)
    subdir = f"{hpath}-{phase}.d"
    directory = os.path.join(hooks_dir or paths.hooks_dir(), subdir)
    script_env = {**clean, "PATH": HOOKS_PATH_ENV, "GANETI_DATA_DIR": paths.data_dir()}
    deadline = time.monotonic() + budget
    results: list[list[Any]] = []
    for name, runnable in await asyncio.to_thread(_candidates, directory):
        if not runnable:
            results.append([f"{subdir}/{name}", HKR_SKIP, ""])
            continue
        left = deadline - time.monotonic()
        if left <= 0:
            results.append([f"{subdir}/{name}", HKR_FAIL, f"not run: this phase's hooks took over {budget:g} seconds"])
            continue
        status, output = await _run_one(os.path.join(directory, name), script_env, min(timeout, left))
        results.append([f"{subdir}/{name}", status, output])
    return results


#: Ganeti's FAKE_OP_MASTER_TURNUP / TURNDOWN: the "opcodes" of the master IP hooks
OP_MASTER_TURNUP, OP_MASTER_TURNDOWN = "OP_CLUSTER_IP_TURNUP", "OP_CLUSTER_IP_TURNDOWN"
HOOKS_VERSION = 2


def _local_env(hpath: str, op_code: str, phase: str, own: dict[str, Any]) -> dict[str, str]:
    from gnt import ssconf

    prefix = "GANETI_" if phase == "pre" else "GANETI_POST_"
    env = {f"GANETI_{k}": str(v) for k, v in own.items()}
    if phase == "post":
        env.update({prefix + k: str(v) for k, v in own.items()})
    env.update(
        {
            "GANETI_HOOKS_VERSION": str(HOOKS_VERSION),
            "GANETI_HOOKS_PATH": hpath,
            "GANETI_HOOKS_PHASE": phase,
            "GANETI_OP_CODE": op_code,
            "GANETI_CLUSTER": ssconf.read("cluster_name"),
            "GANETI_MASTER": ssconf.read("master_node"),
        }
    )
    return env


async def run_local_hooks(hpath: str, op_code: str, phase: str, own: dict[str, Any]) -> None:
    """Ganeti's RunLocalHooks: hooks this node runs for itself around a node-side action (the master
    IP going up or down), not sent by the master. A failed pre script stops the action (HooksAbort,
    Ganeti's message); a failed post script is logged."""
    import logging

    from gnt.errors import HooksAbort

    results = await run_hooks(hpath, phase, _local_env(hpath, op_code, phase, own))
    failed = [(script, output) for script, status, output in results if status == HKR_FAIL]
    if not failed:
        return
    node = paths.hostname()
    if phase == "pre":
        lines = [f"  node: {node}, script: {s}" + (f", output: {o}" if o else " (no output)") for s, o in failed]
        raise HooksAbort("\n".join(line.replace("\n", "\\n") for line in lines))
    for script, output in failed:
        logging.getLogger("gnt-noded").warning("%s script %s failed: %s", hpath, script, output or "(no output)")
