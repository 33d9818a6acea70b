"""gnt-storage: the ExtStorage providers the nodes have (`diagnose`, `info`), printed as Ganeti prints them.

Both run OP_EXTSTORAGE_DIAGNOSE with the fields Ganeti's gnt-storage asks for. As in Ganeti, an
empty answer (no provider on any node) is an error, and `info` of an unknown name prints
"NAME: Not Found" rather than failing.
"""

from __future__ import annotations

import re
from typing import Any

import click

from gnt.cli.common import CONTEXT, handle_errors, priority_option
from gnt.errors import ParameterError
from gnt.providers.cli import print_node_statuses, run_diagnose


def _nice_key(text: str) -> list[Any]:
    """Ganeti's NiceSort order: digit runs compare as numbers (node2 before node10)."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def _diagnose(fields: list[str], priority: str, empty_message: str) -> list[list[Any]]:
    rows = run_diagnose("OP_EXTSTORAGE_DIAGNOSE", fields, priority)
    if not rows:
        raise ParameterError(empty_message)
    return rows


@click.group(context_settings=CONTEXT)
def main() -> None:
    """ExtStorage providers (the `ext` disk template's drivers).

    \b
    Example:
      gnt-storage diagnose
    """


def _node_line(entries: list[list[Any]]) -> tuple[bool, str]:
    """The first (used) entry of a provider on one node, as Ganeti's diagnose describes it."""
    if not entries:
        return False, "ExtStorage provider not found"
    path, valid, message, params = entries[0]
    text = f"{'valid' if valid else f'invalid - {message}'} (path: {path})"
    text += f" [parameters: {', '.join(p[0] for p in params)}]" if params else " [no parameters]"
    return bool(valid), text


@main.command(context_settings=CONTEXT)
@priority_option
@handle_errors
def diagnose(priority: str) -> None:
    """Show every ExtStorage provider found, its state on each node and for each node group.

    \b
    Example:
      gnt-storage diagnose
    """
    rows = _diagnose(
        ["name", "node_status", "nodegroup_status"], priority, "Can't get the list of ExtStorage providers"
    )
    for name, node_status, group_status in rows:
        good: dict[str, str] = {}
        bad: dict[str, str] = {}
        for node, entries in node_status.items():
            valid, text = _node_line(entries)
            (good if valid else bad)[node] = text
        print(f"Provider: {name}")
        print("---")
        print_node_statuses(good, bad, _nice_key)
        print("  --")
        for wanted in (True, False):
            for group in sorted((g for g, ok in group_status.items() if bool(ok) is wanted), key=_nice_key):
                print(f"  For nodegroup: {group} --> {'valid' if wanted else 'invalid'}")
        print()


@main.command(context_settings=CONTEXT)
@click.argument("names", nargs=-1)
@priority_option
@handle_errors
def info(names: tuple[str, ...], priority: str) -> None:
    """Show the node groups each ExtStorage provider (all, or those named) is valid for, and its parameters.

    \b
    Example:
      gnt-storage info rbd
    """
    rows = _diagnose(["name", "nodegroup_status", "parameters"], priority, "Can't get the ExtStorage providers list")
    wanted = list(dict.fromkeys(names))
    for name, group_status, parameters in rows:
        if wanted and name not in wanted:
            continue
        if name in wanted:
            wanted.remove(name)
        valid_groups = sorted((g for g, ok in group_status.items() if ok), key=_nice_key)
        print(f"{name}:")
        if valid_groups:
            print("  - Valid for nodegroups:")
            for group in valid_groups:
                print(f"      {group}")
            print("  - Supported parameters:")
            for pname, pdesc in parameters:
                print(f"      {pname}: {pdesc}")
        else:
            print("  - Invalid for all nodegroups")
        print()
    for name in wanted:
        print(f"{name}: Not Found")
        print()
