"""CLI parameter parsing, field selection and error handling."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from gnt.cli import common
from gnt.errors import ECODE_NOENT, OpPrereqError, ParameterError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a=1,b=2", {"a": "1", "b": "2"}),
        ("no_acpi", {"acpi": False}),
        ("acpi", {"acpi": True}),
        ("-kernel_path", {"kernel_path": None}),
        ("a=x=y", {"a": "x=y"}),
        ("a=", {"a": ""}),
        ("a=1,,b", {"a": "1", "b": True}),
        ("", {}),
    ],
)
def test_parse_keyval_follows_ganetis_rules(text: str, expected: dict[str, object]) -> None:
    assert common.parse_keyval(text, "-B") == expected


def test_parse_keyval_rejects_an_empty_key() -> None:
    with pytest.raises(ParameterError, match="Invalid -B entry '=5': missing key"):
        common.parse_keyval("a=1,=5", "-B")


def test_parse_ident_keyval_splits_identifier_and_options() -> None:
    assert common.parse_ident_keyval("kvm:kernel_path=/k,no_acpi", "-H") == (
        "kvm",
        {"kernel_path": "/k", "acpi": False},
    )
    assert common.parse_ident_keyval("0:size=1G", "--disk") == ("0", {"size": "1G"})
    assert common.parse_ident_keyval("fake", "-H") == ("fake", {})


def test_parse_ident_keyval_rejects_a_missing_identifier() -> None:
    with pytest.raises(ParameterError, match="Invalid -H value ':a=1': missing identifier"):
        common.parse_ident_keyval(":a=1", "-H")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("true", True),
        ("Yes", True),
        ("false", False),
        ("NO", False),
        ("12", 12),
        ("-3", -3),
        ("1.5", 1.5),
        ("1G", "1G"),
        ("", ""),
        (7, 7),
        (None, None),
        (True, True),
    ],
)
def test_convert_value_turns_unambiguous_strings_into_scalars(value: object, expected: object) -> None:
    result = common.convert_value(value)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        (None, ["name", "pinst"]),
        ("", ["name", "pinst"]),
        ("+mfree,dfree", ["name", "pinst", "mfree", "dfree"]),
        ("mfree,name", ["mfree", "name"]),
        ("name,,", ["name"]),
    ],
)
def test_resolve_fields_defaults_extras_and_explicit(output: str | None, expected: list[str]) -> None:
    defaults = ["name", "pinst"]
    assert common.resolve_fields(output, defaults) == expected
    assert defaults == ["name", "pinst"]  # not mutated


def test_job_fields_map_priority_names() -> None:
    assert common.job_fields(True, "high") == {"dry_run": True, "priority": -10}
    assert common.job_fields(False, "low") == {"dry_run": False, "priority": 10}


def test_handle_errors_prints_cli_lines_and_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    @common.handle_errors
    def failing() -> None:
        raise OpPrereqError("Node 'node9' not known", ECODE_NOENT)

    with pytest.raises(SystemExit) as info:
        failing()
    assert info.value.code == 1
    assert capsys.readouterr().err.splitlines() == [
        "Failure: prerequisites not met for this operation:",
        "error type: unknown_entity, error details:",
        "Node 'node9' not known",
    ]


def test_handle_errors_passes_results_through() -> None:
    assert common.handle_errors(lambda x: x + 1)(1) == 2


def test_handle_errors_in_a_click_command() -> None:
    @click.command()
    @click.option("--memory", default="abc")
    @common.handle_errors
    def cmd(memory: str) -> None:
        from gnt.units import parse_size

        click.echo(parse_size(memory, "memory"))

    runner = CliRunner()
    bad = runner.invoke(cmd, [])
    assert bad.exit_code == 1
    assert bad.stderr.strip() == "Parameter Error: 'memory' (value abc) is not a valid size. error: Invalid format"
    good = runner.invoke(cmd, ["--memory", "1G"])
    assert good.exit_code == 0
    assert good.stdout == "1024\n"
    usage = runner.invoke(cmd, ["--nope"])
    assert usage.exit_code == 2  # click keeps usage errors


def test_handle_errors_turns_ctrl_c_into_aborted(capsys: pytest.CaptureFixture[str]) -> None:
    @common.handle_errors
    def interrupted() -> None:
        raise KeyboardInterrupt

    with pytest.raises(SystemExit) as info:
        interrupted()
    assert info.value.code == 1
    assert capsys.readouterr().err == "Aborted.\n"


def test_confirm_without_a_terminal_asks_for_force(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    common.confirm("Remove node1", force=True)  # forced: no question
    with pytest.raises(ParameterError, match="Remove node1; use -f/--force"):
        common.confirm("Remove node1", force=False)
