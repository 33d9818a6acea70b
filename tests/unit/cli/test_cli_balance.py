"""`gnt-cluster balance` passes hbal's options to the balancer (-G, --evac-mode, --restricted-migration,
--select-instances, --exclude-instances, --no-disk-moves, --no-instance-moves, --exclusion-tags, -U,
--ignore-dynu, --ignore-soft-errors), planning from a file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from gnt.alloc import generate_cluster, save_text
from gnt.cluster.htools import balance


@pytest.fixture
def cluster_file(tmp_path: Path) -> Path:
    path = tmp_path / "c.txt"
    save_text(generate_cluster(6, seed=4, per_node=(3, 5)), path)
    return path


def _moves(output: str) -> list[tuple[str, str]]:
    return re.findall(r"^\s+\d+\. (\S+)\s+\S+\s+=>\s+(\S+)\s", output, re.M)


def test_select_and_exclude_limit_the_moved_instances(cluster_file: Path) -> None:
    free = CliRunner().invoke(balance, ["-t", str(cluster_file)])
    assert free.exit_code == 0, free.output
    moved = sorted({name for name, _ in _moves(free.output)})
    assert len(moved) > 2
    picked = moved[:2]
    only = CliRunner().invoke(balance, ["-t", str(cluster_file), "--select-instances", ",".join(picked)])
    assert only.exit_code == 0 and {n for n, _ in _moves(only.output)} <= set(picked)
    rest = CliRunner().invoke(balance, ["-t", str(cluster_file), "--exclude-instances", ",".join(picked)])
    assert rest.exit_code == 0 and not {n for n, _ in _moves(rest.output)} & set(picked)


def test_no_disk_moves_only_fails_over(cluster_file: Path) -> None:
    result = CliRunner().invoke(balance, ["-t", str(cluster_file), "--no-disk-moves"])
    assert result.exit_code == 0
    assert all(line.rstrip().endswith("a=f") for line in result.output.splitlines() if " a=" in line)


def test_evac_mode_without_offline_nodes_moves_nothing(cluster_file: Path) -> None:
    result = CliRunner().invoke(balance, ["-t", str(cluster_file), "--evac-mode"])
    assert result.exit_code == 0 and _moves(result.output) == [] and "Solution length=0" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-G", "nosuchgroup"], "Node group 'nosuchgroup' not found"),
        (["--select-instances", "nosuch"], "Unknown instance(s): nosuch"),
    ],
)
def test_bad_group_or_instance_is_a_one_line_error(cluster_file: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(balance, ["-t", str(cluster_file), *args])
    assert result.exit_code != 0 and message in result.output and "Traceback" not in result.output


def _plan_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if " a=" in line]


def test_exclusion_tags_option_changes_the_plan(tmp_path: Path) -> None:
    m = generate_cluster(6, seed=4, per_node=(3, 5))
    for i, x in enumerate(m.instances):
        x.tags = ["svc:web" if i % 2 else "svc:dns"]
    m.rebuild()
    path = tmp_path / "tagged.txt"
    save_text(m, path)
    plain = CliRunner().invoke(balance, ["-t", str(path)])
    tagged = CliRunner().invoke(balance, ["-t", str(path), "--exclusion-tags", "svc"])
    assert plain.exit_code == 0 and tagged.exit_code == 0, tagged.output
    assert _plan_lines(plain.output) != _plan_lines(tagged.output)
    first = float(re.search(r"Initial score: ([0-9.]+)", tagged.output).group(1))
    assert first > float(re.search(r"Initial score: ([0-9.]+)", plain.output).group(1))  # conflicts count


def test_utilisation_file_changes_the_plan_and_names_unknown_instances(cluster_file: Path, tmp_path: Path) -> None:
    util = tmp_path / "util.txt"
    util.write_text("inst00001 5 0.1 3 0.2\ninst00002 0.1 4 0.2 1\nghost 1 1 1 1\n")
    plain = CliRunner().invoke(balance, ["-t", str(cluster_file)])
    loaded = CliRunner().invoke(balance, ["-t", str(cluster_file), "-U", str(util)])
    assert loaded.exit_code == 0, loaded.output
    assert "Utilisation data for unknown instance(s) ignored: ghost" in loaded.output
    assert _plan_lines(plain.output) != _plan_lines(loaded.output)
    ignored = CliRunner().invoke(balance, ["-t", str(cluster_file), "-U", str(util), "--ignore-dynu"])
    zero = CliRunner().invoke(balance, ["-t", str(cluster_file), "--ignore-dynu"])
    assert ignored.exit_code == 0 and "ghost" not in ignored.output
    assert _plan_lines(ignored.output) == _plan_lines(zero.output) != _plan_lines(plain.output)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("inst00001 1 1 1\n", "Cannot parse utilisation line 1"),
        ("inst00001 1 1 1 x\n", "Utilisation line 1 (inst00001): 'x' is not a number"),
        (None, "Cannot read"),
    ],
)
def test_bad_utilisation_file_is_a_one_line_error(
    cluster_file: Path, tmp_path: Path, content: str | None, message: str
) -> None:
    util = tmp_path / "util.txt"
    if content is not None:
        util.write_text(content)
    result = CliRunner().invoke(balance, ["-t", str(cluster_file), "-U", str(util)])
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output
    assert "Initial score" not in result.output


def test_ignore_soft_errors_lets_an_over_committed_cluster_improve(tmp_path: Path) -> None:
    import dataclasses

    m = generate_cluster(6, seed=2, per_node=(3, 5))
    m.groups[0].ipolicy = dataclasses.replace(m.groups[0].ipolicy, vcpu_ratio=0.3)
    m.rebuild()
    path = tmp_path / "over.txt"
    save_text(m, path)
    strict = CliRunner().invoke(balance, ["-t", str(path)])
    forced = CliRunner().invoke(balance, ["-t", str(path), "--ignore-soft-errors"])
    assert strict.exit_code == 0 and forced.exit_code == 0, forced.output
    assert _plan_lines(strict.output) != _plan_lines(forced.output)
