"""Every Ganeti 3.0 subcommand, alias and option (`data/ganeti-3.0-commands.txt`, a copy of the
reference's commands.txt, taken from Ganeti's own command tables) exists in gnt's click commands,
or `GAPS` below says in one line why gnt does not have it. The test also fails on a `GAPS` row
that is no longer true, so the table shrinks as options arrive instead of going stale.

Keys are what an admin types: "gnt-node show" (a subcommand or alias), "gnt-node add --force-join"
(an option, each of its spellings: "-f" and "--force" are two rows).
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import click

#: a copy of the lead's reference/ganeti-3.0/commands.txt, kept here so that the test runs anywhere
COMMANDS_TXT = Path(__file__).with_name("data") / "ganeti-3.0-commands.txt"

#: Ganeti's client module -> gnt's command group
GROUPS = {
    "gnt_cluster": "gnt.cluster.cli",
    "gnt_node": "gnt.node.cli",
    "gnt_instance": "gnt.instance.cli",
    "gnt_job": "gnt.jobs.cli",
    "gnt_os": "gnt.os.cli",
    "gnt_debug": "gnt.debug.cli",
    "gnt_group": "gnt.group.cli",
    "gnt_network": "gnt.network.cli",
    "gnt_backup": "gnt.backup.cli",
    "gnt_storage": "gnt.extstorage.cli",
    "gnt_filter": "gnt.filters.cli",
}

_HELPER_VM = "gnt has no helper VM (install/zeroing image, instance communication network) to run it in"
_NO_ETC_HOSTS = "gnt never edits /etc/hosts: names come from the resolver the admin configures"
_NO_MOND = "gnt has no monitoring daemon (mond), so no data collectors to enable or time"
_NO_FILE_STORAGE_DIR = "gnt converts templates only between plain and drbd (no conversion to file to place)"
_NO_COMMUNICATION = "gnt has no instance communication network (Ganeti's metadata daemon and helper VMs)"

#: what gnt leaves out of Ganeti's tables, and why (one line each)
GAPS: dict[str, str] = {
    # gnt-cluster
    "gnt-cluster modify --modify-etc-hosts": _NO_ETC_HOSTS,
    "gnt-cluster init --gluster-storage-dir": "gnt has no gluster disk template",
    "gnt-cluster init --install-image": _HELPER_VM,
    "gnt-cluster modify --install-image": _HELPER_VM,
    "gnt-cluster init --zeroing-image": _HELPER_VM,
    "gnt-cluster modify --zeroing-image": _HELPER_VM,
    "gnt-cluster modify --instance-communication-network": _HELPER_VM,
    "gnt-cluster modify --force": "gnt's cluster modify asks no question, so there is no answer to force",
    "gnt-cluster modify -f": "gnt's cluster modify asks no question, so there is no answer to force",
    "gnt-cluster modify --max-tracked-jobs": "gnt tracks jobs in the master's memory, no inotify watches to cap",
    "gnt-cluster modify --enabled-data-collectors": _NO_MOND,
    "gnt-cluster modify --data-collector-interval": _NO_MOND,
    "gnt-cluster renew-crypto --spice-certificate": "gnt has no SPICE consoles",
    "gnt-cluster renew-crypto --spice-ca-certificate": "gnt has no SPICE consoles",
    "gnt-cluster verify --debug-simulate-errors": "Ganeti's self-test of its error printing; gnt tests that in tests/",
    "gnt-cluster verify --verify-ssh-clutter": "gnt keeps one cluster key per authorized_keys file; no clutter to find",
    # gnt-node
    "gnt-node add --force-join": "a node of another gnt cluster holds its certificate; remove it there first",
    "gnt-node add --verbose": "node add runs no ssh client whose output could be made verbose",
    "gnt-node add -v": "node add runs no ssh client whose output could be made verbose",
    # gnt-debug
    "gnt-debug delay --interruptible": "a delay job is cancelled with `gnt-job cancel`, no side socket needed",
    "gnt-debug delay -i": "a delay job is cancelled with `gnt-job cancel`, no side socket needed",
    # gnt-group
    # gnt-backup
    "gnt-backup import --helper-startup-timeout": _HELPER_VM,
    "gnt-backup import --helper-shutdown-timeout": _HELPER_VM,
    # gnt-instance
    "gnt-instance add --communication": _NO_COMMUNICATION,
    "gnt-instance add -c": _NO_COMMUNICATION,
    "gnt-instance add --helper-startup-timeout": _NO_COMMUNICATION,
    "gnt-instance add --helper-shutdown-timeout": _NO_COMMUNICATION,
    "gnt-instance modify --communication": _NO_COMMUNICATION,
    "gnt-instance modify -c": _NO_COMMUNICATION,
    "gnt-instance modify --ext-params": "gnt has no ext disk template to convert to or tune",
    "gnt-instance modify -e": "gnt has no ext disk template to convert to or tune",
    "gnt-instance modify --file-driver": "gnt converts only between plain and drbd; file disks keep the loop driver",
    "gnt-instance modify --file-storage-dir": _NO_FILE_STORAGE_DIR,
}


def ganeti_table() -> list[tuple[str, str, list[str], dict[str, str]]]:
    """(tool, subcommand, option spellings, the tool's aliases) for every row of commands.txt."""
    rows: list[tuple[str, str, list[str], dict[str, str]]] = []
    tool, aliases = "", {}
    for line in COMMANDS_TXT.read_text().splitlines():
        if line.startswith("## "):
            module = line.split()[1]
            tool = GROUPS[module]
            aliases = ast.literal_eval(line.split("aliases:", 1)[1].strip())
            continue
        if not line.strip() or line.startswith("#"):
            continue
        sub, _, options = line.strip().partition("|")
        spellings = [name for option in options.split() for name in option.split("/")]
        rows.append((tool, sub.strip(), spellings, aliases))
    return rows


def _tool_name(module: str) -> str:
    return {"gnt.jobs.cli": "gnt-job", "gnt.extstorage.cli": "gnt-storage", "gnt.filters.cli": "gnt-filter"}.get(
        module, "gnt-" + module.split(".")[1]
    )


def _spellings(command: click.Command) -> set[str]:
    found: set[str] = set()
    commands = [command, *(command.commands.values() if isinstance(command, click.Group) else [])]
    for cmd in commands:
        for param in cmd.params:
            if isinstance(param, click.Option):
                found.update(param.opts, param.secondary_opts)
    return found


def missing_from_gnt() -> list[str]:
    """Every Ganeti subcommand, alias and option spelling gnt's commands do not have."""
    missing: list[str] = []
    seen_aliases: set[str] = set()
    for module, sub, spellings, aliases in ganeti_table():
        group = importlib.import_module(module).main
        tool = _tool_name(module)
        ctx = click.Context(group)
        if module not in seen_aliases:
            seen_aliases.add(module)
            missing += [f"{tool} {alias}" for alias in aliases if group.get_command(ctx, alias) is None]
        command = group.commands.get(sub)
        if command is None:
            missing.append(f"{tool} {sub}")
            continue
        have = _spellings(command)
        missing += [f"{tool} {sub} {name}" for name in spellings if name not in have]
    return missing


def test_every_ganeti_command_and_option_exists_or_is_explained() -> None:
    unexplained = [key for key in missing_from_gnt() if key not in GAPS]
    assert not unexplained, f"{len(unexplained)} Ganeti names gnt lacks without a reason in GAPS:\n" + "\n".join(
        unexplained
    )


def test_no_gap_row_names_something_gnt_now_has() -> None:
    missing = set(missing_from_gnt())
    stale = [key for key in GAPS if key not in missing]
    assert not stale, "GAPS rows for names gnt has now (remove them):\n" + "\n".join(stale)


def test_gap_reasons_are_one_line() -> None:
    bad = [key for key, reason in GAPS.items() if not reason.strip() or "\n" in reason or len(reason) > 110]
    assert not bad, bad
