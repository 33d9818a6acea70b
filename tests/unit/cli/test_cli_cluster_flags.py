"""Cluster-wide yes/no settings Ganeti's init and modify take (`--user-shutdown`,
`--prealloc-wipe-disks`): each reaches its opcode field or init's settings, and a bad value is a
usage error with no job."""

from __future__ import annotations

from typing import Any

import pytest

from gnt.cluster.cli import main as cluster_main
from tests.unit.cli.test_cli_ganeti_options import CheckingClient, only_op, recorder, run

__all__ = ["recorder"]

#: option -> the opcode field (and init setting) it sets
FLAGS = {"--user-shutdown": "enabled_user_shutdown", "--prealloc-wipe-disks": "prealloc_wipe_disks"}


@pytest.mark.parametrize("option", FLAGS)
@pytest.mark.parametrize(("value", "expected"), [("yes", True), ("no", False)])
def test_modify_sets_the_field(recorder: CheckingClient, option: str, value: str, expected: bool) -> None:
    result = run(cluster_main, "modify", option, value)
    assert result.exit_code == 0, result.output
    assert only_op(recorder)[FLAGS[option]] is expected


def test_modify_without_the_flags_leaves_them_alone(recorder: CheckingClient) -> None:
    assert run(cluster_main, "modify", "-C", "4").exit_code == 0
    assert not set(FLAGS.values()) & set(only_op(recorder))


@pytest.mark.parametrize("option", FLAGS)
@pytest.mark.parametrize("word", ["maybe", "true"])
def test_modify_refuses_other_words(recorder: CheckingClient, option: str, word: str) -> None:
    result = run(cluster_main, "modify", option, word)
    assert result.exit_code == 2 and f"'{word}' is not one of 'yes', 'no'" in result.output
    assert recorder.submitted == []


@pytest.mark.parametrize("option", FLAGS)
@pytest.mark.parametrize(("given", "expected"), [(True, True), (False, False)])
def test_init_passes_the_setting(monkeypatch: pytest.MonkeyPatch, option: str, given: bool, expected: bool) -> None:
    from gnt.cluster import bootstrap

    settings: list[dict[str, Any]] = []
    monkeypatch.setattr(bootstrap, "init_cluster", lambda name, opts: settings.append(opts))
    monkeypatch.setattr("gnt.cluster.cli.run_ops", lambda *a, **k: None)
    args = [option, "yes"] if given else []
    assert run(cluster_main, "init", *args, "cluster1").exit_code == 0
    (opts,) = settings
    assert opts[FLAGS[option]] is expected
