"""Field coverage: every field of an opcode that a CLI command submits (`gnt.surface`) can be set from
that command's argv, or this file says why not (issue 11: "a new opcode is reachable from both by
construction"; test_surface checks the opcode, this checks its fields).

A field is reached when one of the opcode's commands has an option or argument named after it (the
derived options of `gnt.cli.fields.field_option` are), or `SET_BY` names the argv that sets it. Those
entries are not taken on trust: each is run on the in-process master (test_surface's harness) and the
queued opcode must differ from the one the command's plain example queues. A field that no argv
reaches is listed in `UNREACHABLE` with its reason (Ganeti's CLI has no option for it either, it is
internal, RAPI-only, or the command lacks Ganeti's option: a gap to close). A new field without
either fails here; an entry that became reachable fails too, so the tables stay true.

Commands declared with `cli_job=False` answer from a query or the config without building the
opcode, so they have no fields to reach.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import click
import pytest

from gnt import opcodes, surface
from tests.unit.api import test_surface as harness
from tests.unit.api.conftest import RapiServer
from tests.unit.api.test_surface import _command, _example, _run

#: test_surface's fixtures: the in-process master's CLI client and its instance and network
cli_master = harness.cli_master
objects = harness.objects

#: fields every opcode has: dry_run and priority come from the common job options (--dry-run,
#: --priority), the others are the job's own (set by the master or by RAPI clients)
COMMON = {
    "dry_run": "--dry-run of every command that submits a job",
    "priority": "--priority of every command that submits a job",
    "debug_level": "internal: Ganeti's CLI has no option for it",
    "depends": "RAPI and job-file only: job dependencies, as in Ganeti",
    "comment": "RAPI only, as in Ganeti",
    "reason": "filled by the master (the reason trail)",
}

#: how a command reaches a field not named after one of its options: argv appended to the command's
#: example (a tuple) or run instead of it (a list), and the opcode must change; or a text when the
#: example itself sets it (a positional argument, or the command: the example's opcode must hold a
#: value other than the field's default)
SET_BY: dict[tuple[str, str], tuple[str, ...] | list[str] | str] = {
    # cluster
    ("gnt-cluster modify", "ipolicy"): ("--ipolicy-vcpu-ratio", "3"),
    ("gnt-cluster modify", "enabled_user_shutdown"): ("--user-shutdown", "yes"),
    ("gnt-os modify", "os_hvp"): ("-H", "kvm:kernel_args=ro"),
    ("gnt-os modify", "osparams_private_cluster"): ("--os-parameters-private", "key=secret"),
    ("gnt-os modify", "hidden_os"): ("--hidden", "yes"),
    ("gnt-os modify", "blacklisted_os"): "the example's --blacklisted",
    ("gnt-cluster verify", "group_name"): ("-g", "default"),
    ("gnt-cluster renew-crypto", "node_certificates"): "the example's --new-node-certificates",
    ("gnt-cluster renew-crypto", "node_names"): ("-n", "node1"),
    ("gnt-cluster renew-crypto", "verify"): ("--new-ssh-keys", "--no-ssh-key-check"),
    # nodes
    ("gnt-node add", "node_name"): "the NODE argument",
    ("gnt-node add", "group"): ("-g", "default"),
    ("gnt-node add", "node_setup"): ("--no-node-setup",),
    ("gnt-node remove", "node_name"): "the NODE argument",
    ("gnt-node modify", "node_name"): "the NODE argument",
    ("gnt-node modify", "powered"): ("--node-powered", "no"),
    ("gnt-node migrate", "node_name"): "the NODE argument",
    ("gnt-node migrate", "mode"): ("--non-live",),
    ("gnt-node evacuate", "node_name"): "the NODE argument",
    ("gnt-node evacuate", "mode"): ("-p",),
    ("gnt-node powercycle", "node_name"): "the NODE argument",
    ("gnt-node list-storage", "output_fields"): ("-o", "name"),
    ("gnt-node modify-storage", "node_name"): "the NODE argument",
    ("gnt-node modify-storage", "changes"): "the example's --allocatable",
    ("gnt-node repair-storage", "node_name"): "the NODE argument",
    ("gnt-node volumes", "output_fields"): ("-o", "node,name"),
    ("gnt-node health", "node_names"): "the NODE arguments",
    ("gnt-node power", "command"): "the SUBCOMMAND argument",
    ("gnt-node power", "timeout"): ("--oob-timeout", "7"),
    ("gnt-node health", "timeout"): ("--oob-timeout", "7"),
    # groups
    ("gnt-group add", "group_name"): "the GROUP argument",
    ("gnt-group add", "ndparams"): ("-N", "oob_program=/bin/true"),
    ("gnt-group add", "ipolicy"): ("--ipolicy-vcpu-ratio", "3"),
    ("gnt-group remove", "group_name"): "the GROUP argument",
    ("gnt-group rename", "group_name"): "the GROUP argument",
    ("gnt-group modify", "group_name"): "the GROUP argument",
    ("gnt-group modify", "ndparams"): ("-N", "oob_program=/bin/true"),
    ("gnt-group modify", "ipolicy"): ("--ipolicy-vcpu-ratio", "3"),
    ("gnt-group assign-nodes", "group_name"): "the GROUP argument",
    ("gnt-group evacuate", "group_name"): "the GROUP argument",
    ("gnt-group evacuate", "target_groups"): ("--to", "rack9"),
    # networks
    ("gnt-network add", "network"): "the example's --network",
    ("gnt-network add", "conflicts_check"): ("--no-conflicts-check",),
    ("gnt-network connect", "group_name"): "the GROUP argument",
    ("gnt-network connect", "network_mode"): "the example's -N mode=",
    ("gnt-network connect", "network_link"): "the example's -N link=",
    ("gnt-network connect", "network_vlan"): ("-N", "mode=openvswitch,link=br0,vlan=100"),
    ("gnt-network connect", "conflicts_check"): ("--no-conflicts-check",),
    ("gnt-network disconnect", "group_name"): "the GROUP argument",
    # instances
    ("gnt-instance add", "instance_name"): "the NAME argument",
    ("gnt-backup import", "mode"): "the command: an import",
    ("gnt-backup import", "src_path"): ("--src-dir", "inst1"),
    ("gnt-instance add", "nics"): ("--net", "0:mac=aa:00:00:00:00:01"),
    ("gnt-instance add", "pnode"): "the example's -n",
    ("gnt-instance add", "snode"): ("-n", "node1:node2"),
    ("gnt-instance add", "hypervisor"): ("-H", "kvm"),
    ("gnt-instance add", "start"): ("--no-start",),
    ("gnt-instance add", "name_check"): "the example's --no-name-check",
    ("gnt-instance add", "ip_check"): "the example's --no-ip-check",
    ("gnt-instance add", "conflicts_check"): ("--no-conflicts-check",),
    ("gnt-instance add", "wait_for_sync"): ("--no-wait-for-sync",),
    ("gnt-instance batch-create", "instances"): "the JSON_FILE argument",
    ("gnt-instance remove", "instance_name"): "the NAME argument",
    ("gnt-instance startup", "instance_name"): "the NAME arguments",
    ("gnt-instance shutdown", "instance_name"): "the NAME arguments",
    ("gnt-instance reboot", "instance_name"): "the NAME arguments",
    ("gnt-instance migrate", "instance_name"): "the NAME argument",
    ("gnt-instance migrate", "mode"): ("--migration-mode", "non-live"),
    ("gnt-instance migrate", "allow_runtime_changes"): ("--no-runtime-changes",),
    ("gnt-node migrate", "allow_runtime_changes"): ("--no-runtime-changes",),
    ("gnt-cluster verify-disks", "group_name"): ("-g", "default"),
    ("gnt-instance failover", "instance_name"): "the NAME argument",
    ("gnt-instance modify", "instance_name"): "the NAME argument",
    ("gnt-instance modify", "os_name"): ("-o", "noop"),
    ("gnt-instance modify", "nics"): ("--net", "add"),
    ("gnt-instance modify", "runtime_mem"): ("-m", "256M"),
    ("gnt-instance modify", "conflicts_check"): ("--no-conflicts-check",),
    ("gnt-instance modify", "wait_for_sync"): ("--no-wait-for-sync",),
    ("gnt-instance activate-disks", "instance_name"): "the NAME argument",
    ("gnt-instance deactivate-disks", "instance_name"): "the NAME argument",
    ("gnt-instance recreate-disks", "instance_name"): "the NAME argument",
    ("gnt-instance recreate-disks", "nodes"): "the example's -n",
    ("gnt-instance grow-disk", "instance_name"): "the NAME argument",
    ("gnt-instance grow-disk", "wait_for_sync"): ("--no-wait-for-sync",),
    ("gnt-instance replace-disks", "instance_name"): "the NAME argument",
    ("gnt-instance replace-disks", "mode"): "the example's -a (or -p, -s, -n, -I)",
    ("gnt-instance rename", "instance_name"): "the NAME argument",
    ("gnt-instance rename", "name_check"): "the example's --no-name-check",
    ("gnt-instance rename", "ip_check"): ["inst1", "inst2"],  # without the example's --no-ip-check
    ("gnt-instance reinstall", "instance_name"): "the NAME arguments",
    ("gnt-instance change-group", "instance_name"): "the INSTANCE argument",
    ("gnt-instance change-group", "target_groups"): "the example's --to",
    ("gnt-instance move", "instance_name"): "the NAME argument",
    # export / import
    ("gnt-backup export", "instance_name"): "the NAME argument",
    ("gnt-backup export", "shutdown"): ("--noshutdown",),
    ("gnt-backup remove", "instance_name"): "the NAME argument",
    # OS and storage providers
    ("gnt-os list", "output_fields"): "the command: the fields it shows",
    ("gnt-storage diagnose", "output_fields"): "the command: the fields it shows",
    # tags
    ("gnt-instance add-tags", "kind"): "the tool: gnt-instance tags instances",
    ("gnt-instance remove-tags", "kind"): "the tool: gnt-instance tags instances",
    # debugging
    ("gnt-debug delay", "on_master"): ("--no-master",),
    ("gnt-debug delay", "on_nodes"): ("-n", "node1"),
    ("gnt-debug iallocator", "name"): "the NAMES argument",
    ("gnt-debug iallocator", "os"): ("-o", "noop"),
    ("gnt-debug iallocator", "instances"): "the NAMES argument",
}

#: (opcode, field) -> why no argv of the opcode's commands sets it
UNREACHABLE: dict[tuple[str, str], str] = {
    ("OP_NODE_ADD", "ssh_host_key"): "internal: gnt-node add fetches the key over SSH and sends it",
    ("OP_NODE_MIGRATE", "live"): "deprecated by mode; RAPI compatibility only, as in Ganeti",
    ("OP_NODE_POWERCYCLE", "node_uuid"): "internal: the master resolves the name",
    ("OP_NODE_QUERY_STORAGE", "name"): "RAPI only: a storage unit filter Ganeti's CLI does not offer",
    ("OP_OOB_COMMAND", "node_uuids"): "accepted for Ganeti compatibility; node_names is used",
    ("OP_OOB_COMMAND", "force_master"): "Ganeti's CLI has none: power-off of the master is refused from it",
    ("OP_RESTRICTED_COMMAND", "use_locking"): "Ganeti's CLI has no option for it",
    ("OP_INSTANCE_MULTI_ALLOC", "opportunistic_locking"): "RAPI only: Ganeti's batch-create has no option",
    ("OP_INSTANCE_MIGRATE", "live"): "deprecated by mode; RAPI compatibility only, as in Ganeti",
    ("OP_INSTANCE_QUERY_DATA", "use_locking"): "RAPI only: Ganeti's info has no option",
    ("OP_BACKUP_EXPORT", "mode"): "only local exports are supported (remote is RAPI-only in Ganeti)",
    ("OP_BACKUP_EXPORT", "x509_key_name"): "remote exports only: RAPI-only in Ganeti",
    ("OP_BACKUP_EXPORT", "destination_x509_ca"): "remote exports only: RAPI-only in Ganeti",
    ("OP_BACKUP_QUERY", "use_locking"): "Ganeti's CLI has no option for it",
    ("OP_TEST_ALLOCATOR", "hypervisor"): "Ganeti's gnt-debug iallocator has no option for it",
    ("OP_TEST_ALLOCATOR", "group_name"): "Ganeti's gnt-debug iallocator has no option for it",
    ("OP_TEST_JQUEUE", "notify_waitlock"): "set by the command (Ganeti's fixed test sequence)",
    ("OP_TEST_JQUEUE", "notify_exec"): "set by the command (Ganeti's fixed test sequence)",
    ("OP_TEST_JQUEUE", "log_messages"): "set by the command (Ganeti's fixed test sequence)",
    ("OP_TEST_JQUEUE", "fail"): "set by the command (Ganeti's fixed test sequence)",
}


def _job_surfaces() -> list[surface.Surface]:
    return [s for s in surface.SURFACES if s.cli and s.cli_job]


def _fields(op_id: str) -> list[dataclasses.Field[Any]]:
    return [f for f in dataclasses.fields(opcodes.OPCODES[op_id]) if f.name not in COMMON]


def _param_names(spec: str) -> set[str]:
    return {p.name for p in _command(spec).params if p.name and getattr(p, "expose_value", True)}


def reached(entry: surface.Surface, name: str) -> bool:
    """Whether one of the opcode's commands has a parameter named after the field or a SET_BY entry."""
    return any(name in _param_names(spec) or (spec, name) in SET_BY for spec in entry.cli)


