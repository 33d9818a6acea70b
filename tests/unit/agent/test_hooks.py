"""The node's hook runner: run-parts rules, the environment scripts get, results, and refusals."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from agent import hooks
from gnt.errors import RpcArgumentError


def script(directory: Path, name: str, body: str, mode: int = 0o755) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(mode)
    return path


def run(root: Path, hpath: str = "instance-start", phase: str = "pre", env: dict | None = None, **kw: object) -> list:
    return asyncio.run(hooks.run_hooks(hpath, phase, env or {"GANETI_INSTANCE_NAME": "inst1"}, str(root), **kw))


def test_scripts_run_in_name_order_and_run_parts_skips_what_it_should(tmp_path: Path) -> None:
    d = tmp_path / "instance-start-pre.d"
    order = tmp_path / "order"
    script(d, "20-second", f"echo second >> {order}")
    script(d, "10-first", f"echo first >> {order}; echo hello")
    script(d, "30-notexec", "exit 1", mode=0o644)
    script(d, "40-bad.name", "exit 1")  # a dot: run-parts skips it (backups, dpkg leftovers)
    (d / "50-dir").mkdir()
    results = run(tmp_path)
    assert order.read_text().split() == ["first", "second"]
    assert results == [
        ["instance-start-pre.d/10-first", hooks.HKR_SUCCESS, "hello"],
        ["instance-start-pre.d/20-second", hooks.HKR_SUCCESS, ""],
        ["instance-start-pre.d/30-notexec", hooks.HKR_SKIP, ""],
        ["instance-start-pre.d/40-bad.name", hooks.HKR_SKIP, ""],
        ["instance-start-pre.d/50-dir", hooks.HKR_SKIP, ""],
    ]


def test_no_hooks_directory_means_no_hooks(tmp_path: Path) -> None:
    assert run(tmp_path, phase="post") == []


def test_a_failing_script_fails_with_its_output_and_the_rest_still_run(tmp_path: Path) -> None:
    d = tmp_path / "node-add-post.d"
    script(d, "a", 'echo "cmdb down" >&2; exit 3')
    script(d, "b", "echo ok")
    results = run(tmp_path, "node-add", "post")
    assert results == [
        ["node-add-post.d/a", hooks.HKR_FAIL, "cmdb down"],
        ["node-add-post.d/b", hooks.HKR_SUCCESS, "ok"],
    ]


def test_scripts_get_the_ganeti_environment_and_nothing_from_the_daemon(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECRET_NODED_VAR", "leak")
    monkeypatch.setenv("GNT_ROOTDIR", str(tmp_path / "node1"))
    out = tmp_path / "env.txt"
    script(tmp_path / "instance-start-pre.d", "dump", f"env > {out}")
    run(tmp_path, env={"GANETI_INSTANCE_NAME": "inst1", "GANETI_HOOKS_PHASE": "pre", "GANETI_INSTANCE_BE_maxmem": 128})
    env = dict(line.split("=", 1) for line in out.read_text().splitlines())
    assert env["GANETI_INSTANCE_NAME"] == "inst1" and env["GANETI_INSTANCE_BE_maxmem"] == "128"
    assert env["PATH"] == hooks.HOOKS_PATH_ENV
    assert env["GANETI_DATA_DIR"] == str(tmp_path / "node1/var/lib/gnt")  # this node's own
    assert "SECRET_NODED_VAR" not in env and "GNT_ROOTDIR" not in env


def test_a_script_that_hangs_is_killed_and_fails(tmp_path: Path) -> None:
    script(tmp_path / "instance-stop-pre.d", "hang", "echo started; exec sleep 30")
    ((name, status, output),) = run(tmp_path, "instance-stop", timeout=0.3)
    assert status == hooks.HKR_FAIL and output.startswith("started") and "killed after 0.3 seconds" in output


def test_scripts_left_when_the_phase_budget_is_spent_fail_without_running(tmp_path: Path) -> None:
    d = tmp_path / "instance-stop-pre.d"
    marker = tmp_path / "ran"
    script(d, "a", "exec sleep 30")
    script(d, "b", f"touch {marker}")
    results = run(tmp_path, "instance-stop", timeout=5, budget=0.3)
    assert [r[1] for r in results] == [hooks.HKR_FAIL, hooks.HKR_FAIL]
    assert "not run" in results[1][2] and not marker.exists()


@pytest.mark.parametrize(
    ("hpath", "phase", "env"),
    [
        ("../../bin", "pre", {}),
        ("instance-start/../x", "pre", {}),
        ("instance-start", "during", {}),
        ("instance-start", "pre", {"LD_PRELOAD": "/tmp/evil.so"}),
        ("instance-start", "pre", {"PATH": "/tmp"}),
        ("instance-start", "pre", {"GANETI_X": "a\0b"}),
    ],
)
def test_the_node_refuses_paths_phases_and_variables_it_does_not_own(
    tmp_path: Path, hpath: str, phase: str, env: dict
) -> None:
    with pytest.raises(RpcArgumentError):
        asyncio.run(hooks.run_hooks(hpath, phase, env, str(tmp_path)))
