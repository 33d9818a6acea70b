"""`gnt-instance rename` and `reinstall`: Ganeti's options, prompts and messages.

Kept apart from `gnt.instance.cli` (registered there by `add_admin_commands`), so this file
and the list/lifecycle commands change independently.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from gnt.cli.common import (
    CONTEXT,
    client,
    common_job_options,
    confirm,
    handle_errors,
    job_fields,
    os_parameter_options,
    parse_keyval,
)
from gnt.cli.fields import field_option
from gnt.cli.jobs import run_ops
from gnt.errors import ECODE_INVAL, OpPrereqError, ParameterError
from gnt.instance.selection import INSTANCES, run_on_selection, select_instances, selection_options

__all__ = ["add_admin_commands", "os_choices"]


def os_choices(entries: list[dict[str, Any]]) -> list[str]:
    """Installable OS names as Ganeti lists them for --select-os: `name+variant` per variant."""
    names: list[str] = []
    for entry in entries:
        if not entry.get("valid") or entry.get("hidden") or entry.get("blacklisted"):
            continue
        variants = entry.get("variants") or []
        names.extend(f"{entry['name']}+{v}" for v in variants) if variants else names.append(entry["name"])
    return names


def _select_os() -> str | None:
    """Ganeti's interactive OS menu; None when the user aborts (x or end of input)."""
    choices = os_choices(client().get("/2/os", bulk=1))
    print("Available OS templates:")
    for number, name in enumerate(choices):
        print(f"{number:>3}: {name}")
    while True:
        print("Enter OS template number (or x to abort):", flush=True)
        answer = sys.stdin.readline()
        if not answer or answer.strip() == "x":
            return None
        if answer.strip().isdigit() and int(answer.strip()) < len(choices):
            return choices[int(answer.strip())]


def add_admin_commands(main: click.Group) -> None:
    """Register `rename` and `reinstall` on the gnt-instance group."""

    @main.command(context_settings=CONTEXT)
    @click.argument("name")
    @click.argument("new_name")
    @click.option("-f", "--force", is_flag=True, help="Do not ask for confirmation")
    @click.option("--no-ip-check", is_flag=True, help="Do not check the new name's IP address is unused")
    @click.option("--no-name-check", is_flag=True, help="Do not resolve the new name")
    @common_job_options
    @handle_errors
    def rename(
        name: str,
        new_name: str,
        force: bool,
        no_ip_check: bool,
        no_name_check: bool,
        submit: bool,
        dry_run: bool,
        priority: str,
    ) -> None:
        """Rename a stopped instance (its config, file disk paths, and the OS rename script).

        \b
        Example:
          gnt-instance rename --no-name-check --no-ip-check inst1 inst2
        """
        op = {
            "OP_ID": "OP_INSTANCE_RENAME",
            "instance_name": name,
            "new_name": new_name,
            "name_check": not no_name_check,
            "ip_check": not no_ip_check,
            **job_fields(dry_run, priority),
        }
        result = run_ops(client(), [op], submit)
        if result and result[0] and not dry_run:
            print(f"Instance '{name}' renamed to '{result[0]}'")

    @main.command(context_settings=CONTEXT)
    @click.argument("names", nargs=-1)
    @selection_options
    @field_option("OP_INSTANCE_REINSTALL", "os_type", "-o", "--os-type")
    @click.option("--select-os", is_flag=True, help="Choose the OS from a list")
    @os_parameter_options("for this install only")
    @field_option("OP_INSTANCE_REINSTALL", "force_variant", "--force-variant")
    @click.option("-f", "--force", is_flag=True, help="Do not ask for confirmation (one instance)")
    @common_job_options
    @handle_errors
    def reinstall(
        names: tuple[str, ...],
        multi_mode: str | None,
        force_multiple: bool,
        os_type: str | None,
        select_os: bool,
        osparams: str | None,
        osparams_private: str | None,
        osparams_secret: str | None,
        force_variant: bool,
        force: bool,
        submit: bool,
        dry_run: bool,
        priority: str,
    ) -> None:
        """Run the OS create script again on stopped instances' disks (all their data is lost).

        Acts on the named instances, or a selection (--all, --node, --tags, ...) confirmed unless
        --force-multiple.

        \b
        Example:
          gnt-instance reinstall -f -o noop -O key=value inst1
          gnt-instance reinstall --tags web --force-multiple
          gnt-instance reinstall -f --os-parameters-secret root_password=s3cret inst1
        """
        params = parse_keyval(osparams or "", "-O") if osparams else None
        cl = client()
        mode = multi_mode or INSTANCES
        selected = select_instances(cl, mode, list(names))
        if not selected:
            raise OpPrereqError("Selection filter does not match any instances", ECODE_INVAL)
        if select_os:
            os_type = _select_os()
            if os_type is None:
                print("User aborted reinstall, exiting", file=sys.stderr)
                raise SystemExit(1)
        os_msg = f"change the OS to '{os_type}'" if os_type else "keep the same OS"
        if mode != INSTANCES or len(selected) > 1:
            if not force_multiple:
                _confirm_many(selected, os_msg)
        else:
            question = (
                f"This will reinstall the instance '{selected[0]}' (and {os_msg}) which removes all data. Continue?"
            )
            confirm(question, force or force_multiple)
        fields = {
            "os_type": os_type,
            "force_variant": force_variant,
            "osparams": params,
            "osparams_private": parse_keyval(osparams_private, "--os-parameters-private") if osparams_private else None,
            "osparams_secret": parse_keyval(osparams_secret, "--os-parameters-secret") if osparams_secret else None,
            **job_fields(dry_run, priority),
        }
        run_on_selection(
            cl,
            "reinstall",
            tuple(selected),
            INSTANCES,
            True,
            submit,
            lambda name: {"OP_ID": "OP_INSTANCE_REINSTALL", "instance_name": name, **fields},
        )


def _confirm_many(names: list[str], os_msg: str) -> None:
    """Ganeti's question before reinstalling several instances; no terminal means no, with a hint."""
    if not sys.stdin.isatty():
        raise ParameterError(
            f"The reinstall would remove all data of {len(names)} instance(s); use --force-multiple to do it"
            " without asking"
        )
    question = (
        f"The reinstall will operate on {len(names)} instances.\n"
        f"Note: this will remove *all* data for the below instances! It will {os_msg}.\n"
        + "".join(f"  {name}\n" for name in names)
    )
    if not click.confirm(question + "Do you want to continue?", default=False):
        print("Aborted.", file=sys.stderr)
        raise SystemExit(1)
