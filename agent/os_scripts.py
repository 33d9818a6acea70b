"""Ganeti's OS interface (API versions 10, 15 and 20), run on a node: find, validate and run OS definitions.

An OS definition is a directory named after the OS, found in the node's OS search path
(`gnt.paths.os_search_path`: gnt's own directories, then Ganeti's, so Debian's `ganeti-os-noop`
and `ganeti-instance-debootstrap` work as installed), with the executables create, import,
export, rename and the text file ganeti_api_version; from API 15 an optional variants.list, from
API 20 the verify script and parameters.list too (what ganeti-os-interface(7) requires of each
version). A script is run with the highest API version both sides speak, and gets exactly that
version's environment (OS_VARIANT from 15, OSP_* parameters from 20) and nothing from the node
daemon's. Scripts run as argv lists (never through a shell) and log to files named like Ganeti's,
so an admin finds `add-<os>-<instance>-<timestamp>.log` where Ganeti would put it.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from agent import children
from gnt.errors import ECODE_INVAL, OpExecError, OpPrereqError
from gnt.runtime import InstanceSpec

API_V10, API_V15, API_V20 = 10, 15, 20
API_VERSION = API_V20
SUPPORTED_API_VERSIONS = (API_V10, API_V15, API_V20)
#: the scripts every version requires; API 20 adds `verify`
BASE_SCRIPTS = ("create", "import", "export", "rename")
SCRIPTS = (*BASE_SCRIPTS, "verify")
SCRIPT_TIMEOUT = 3600.0
LOG_TAIL_LINES = 20
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*\Z")
_CLEAN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass
class OsDefinition:
    """A validated OS definition on this node."""

    name: str
    path: str
    api_versions: list[int]
    variants: list[str] = field(default_factory=list)
    parameters: list[list[str]] = field(default_factory=list)  # [name, description]

    @property
    def api_version(self) -> int:
        """The version the scripts are run with: the highest one both the OS and gnt speak."""
        return max(set(self.api_versions) & set(SUPPORTED_API_VERSIONS))


def split_name(os_name: str) -> tuple[str, str]:
    """'debootstrap+bookworm' -> ('debootstrap', 'bookworm'); raises on a malformed name."""
    name, _, variant = os_name.partition("+")
    if not _NAME_RE.match(name) or (variant and not _NAME_RE.match(variant)) or (_ and not variant):
        raise OpPrereqError(f"Invalid OS name '{os_name}': expected NAME or NAME+VARIANT", ECODE_INVAL)
    return name, variant


def find_os(name: str, search_path: Sequence[str]) -> str:
    """The directory of OS `name` (a variant suffix is ignored): the first hit in the search path."""
    base, _ = split_name(name)
    for top in search_path:
        candidate = os.path.join(top, base)
        if os.path.isdir(candidate):
            return candidate
    raise OpExecError(f"Directory for OS {base} not found in search path")


def _read_list(path: str) -> list[str]:
    """Non-empty, non-comment lines of an optional text file."""
    try:
        with open(path) as fh:
            lines = [line.strip() for line in fh]
    except FileNotFoundError:
        return []
    return [line for line in lines if line and not line.startswith("#")]


def load_os(path: str) -> OsDefinition:
    """Read and validate the OS definition in directory `path`; OpExecError says what is wrong."""
    name = os.path.basename(path.rstrip("/"))
    version_file = os.path.join(path, "ganeti_api_version")
    try:
        with open(version_file) as fh:
            versions = [int(v) for v in fh.read().split()]
    except FileNotFoundError:
        raise OpExecError(f"OS {name} at {path}: missing API version file ganeti_api_version") from None
    except (OSError, ValueError) as err:
        raise OpExecError(f"OS {name} at {path}: invalid API version file: {err}") from None
    if not set(versions) & set(SUPPORTED_API_VERSIONS):
        raise OpExecError(
            f"API version mismatch for path '{path}': found {versions}, want {list(SUPPORTED_API_VERSIONS)}"
        )
    newest = max(set(versions) & set(SUPPORTED_API_VERSIONS))
    for script in SCRIPTS if newest >= API_V20 else BASE_SCRIPTS:
        script_path = os.path.join(path, script)
        if not os.path.isfile(script_path):
            raise OpExecError(f"OS {name} at {path}: missing script '{script}'")
        if not os.access(script_path, os.X_OK):
            raise OpExecError(f"OS {name} at {path}: script '{script}' is not executable")
    params: list[list[str]] = []
    if newest >= API_V20:
        if not os.path.isfile(os.path.join(path, "parameters.list")):
            raise OpExecError(f"OS {name} at {path}: missing file 'parameters.list' (required by API {API_V20})")
        params = [(line.split(None, 1) + [""])[:2] for line in _read_list(os.path.join(path, "parameters.list"))]
    variants = _read_list(os.path.join(path, "variants.list")) if newest >= API_V15 else []
    return OsDefinition(name, path, versions, variants, params)


def check_variant(definition: OsDefinition, os_name: str) -> None:
    """Ganeti's variant rule: an OS with variants must be named `name+variant`, with one it lists;
    an OS without variants takes none. (`--force-variant` skips this check.)"""
    _, variant = split_name(os_name)
    if not definition.variants:
        if variant:
            raise OpPrereqError(f"OS '{definition.name}' doesn't support variants ('{variant}' passed)", ECODE_INVAL)
        return
    if not variant:
        raise OpPrereqError("OS name must include a variant", ECODE_INVAL)
    if variant not in definition.variants:
        raise OpPrereqError("Unsupported OS variant", ECODE_INVAL)


def check_parameters(definition: OsDefinition, names: Sequence[str]) -> None:
    """Parameters the OS does not list in parameters.list are refused (an OS before API 20 lists none)."""
    known = {name for name, _ in definition.parameters}
    unknown = sorted(set(names) - known)
    if unknown:
        names_text = ", ".join(unknown)
        raise OpExecError(f"The following parameters are not supported by the OS {definition.name}: {names_text}")


def get_os(os_name: str, search_path: Sequence[str]) -> tuple[OsDefinition, str]:
    """The definition for `os_name` and the variant its scripts get (OS_VARIANT, API 15 and up):
    the one named, else the OS's first. Whether the name is acceptable was checked before the
    instance was created (`validate`, unless --force-variant), so it is not refused here."""
    base, variant = split_name(os_name)
    definition = load_os(find_os(base, search_path))
    if definition.api_version < API_V15:
        return definition, ""
    if not variant and definition.variants:
        variant = definition.variants[0]
    return definition, variant


async def diagnose(search_path: Sequence[str]) -> list[dict[str, Any]]:
    """Every OS directory in the search path, valid or not, in search order (the first of a name wins
    when instances use it), for `gnt-os list` and `gnt-os diagnose`."""
    return await asyncio.to_thread(_diagnose, list(search_path))


def _diagnose(search_path: list[str]) -> list[dict[str, Any]]:
    result = []
    for top in search_path:
        try:
            names = sorted(os.listdir(top))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for name in names:
            path = os.path.join(top, name)
            if not os.path.isdir(path):
                continue
            entry: dict[str, Any] = {"name": name, "path": path, "valid": True, "message": ""}
            try:
                definition = load_os(path)
            except OpExecError as err:
                entry.update(valid=False, message=err.message, api_versions=[], variants=[], parameters=[])
            else:
                entry.update(
                    api_versions=definition.api_versions,
                    variants=definition.variants,
                    parameters=definition.parameters,
                )
            result.append(entry)
    return result


def core_env(definition: OsDefinition, variant: str, osparams: dict[str, Any], debug: int = 0) -> dict[str, str]:
    """What every script of the OS gets (verify alone gets only this): the API version it is run
    with, the OS's name, and from API 15 its variant, from API 20 its parameters."""
    version = definition.api_version
    env = {
        "PATH": _CLEAN_PATH,
        "OS_API_VERSION": str(version),
        "OS_NAME": definition.name,
        "DEBUG_LEVEL": str(debug),
    }
    if version >= API_V15:
        env["OS_VARIANT"] = variant
    if version >= API_V20:
        for key, value in osparams.items():
            env["OSP_" + key.upper().replace("-", "_")] = _env_value(value)
    return env


