"""CLI options derived from opcode fields (gnt.cli.fields): the snapshot the CLI reads is the opcodes'
current declaration, and a derived option takes its help, kind and default from the field."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from gnt import opcodes
from gnt.cli import fields
from gnt.network import cli as network_cli
from gnt.node import cli as node_cli

REPO = Path(__file__).resolve().parents[3]
TOOL = REPO / "tools" / "gen-cli-fields"


def test_the_snapshot_is_the_opcodes_current_declaration() -> None:
    assert (REPO / fields.SNAPSHOT_PATH).read_text() == fields.snapshot_text()
    check = subprocess.run([sys.executable, str(TOOL), "--check"], capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stderr


def test_the_snapshot_holds_the_scalar_fields_with_defaults_and_docs() -> None:
    docs = opcodes.field_docs(opcodes.OpNodeEvacuate)
    evacuate = fields.FIELDS["OP_NODE_EVACUATE"]
    assert evacuate["iallocator"] == ("str", None, docs["iallocator"])
    assert evacuate["early_release"] == ("bool", False, docs["early_release"])
    assert evacuate["node_name"] == ("str", None, docs["node_name"])  # required: no default
    assert "dry_run" not in evacuate and "reason" not in evacuate  # job options and lists are not here
    assert fields.FIELDS["OP_INSTANCE_REBOOT"]["shutdown_timeout"][:2] == ("int", 120)


@pytest.mark.parametrize(
    ("name", "kind_check"),
    [
        ("early_release", lambda o: o.is_flag and o.default is False),
        ("iallocator", lambda o: not o.is_flag and o.default is None and o.type is click.STRING),
    ],
)
def test_a_derived_option_takes_the_fields_kind_default_and_doc(name: str, kind_check: object) -> None:
    @click.command()
    @fields.field_option("OP_NODE_EVACUATE", name, f"--{name.replace('_', '-')}")
    def command(**kwargs: object) -> None:
        pass

    (option,) = command.params
    assert isinstance(option, click.Option) and option.name == name
    assert option.help == opcodes.field_docs(opcodes.OpNodeEvacuate)[name]
    assert kind_check(option)  # type: ignore[operator]


def test_an_int_option_is_typed_and_defaults_as_the_field() -> None:
    @click.command()
    @fields.field_option("OP_INSTANCE_REBOOT", "shutdown_timeout", "--shutdown-timeout")
    def command(shutdown_timeout: int) -> None:
        print(shutdown_timeout)

    assert CliRunner().invoke(command, []).output == "120\n"
    refused = CliRunner().invoke(command, ["--shutdown-timeout", "soon"])
    assert refused.exit_code == 2 and "is not a valid integer" in refused.output


def test_a_flag_for_a_field_that_defaults_to_true_is_refused() -> None:
    with pytest.raises(ValueError, match="default is False"):
        fields.field_option("OP_BACKUP_EXPORT", "shutdown", "--shutdown")


@pytest.mark.parametrize(
    ("group", "command", "op_class", "field"),
    [
        (network_cli.main, "modify", opcodes.OPCODES["OP_NETWORK_SET_PARAMS"], "gateway"),
        (node_cli.main, "evacuate", opcodes.OpNodeEvacuate, "remote_node"),
    ],
)
def test_the_commands_help_shows_the_fields_doc(group: click.Group, command: str, op_class: type, field: str) -> None:
    doc = opcodes.field_docs(op_class)[field]
    text = " ".join(CliRunner().invoke(group, [command, "--help"]).output.split())
    assert doc in text


def test_the_tools_with_derived_options_start_without_importing_the_opcodes() -> None:
    """The snapshot's reason to exist: importing gnt.opcodes would cost every command its start-up."""
    code = "import sys, gnt.node.cli, gnt.group.cli, gnt.network.cli; print('gnt.opcodes' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "False", result.stderr
