"""gnt-os: the OS definitions the nodes have, and the cluster's per-OS settings.

`list`, `diagnose` and `info` run OP_OS_DIAGNOSE with the fields Ganeti's gnt-os asks for and
print what Ganeti prints; `modify` is OP_CLUSTER_SET_PARAMS with the per-OS fields.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from gnt.cli.common import (
    CONTEXT,
    AliasedGroup,
    client,
    common_job_options,
    convert_value,
    handle_errors,
    job_fields,
    parse_ident_keyval,
    parse_keyval,
    priority_option,
)
from gnt.cli.jobs import run_ops
from gnt.errors import ParameterError
from gnt.providers.cli import print_node_statuses, run_diagnose

_BOOL = {"yes": True, "true": True, "no": False, "false": False}


def _diagnose(fields: list[str], priority: str = "normal", names: list[str] | None = None) -> list[list[Any]]:
    return run_diagnose("OP_OS_DIAGNOSE", fields, priority, names)


@click.group(cls=AliasedGroup, aliases={"show": "info"}, context_settings=CONTEXT)
def main() -> None:
    """OS definitions.

    \b
    Example:
      gnt-os list
    """


@main.command("list", context_settings=CONTEXT)
@click.option("--no-headers", is_flag=True, help="Do not print the header line")
@priority_option
@handle_errors
def list_(no_headers: bool, priority: str) -> None:
    """List the OS definitions valid on all nodes (hidden and blacklisted ones are left out).

    An OS with variants is listed once per variant, as NAME+VARIANT.

    \b
    Example:
      gnt-os list --no-headers
    """
    rows = _diagnose(["name", "variants"], priority)
    if not no_headers:
        print("Name")
    for name, variants in rows:  # Ganeti's CalculateOSNames: one line per variant
        for full in [f"{name}+{v}" for v in variants] or [name]:
            print(full)


def _status(valid: bool, message: str) -> str:
    return "valid" if valid else f"invalid - {message}"


def _entry_line(entry: list[Any]) -> tuple[bool, str]:
    """One node's entry for an OS, as Ganeti's diagnose describes it."""
    path, valid, message, variants, params, versions = entry
    text = f"{_status(valid, message)} (path: {path})"
    newest = max(versions) if versions else 0
    text += f" [API versions: {', '.join(map(str, versions))}]" if versions else " [no API versions declared]"
    if newest >= 15:
        text += f" [variants: {', '.join(variants)}]" if variants else " [no variants]"
    if newest >= 20:
        text += f" [parameters: {', '.join(p[0] for p in params)}]" if params else " [no parameters]"
    return bool(valid), text


@main.command(context_settings=CONTEXT)
@priority_option
@handle_errors
def diagnose(priority: str) -> None:
    """Show every OS definition found and its state on each node; exit 1 if any is not valid everywhere.

    A definition of the same name later in a node's search path is shown as [hidden]: the first is used.

    \b
    Example:
      gnt-os diagnose
    """
    rows = _diagnose(["name", "valid", "node_status", "hidden", "blacklisted"], priority)
    has_bad = False
    for name, _, node_status, hidden, blacklisted in rows:
        good: dict[str, str] = {}
        bad: dict[str, str] = {}
        shadowed: dict[str, list[str]] = {}
        for node, entries in node_status.items():
            if not entries:
                bad[node] = "OS not found"
                continue
            valid, text = _entry_line(entries[0])
            (good if valid else bad)[node] = text
            shadowed[node] = [f"    [hidden] path: {e[0]}, status: {_status(e[1], e[2])}" for e in entries[1:]]
        if good and not bad:
            status = "valid"
        else:
            status = "invalid" if not good else "partial valid"
            has_bad = True
        print(f"OS: {name} [global status: {status}]" + (" [hidden]" if hidden else "")
              + (" [blacklisted]" if blacklisted else ""))  # fmt: skip
        print_node_statuses(good, bad, extra=shadowed)
        print()
    sys.exit(int(has_bad))


@main.command(context_settings=CONTEXT)
@click.argument("names", nargs=-1)
@priority_option
@handle_errors
def info(names: tuple[str, ...], priority: str) -> None:
    """Show the details of the OS definitions (all, or those named): validity, hidden and blacklisted
    state, API versions, variants, parameters, and the cluster's per-OS settings.

    \b
    Example:
      gnt-os info debootstrap
    """
    fields = ["name", "valid", "variants", "parameters", "api_versions", "blacklisted", "hidden", "os_hvp", "osparams"]
    rows = _diagnose(fields, priority)
    wanted = list(dict.fromkeys(names))
    for name, valid, variants, parameters, versions, blacklisted, hidden, os_hvp, osparams in rows:
        if wanted and name not in wanted:
            continue
        print(f"{name}:")
        print(f"  - valid: {valid}")
        print(f"  - hidden: {hidden}")
        print(f"  - blacklisted: {blacklisted}")
        if valid:
            print("  - API versions:")
            for version in sorted(versions):
                print(f"    - {version}")
            print("  - variants:")
            for variant in variants:
                print(f"    - {variant}")
            print("  - parameters:")
            for pname, pdesc in parameters:
                print(f"    - {pname}: {pdesc}")
        if os_hvp:
            print("  - hypervisor parameters:")
            for hv, params in sorted(os_hvp.items()):
                print(f"    - {hv}:")
                for key, value in sorted(params.items()):
                    print(f"      - {key}: {value}")
        if osparams:
            print("  - OS parameters:")
            for key, value in sorted(osparams.items()):
                print(f"    - {key}: {value}")
        print()
    missing = [n for n in wanted if n not in {row[0] for row in rows}]
    if missing:
        raise ParameterError(f"No information about OS {', '.join(repr(n) for n in missing)} found")


def _yes_no(value: str | None, option: str) -> bool | None:
    if value is None:
        return None
    if value.lower() not in _BOOL:
        raise ParameterError(f"{option} takes yes or no, not {value!r}")
    return _BOOL[value.lower()]


@main.command(context_settings=CONTEXT)
@click.argument("os_name")
@click.option(
    "-H",
    "--hypervisor-parameters",
    "hvparams",
    multiple=True,
    help="HYPERVISOR:key=value,... per-OS hypervisor parameters (repeatable; value 'default' removes)",
)
@click.option(
    "-O",
    "--os-parameters",
    "osparams",
    default=None,
    help="key=value,... per-OS parameters (value 'default' removes one)",
)
@click.option(
    "--os-parameters-private",
    "osparams_private",
    default=None,
    help="key=value,... per-OS private parameters: stored, shown as <redacted> ('default' removes one)",
)
@click.option("--hidden", default=None, metavar="yes|no", help="Hide the OS from gnt-os list")
@click.option("--blacklisted", default=None, metavar="yes|no", help="Refuse the OS for new instances")
@common_job_options
@handle_errors
def modify(os_name: str, hvparams: tuple[str, ...], osparams: str | None, osparams_private: str | None,
           hidden: str | None, blacklisted: str | None, submit: bool, dry_run: bool,
           priority: str) -> None:  # fmt: skip
    """Change the cluster's settings for one OS (OS_NAME or OS_NAME+VARIANT for -O/-H).

    \b
    Example:
      gnt-os modify --blacklisted=yes debootstrap
      gnt-os modify -O dhcp=yes -H kvm:kernel_path=/boot/vmlinuz debootstrap+default
      gnt-os modify --os-parameters-private root_password=s3cret debootstrap
    """
    op: dict[str, Any] = {"OP_ID": "OP_CLUSTER_SET_PARAMS", **job_fields(dry_run, priority)}
    if hvparams:
        per_hv: dict[str, dict[str, Any]] = {}
        for text in hvparams:
            hv, params = parse_ident_keyval(text, "-H")
            per_hv.setdefault(hv, {}).update({k: convert_value(v) for k, v in params.items()})
        op["os_hvp"] = {os_name: per_hv}
    if osparams:
        op["osparams"] = {os_name: parse_keyval(osparams, "-O")}
    if osparams_private:
        op["osparams_private_cluster"] = {os_name: parse_keyval(osparams_private, "--os-parameters-private")}
    for option, field, value in (("--hidden", "hidden_os", hidden), ("--blacklisted", "blacklisted_os", blacklisted)):
        flag = _yes_no(value, option)
        if flag is not None:
            op[field] = [["add" if flag else "remove", os_name]]
    if len(op) == len(job_fields(dry_run, priority)) + 1:
        raise ParameterError("At least one of OS parameters or hypervisor parameters must be passed")
    run_ops(client(), [op], submit)