def unexplained() -> list[str]:
    """Fields of declared commands' opcodes that no argv reaches and UNREACHABLE does not explain."""
    return [
        f"{entry.op_id}.{f.name} ({', '.join(entry.cli)})"
        for entry in _job_surfaces()
        for f in _fields(entry.op_id)
        if not reached(entry, f.name) and (entry.op_id, f.name) not in UNREACHABLE
    ]


def test_every_field_of_a_commands_opcode_is_reachable_from_its_argv_or_explained() -> None:
    missing = unexplained()
    assert not missing, "fields no CLI option sets; add the option, or a SET_BY/UNREACHABLE entry:\n" + "\n".join(
        missing
    )


def test_the_tables_name_real_fields_and_stay_true() -> None:
    """An UNREACHABLE entry whose field an option now sets must go; SET_BY keys name a declared
    command and a field of its opcode."""
    by_op = surface.by_op()
    for (op_id, name), reason in UNREACHABLE.items():
        assert reason and name in {f.name for f in _fields(op_id)}, (op_id, name)
        assert not reached(by_op[op_id], name), f"{op_id}.{name} is reachable now: drop its UNREACHABLE entry"
    owner = {spec: s.op_id for s in _job_surfaces() for spec in s.cli}
    for spec, name in SET_BY:
        assert spec in owner, f"{spec}: not a declared command that submits a job"
        assert name in {f.name for f in _fields(owner[spec])}, f"{spec}: {name} is no field of {owner[spec]}"
        assert name not in _param_names(spec), f"{spec}: an option is named {name}; the SET_BY entry is redundant"


