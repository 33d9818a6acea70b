"""ExtStorage providers on this node: find them in the node's es search path and check each one.

An ExtStorage provider (ganeti-extstorage-interface(7)) is a directory named after the provider
holding the executables create, attach, detach, remove, grow, setinfo and verify (snapshot, open
and close are optional) and a parameters.list text file naming the parameters its disks take.
The `ext` disk template hands a disk's work to these scripts; this module only discovers and
validates them, for `gnt-storage diagnose` and `info`. The search path comes from the node's own
installation (`gnt.paths.es_search_path`), never from a caller.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["OPTIONAL_SCRIPTS", "PARAMETERS_FILE", "REQUIRED_SCRIPTS", "Provider", "diagnose", "load_provider"]

REQUIRED_SCRIPTS = ("create", "attach", "detach", "remove", "grow", "setinfo", "verify")
OPTIONAL_SCRIPTS = ("snapshot", "open", "close")
PARAMETERS_FILE = "parameters.list"


class ProviderError(Exception):
    """Why a provider directory is not a usable provider (reported, never raised past this module)."""


@dataclass
class Provider:
    """A provider directory that passed every check."""

    name: str
    path: str
    #: [name, description] per line of parameters.list
    parameters: list[list[str]] = field(default_factory=list)
    #: the optional scripts it has
    optional: list[str] = field(default_factory=list)


def _check_script(path: str, name: str, script: str, required: bool) -> bool:
    """True when the script is there and runnable; raises when a required one is missing or broken."""
    script_path = os.path.join(path, script)
    if not os.path.lexists(script_path):
        if required:
            raise ProviderError(f"missing script '{script}' in provider {name} at {path}")
        return False
    if not os.path.isfile(script_path):
        raise ProviderError(f"'{script}' is not a regular file in provider {name} at {path}")
    if not os.access(script_path, os.X_OK):
        raise ProviderError(f"script '{script}' is not executable in provider {name} at {path}")
    return True


def _read_parameters(path: str, name: str) -> list[list[str]]:
    list_path = os.path.join(path, PARAMETERS_FILE)
    try:
        with open(list_path) as handle:
            lines = [line.strip() for line in handle]
    except FileNotFoundError:
        raise ProviderError(f"missing file '{PARAMETERS_FILE}' in provider {name} at {path}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ProviderError(f"cannot read {list_path}: {err}") from None
    return [(line.split(None, 1) + [""])[:2] for line in lines if line and not line.startswith("#")]


def load_provider(path: str) -> Provider:
    """Check the provider in directory `path`; ProviderError says what is wrong with it."""
    name = os.path.basename(path.rstrip("/"))
    for script in REQUIRED_SCRIPTS:
        _check_script(path, name, script, required=True)
    optional = [s for s in OPTIONAL_SCRIPTS if _check_script(path, name, s, required=False)]
    return Provider(name, path, _read_parameters(path, name), optional)


def _diagnose(search_path: list[str]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for top in search_path:
        try:
            names = sorted(os.listdir(top))
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            continue
        for name in names:
            path = os.path.join(top, name)
            if not os.path.isdir(path):
                continue
            entry: dict[str, Any] = {"name": name, "path": path, "valid": True, "message": "", "parameters": []}
            try:
                provider = load_provider(path)
            except ProviderError as err:
                entry.update(valid=False, message=str(err))
            else:
                entry["parameters"] = provider.parameters
            found.append(entry)
    return found


async def diagnose(search_path: Sequence[str]) -> list[dict[str, Any]]:
    """Every provider directory in the search path, valid or not, in search order (the first of a
    name is the one used; later ones are listed too, as Ganeti's diagnose does)."""
    return await asyncio.to_thread(_diagnose, list(search_path))
