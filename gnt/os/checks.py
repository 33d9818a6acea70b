"""Checks of the per-OS fields of OP_CLUSTER_SET_PARAMS (what `gnt-os modify` sends), run at submission.

Pure functions of the values (no config): each raises ValueError with the reason, which the
opcode layer turns into Ganeti's wrong_input error, so a malformed change never becomes a job.
"""

from __future__ import annotations

import re
from typing import Any

#: an OS name, optionally with its variant (the node applies its own strict pattern too)
OS_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\+[A-Za-z0-9][A-Za-z0-9._-]*)?\Z")
#: Ganeti's DDM_ADD / DDM_REMOVE, the actions of hidden_os and blacklisted_os
ACTIONS = ("add", "remove")
_PARAM_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*\Z")


def _os_name(name: Any) -> None:
    if not isinstance(name, str) or not OS_NAME_RE.match(name):
        raise ValueError(f"{name!r} is not a valid OS name (NAME or NAME+VARIANT)")


def optional_os_name(name: Any) -> None:
    """An opcode's OS name field (None: unchanged), NAME or NAME+VARIANT."""
    if name is not None:
        _os_name(name)


def _scalar_params(params: Any, what: str) -> None:
    if not isinstance(params, dict):
        raise ValueError(f"{what} must be a mapping of parameter names to values")
    for key, value in params.items():
        if not isinstance(key, str) or not _PARAM_RE.match(key):
            raise ValueError(f"{what}: {key!r} is not a valid parameter name")
        if isinstance(value, (dict, list)) or (isinstance(value, str) and "\0" in value):
            raise ValueError(f"{what}: {key}={value!r} is not a valid value")


def os_list_changes(value: Any) -> None:
    """[[action, os_name], ...] with action 'add' or 'remove' (Ganeti's hidden_os/blacklisted_os)."""
    for item in value or []:
        if not isinstance(item, (list, tuple)) or len(item) != 2 or item[0] not in ACTIONS:
            raise ValueError(f"{item!r} is not a change of the form [add|remove, OS name]")
        _os_name(item[1])


def per_os_params(value: Any) -> None:
    """{os_name: {param: value}} (osparams)."""
    for name, params in (value or {}).items():
        _os_name(name)
        _scalar_params(params, f"OS {name}")


def per_os_hvparams(value: Any) -> None:
    """{os_name: {hypervisor: {param: value}}} (os_hvp)."""
    for name, per_hv in (value or {}).items():
        _os_name(name)
        if not isinstance(per_hv, dict):
            raise ValueError(f"OS {name}: hypervisor parameters must be a mapping of hypervisor to parameters")
        for hv, params in per_hv.items():
            _scalar_params(params, f"OS {name}, hypervisor {hv}")
