"""gnt.rapi.client has every public method of Ganeti 3.0's GanetiRapiClient, with the same parameters
in the same order, so a script written for Ganeti's client runs unchanged (read from Debian's
`ganeti-3.0`, which tools/install-deps.sh installs)."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

from gnt.rapi.client import GanetiRapiClient

GANETI_CLIENT = Path("/usr/share/ganeti/3.0/ganeti/rapi/client.py")


def _ganeti_methods() -> dict[str, list[str]]:
    assert GANETI_CLIENT.is_file(), "Ganeti 3.0's RAPI client is not installed (tools/install-deps.sh installs it)"
    tree = ast.parse(GANETI_CLIENT.read_text())
    (cls,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "GanetiRapiClient"]
    methods = {}
    for fn in cls.body:
        if isinstance(fn, ast.FunctionDef) and not fn.name.startswith("_"):
            params = [a.arg for a in fn.args.args if a.arg != "self"]
            methods[fn.name] = params + ([f"**{fn.args.kwarg.arg}"] if fn.args.kwarg else [])
    return methods


def _gnt_params(name: str) -> list[str]:
    sig = inspect.signature(getattr(GanetiRapiClient, name))
    shown = []
    for param in sig.parameters.values():
        if param.name == "self" or param.kind is param.KEYWORD_ONLY:
            continue
        shown.append(f"**{param.name}" if param.kind is param.VAR_KEYWORD else param.name)
    return shown


def test_every_ganeti_client_method_exists_with_the_same_parameters() -> None:
    ganeti = _ganeti_methods()
    assert len(ganeti) >= 80
    missing = sorted(set(ganeti) - set(dir(GanetiRapiClient)))
    assert missing == []
    differ = {name: (params, _gnt_params(name)) for name, params in ganeti.items() if params != _gnt_params(name)}
    assert differ == {}
