"""Cluster-wide yes/no settings Ganeti's init and modify take (`--user-shutdown`,
`--prealloc-wipe-disks`): each reaches its opcode field or init's settings, and a bad value is a
usage error with no job."""

from __future__ import annotations

from typing import Any

import pytest

from gnt.cluster.cli import main as cluster_main
from tests.unit.cli.test_cli_ganeti_options import CheckingClient, only_op, recorder, run

__all__ = ["recorder"]


@pytest.mark.parametrize(("value", "expected"), [("yes", True), ("no", False)])
def test_modify_user_shutdown_sets_enabled_user_shutdown(recorder: CheckingClient, value: str, expected: bool) -> None:
    result = run(cluster_main, "modify", "--user-shutdown", value)
    assert result.exit_code == 0, result.output
    assert only_op(recorder)["enabled_user_shutdown"] is expected


def test_modify_without_user_shutdown_leaves_it_alone(recorder: CheckingClient) -> None:
    assert run(cluster_main, "modify", "-C", "4").exit_code == 0
    assert "enabled_user_shutdown" not in only_op(recorder)


def test_modify_user_shutdown_refuses_other_words(recorder: CheckingClient) -> None:
    result = run(cluster_main, "modify", "--user-shutdown", "maybe")
    assert result.exit_code == 2 and "'maybe' is not one of 'yes', 'no'" in result.output
    assert recorder.submitted == []


@pytest.mark.parametrize(("args", "expected"), [(["--user-shutdown", "yes"], True), ([], False)])
def test_init_passes_user_shutdown(monkeypatch: pytest.MonkeyPatch, args: list[str], expected: bool) -> None:
    from gnt.cluster import bootstrap

    settings: list[dict[str, Any]] = []
    monkeypatch.setattr(bootstrap, "init_cluster", lambda name, opts: settings.append(opts))
    monkeypatch.setattr("gnt.cluster.cli.run_ops", lambda *a, **k: None)
    assert run(cluster_main, "init", *args, "cluster1").exit_code == 0
    (opts,) = settings
    assert opts["enabled_user_shutdown"] is expected


@pytest.mark.parametrize(("value", "expected"), [("yes", True), ("no", False)])
def test_modify_prealloc_wipe_disks_reaches_the_opcode(recorder: CheckingClient, value: str, expected: bool) -> None:
    assert run(cluster_main, "modify", "--prealloc-wipe-disks", value).exit_code == 0
    assert only_op(recorder)["prealloc_wipe_disks"] is expected


def test_modify_prealloc_wipe_disks_refuses_other_words(recorder: CheckingClient) -> None:
    result = run(cluster_main, "modify", "--prealloc-wipe-disks", "true")
    assert result.exit_code == 2 and "'true' is not one of 'yes', 'no'" in result.output
    assert recorder.submitted == []


@pytest.mark.parametrize(("args", "expected"), [(["--prealloc-wipe-disks", "yes"], True), ([], False)])
def test_init_passes_prealloc_wipe_disks(monkeypatch: pytest.MonkeyPatch, args: list[str], expected: bool) -> None:
    from gnt.cluster import bootstrap

    settings: list[dict[str, Any]] = []
    monkeypatch.setattr(bootstrap, "init_cluster", lambda name, opts: settings.append(opts))
    monkeypatch.setattr("gnt.cluster.cli.run_ops", lambda *a, **k: None)
    assert run(cluster_main, "init", *args, "cluster1").exit_code == 0
    (opts,) = settings
    assert opts["prealloc_wipe_disks"] is expected
