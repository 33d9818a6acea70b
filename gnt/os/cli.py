"""gnt-os: operating system definitions."""

from __future__ import annotations

import click

from gnt.cli.common import CONTEXT, client, handle_errors


@click.group(context_settings=CONTEXT)
def main() -> None:
    """OS definitions.

    \b
    Example:
      gnt-os list
    """


@main.command("list", context_settings=CONTEXT)
@click.option("--no-headers", is_flag=True, help="Do not print the header line")
@handle_errors
def list_(no_headers: bool) -> None:
    """List the OS definitions valid on all nodes.

    \b
    Example:
      gnt-os list
    """
    names = client().get("/2/os")
    if not no_headers:
        print("Name")
    for name in names:
        print(name)


@main.command(context_settings=CONTEXT)
@handle_errors
def diagnose() -> None:
    """Show every OS definition found and its state on each node.

    \b
    Example:
      gnt-os diagnose
    """
    for entry in client().get("/2/os", bulk=1):
        state = "valid" if entry["valid"] else f"invalid - {entry.get('message', '')}"
        print(f"OS: {entry['name']} [global status: {state}]")
        for node, (path, valid, message) in sorted(entry["node_status"].items()):
            print(f"  Node: {node}, status: {'valid' if valid else 'invalid'} - {message or path}")
