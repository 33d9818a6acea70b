"""gnt-instance rename / reinstall: the opcodes they send and what they print (fake client)."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from gnt.instance import cli, cli_admin


class FakeClient:
    """The OS list, and instances i1..i3 (i2 and i3 tagged `web`)."""

    def __init__(self, oses: list[dict[str, Any]] | None = None) -> None:
        self.ops: list[dict[str, Any]] = []
        self.oses = oses or []
        self.instances = {"i1": [], "i2": ["web"], "i3": ["web"]}

    def get(self, path: str, **query: Any) -> Any:
        if path == "/2/query/instance":
            names = query["names"].split(",") if query.get("names") else sorted(self.instances)
            with_tags = "tags" in query["fields"]
            rows = [[[0, n], [0, self.instances[n]]] if with_tags else [[0, n]] for n in names]
            return {"data": rows}
        assert path == "/2/os" and query == {"bulk": 1}
        return self.oses


def invoke(monkeypatch: pytest.MonkeyPatch, client: FakeClient, *args: str, stdin: str = "") -> Any:
    def run_ops(cl: Any, ops: list[dict[str, Any]], submit: bool = False, quiet: bool = False) -> Any:
        client.ops.extend(ops)
        return [ops[0].get("new_name")] if ops[0]["OP_ID"] == "OP_INSTANCE_RENAME" else [None]

    def run_on_selection(cl: Any, operation: str, names: Any, mode: Any, force: bool, submit: bool, make: Any) -> None:
        assert (operation, mode, force) == ("reinstall", "instances", True)  # selected and confirmed already
        client.ops.extend(make(name) for name in names)

    monkeypatch.setattr(cli_admin, "client", lambda: client)
    monkeypatch.setattr(cli_admin, "run_ops", run_ops)
    monkeypatch.setattr(cli_admin, "run_on_selection", run_on_selection)
    return CliRunner().invoke(cli.main, list(args), input=stdin)


def test_rename_sends_ganetis_opcode_and_prints_the_new_name(monkeypatch: pytest.MonkeyPatch) -> None:
    client = FakeClient()
    result = invoke(monkeypatch, client, "rename", "--no-name-check", "--no-ip-check", "a", "b")
    assert result.exit_code == 0 and result.output == "Instance 'a' renamed to 'b'\n"
    (op,) = client.ops
    assert (op["OP_ID"], op["instance_name"], op["new_name"], op["name_check"], op["ip_check"]) == (
        "OP_INSTANCE_RENAME",
        "a",
        "b",
        False,
        False,
    )


def test_rename_dry_run_prints_no_rename(monkeypatch: pytest.MonkeyPatch) -> None:
    result = invoke(monkeypatch, FakeClient(), "rename", "--dry-run", "a", "b")
    assert result.exit_code == 0 and "renamed" not in result.output


def test_reinstall_sends_os_and_parameters(monkeypatch: pytest.MonkeyPatch) -> None:
    client = FakeClient()
    result = invoke(monkeypatch, client, "reinstall", "-f", "-o", "debootstrap+default", "-O", "a=1,b=x", "i1")
    assert result.exit_code == 0
    (op,) = client.ops
    assert op["OP_ID"] == "OP_INSTANCE_REINSTALL"
    assert op["os_type"] == "debootstrap+default" and op["osparams"] == {"a": "1", "b": "x"}


def test_os_choices_list_each_variant_of_valid_oses() -> None:
    entries = [
        {"name": "debootstrap", "valid": True, "variants": ["default", "minimal"]},
        {"name": "broken", "valid": False, "variants": []},
        {"name": "noop", "valid": True, "variants": []},
    ]
    assert cli_admin.os_choices(entries) == ["debootstrap+default", "debootstrap+minimal", "noop"]


def test_select_os_asks_again_until_a_listed_number(monkeypatch: pytest.MonkeyPatch) -> None:
    client = FakeClient([{"name": "noop", "valid": True}, {"name": "other", "valid": True}])
    result = invoke(monkeypatch, client, "reinstall", "-f", "--select-os", "i1", stdin="7\nabc\n1\n")
    assert result.exit_code == 0
    assert "Available OS templates:\n  0: noop\n  1: other\n" in result.output
    assert result.output.count("Enter OS template number (or x to abort):") == 3
    assert client.ops[0]["os_type"] == "other"


@pytest.mark.parametrize("stdin", ["x\n", ""])
def test_select_os_abort_submits_nothing(monkeypatch: pytest.MonkeyPatch, stdin: str) -> None:
    client = FakeClient([{"name": "noop", "valid": True}])
    result = invoke(monkeypatch, client, "reinstall", "-f", "--select-os", "i1", stdin=stdin)
    assert result.exit_code == 1 and "User aborted reinstall, exiting" in result.output
    assert client.ops == []


def test_reinstall_by_tag_needs_force_multiple_without_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    client = FakeClient()
    result = invoke(monkeypatch, client, "reinstall", "--tags", "web")
    assert result.exit_code == 1 and "use --force-multiple" in result.output and client.ops == []
    result = invoke(monkeypatch, client, "reinstall", "--tags", "web", "--force-multiple", "-o", "noop")
    assert result.exit_code == 0
    assert [(op["instance_name"], op["os_type"]) for op in client.ops] == [("i2", "noop"), ("i3", "noop")]


def test_reinstall_of_one_instance_needs_force_without_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    client = FakeClient()
    result = invoke(monkeypatch, client, "reinstall", "i1")
    assert result.exit_code == 1
    assert "This will reinstall the instance 'i1' (and keep the same OS) which removes all data." in result.output
    assert client.ops == []


def test_reinstall_of_a_selection_matching_nothing_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    client = FakeClient()
    result = invoke(monkeypatch, client, "reinstall", "--tags", "db", "--force-multiple")
    assert result.exit_code == 1 and "Selection filter does not match any instances" in result.output
