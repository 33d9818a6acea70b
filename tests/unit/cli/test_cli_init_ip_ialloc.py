"""`gnt-cluster init --primary-ip-version` and `--default-iallocator-params` (with modify's): the
options reach init's settings and the opcode, the IP family is checked against this host's address
with Ganeti's messages, and bad input is one line with nothing written."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from gnt.cluster import bootstrap
from gnt.cluster.cli import main as cluster_main
from gnt.errors import OpPrereqError, ParameterError
from tests.unit.cli.test_cli_ganeti_options import CheckingClient, only_op, recorder, run

__all__ = ["recorder"]


def _init_settings(monkeypatch: pytest.MonkeyPatch, *argv: str) -> dict[str, Any]:
    settings: list[dict[str, Any]] = []
    monkeypatch.setattr(bootstrap, "init_cluster", lambda name, opts: settings.append(opts))
    monkeypatch.setattr("gnt.cluster.cli.run_ops", lambda *a, **k: None)
    result = run(cluster_main, "init", *argv, "cluster1")
    assert result.exit_code == 0, result.output
    (opts,) = settings
    return opts


def test_init_passes_both(monkeypatch: pytest.MonkeyPatch) -> None:
    opts = _init_settings(
        monkeypatch, "--primary-ip-version", "4", "--default-iallocator-params", "max-cpu=2,-ignore-soft-errors"
    )
    assert opts["primary_ip_version"] == 4
    assert opts["default_iallocator_params"] == {"max-cpu": "2", "ignore-soft-errors": None}
    plain = _init_settings(monkeypatch)
    assert plain["primary_ip_version"] is None and plain["default_iallocator_params"] is None


def test_modify_replaces_the_parameters(recorder: CheckingClient) -> None:
    assert run(cluster_main, "modify", "--default-iallocator-params", "max-cpu=3").exit_code == 0
    assert only_op(recorder)["default_iallocator_params"] == {"max-cpu": "3"}


def test_modify_with_an_empty_value_clears_them(recorder: CheckingClient) -> None:
    assert run(cluster_main, "modify", "--default-iallocator-params", "").exit_code == 0
    assert only_op(recorder)["default_iallocator_params"] == {}


def test_modify_refuses_a_bad_name_in_one_line(recorder: CheckingClient) -> None:
    result = run(cluster_main, "modify", "--default-iallocator-params", "a b=1")
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "invalid allocator parameter name 'a b'" in lines[0], lines
    assert recorder.submitted == []


@pytest.mark.parametrize(
    ("given", "address", "expected"),
    [(None, "192.0.2.1", 4), (4, "192.0.2.1", 4), (6, "2001:db8::1", 6), (None, "::1", 6)],
)
def test_the_version_is_the_masters_address_family(given: Any, address: str, expected: int) -> None:
    assert bootstrap._primary_ip_version(given, address) == expected  # noqa: SLF001


@pytest.mark.parametrize(
    ("settings", "error", "message"),
    [
        (
            {"primary_ip_version": 6},
            OpPrereqError,
            r"^This host's IP \(127\.0\.0\.\d+\) is not a valid IPv6 address\.$",
        ),
        ({"primary_ip_version": 5}, ParameterError, r"^Invalid primary ip version: 5\.$"),
        ({"default_iallocator_params": {"--x": "1"}}, ParameterError, "Invalid --default-iallocator-params: invalid"),
    ],
)
def test_init_refuses_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: dict[str, Any], error: type, message: str
) -> None:
    monkeypatch.setenv("GNT_ROOTDIR", str(tmp_path / "node1"))
    monkeypatch.setattr("gnt.netutil.resolve", lambda name: "127.0.0.1")
    with pytest.raises(error, match=message):
        bootstrap.init_cluster("cluster1", settings)
    assert [f for _, _, files in os.walk(tmp_path) for f in files] == []