def test_a_new_field_without_an_option_is_found(monkeypatch: pytest.MonkeyPatch) -> None:
    base = opcodes.OPCODES["OP_INSTANCE_FAILOVER"]
    grown = dataclasses.make_dataclass(
        "Grown", [("brand_new_knob", bool, dataclasses.field(default=False))], bases=(base,), kw_only=True
    )
    monkeypatch.setitem(opcodes.OPCODES, "OP_INSTANCE_FAILOVER", grown)
    assert unexplained() == ["OP_INSTANCE_FAILOVER.brand_new_knob (gnt-instance failover)"]


def _queued(cli_master: list[list[dict[str, Any]]], spec: str, argv: list[str], op_id: str) -> dict[str, Any]:
    cli_master.clear()
    result = _run(spec, argv)
    ops = [op for ops in cli_master for op in ops if op["OP_ID"] == op_id]
    assert ops, f"{spec} {argv}: no {op_id} queued: {result.output}"
    return ops[0]


@pytest.mark.parametrize(("spec", "name"), sorted(SET_BY), ids=lambda v: v)
def test_each_set_by_entry_sets_its_field(
    rapi_server: RapiServer, cli_master: list[list[dict[str, Any]]], spec: str, name: str
) -> None:
    op_id = next(s.op_id for s in _job_surfaces() if spec in s.cli)
    how = SET_BY[(spec, name)]
    example = _example(spec)
    plain = _queued(cli_master, spec, example, op_id)
    if isinstance(how, str):  # the example sets it: the opcode holds something other than the default
        field = next(f for f in _fields(op_id) if f.name == name)
        default = field.default if field.default_factory is dataclasses.MISSING else field.default_factory()
        assert plain[name] != default, f"{spec} {example}: {name} is the default {default!r}"
        return
    argv = how if isinstance(how, list) else [*example, *how]
    changed = _queued(cli_master, spec, argv, op_id)
    assert changed[name] != plain[name], f"{spec} {argv}: {name} unchanged ({plain[name]!r})"


def test_click_parameters_are_what_the_check_reads() -> None:
    """The check reads each command's parameters by their click name: a derived option is named
    after its field (field_option's dest), so an option named otherwise needs a SET_BY entry."""
    names = _param_names("gnt-instance startup")
    assert {"force", "startup_paused", "ignore_offline_nodes"} <= names
    assert isinstance(_command("gnt-instance startup"), click.Command)