def build_env(
    definition: OsDefinition,
    variant: str,
    spec: InstanceSpec,
    disk_paths: Sequence[str],
    debug: int = 0,
) -> dict[str, str]:
    """The environment of ganeti-os-interface(7) for the OS's API version, and nothing else."""
    env = core_env(definition, variant, spec.osparams, debug)
    env.update(
        {
            "INSTANCE_NAME": spec.name,
            "INSTANCE_OS": spec.os or (definition.name + (f"+{variant}" if variant else "")),
            "HYPERVISOR": spec.hypervisor,
            "DISK_COUNT": str(len(spec.disks)),
            "NIC_COUNT": str(len(spec.nics)),
        }
    )
    for i, disk in enumerate(spec.disks):
        path = disk_paths[i] if i < len(disk_paths) else (disk.path or "")
        if path:
            env[f"DISK_{i}_PATH"] = path
        env[f"DISK_{i}_ACCESS"] = disk.mode
        env[f"DISK_{i}_UUID"] = disk.uuid
        if disk.name:
            env[f"DISK_{i}_NAME"] = disk.name
        is_file = disk.dev_type in ("file", "sharedfile")
        env[f"DISK_{i}_BACKEND_TYPE"] = f"file:{disk.logical_id[0]}" if is_file and disk.logical_id else "block"
    for i, nic in enumerate(spec.nics):
        env[f"NIC_{i}_MAC"] = nic.mac
        env[f"NIC_{i}_UUID"] = nic.uuid
        env[f"NIC_{i}_MODE"] = nic.mode
        env[f"NIC_{i}_LINK"] = nic.link
        if nic.ip:
            env[f"NIC_{i}_IP"] = nic.ip
        if nic.name:
            env[f"NIC_{i}_NAME"] = nic.name
        if nic.mode == "bridged":
            env[f"NIC_{i}_BRIDGE"] = nic.link
        if nic.network:
            env[f"NIC_{i}_NETWORK_NAME"] = nic.network
    for prefix, params in (("INSTANCE_BE_", spec.beparams), ("INSTANCE_HV_", spec.hvparams)):
        for key, value in params.items():
            env[prefix + key] = _env_value(value)
    return env


def _env_value(value: Any) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    return "" if value is None else str(value)


def _log_name(kind: str, *parts: str) -> str:
    stamp = time.strftime("%Y-%m-%d_%H_%M_%S") + f"_{time.time_ns() % 10**6:06d}"
    return f"{kind}-{'-'.join(parts)}-{stamp}.log"


async def _run_script(
    what: str, script: str, env: dict[str, str], log_path: str, timeout: float, args: Sequence[str] = ()
) -> None:
    """Run one OS script, output to `log_path`; failure -> OpExecError with the log's tail."""
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    with open(log_path, "ab") as log:
        try:
            # its own process group, killed whole on timeout, cancel or daemon exit (agent.children)
            proc = await children.spawn(
                script, *args, stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log,
                env=env, cwd=os.path.dirname(script),
            )  # fmt: skip
        except OSError as err:
            raise OpExecError(f"OS {what} script {script} could not be run: {err.strerror}") from err
    code = await children.run_in_group(proc, timeout)
    if code is None:
        reason = f"timed out after {timeout:g} seconds"
    else:
        if code == 0:
            return
        reason = f"exited with exit code {code}" if code > 0 else f"killed by signal {-code}"
    tail = await asyncio.to_thread(_tail, log_path, LOG_TAIL_LINES)
    raise OpExecError(f"OS {what} script failed ({reason}), last lines in the log file:\n{tail}")


def _tail(path: str, lines: int) -> str:
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        fh.seek(max(0, fh.tell() - 16384))
        data = fh.read().decode(errors="replace")
    return "\n".join(data.splitlines()[-lines:])


async def run_create(
    os_name: str,
    spec: InstanceSpec,
    disk_paths: Sequence[str],
    search_path: Sequence[str],
    log_dir: str,
    reinstall: bool = False,
    debug: int = 0,
    timeout: float = SCRIPT_TIMEOUT,
) -> str:
    """Run the OS `create` script for a new (or reinstalled) instance; returns the log file path."""
    definition, variant = await asyncio.to_thread(get_os, os_name, search_path)
    env = build_env(definition, variant, spec, disk_paths, debug)
    if reinstall:
        env["INSTANCE_REINSTALL"] = "1"
    log_path = os.path.join(log_dir, _log_name("add", definition.name, spec.name))
    await _run_script("create", os.path.join(definition.path, "create"), env, log_path, timeout)
    return log_path


async def run_rename(
    os_name: str,
    spec: InstanceSpec,
    old_name: str,
    disk_paths: Sequence[str],
    search_path: Sequence[str],
    log_dir: str,
    debug: int = 0,
    timeout: float = SCRIPT_TIMEOUT,
) -> str:
    """Run the OS `rename` script after an instance was renamed (spec.name is the new name)."""
    definition, variant = await asyncio.to_thread(get_os, os_name, search_path)
    env = build_env(definition, variant, spec, disk_paths, debug)
    env["OLD_INSTANCE_NAME"] = old_name
    log_path = os.path.join(log_dir, _log_name("rename", definition.name, old_name, spec.name))
    await _run_script("rename", os.path.join(definition.path, "rename"), env, log_path, timeout)
    return log_path


async def validate(
    os_name: str,
    osparams: dict[str, Any],
    search_path: Sequence[str],
    log_dir: str,
    force_variant: bool = False,
    timeout: float = 60.0,
    required: bool = True,
) -> None:
    """What Ganeti checks on each node before an OS is used for an instance: the OS exists and is
    valid here, the variant is one it lists (unless forced), every parameter is one it declares,
    and (API 20) its `verify parameters` script accepts the values. A wrong variant is the
    caller's input (OpPrereqError, Ganeti's message); the rest fail as on Ganeti's node
    (OpExecError), which the master reports per node. With `required` False a node without a
    valid definition of the OS passes (per-OS cluster parameters may name an OS some nodes lack)."""
    try:
        definition, variant = await asyncio.to_thread(get_os, os_name, search_path)
    except OpExecError:
        if required:
            raise
        return
    if not force_variant:
        check_variant(definition, os_name)
    check_parameters(definition, list(osparams))
    if definition.api_version < API_V20:
        return
    env = core_env(definition, variant, osparams)
    log_path = os.path.join(log_dir, _log_name("verify", definition.name))
    await _run_script("validation", os.path.join(definition.path, "verify"), env, log_path, timeout, ["parameters"])
